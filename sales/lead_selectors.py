"""Reads on leads and assignment rules. Every read of leads starts from the policy's scoped queryset."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from crm.accounts.selectors import assignable_users
from customers.timeline import TimelineEntry

from . import permissions as policy
from .assignment import lead_workers
from .models import AssignmentRule, Lead, LeadAssignment, LeadStatus
from .models.leads import OPEN_LEAD

User = get_user_model()

CHANGE, CLAIM, ASSIGN, STATUS, CONVERT, REOPEN = "change", "claim", "assign", "status", "convert", "reopen"


def lead_list(*, user, base: QuerySet | None = None) -> QuerySet[Lead]:
    """Leads the user may see, with what a list row shows (owner, team) in the same query."""
    qs = base if base is not None else policy.leads_for(user)
    return qs.select_related("owner", "team")


def lead_detail(*, user, pk) -> Lead:
    return policy.get_or_404(
        policy.leads_for(user).select_related("owner", "team", "created_by", "customer", "opportunity",
                                              "marketing_campaign"), pk
    )


def lead_assignments(*, lead: Lead) -> list[LeadAssignment]:
    """The lead's assignment history, newest first, with the rule (or person) that made each."""
    return list(LeadAssignment.objects.filter(lead=lead).select_related("user", "rule", "assigned_by"))


def allowed_actions(user, lead: Lead) -> set[str]:
    """What the detail page may offer the user for this lead (one query: whether he may change it)."""
    may_change = user.has_perm("sales.change_lead") and policy.leads_for(user, policy.CHANGE).filter(
        pk=lead.pk).exists()
    actions = {CHANGE} if may_change else set()
    if lead.is_open:
        if lead.owner_id is None and user.has_perm("sales.claim_lead") and user.has_perm("sales.change_lead"):
            actions.add(CLAIM)
        if user.has_perm("sales.assign_lead") and (may_change or lead.owner_id is None):
            actions.add(ASSIGN)
        if may_change:
            actions.add(STATUS)
            if user.has_perm("customers.add_customer") and user.has_perm("sales.add_opportunity"):
                actions.add(CONVERT)
    elif lead.status == LeadStatus.DISQUALIFIED and may_change:
        actions.add(REOPEN)
    return actions


def lead_owner_choices(*, user) -> QuerySet:
    """Whom ``user`` may give leads to: the people he may assign to who can work on leads."""
    return assignable_users(user=user).filter(pk__in=lead_workers().values("pk")).order_by("username")


def untouched_leads(user) -> QuerySet[Lead]:
    """The user's open leads he has not handled yet (the sidebar badge "new leads")."""
    return Lead.objects.filter(OPEN_LEAD, owner=user, touched_at__isnull=True)


def assignment_rules() -> QuerySet[AssignmentRule]:
    return AssignmentRule.objects.select_related("user", "team", "last_user").order_by("position", "pk")


def away_members(*, team_ids) -> dict[int, list]:
    """The active members of these teams whom a rule would give leads but who are marked away, by team: the rules
    page shows them, so that an admin sees why a team's leads skip someone (one query for every team)."""
    away = {}
    people = (User.objects.filter(team_id__in=team_ids, is_active=True, is_away=True,
                                  pk__in=lead_workers().values("pk")).order_by("pk"))
    for user in people:
        away.setdefault(user.team_id, []).append(user)
    return away


def lead_timeline_entries(*, customer, user, before, limit) -> list[TimelineEntry]:
    """The customer page's timeline: the leads it was converted from (those the reader may see)."""
    if not user.has_perm("sales.view_lead"):
        return []
    rows = (policy.leads_for(user).filter(customer=customer, converted_at__isnull=False).select_related("owner")
            .order_by("-converted_at", "-id"))
    if before is not None:
        rows = rows.filter(before.older("converted_at", "lead"))
    return [
        TimelineEntry(when=lead.converted_at, kind="lead", id=lead.pk, title=str(lead),
                      template="sales/leads/_timeline_lead.html", obj=lead)
        for lead in rows[:limit]
    ]
