"""Activity analytics: interactions logged and follow-ups completed per rep per week, for the period and people
the filters choose.

Activity is people's work, so its scope is people, not customers: the filters already limit a rep to himself and a
manager to his teams' subtree (reports.filters), and counting through the customer scope of
interactions.permissions instead joined every interaction to the customer table's share and team conditions
(12 s for a manager at 500,000 interactions; bench/RESULTS.md, reports)."""

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.db.models.functions import TruncWeek
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from interactions.models import FollowUp, FollowUpStatus, Interaction

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
                link = reverse("interactions:activity") + "?" + urlencode({"author": person.pk,
                                                                            "date_from": week.isoformat()})
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
                permissions=("interactions.view_interaction",), build=build_activity, order=50))
