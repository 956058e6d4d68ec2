"""Lead auto-assignment (线索自动分配): ordered rules hand each new lead to a rep.

``lead_route(lead_id)`` takes the first active rule (by position) whose conditions the lead meets; the rule names
a user, or a team whose members share its leads round-robin (the rule's ``last_user`` says whose turn was last)
or least-loaded (fewest open leads; a tie goes to whoever has waited longest since his last lead). Reps who are
inactive, away, or already hold the rule's capacity of open leads are passed over. No rule matches, or nobody of
the matching rule is available: the lead waits in the lead pool (线索池), where reps may claim it.

Concurrency: leads routed by one rule queue on the rule's row lock (SELECT ... FOR UPDATE, held to the end of
the routing transaction), so each reads ``last_user`` and the open-lead counts as the one before committed them;
a burst of leads stays within one of even, and capacity caps hold. Two rules that send leads into the same team
also serialise, on an advisory lock of the team. Every transaction takes these locks in one order, so that none
waits for another that waits for it: the team's lock before the rule's row, and a transaction that picks for
several rules (the untouched-lead scan) goes through them by (team, rule). A routing that fails all the same (a
lost worker, a lock timeout) is retried by its task, and ``leads_route_waiting`` (beat) routes any new lead the
rules have not yet run on a few minutes after it was made.

``leads_reassign_untouched`` (beat, every few minutes) gives a lead that a rule assigned and its owner has not
handled for ``CRM_LEAD_REASSIGN_AFTER_HOURS`` hours to the next rep of the same rule (or, nobody being free, back to
the lead pool, recorded as an assignment without a user), and tells the old owner's manager.
"""

from datetime import timedelta

import pghistory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import fieldcrypto
from crm.accounts.models import Team
from crm.notifications.models import NotificationKind
from crm.notifications.services import NewNotification, notify_many
from customers.choices import PROVINCES

from .models import AssignmentMethod, AssignmentRule, Lead, LeadAssignment, LeadStatus
from .models.leads import OPEN_LEAD

User = get_user_model()

LOCK_NAMESPACE = 7302  # first key of pg_advisory_xact_lock(int, int): "lead routing into a team"
BATCH = 200
# The sweep of leads never routed: older than the grace (their task may still be on its way), younger than the
# horizon (older ones were made before the sweep existed, or keep failing; they wait in the pool for a rep).
WAITING_GRACE = timedelta(minutes=2)
WAITING_HORIZON = timedelta(days=1)

# LeadAssignment.reason
RULE, MANUAL, CLAIMED, IMPORTED, REASSIGNED = "rule", "manual", "claimed", "import", "reassigned_untouched"
RETURNED = "returned_untouched"  # to the lead pool: the record has no user
REASON_LABELS = {
    RULE: gettext_lazy("by rule"),
    MANUAL: gettext_lazy("by hand"),
    CLAIMED: gettext_lazy("taken from the lead pool"),
    IMPORTED: gettext_lazy("imported"),
    REASSIGNED: gettext_lazy("re-assigned: not handled in time"),
    RETURNED: gettext_lazy("back to the lead pool: not handled in time, and nobody else of its rule was free"),
}

# 浙江 → 浙江省, 上海 → 上海市, 广西 → 广西壮族自治区: forms and lists often drop the suffix; rules use full names.
_SUFFIXES = ("特别行政区", "壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "省", "市")


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


_PROVINCE_NAMES = {p: p for p in PROVINCES} | {_short(p): p for p in PROVINCES}


def province_name(text: str) -> str:
    """The full name of a province written with or without its suffix; other text as it is."""
    text = (text or "").strip()
    return _PROVINCE_NAMES.get(text, text)


# ------------------------------------------------------------------------------------------------ matching


def _norm(value) -> str:
    return str(value).strip().lower()


def _custom_matches(value, wanted) -> bool:
    """A lead's custom value (text, number or list of choices) meets a rule's value (one, or a list of any)."""
    accepted = {_norm(w) for w in (wanted if isinstance(wanted, list) else [wanted])}
    if fieldcrypto.is_envelope(value):  # a sensitive field: compared by its text, which only the worker sees
        try:
            value = fieldcrypto.open_envelope(value)
        except fieldcrypto.FieldCryptoError:
            return False
    values = value if isinstance(value, list) else [value]
    return any(_norm(v) in accepted for v in values if v not in (None, ""))


def rule_matches(rule: AssignmentRule, lead: Lead) -> bool:
    """Whether the lead meets every condition of the rule; an empty condition matches any lead."""
    if rule.provinces and province_name(lead.province) not in {province_name(p) for p in rule.provinces}:
        return False
    if rule.sources and lead.source not in rule.sources:
        return False
    if rule.industries and lead.industry not in rule.industries:
        return False
    if rule.campaigns and _norm(lead.campaign) not in {_norm(c) for c in rule.campaigns}:
        return False
    custom = lead.custom or {}
    return all(_custom_matches(custom.get(key), wanted) for key, wanted in (rule.custom or {}).items())


def first_matching_rule(lead: Lead, rules=None) -> AssignmentRule | None:
    rules = rules if rules is not None else AssignmentRule.objects.filter(active=True).order_by("position", "pk")
    return next((rule for rule in rules if rule.active and rule_matches(rule, lead)), None)


# ------------------------------------------------------------------------------------------------ picking


def lead_workers():
    """Users who may work on leads (hold them, change them): the only ones a rule may give leads to."""
    return User.objects.with_perm("sales.change_lead", backend="django.contrib.auth.backends.ModelBackend")


def open_lead_counts():
    """An annotation: the user's open leads (the partial index lead_open_per_owner)."""
    counted = (Lead.objects.filter(OPEN_LEAD, owner=OuterRef("pk")).order_by().values("owner")
               .annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted), 0)


def candidates(rule: AssignmentRule, *, exclude_user_id: int | None = None) -> list:
    """The rule's reps who may get a lead now: active, not away, under the rule's capacity; by id."""
    users = User.objects.filter(pk=rule.user_id) if rule.user_id else User.objects.filter(team_id=rule.team_id)
    users = users.filter(is_active=True, is_away=False, pk__in=lead_workers().values("pk"))
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    users = users.annotate(open_leads=open_lead_counts())
    if rule.capacity is not None:
        users = users.filter(open_leads__lt=rule.capacity)
    return list(users.order_by("pk"))


def _least_loaded(people: list):
    fewest = min(u.open_leads for u in people)
    tied = [u for u in people if u.open_leads == fewest]
    if len(tied) == 1:
        return tied[0]
    last = dict(LeadAssignment.objects.filter(user__in=tied).values("user").annotate(at=Max("created_at"))
                .values_list("user", "at"))
    # Never assigned waits longest; then the earliest last assignment; then the lowest id, for a stable answer.
    return min(tied, key=lambda u: (last.get(u.pk) is not None, last.get(u.pk) or timezone.now(), u.pk))


def _next_in_turn(people: list, last_user_id: int | None):
    after = [u for u in people if last_user_id is not None and u.pk > last_user_id]
    return after[0] if after else people[0]


def _team_of(rule: AssignmentRule) -> int | None:
    """The team whose advisory lock picks for this rule take (none for a rule that names a user)."""
    return rule.team_id if rule.team_id and not rule.user_id else None


def lock_order(rule: AssignmentRule) -> tuple[int, int]:
    """The order in which a transaction that picks for several rules must take them: the locks of one team, then
    those of the next (rules naming a user first), so that it never holds a team's lock that another waits for
    while waiting for that other's."""
    return (_team_of(rule) or 0, rule.pk)


def _lock_team(team_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, team_id])


def pick(rule: AssignmentRule, *, exclude_user_id: int | None = None):
    """The user who gets the rule's next lead, or None. Call inside a transaction: it locks the rule's team, then the
    rule's row, until the caller commits the assignment, so that the next pick sees it. (Always the team first: a
    router of another rule into the same team holds the team's lock and then wants only his own rule's row.)"""
    team_id = _team_of(rule)
    if team_id:
        _lock_team(team_id)
    rule = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
    if _team_of(rule) and _team_of(rule) != team_id:  # the rule was just given another team
        _lock_team(rule.team_id)
    people = candidates(rule, exclude_user_id=exclude_user_id)
    if not people:
        return None
    if rule.user_id or rule.method == AssignmentMethod.ROUND_ROBIN:
        user = _next_in_turn(people, rule.last_user_id)
    else:
        user = _least_loaded(people)
    AssignmentRule.objects.filter(pk=rule.pk).update(last_user=user)
    return user


# ------------------------------------------------------------------------------------------------ assigning


def _language(user) -> str:
    return user.language or settings.LANGUAGE_CODE


def assignment_notification(lead: Lead, user, assignment: LeadAssignment, assigned_by=None) -> NewNotification:
    """What the assignee is told, in his language."""
    with translation.override(_language(user)):
        if assigned_by is not None:
            title = _("%(user)s assigned you a lead: %(lead)s") % {"user": assigned_by, "lead": lead}
        else:
            title = _("New lead for you: %(lead)s") % {"lead": lead}
        details = [lead.province, str(lead.get_source_display()) if lead.source else "", lead.campaign]
        body = " · ".join(d for d in details if d)
        if lead.message:
            body = f"{body}\n{lead.message[:300]}".strip()
    return NewNotification(
        user_id=user.pk, kind=NotificationKind.ASSIGNMENT, title=title, body=body, url=lead.get_absolute_url(),
        dedupe_key=f"lead-assigned:{lead.pk}:{assignment.pk}",
    )


def assign_lead_to(lead: Lead, user, *, reason: str, rule=None, assigned_by=None, touched: bool = False,
                   now=None, extra_fields=()) -> tuple[LeadAssignment, NewNotification | None]:
    """Make ``user`` the owner of the (locked) lead and record it; the notification for the caller to send (None
    when he took it himself). ``touched``: the owner acted on it already (he claimed or entered it himself).
    ``extra_fields``: other fields the caller set on the lead, saved with it."""
    now = now or timezone.now()
    lead.owner, lead.team_id, lead.assigned_at = user, user.team_id, now
    lead.touched_at = now if touched else None
    if lead.status == LeadStatus.NEW:
        lead.status = LeadStatus.ASSIGNED
    lead.save(update_fields=["owner", "team", "assigned_at", "touched_at", "status", "updated_at", *extra_fields])
    assignment = LeadAssignment.objects.create(lead=lead, user=user, rule=rule, assigned_by=assigned_by,
                                               reason=reason)
    if assigned_by is not None and assigned_by.pk == user.pk:
        return assignment, None
    return assignment, assignment_notification(lead, user, assignment, assigned_by)


def lead_route(lead_id: int, *, unrouted_only: bool = False) -> LeadAssignment | None:
    """Give a new lead to the rep its rules choose; None when it stays in the pool. Safe to run twice: a lead that
    has an owner (or is closed, or gone) is left alone; ``unrouted_only``: so is one the rules have run on already.
    The lead is marked routed either way (``routed_at``), in the transaction that assigns it."""
    with pghistory.context(reason="lead_route"), transaction.atomic():
        lead = Lead.objects.select_for_update(of=("self",)).filter(pk=lead_id).first()
        if lead is None or lead.owner_id is not None or not lead.is_open:
            return None
        if unrouted_only and lead.routed_at is not None:
            return None
        rule = first_matching_rule(lead)
        user = pick(rule) if rule is not None else None
        lead.routed_at = timezone.now()
        if user is None:
            lead.save(update_fields=["routed_at"])
            return None
        assignment, note = assign_lead_to(lead, user, reason=RULE, rule=rule, extra_fields=["routed_at"])
        notify_many([note])
        return assignment


def waiting_lead_ids(*, now=None, limit: int = BATCH) -> list[int]:
    """New leads the rules have not run on (their task was lost, or failed each time): open, in the pool, never
    assigned, made between a day and a few minutes ago; oldest first. A lead the rules ran on and could not place
    is marked routed and is not among them: it waits in the pool for a rep."""
    now = now or timezone.now()
    return list(
        Lead.objects.filter(OPEN_LEAD, owner__isnull=True, routed_at__isnull=True,
                            created_at__gte=now - WAITING_HORIZON, created_at__lt=now - WAITING_GRACE)
        .exclude(Exists(LeadAssignment.objects.filter(lead=OuterRef("pk"))))
        .order_by("created_at", "pk").values_list("pk", flat=True)[:limit]
    )


def leads_route_waiting(*, now=None, limit: int = BATCH) -> int:
    """Route the waiting leads (``waiting_lead_ids``), one transaction each; how many found a rep. A lead a task is
    routing meanwhile is routed once: the second to lock it finds it owned or marked."""
    return sum(1 for lead_id in waiting_lead_ids(now=now, limit=limit)
               if lead_route(lead_id, unrouted_only=True) is not None)


# ------------------------------------------------------------------------------------ untouched leads


def reassign_delay() -> timedelta:
    return timedelta(hours=settings.CRM_LEAD_REASSIGN_AFTER_HOURS)


def manager_of(user, teams: dict) -> object | None:
    """The manager of the user's team, or of the nearest team above it that has one (never the user himself)."""
    team, seen = teams.get(user.team_id), set()
    while team is not None and team.pk not in seen:
        seen.add(team.pk)
        if team.manager_id and team.manager_id != user.pk and team.manager.is_active:
            return team.manager
        team = teams.get(team.parent_id)
    return None


def _untouched_notifications(lead: Lead, old_owner, new_owner, teams: dict, since) -> list[NewNotification]:
    hours = settings.CRM_LEAD_REASSIGN_AFTER_HOURS
    notes = []
    key = f"{lead.pk}:{old_owner.pk}:{since.isoformat()}"
    manager = manager_of(old_owner, teams)
    if manager is not None:
        with translation.override(_language(manager)):
            if new_owner is not None:
                title = _("%(user)s did not handle the lead %(lead)s within %(hours)s hours; it went to %(new)s.")
            else:
                title = _("%(user)s did not handle the lead %(lead)s within %(hours)s hours; nobody else was "
                          "available, so it went to the lead pool.")
            title = title % {"user": old_owner, "lead": lead, "hours": hours, "new": new_owner}
        notes.append(NewNotification(user_id=manager.pk, kind=NotificationKind.ESCALATION, title=title,
                                     url=lead.get_absolute_url(), dedupe_key=f"lead-untouched-manager:{key}"))
    with translation.override(_language(old_owner)):
        title = _("The lead %(lead)s was taken from you: it was not handled within %(hours)s hours.") % {
            "lead": lead, "hours": hours}
    notes.append(NewNotification(user_id=old_owner.pk, kind=NotificationKind.SYSTEM, title=title,
                                 dedupe_key=f"lead-untouched-owner:{key}"))
    return notes


def leads_reassign_untouched(*, now=None, batch: int = BATCH) -> int:
    """Hand every lead a rule assigned and nobody handled within the configured hours to the next available rep
    of the same rule (never the same person), or to the lead pool when there is none; how many moved. Batches
    lock their leads with SKIP LOCKED, so a rep acting on a lead right now keeps it, and two scans share the work."""
    now = now or timezone.now()
    cutoff = now - reassign_delay()
    latest = LeadAssignment.objects.filter(lead=OuterRef("pk")).order_by("-created_at", "-pk")
    teams = {t.pk: t for t in Team.objects.select_related("manager")}
    moved = 0
    with pghistory.context(reason=REASSIGNED):
        while True:
            with transaction.atomic():
                leads = list(
                    Lead.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(OPEN_LEAD, owner__isnull=False, touched_at__isnull=True, assigned_at__lt=cutoff)
                    .annotate(last_rule_id=Subquery(latest.values("rule_id")[:1]),
                              last_reason=Subquery(latest.values("reason")[:1]))
                    .filter(last_rule_id__isnull=False, last_reason__in=[RULE, REASSIGNED])
                    .select_related("owner").order_by("assigned_at", "pk")[:batch]
                )
                if not leads:
                    return moved
                rules = AssignmentRule.objects.in_bulk({lead.last_rule_id for lead in leads})
                notes = []

                def in_lock_order(lead, rules=rules):
                    rule = rules.get(lead.last_rule_id)
                    return (*(lock_order(rule) if rule is not None else (0, 0)), lead.pk)

                # The rules' locks are held to the end of the batch: taken in the one order every transaction
                # follows (team, then rule), so that neither another scan nor a router can wait on this one in a
                # circle (a router takes a team's lock, then his rule's row).
                for lead in sorted(leads, key=in_lock_order):
                    old_owner, since = lead.owner, lead.assigned_at
                    rule = rules.get(lead.last_rule_id)
                    user = pick(rule, exclude_user_id=old_owner.pk) if rule is not None and rule.active else None
                    if user is not None:
                        _assignment, note = assign_lead_to(lead, user, reason=REASSIGNED, rule=rule, now=now)
                        notes.append(note)
                    else:
                        lead.owner = lead.team = lead.assigned_at = None
                        lead.status = LeadStatus.NEW
                        lead.save(update_fields=["owner", "team", "assigned_at", "status", "updated_at"])
                        # The history says why it is in the pool; the scan passes it by from now on (no owner).
                        LeadAssignment.objects.create(lead=lead, user=None, rule=rule, reason=RETURNED)
                    notes.extend(_untouched_notifications(lead, old_owner, user, teams, since))
                    moved += 1
                notify_many(notes)
