"""Writes on the assignment rules, which only administrators edit: save, delete, move up or down.

Positions are kept as 0, 1, 2 … in the order the page shows, so that "move up" swaps two neighbours and no two
rules ever tie.
"""

import pghistory
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max

from crm.accounts.roles import is_admin

from .models import AssignmentRule

UP, DOWN = "up", "down"


def _check(actor) -> None:
    if not is_admin(actor):
        raise PermissionDenied


def _renumber(rules: list[AssignmentRule]) -> None:
    for position, rule in enumerate(rules):
        if rule.position != position:
            rule.position = position
            AssignmentRule.objects.filter(pk=rule.pk).update(position=position)


@transaction.atomic
def rule_save(*, actor, rule: AssignmentRule) -> AssignmentRule:
    """Create (at the end of the list) or save a rule validated by its form."""
    _check(actor)
    with pghistory.context(reason="assignment_rule_save"):
        if rule.pk is None:
            last = AssignmentRule.objects.select_for_update().aggregate(last=Max("position"))["last"]
            rule.position = 0 if last is None else last + 1
        if rule.user_id:
            rule.team = None
        else:
            rule.user = None
        rule.full_clean()
        rule.save()
    return rule


@transaction.atomic
def rule_delete(*, actor, rule: AssignmentRule) -> None:
    """Delete a rule; the assignments it made keep their history (their rule is shown as deleted)."""
    _check(actor)
    AssignmentRule.objects.filter(pk=rule.pk).delete()
    _renumber(list(AssignmentRule.objects.select_for_update().order_by("position", "pk")))


@transaction.atomic
def rule_move(*, actor, rule: AssignmentRule, direction: str) -> None:
    """Swap the rule with its neighbour above (UP) or below (DOWN); at either end nothing changes."""
    _check(actor)
    rules = list(AssignmentRule.objects.select_for_update().order_by("position", "pk"))
    _renumber(rules)
    index = next((i for i, r in enumerate(rules) if r.pk == rule.pk), None)
    if index is None:
        return
    other = index - 1 if direction == UP else index + 1
    if direction not in (UP, DOWN) or not 0 <= other < len(rules):
        return
    rules[index], rules[other] = rules[other], rules[index]
    _renumber(rules)
