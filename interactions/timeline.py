"""What interactions contribute to the customer page: two kinds of timeline entry (interactions and
follow-ups) and the quick-log panel above the timeline. Registered in InteractionsConfig.ready()."""

from django.db.models import Case, F, When
from django.utils import timezone

from crm.accounts.selectors import assignable_users
from customers.timeline import TimelineEntry

from .forms import QuickLogForm
from .models import FollowUp, FollowUpStatus, Interaction


def interaction_entries(*, customer, user, before, limit):
    if not user.has_perm("interactions.view_interaction"):
        return []
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
    """Follow-ups that were done or dropped, at the time they were; open ones stand above the timeline, in
    the open follow-ups panel, however overdue."""
    if not user.has_perm("interactions.view_followup"):
        return []
    rows = (
        FollowUp.objects.filter(customer=customer).exclude(status=FollowUpStatus.OPEN).select_related("assignee")
        .alias(at=Case(When(status=FollowUpStatus.DONE, then=F("completed_at")), default=F("updated_at")))
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


def open_followups_panel(request, customer):
    """The customer's open follow-ups, overdue first, with the same actions as the tasks page."""
    if not request.user.has_perm("interactions.view_followup"):
        return None
    followups = list(FollowUp.objects.filter(customer=customer, status=FollowUpStatus.OPEN)
                     .select_related("assignee", "customer").order_by("due_at", "pk"))
    if not followups:
        return None
    may_change = request.user.has_perm("interactions.change_followup")
    return {"followups": followups, "now": timezone.now(), "may_change": may_change,
            "assignees": list(assignable_users(user=request.user).order_by("username")) if may_change else []}


def quick_log_panel(request, customer):
    if not request.user.has_perm("interactions.add_interaction"):
        return None
    return {"form": QuickLogForm(customer=customer, user=request.user), "customer": customer}
