"""Activity analytics: interactions logged and follow-ups completed per rep per week, for the period and people
the filters choose.

Activity is people's work, so its scope is people, not customers: the filters already limit a rep to himself and a
manager to his teams' subtree (reports.filters), and counting through the customer scope of
interactions.permissions instead joined every interaction to the customer table's share and team conditions
(12 s for a manager at 500,000 interactions; bench/RESULTS.md, reports).

Customers not contacted for N days (reports/not_contacted.py) is registered here too: it is activity analytics, though
its rows are customers, scoped by the customer policy."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.db.models.functions import TruncWeek
from django.urls import reverse
from django.utils.http import urlencode
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


def _week_rows(queryset, *, user_field: str, time_field: str, filters) -> dict:
    """{(user id, monday): count} for the filters' people and period."""
    people = filters.people_filter(owner_field=user_field, team_field=f"{user_field}__team")
    rows = (queryset.filter(**{f"{time_field}__gte": filters.start_at, f"{time_field}__lt": filters.end_at}, **people)
            .exclude(**{f"{user_field}__isnull": True})
            .annotate(week=TruncWeek(time_field)).values(user_field, "week").annotate(n=Count("pk")).order_by())
    return {(row[user_field], row["week"].date()): row["n"] for row in rows}


def _week_link(viewer, person, week) -> str:
    """The activity list on exactly ``person``'s interactions of the week starting on Monday ``week``."""
    # The list's date filter is a DateFromToRangeFilter named "date" (interactions.filters.ActivityFilter): it reads
    # date_after / date_before, both days included, in the CRM's time zone like TruncWeek above.
    dates = {"date_after": week.isoformat(), "date_before": (week + timedelta(days=6)).isoformat()}
    if may_see_team_activity(viewer):
        return reverse("interactions:activity") + "?" + urlencode({"author": person.pk, **dates})
    # Whoever oversees no team reports on himself alone, and the team list is not his (403): his own list is.
    return reverse("interactions:my_activity") + "?" + urlencode(dates)


def build_activity(request, filters) -> dict:
    # The filters' people are the scope (see the module's docstring).
    logged = _week_rows(Interaction.objects.all(), user_field="author", time_field="occurred_at", filters=filters)
    done = _week_rows(FollowUp.objects.filter(status=FollowUpStatus.DONE), user_field="assignee",
                      time_field="completed_at", filters=filters)
    weeks = sorted({week for _person, week in logged | done})
    people = User.objects.in_bulk({person for person, _week in logged | done})
    table = Table(key="weekly", title=_("Interactions and completed follow-ups per rep per week"),
                  columns=[Column(_("rep")), Column(_("week of")), Column(_("interactions"), numeric=True),
                           Column(_("follow-ups completed"), numeric=True)],
                  empty=_("Nobody logged anything in this period."))
    for person in sorted(people.values(), key=lambda p: (p.last_name, p.first_name, p.username)):
        for week in weeks:
            if (person.pk, week) in logged or (person.pk, week) in done:
                link = _week_link(request.user, person, week)
                table.add([str(person), week.isoformat(), logged.get((person.pk, week), 0),
                           done.get((person.pk, week), 0)], link)
    totals_by_week = [sum(n for (_p, w), n in logged.items() if w == week) for week in weeks]
    chart = Chart(key="weekly", title=_("Interactions per week"), option={
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [w.isoformat() for w in weeks]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "name": _("interactions"), "data": totals_by_week}],
    })
    return {"tables": [table], "charts": [chart] if weeks else []}


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
