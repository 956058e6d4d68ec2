"""Sales targets (quotas): who may set whose, and the writes (a month's grid saved all-or-nothing, last month's
targets copied).

The rule follows the team tree, not a permission: an admin sets anyone's target; a manager sets those of the sellers
(sales reps and managers) in the teams below him and of those teams, never his own nor that of a team he leads (that
quota comes from above him); everyone else sets none. A target is a month's won amount in CNY for one seller or one
team; a blank amount means no target.

Two people saving the same month at once are serialised by a transaction-level advisory lock on the month, so the
one-target-per-month constraints never turn a concurrent save into an error page.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.models import Team
from crm.accounts.roles import SALES_MANAGER, SALES_REP, is_admin
from crm.accounts.selectors import managed_team_ids

from .filters import add_months
from .models import SalesTarget

User = get_user_model()
SELLER_ROLES = (SALES_REP, SALES_MANAGER)
_LOCK_NAMESPACE = 640_601  # pg_advisory_xact_lock(namespace, month): the targets of one month


# ------------------------------------------------------------------------------------------------ who


def may_manage_targets(user) -> bool:
    """Whether the targets page is open to ``user``: admins, and managers of at least one team."""
    return user.is_authenticated and (is_admin(user) or bool(managed_team_ids(user)))


def _sellers() -> QuerySet:
    return User.objects.filter(is_active=True, groups__name__in=SELLER_ROLES).distinct()


def _led_team_ids(user) -> set[int]:
    """The teams whose quota is the user's own: those he manages and his own team."""
    led = set(Team.objects.filter(manager=user).values_list("pk", flat=True))
    if user.team_id:
        led.add(user.team_id)
    return led


def target_people(actor) -> QuerySet:
    """The sellers whose targets ``actor`` may set."""
    if is_admin(actor):
        return _sellers()
    teams = managed_team_ids(actor)
    if not teams:
        return User.objects.none()
    return _sellers().filter(team_id__in=teams).exclude(pk=actor.pk)


def target_team_ids(actor) -> set[int]:
    """The teams whose targets ``actor`` may set: teams that hold sellers (in themselves or below), an admin's all of
    them, a manager's those strictly below the teams he leads."""
    if is_admin(actor):
        allowed = None
    else:
        allowed = managed_team_ids(actor) - _led_team_ids(actor)
        if not allowed:
            return set()
    parents = dict(Team.objects.values_list("pk", "parent_id"))
    selling = set()
    for team_id in set(_sellers().exclude(team__isnull=True).values_list("team_id", flat=True)):
        seen = set()
        while team_id is not None and team_id not in seen:  # a team and its ancestors hold sellers
            seen.add(team_id)
            selling.add(team_id)
            team_id = parents.get(team_id)
    return selling if allowed is None else selling & allowed


def target_teams(actor) -> QuerySet:
    return Team.objects.filter(pk__in=target_team_ids(actor))


def own_targets(user, month: date) -> QuerySet:
    """The targets set for ``user`` himself and for the teams he leads, shown to him read-only."""
    return (SalesTarget.objects.filter(month=month, user=user)
            | SalesTarget.objects.filter(month=month, team_id__in=_led_team_ids(user))).select_related("user", "team")


# ----------------------------------------------------------------------------------------------- writes


@dataclass
class SaveResult:
    created: int = 0
    changed: int = 0
    removed: int = 0

    @property
    def total(self) -> int:
        return self.created + self.changed + self.removed


def _check_month(month) -> None:
    if not isinstance(month, date) or month.day != 1:
        raise ValidationError({"month": _("A target's month is given by its first day.")})


def _amount(value) -> Decimal | None:
    """The amount as saved (None: no target), or a ValidationError with what is wrong."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(_("Enter an amount.")) from None
    if not amount.is_finite():
        raise ValidationError(_("Enter an amount."))
    if amount < 0:
        raise ValidationError(_("A target cannot be negative."))
    SalesTarget._meta.get_field("amount").run_validators(amount)  # two decimals, at most 16 digits
    return amount.quantize(Decimal("0.01"))


def _lock_month(month: date) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, month.toordinal()])


@transaction.atomic
def targets_save(*, actor, month: date, people: dict, teams: dict) -> SaveResult:
    """Set the month's targets: ``people`` and ``teams`` map a user or team id to an amount (None or "": no target).
    Ids missing from the maps are left as they are. All or nothing: one id outside the actor's reach refuses the
    whole save (PermissionDenied), one invalid amount too (ValidationError keyed ``user_<id>`` / ``team_<id>``)."""
    _check_month(month)
    people = {int(k): v for k, v in people.items()}
    teams = {int(k): v for k, v in teams.items()}
    if set(people) - set(target_people(actor).filter(pk__in=people).values_list("pk", flat=True)):
        raise PermissionDenied(_("You may not set the target of someone outside your teams."))
    if set(teams) - target_team_ids(actor):
        raise PermissionDenied(_("You may not set the target of a team outside your teams."))
    wanted, errors = {}, {}
    for kind, amounts in (("user", people), ("team", teams)):
        for pk, value in amounts.items():
            try:
                wanted[(kind, pk)] = _amount(value)
            except ValidationError as error:
                errors[f"{kind}_{pk}"] = error.messages
    if errors:
        raise ValidationError(errors)

    _lock_month(month)
    existing = {}
    for target in (SalesTarget.objects.filter(month=month, user_id__in=people)
                   | SalesTarget.objects.filter(month=month, team_id__in=teams)).select_for_update():
        existing[("user", target.user_id) if target.user_id else ("team", target.team_id)] = target
    now = timezone.now()
    create, change, remove = [], [], []
    for (kind, pk), amount in wanted.items():
        target = existing.get((kind, pk))
        if amount is None:
            if target is not None:
                remove.append(target.pk)
        elif target is None:
            create.append(SalesTarget(month=month, amount=amount, set_by=actor, **{f"{kind}_id": pk}))
        elif target.amount != amount:
            target.amount, target.set_by, target.updated_at = amount, actor, now
            change.append(target)
    SalesTarget.objects.filter(pk__in=remove).delete()
    SalesTarget.objects.bulk_update(change, ["amount", "set_by", "updated_at"])
    SalesTarget.objects.bulk_create(create)
    return SaveResult(created=len(create), changed=len(change), removed=len(remove))


@transaction.atomic
def targets_copy_previous(*, actor, month: date) -> int:
    """Give the month the previous month's targets of the people and teams the actor may set, where the month has
    none yet (targets already set are kept). Returns how many were copied."""
    _check_month(month)
    _lock_month(month)
    previous = add_months(month, -1)
    people = target_people(actor).values("pk")
    team_ids = target_team_ids(actor)
    taken_people = SalesTarget.objects.filter(month=month, user__isnull=False).values("user_id")
    taken_teams = SalesTarget.objects.filter(month=month, team__isnull=False).values("team_id")
    sources = (SalesTarget.objects.filter(month=previous, user__in=people).exclude(user__in=taken_people)
               | SalesTarget.objects.filter(month=previous, team_id__in=team_ids).exclude(team__in=taken_teams))
    copies = [SalesTarget(month=month, user_id=t.user_id, team_id=t.team_id, amount=t.amount, set_by=actor)
              for t in sources.only("user_id", "team_id", "amount")]
    SalesTarget.objects.bulk_create(copies)
    return len(copies)
