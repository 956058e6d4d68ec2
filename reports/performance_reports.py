"""Sales performance against targets: per rep and per team and month, the won amount (deals closed in a won stage
that month), the win rate (won / won + lost closed that month), the average deal size and the average sales cycle
(created to won, in days), against the month's target (reports.SalesTarget) with the attainment; a ranking of the
reps over the period; a chart of won against target per rep.

Figures come from one GROUP BY (owner, team, month) over the opportunities the viewer may see
(sales.permissions.opportunities_for), narrowed by the report's filters (the deal's owner and its team, as the policy
scopes them); whole months before the current one come from the monthly summary reports.SalesMonth when a worker has
summed them (reports.summaries), and the page says when it did. Amounts are CNY, the
currency targets are set in: deals in other currencies are left out and the page says how many. A team's row covers
its sub-teams (the team rows roll up the per-team groups over the team tree). Targets count for the months of the
period that have begun: a target for next month is not yet missed.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.accounts.models import Team
from sales import permissions as sales_policy
from sales.pipeline_filters import STATUS_WON

from .filters import THIS_QUARTER, add_months, month_start
from .models import SalesMonth, SalesTarget
from .registry import Report, register
from .summaries import SUMMARY_MINUTES, closed_by_month, summed_months
from .tables import Chart, Column, Table
from .target_services import may_manage_targets

User = get_user_model()
SECTION = gettext_lazy("Sales")
CURRENCY = "CNY"
CENT, TENTH = Decimal("0.01"), Decimal("0.1")
ZERO = Decimal("0")
REPS_PER_PAGE = 20  # of the table per rep and month (a year: 240 rows a page)


@dataclass
class Figures:
    """What one group of closed deals adds up to (a rep's or a team's month, or a sum of such)."""

    won_count: int = 0
    lost_count: int = 0
    won_amount: Decimal = ZERO
    cycle: timedelta = field(default_factory=timedelta)  # the won deals' created-to-closed times, summed

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(self.won_count + other.won_count, self.lost_count + other.lost_count,
                       self.won_amount + other.won_amount, self.cycle + other.cycle)

    @property
    def win_rate(self) -> float | None:
        closed = self.won_count + self.lost_count
        return self.won_count / closed if closed else None

    @property
    def average_deal(self) -> Decimal | None:
        if not self.won_count:
            return None
        return (self.won_amount / self.won_count).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def cycle_days(self) -> Decimal | None:
        if not self.won_count:
            return None
        days = Decimal(self.cycle.total_seconds()) / Decimal(86400) / self.won_count
        return days.quantize(TENTH, rounding=ROUND_HALF_UP)


def attainment(won: Decimal, target: Decimal | None) -> float | None:
    return float(won / target) if target else None


def closed_figures(user, filters) -> tuple[dict[tuple, Figures], int, datetime | None]:
    """{(owner id, team id, first day of the month): Figures} of the CNY deals won or lost in the period that the
    viewer may see and the filters choose; how many deals were won in other currencies; and when the months read
    from the monthly summary were summed (None: everything was counted live).

    Whole months the summary holds (reports.summaries) are read from it, the rest (this month, partial months) is
    grouped live, in one query, from the opportunities. The summary keeps no policy: it is read only for the
    records of the filters' people that the viewer sees through their owner or team (filters.own_work), which the
    report filters always choose."""
    summed = summed_months(filters.start, filters.end) if filters.own_work else None
    figures: dict[tuple, Figures] = {}
    other = 0

    def add(owner, team, month, currency, won_count, lost_count, won_amount, cycle):
        nonlocal other
        if currency != CURRENCY:
            other += won_count
            return
        key = (owner, team, month)
        figures[key] = figures.get(key, Figures()) + Figures(won_count, lost_count, won_amount or ZERO,
                                                             cycle or timedelta(0))

    ranges = [(filters.start_at, filters.end_at)]
    if summed:
        first, last, refreshed_at = summed
        rows = SalesMonth.objects.filter(month__gte=first, month__lte=last, **filters.people_filter())
        for row in rows.values_list("owner", "team", "month", "currency", "won_count", "lost_count", "won_amount",
                                    "won_cycle"):
            add(*row)
        # What is left around the summed months (usually only the current month): plain ranges, which the index on
        # (stage, closed_at) serves, where "not in the summed months" made PostgreSQL read the whole table.
        ranges = [(since, until) for since, until in ((filters.start_at, _moment(first)),
                                                      (_moment(add_months(last, 1)), filters.end_at)) if since < until]
    live = Q(pk__in=[])
    for since, until in ranges:
        live |= Q(closed_at__gte=since, closed_at__lt=until)
    for row in closed_by_month(filters.records(sales_policy.opportunities_for(user)).filter(live)) if ranges else []:
        add(row["owner"], row["team"], timezone.localtime(row["month"]).date(), row["currency"], row["won_count"],
            row["lost_count"], row["won_amount"], row["won_cycle"])
    return figures, other, (summed[2] if summed else None)


def _moment(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def by_key(figures: dict[tuple, Figures], index: int) -> dict[tuple, Figures]:
    """{(owner or team id, month): Figures} summed from closed_figures' groups (index 0: the owner, 1: the team;
    deals without a team are left out of the teams')."""
    out: dict[tuple, Figures] = {}
    for key, found in figures.items():
        if key[index] is None:
            continue
        out[(key[index], key[2])] = out.get((key[index], key[2]), Figures()) + found
    return out


def period_months(filters) -> list[date]:
    months, month = [], month_start(filters.start)
    while month <= filters.end:
        months.append(month)
        month = add_months(month, 1)
    return months


def _targets(filters, months: list[date], *, kind: str) -> dict[tuple, Decimal]:
    """{(user or team id, month): amount} for the months that have begun, of the people (or teams) the filters
    choose."""
    begun = [m for m in months if m <= month_start(timezone.localdate())]
    if not begun:
        return {}
    targets = SalesTarget.objects.filter(month__gte=begun[0], month__lte=begun[-1], **{f"{kind}__isnull": False})
    if kind == "user":
        if filters.owner_id is not None:
            targets = targets.filter(user_id=filters.owner_id)
        elif filters.team_ids is not None:
            targets = targets.filter(user__team_id__in=filters.team_ids)
    elif filters.team_ids is not None:
        targets = targets.filter(team_id__in=filters.team_ids)
    return {(pk, month): amount for pk, month, amount in targets.values_list(f"{kind}_id", "month", "amount")}


def _list_url(*, start: date, end: date, owner: int | None = None, team: int | None = None,
              subteams: bool = False) -> str:
    """The opportunity list of the won CNY deals closed between two days (inclusive), of a rep or a team."""
    params = {"status": STATUS_WON, "closed_at_after": start.isoformat(), "closed_at_before": end.isoformat(),
              "currency": CURRENCY}
    if owner is not None:
        params["owner"] = owner
    if team is not None:
        params["team"] = team
        if subteams:
            params["subteams"] = "on"
    return reverse("sales:opportunity_list") + "?" + urlencode(params)


def _team_query(filters) -> dict:
    """A rep row drills down to his won deals, narrowed to the teams the figures counted (the chosen team, or a
    manager's teams) when one top team names them all; someone overseeing unrelated teams gets his whole scope."""
    if filters.team_ids is None:
        return {}
    roots = list(Team.objects.filter(pk__in=filters.team_ids).exclude(parent_id__in=filters.team_ids)
                 .values_list("pk", flat=True))
    return {"team": roots[0], "subteams": True} if len(roots) == 1 else {}


def _month_bounds(month: date, filters) -> tuple[date, date]:
    """The days of the month inside the period."""
    return max(month, filters.start), min(add_months(month, 1) - timedelta(days=1), filters.end)


def _columns(first: list[Column]) -> list[Column]:
    return first + [
        Column(_("won deals"), numeric=True), Column(_("won amount"), money=True), Column(_("win rate"), percent=True),
        Column(_("average deal size"), money=True), Column(_("average sales cycle (days)"), numeric=True),
        Column(_("target"), money=True), Column(_("attainment"), percent=True),
    ]


def _values(figures: Figures, target: Decimal | None) -> list:
    return [figures.won_count, figures.won_amount, figures.win_rate, figures.average_deal, figures.cycle_days,
            target, attainment(figures.won_amount, target)]


def _person_key(person) -> tuple:
    return (person.last_name, person.first_name, person.username)


def _rep_tables(request, filters, months, grouped):
    figures = by_key(grouped, 0)
    targets = _targets(filters, months, kind="user")
    people = User.objects.select_related("team").in_bulk({pk for pk, _month in figures | targets})
    team = _team_query(filters)

    # Each rep's period, from his months: the ranking, and the order in which the monthly table pages its reps.
    totals: dict[int, Figures] = {}
    for (pk, _month), found in figures.items():
        totals[pk] = totals.get(pk, Figures()) + found
    target_totals: dict[int, Decimal] = {}
    for (pk, _month), amount in targets.items():
        target_totals[pk] = target_totals.get(pk, ZERO) + amount
    ordered = sorted(people.values(), key=lambda p: (-(totals.get(p.pk) or Figures()).won_amount, _person_key(p)))

    monthly = Table(key="reps", title=_("Performance per rep and month"),
                    columns=_columns([Column(_("month")), Column(_("rep")), Column(_("team"))]),
                    empty=_("No deal was won or lost in this period, and no target was set."))
    keys = sorted(figures.keys() | targets.keys(),
                  key=lambda k: (k[1], -(figures.get(k) or Figures()).won_amount, _person_key(people[k[0]])))
    for pk, month in keys:
        person, found, target = people[pk], figures.get((pk, month), Figures()), targets.get((pk, month))
        start, end = _month_bounds(month, filters)
        monthly.add([month.strftime("%Y-%m"), str(person), str(person.team or ""), *_values(found, target)],
                    _list_url(start=start, end=end, owner=pk, **team), group=pk)
    # A year of 100 reps is 1,200 rows (about a second to render): the page shows REPS_PER_PAGE reps at a time, in
    # the ranking's order, with all their months; the export has every row.
    monthly.paginate(request, order=[person.pk for person in ordered], per_page=REPS_PER_PAGE)

    ranking = Table(key="ranking", title=_("Ranking of reps by won amount"),
                    columns=[Column(_("rank"), numeric=True), Column(_("rep")), Column(_("team")),
                             Column(_("won deals"), numeric=True), Column(_("won amount"), money=True),
                             Column(_("target"), money=True), Column(_("attainment"), percent=True)],
                    empty=_("No deal was won or lost in this period, and no target was set."))
    rank, previous, links = 0, None, {}
    for position, person in enumerate(ordered, start=1):
        found, target = totals.get(person.pk, Figures()), target_totals.get(person.pk)
        if found.won_amount != previous:  # equal amounts share a rank (1, 1, 3)
            rank, previous = position, found.won_amount
        link = _list_url(start=filters.start, end=filters.end, owner=person.pk, **team)
        links[str(person)] = link
        ranking.add([rank, str(person), str(person.team or ""), found.won_count, found.won_amount, target,
                     attainment(found.won_amount, target)], link)
    if ordered:
        won_sum = sum((t.won_amount for t in totals.values()), ZERO)
        target_sum = sum(target_totals.values(), ZERO) if target_totals else None
        ranking.totals = [None, _("Total"), "", sum(t.won_count for t in totals.values()), won_sum, target_sum,
                          attainment(won_sum, target_sum)]

    chart = Chart(key="won_vs_target", title=_("Won amount against target per rep (CNY)"), links=links, option={
        "tooltip": {"trigger": "axis"},
        "legend": {},
        "grid": {"containLabel": True},
        "xAxis": {"type": "category", "data": [str(p) for p in ordered], "axisLabel": {"interval": 0, "rotate": 30}},
        "yAxis": {"type": "value"},
        "series": [
            {"type": "bar", "name": _("won amount"),
             "data": [float((totals.get(p.pk) or Figures()).won_amount) for p in ordered]},
            {"type": "bar", "name": _("target"),
             "data": [float(target_totals[p.pk]) if p.pk in target_totals else None for p in ordered]},
        ],
    })
    return monthly, ranking, (chart if ordered else None)


def _team_table(filters, months, grouped) -> Table:
    table = Table(key="teams", title=_("Performance per team and month"),
                  columns=_columns([Column(_("month")), Column(_("team"))]),
                  empty=_("No deal was won or lost in this period, and no target was set."))
    groups = by_key(grouped, 1)
    targets = _targets(filters, months, kind="team")
    children: dict[int | None, list[int]] = {}
    names = {}
    for pk, parent, name in Team.objects.values_list("pk", "parent_id", "name"):
        children.setdefault(parent, []).append(pk)
        names[pk] = name
    shown = filters.team_ids if filters.team_ids is not None else set(names)

    def subtree(pk):
        found, todo = set(), [pk]
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo.extend(children.get(current, []))
        return found & shown

    # Each team's months roll up its own and its sub-teams' groups (a handful of teams, a few months).
    rows = []
    for pk in shown:
        below = subtree(pk)
        for month in months:
            found = sum((groups[(t, month)] for t in below if (t, month) in groups), Figures())
            target = targets.get((pk, month))
            if found.won_count or found.lost_count or target is not None:
                rows.append((month, pk, found, target, len(below) > 1))
    rows.sort(key=lambda r: (r[0], -r[2].won_amount, names[r[1]]))
    for month, pk, found, target, with_subteams in rows:
        start, end = _month_bounds(month, filters)
        table.add([month.strftime("%Y-%m"), names[pk], *_values(found, target)],
                  _list_url(start=start, end=end, team=pk, subteams=with_subteams))
    return table


def build_performance(request, filters) -> dict:
    user = request.user
    months = period_months(filters)
    grouped, other_currencies, summed_at = closed_figures(user, filters)
    monthly, ranking, chart = _rep_tables(request, filters, months, grouped)
    tables = [ranking, monthly]
    if filters.owner_id is None:  # one rep's deals against his teams' targets would say nothing
        tables.append(_team_table(filters, months, grouped))
    notes = []
    if summed_at is not None:
        notes.append(_("Months before this one as summed at %(time)s (every %(minutes)d minutes); this month is "
                       "counted as you look.") % {"time": timezone.localtime(summed_at).strftime("%Y-%m-%d %H:%M"),
                                                  "minutes": SUMMARY_MINUTES})
    return {"tables": tables, "charts": [chart] if chart else [], "other_currencies": other_currencies,
            "may_set_targets": may_manage_targets(user), "notes": notes, "summed_at": summed_at}


register(Report(key="performance", title=gettext_lazy("Sales performance against targets"), section=SECTION,
                description=gettext_lazy("Won amount, win rate, average deal size and sales cycle per rep and team "
                                         "and month, against the targets managers set; ranking of the reps."),
                permissions=("sales.view_opportunity",), build=build_performance, order=30,
                export_permissions=("sales.export_opportunity",),
                template="reports/performance.html", extra={"default_period": THIS_QUARTER}))
