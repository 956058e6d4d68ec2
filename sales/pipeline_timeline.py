"""What opportunities contribute to the customer page: an "opportunity" kind of timeline entry (created, moved,
won, lost), read from the stage history, and a panel listing the customer's opportunities. Registered by
sales.pipeline_setup."""

from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When
from django.utils.translation import gettext as _

from customers.timeline import TimelineEntry

from . import permissions as policy
from .models import StageHistory, StageKind

KIND = "opportunity"
PANEL_ROWS = 5


def opportunity_entries(*, customer, user, before, limit):
    """One entry per stage-history row of the customer's opportunities the user may see: the first row of an
    opportunity is its creation, the others are moves (won and lost told apart)."""
    if not user.has_perm("sales.view_opportunity"):
        return []
    visible = policy.opportunities_for(user).filter(customer=customer).values("pk")
    # The row this one followed: a move closes the previous row at the very moment it opens the next one.
    previous = StageHistory.objects.filter(opportunity_id=OuterRef("opportunity_id"), left_at=OuterRef("entered_at"))
    rows = (
        StageHistory.objects.filter(opportunity__in=visible)
        .select_related("stage", "moved_by", "opportunity")
        .annotate(previous_stage=Subquery(previous.order_by("-pk").values("stage__name")[:1]))
        .order_by("-entered_at", "-id")
    )
    if before is not None:
        rows = rows.filter(before.older("entered_at", KIND))
    entries = []
    for row in rows[:limit]:
        name = row.opportunity.name
        if row.previous_stage is None:
            title = _("Opportunity %(name)s created") % {"name": name}
            event = "created"
        elif row.stage.kind == StageKind.WON:
            title, event = _("Opportunity %(name)s won") % {"name": name}, "won"
        elif row.stage.kind == StageKind.LOST:
            title, event = _("Opportunity %(name)s lost") % {"name": name}, "lost"
        else:
            title = _("Opportunity %(name)s moved to %(stage)s") % {"name": name, "stage": row.stage.name}
            event = "moved"
        # The reason belongs to the latest loss only: the opportunity keeps one.
        reason = row.opportunity.lost_reason if event == "lost" and row.left_at is None else ""
        entries.append(TimelineEntry(when=row.entered_at, kind=KIND, id=row.pk, title=title,
                                     template="sales/pipeline/_timeline_opportunity.html", obj=row,
                                     extra={"event": event, "reason": reason}))
    return entries


def customer_panel(request, customer):
    """The customer page's box of opportunities: open ones first, then the newest, with a "new opportunity" link."""
    user = request.user
    if not user.has_perm("sales.view_opportunity"):
        return None
    rows = list(
        policy.opportunities_for(user).filter(customer=customer).select_related("stage", "owner")
        .annotate(closed=Case(When(closed_at__isnull=True, then=Value(0)), default=Value(1),
                              output_field=IntegerField()))
        .order_by("closed", "-created_at", "-pk")[: PANEL_ROWS + 1]
    )
    may_add = user.has_perm("sales.add_opportunity")
    if not rows and not may_add:
        return None
    return {"opportunities": rows[:PANEL_ROWS], "more": len(rows) > PANEL_ROWS, "customer": customer,
            "may_add": may_add}
