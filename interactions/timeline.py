"""What interactions contribute to the customer page: two kinds of timeline entry (interactions and
follow-ups) and the quick-log panel above the timeline. Registered in InteractionsConfig.ready()."""

from django.db.models import Case, F, When

from customers.timeline import TimelineEntry

from .forms import QuickLogForm
from .models import FollowUp, FollowUpStatus, Interaction


def interaction_entries(*, customer, user, before, limit):
    rows = (
        Interaction.objects.filter(customer=customer)
        .select_related("author", "contact", "mail").prefetch_related("attachments")
        .order_by("-occurred_at", "-id")
    )
    if before is not None:
        rows = rows.filter(before.older("occurred_at", "interaction"))
    return [
        TimelineEntry(when=i.occurred_at, kind="interaction", id=i.pk, title=str(i),
                      template="interactions/_timeline_interaction.html", obj=i)
        for i in rows[:limit]
    ]


def followup_entries(*, customer, user, before, limit):
    """A follow-up stands on the timeline at its due time while open (so the next steps lead it), and when
    it was done or dropped afterwards."""
    rows = (
        FollowUp.objects.filter(customer=customer).select_related("assignee")
        .alias(at=Case(When(status=FollowUpStatus.DONE, then=F("completed_at")),
                       When(status=FollowUpStatus.CANCELLED, then=F("updated_at")), default=F("due_at")))
        .annotate(timeline_at=F("at"))
        .order_by("-at", "-id")
    )
    if before is not None:
        rows = rows.filter(before.older("at", "followup"))
    return [
        TimelineEntry(when=f.timeline_at, kind="followup", id=f.pk, title=f.title,
                      template="interactions/_timeline_followup.html", obj=f)
        for f in rows[:limit]
    ]


def quick_log_panel(request, customer):
    if not request.user.has_perm("interactions.add_interaction"):
        return None
    return {"form": QuickLogForm(customer=customer, user=request.user), "customer": customer}
