"""Pages of one's own work: my tasks, the week, my activity and the team's.

Each page reads through interactions.selectors (the policies' scope), narrows with a FilterSet and re-renders
its results alone (``#listing-results``) for htmx. The buttons on a task post to the follow-up endpoints of
views.py, with this page as ``next``: from htmx the redirect back here is followed in the background and the
refreshed results (sections, counts, messages) are swapped in.
"""

from datetime import timedelta

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from crm.accounts.selectors import assignable_users
from crm.exports import registry as export_registry
from crm.web import pagination
from crm.web.pagination import paginate

from . import exports, selectors
from .filters import TaskFilter, activity_filterset
from .models import FollowUpStatus

view_followups = permission_required("interactions.view_followup", raise_exception=True)
view_interactions = permission_required("interactions.view_interaction", raise_exception=True)

SECTION_TITLES = {
    selectors.OVERDUE: _("Overdue"),
    selectors.TODAY: _("Today"),
    selectors.UPCOMING: _("Upcoming"),
}
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"  # what a datetime-local input sends, and SnoozeForm reads


def _render(request, template, context):
    """The page, or its results alone for htmx (filters, pagination, a task action coming back)."""
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, context)


def _snooze_choices() -> list[tuple[str, str, str]]:
    """The quick snooze times (label, value, hint), in the user's time zone, worked out when the page is shown."""
    now = timezone.localtime()
    in_an_hour = now + timedelta(hours=1)
    if in_an_hour.second or in_an_hour.microsecond:  # up to the next whole minute, never a little under an hour
        in_an_hour = in_an_hour.replace(second=0, microsecond=0) + timedelta(minutes=1)
    nine = {"hour": 9, "minute": 0, "second": 0, "microsecond": 0}
    tomorrow = (now + timedelta(days=1)).replace(**nine)
    monday = (now + timedelta(days=7 - now.weekday())).replace(**nine)
    return [
        (_("In 1 hour"), in_an_hour.strftime(DATETIME_LOCAL), in_an_hour.strftime("%H:%M")),
        (_("Tomorrow 9:00"), tomorrow.strftime(DATETIME_LOCAL), tomorrow.strftime("%m-%d")),
        (_("Next Monday 9:00"), monday.strftime(DATETIME_LOCAL), monday.strftime("%m-%d")),
    ]


def _task_actions(request) -> dict:
    """What the actions of every task row need, worked out once per page."""
    may_change = request.user.has_perm("interactions.change_followup")
    assignees = list(assignable_users(user=request.user).order_by("username")) if may_change else []
    return {
        "may_change": may_change,
        # Reassigning is offered only to those who may give tasks to someone besides themselves.
        "assignees": assignees if len(assignees) > 1 else [],
        "snooze_choices": _snooze_choices() if may_change else [],
        "now": timezone.now(),
    }


def _task_filter(request, tasks) -> TaskFilter:
    data = request.GET.copy()
    data.setdefault("status", FollowUpStatus.OPEN)  # to do, unless the user asks for another status ("" = all)
    return TaskFilter(data, queryset=tasks)


@require_GET
@view_followups
def my_tasks(request):
    """The user's follow-ups: open ones in three sections (overdue, today, upcoming) with their counts; one
    section alone, all of it, with ``section=``; any other status as one list."""
    filterset = _task_filter(request, selectors.task_list(user=request.user))
    tasks = filterset.qs
    status = filterset.form.cleaned_data.get("status") if filterset.form.is_valid() else ""
    section = request.GET.get("section")
    context = {"filter": filterset, "status": status, "section_titles": SECTION_TITLES, **_task_actions(request)}
    if status == FollowUpStatus.OPEN and section in selectors.SECTIONS:
        context["section"] = section
        context["page"] = paginate(request, selectors.section_tasks(tasks=tasks, key=section))
    elif status == FollowUpStatus.OPEN:
        context["sections"] = selectors.task_sections(tasks=tasks)
    else:
        context["page"] = paginate(request, tasks.order_by("-due_at", "-pk"))
    return _render(request, "interactions/tasks.html", context)


@require_GET
@view_followups
def week(request):
    """The user's tasks of one week (``date=`` any day of it; this week by default), Monday to Sunday."""
    today = timezone.localdate()
    try:
        day = parse_date(request.GET.get("date") or "") or today
    except ValueError:  # well formed but no such day (2026-02-30)
        day = today
    if not 1900 <= day.year <= 9000:  # a week at the ends of the calendar has no neighbours to link to
        day = today
    filterset = _task_filter(request, selectors.task_list(user=request.user))
    week = selectors.week_tasks(tasks=filterset.qs, monday=selectors.week_monday(day))
    context = {
        "filter": filterset, "week": week, "this_monday": selectors.week_monday(today),
        **_task_actions(request),
    }
    return _render(request, "interactions/week.html", context)


def _activity_page(request, *, mine: bool):
    filterset = activity_filterset(user=request.user, data=request.GET, mine=mine)
    searching = filterset.form.is_valid() and filterset.form.cleaned_data.get("q")
    page = paginate(request, filterset.qs, count_cap=pagination.SEARCH_COUNT_CAP if searching else None)
    context = {
        "filter": filterset, "page": page, "mine": mine,
        "list_url": reverse("interactions:my_activity" if mine else "interactions:activity"),
        # The exporter is registered by InteractionsConfig.ready(): no button that could only fail without it.
        "may_export": (request.user.has_perm("interactions.export_interaction")
                       and export_registry.get(exports.MODEL_KEY) is not None),
    }
    return _render(request, "interactions/activity_list.html", context)


@require_GET
@view_interactions
def my_activity(request):
    """The interactions the user logged himself, on customers he may still see."""
    return _activity_page(request, mine=True)


@require_GET
@view_interactions
def team_activity(request):
    """Interactions on every customer in the user's scope: his teams' work, for managers and administrators."""
    if request.GET.get("mine"):
        # An export of "my activity" links back to the exporter's list page (this one) with its query.
        return redirect(reverse("interactions:my_activity") + "?" + request.GET.urlencode())
    if not selectors.may_see_team_activity(request.user):
        raise PermissionDenied
    return _activity_page(request, mine=False)
