"""Activity analytics: interactions logged and follow-ups completed per rep over the period (one row each) and per
rep per week (paged by rep: a year of 100 reps is 5,200 rows), for the period and people the filters choose.

Activity is people's work, so its scope is people, not customers: the filters already limit a rep to himself and a
manager to his teams' subtree (reports.filters), and counting through the customer scope of
interactions.permissions instead joined every interaction to the customer table's share and team conditions
(12 s for a manager at 500,000 interactions; bench/RESULTS.md, reports).

Customers not contacted for N days (reports/not_contacted.py) is registered here too: it is activity analytics, though
its rows are customers, scoped by the customer policy."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.db.models.functions import TruncWeek
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from interactions.models import FollowUp, FollowUpStatus, Interaction
from interactions.selectors import may_see_team_activity

from .not_contacted import DEFAULT_DAYS, build_not_contacted
from .registry import Report, register
from .tables import Chart, Column, Table

User = get_user_model()
SECTION = gettext_lazy("Activity")
WEEKLY_ROWS_PER_PAGE = 530  # the weekly table pages whole reps: a year's 53 weeks make 10 reps a page, a month 100


def _week_rows(queryset, *, user_field: str, time_field: str, filters) -> dict:
    """{(user id, monday): count} for the filters' people and period."""
    people = filters.people_filter(owner_field=user_field, team_field=f"{user_field}__team")
    rows = (queryset.filter(**{f"{time_field}__gte": filters.start_at, f"{time_field}__lt": filters.end_at}, **people)
            .exclude(**{f"{user_field}__isnull": True})
            .annotate(week=TruncWeek(time_field)).values(user_field, "week").annotate(n=Count("pk")).order_by())
    return {(row[user_field], row["week"].date()): row["n"] for row in rows}


def _links(viewer):
    """A function (person, first day, last day) -> the activity list on exactly ``person``'s interactions of those
    days. The viewer's list and permission are looked up once: a year of 100 reps has 5,200 rows."""
    # The list's date filter is a DateFromToRangeFilter named "date" (interactions.filters.ActivityFilter): it reads
    # date_after / date_before, both days included, in the CRM's time zone like TruncWeek above.
    # Ids and ISO dates need no quoting, so the query is written out rather than urlencoded 5,200 times.
    if may_see_team_activity(viewer):
        base = reverse("interactions:activity")
        return lambda person, first, last: f"{base}?author={int(person.pk)}&date_after={first}&date_before={last}"
    # Whoever oversees no team reports on himself alone, and the team list is not his (403): his own list is.
    base = reverse("interactions:my_activity")
    return lambda person, first, last: f"{base}?date_after={first}&date_before={last}"


def build_activity(request, filters) -> dict:
    # The filters' people are the scope (see the module's docstring).
    logged = _week_rows(Interaction.objects.all(), user_field="author", time_field="occurred_at", filters=filters)
    done = _week_rows(FollowUp.objects.filter(status=FollowUpStatus.DONE), user_field="assignee",
                      time_field="completed_at", filters=filters)
    weeks = sorted({week for _person, week in logged | done})
    people = User.objects.in_bulk({person for person, _week in logged | done})
    ordered = sorted(people.values(), key=lambda p: (p.last_name, p.first_name, p.username))
    link = _links(request.user)

    # One row per rep over the period: what a manager compares first, and all a year of 100 reps fits in.
    summary = Table(key="reps", title=_("Interactions and completed follow-ups per rep"),
                    columns=[Column(_("rep")), Column(_("interactions"), numeric=True),
                             Column(_("follow-ups completed"), numeric=True),
                             Column(_("interactions per week"), numeric=True),
                             Column(_("weeks with activity"), numeric=True)],
                    empty=_("Nobody logged anything in this period."))
    per_person = {person.pk: [0, 0, set()] for person in ordered}
    for counts, index in ((logged, 0), (done, 1)):
        for (person, week), n in counts.items():
            per_person[person][index] += n
            per_person[person][2].add(week)
    period_weeks = max(1, len(_period_mondays(filters)))
    for person in sorted(ordered, key=lambda p: -per_person[p.pk][0]):
        interactions, completed, active = per_person[person.pk]
        summary.add([str(person), interactions, completed, round(Decimal(interactions) / period_weeks, 1),
                     len(active)], link(person, filters.start, filters.end))
    if ordered:
        summary.totals = [_("Total"), sum(v[0] for v in per_person.values()), sum(v[1] for v in per_person.values()),
                          round(Decimal(sum(v[0] for v in per_person.values())) / period_weeks, 1), None]

    table = Table(key="weekly", title=_("Interactions and completed follow-ups per rep per week"),
                  columns=[Column(_("rep")), Column(_("week of")), Column(_("interactions"), numeric=True),
                           Column(_("follow-ups completed"), numeric=True)],
                  empty=_("Nobody logged anything in this period."))
    for person in ordered:
        for week in weeks:
            if (person.pk, week) in logged or (person.pk, week) in done:
                table.add([str(person), week.isoformat(), logged.get((person.pk, week), 0),
                           done.get((person.pk, week), 0)], link(person, week, week + timedelta(days=6)),
                          group=person.pk)
    # A year of 100 reps is 5,200 rows (over a second to render): the page shows a few reps' weeks at a time, about
    # WEEKLY_ROWS_PER_PAGE rows; the export has every row.
    table.paginate(request, order=[person.pk for person in ordered],
                   per_page=max(1, WEEKLY_ROWS_PER_PAGE // max(1, len(weeks))))
    by_week: dict = {}
    for (_person, week), n in logged.items():
        by_week[week] = by_week.get(week, 0) + n
    totals_by_week = [by_week.get(week, 0) for week in weeks]
    chart = Chart(key="weekly", title=_("Interactions per week"), option={
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [w.isoformat() for w in weeks]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "name": _("interactions"), "data": totals_by_week}],
    })
    return {"tables": [summary, table], "charts": [chart] if weeks else []}


def _period_mondays(filters) -> list:
    """The Mondays of the weeks the period touches up to today (TruncWeek's weeks): weeks still to come have had no
    chance of activity, so they do not lower the average."""
    monday = filters.start - timedelta(days=filters.start.weekday())
    last = min(filters.end, timezone.localdate())
    mondays = []
    while monday <= last:
        mondays.append(monday)
        monday += timedelta(days=7)
    return mondays


register(Report(key="activity", title=gettext_lazy("Activity per rep and week"), section=SECTION,
                description=gettext_lazy("Interactions logged and follow-ups completed, per rep and week."),
                permissions=("interactions.view_interaction",), build=build_activity, order=50,
                export_permissions=("interactions.export_interaction",)))
register(Report(key="not_contacted", title=gettext_lazy("Customers not contacted for N days"), section=SECTION,
                template="reports/customer_report.html", filters=("team", "owner"),
                description=format_lazy(gettext_lazy(
                    "Customers whose last contact is N days old or more (N is chosen below, {days} by default) or who "
                    "were never contacted, oldest first, with a count per owner."), days=DEFAULT_DAYS),
                permissions=("customers.view_customer",), build=build_not_contacted, order=51,
                export_permissions=("customers.export_customer",)))
