"""Sales reports: the pipeline funnel (销售漏斗) and the forecast by month of expected close.

Both count the opportunities the viewer may see (sales.permissions.opportunities_for) of the people the filters
choose, in SQL: the funnel in one query per pipeline (one conditional count and sum per stage over the furthest
stage each deal reached, a column of the opportunity), the forecast in three (open deals per month, open deals
overdue or without a date, deals won per month). Amounts are those in CNY; deals in other currencies are counted,
and the table's title says how many amounts were left out. Every row opens the opportunity list on exactly the deals
it counts.
"""

from dataclasses import replace
from datetime import datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.db.models import Count, DecimalField, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm.accounts.models import Team
from sales import permissions as sales_policy
from sales.commerce_totals import money
from sales.models import Pipeline, StageKind
from sales.models.pipeline import OPEN_OPPORTUNITY
from sales.pipeline_filters import REACHING_KINDS

from .filters import THIS_QUARTER, add_months, month_start
from .registry import Report, register
from .tables import Chart, Column, Table

SECTION = gettext_lazy("Sales")
HOME_CURRENCY = "CNY"
IN_HOME_CURRENCY = Q(currency=HOME_CURRENCY)
# The forecast's worst case counts only the deals at least this likely to close (stage probability, in %).
WORST_CASE_PROBABILITY = 70
FORECAST_MONTHS = 6
FORECAST_MONTH_CHOICES = (3, 6, 12)


def _list_url(**query) -> str:
    return reverse("sales:opportunity_list") + "?" + urlencode({k: v for k, v in query.items() if v is not None})


def _people_query(filters) -> dict:
    """The opportunity list's parameters for the filters' people: the rep, or the team with its sub-teams (the chosen
    one, or for a manager the teams he oversees: their one top team)."""
    query = {}
    if filters.owner_id is not None:
        query["owner"] = filters.owner_id
    if filters.team_ids is not None:
        roots = list(Team.objects.filter(pk__in=filters.team_ids).exclude(parent_id__in=filters.team_ids)
                     .values_list("pk", flat=True))
        # Someone who oversees several unrelated teams has no single team to name: his list shows all he may see.
        if len(roots) == 1:
            query |= {"team": roots[0], "subteams": "on"}
    return query


def _scoped(request, filters):
    return filters.records(sales_policy.opportunities_for(request.user))


def _ratio(part, whole):
    return part / whole if whole else None


def _other_currencies_note(title: str, count: int) -> str:
    if not count:
        return title
    note = ngettext("%(count)d deal in another currency is counted, its amount is not summed",
                    "%(count)d deals in other currencies are counted, their amounts are not summed", count)
    return f"{title} ({note % {'count': count}})"


# ------------------------------------------------------------------------------------------------ the funnel


class PipelineChoiceForm(forms.Form):
    pipeline = forms.ModelChoiceField(label=gettext_lazy("pipeline"), queryset=Pipeline.objects.all(),
                                      required=False, empty_label=None)


def _pipeline_form(request) -> tuple[PipelineChoiceForm, Pipeline | None]:
    default = Pipeline.objects.filter(is_default=True).first() or Pipeline.objects.filter(active=True).first()
    data = request.GET.copy()
    if not data.get("pipeline") and default is not None:
        data["pipeline"] = default.pk
    form = PipelineChoiceForm(data)
    chosen = form.cleaned_data.get("pipeline") if form.is_valid() else None
    return form, chosen or default


def funnel_figures(queryset, pipeline, stages) -> dict:
    """{stage id: (deals that reached it, their CNY amount, how many are in other currencies)} in one query: per stage
    a count and a sum of the deals whose furthest position (the furthest open or won stage they have been in or are
    in, Opportunity.furthest_position) is at or after the stage's. sales.pipeline_filters.reached_condition, which
    the drill-down list applies, says the same. One row per deal, read from the index opportunity_funnel: no stage
    history is read."""
    reached = queryset.filter(pipeline=pipeline).order_by()
    aggregates = {}
    for stage in stages:
        hit = Q(furthest_position__gte=stage.position)
        aggregates |= {f"n{stage.pk}": Count("pk", filter=hit),
                       f"a{stage.pk}": Sum("amount", filter=hit & IN_HOME_CURRENCY),
                       f"x{stage.pk}": Count("pk", filter=hit & ~IN_HOME_CURRENCY)}
    row = reached.aggregate(**aggregates) if aggregates else {}
    return {stage.pk: (row[f"n{stage.pk}"], money(row[f"a{stage.pk}"] or 0), row[f"x{stage.pk}"]) for stage in stages}


def build_funnel(request, filters) -> dict:
    form, pipeline = _pipeline_form(request)
    context = {"extra_filter_fields": [form["pipeline"]], "tables": [], "charts": []}
    if pipeline is None:
        return context
    stages = list(pipeline.stages.filter(kind__in=REACHING_KINDS).order_by("position", "pk"))
    figures = funnel_figures(_scoped(request, filters).filter(created_at__gte=filters.start_at,
                                                                created_at__lt=filters.end_at), pipeline, stages)
    link_query = {"pipeline": pipeline.pk, "created_after": filters.start.isoformat(),
                  "created_before": filters.end.isoformat(), **_people_query(filters)}
    first = figures[stages[0].pk][0] if stages else 0
    table = Table(key="funnel", title="", empty=_("No opportunities were created in this period."), columns=[
        Column(_("stage")), Column(_("opportunities that reached it"), numeric=True),
        Column(_("their amount (CNY)"), money=True), Column(_("went on to the next stage"), percent=True),
        Column(_("of those in the first stage"), percent=True)])
    links, data = {}, []
    for index, stage in enumerate(stages):
        count, amount, _other = figures[stage.pk]
        following = figures[stages[index + 1].pk][0] if index + 1 < len(stages) else None
        link = _list_url(**link_query, reached=stage.pk)
        table.add([stage.name, count, amount, _ratio(following, count) if following is not None else None,
                   _ratio(count, first)], link)
        links[stage.name] = link
        data.append({"name": stage.name, "value": count})
    other = max((figures[s.pk][2] for s in stages), default=0)
    table.title = _other_currencies_note(_("Funnel of %(pipeline)s") % {"pipeline": pipeline.name}, other)
    if first:
        overall = _ratio(figures[stages[-1].pk][0], first)
        table.totals = [_("Overall: first stage → %(stage)s") % {"stage": stages[-1].name}, None, None, None, overall]
        context["charts"].append(Chart(key="funnel", title=table.title, height=360, links=links, option={
            "tooltip": {"trigger": "item", "formatter": "{b}: {c}"},
            "series": [{"type": "funnel", "name": str(pipeline.name), "sort": "none", "gap": 2, "min": 0,
                        "max": first, "left": "10%", "width": "80%",
                        "label": {"show": True, "position": "inside", "formatter": "{b}: {c}"}, "data": data}],
        }))
    context["tables"].append(table)
    return context


# ---------------------------------------------------------------------------------------------- the forecast


class ForecastForm(forms.Form):
    months = forms.TypedChoiceField(label=gettext_lazy("months ahead"), coerce=int, required=False,
                                    choices=[(n, n) for n in FORECAST_MONTH_CHOICES])


def _months_form(request) -> tuple[ForecastForm, int]:
    data = request.GET.copy()
    data.setdefault("months", str(FORECAST_MONTHS))
    form = ForecastForm(data)
    return form, (form.cleaned_data.get("months") if form.is_valid() else None) or FORECAST_MONTHS


def _measures(condition: Q | None = None) -> dict:
    """Count, best case (open amount), commit (amount × probability, /100 afterwards), worst case (the likely deals'
    amount) and the deals in other currencies, of the rows matching ``condition`` (all if None)."""
    def where(extra: Q | None = None) -> Q:
        parts = [part for part in (condition, extra) if part is not None]
        return Q(*parts) if parts else Q()

    weighted = F("amount") * F("stage__probability")
    return {
        "count": Count("pk", filter=where()),
        "best": Sum("amount", filter=where(IN_HOME_CURRENCY)),
        "commit": Sum(weighted, filter=where(IN_HOME_CURRENCY), output_field=DecimalField()),
        "worst": Sum("amount", filter=where(IN_HOME_CURRENCY & Q(stage__probability__gte=WORST_CASE_PROBABILITY))),
        "other": Count("pk", filter=where(~IN_HOME_CURRENCY)),
    }


def _figures(row: dict | None, won=Decimal("0")) -> dict:
    row = row or {}
    commit = money((row.get("commit") or 0) / 100)
    return {"count": row.get("count") or 0, "best": money(row.get("best") or 0), "commit": commit,
            "worst": money(row.get("worst") or 0), "won": money(won), "other": row.get("other") or 0}


def forecast_figures(queryset, *, today, months: int) -> tuple[list, dict, dict]:
    """([(first day of month, figures)], overdue figures, no-date figures), open deals by month of expected close
    from today to the end of the last month, and the CNY amount won in each of those months."""
    first_month = month_start(today)
    end = add_months(first_month, months) - timedelta(days=1)
    # "Not closed" says the same as the open stage (reports.dashboards.OPEN_DEALS) and lets PostgreSQL read the
    # partial index of the open deals, index-only, instead of the table.
    opened = queryset.filter(stage__kind=StageKind.OPEN).filter(OPEN_OPPORTUNITY).order_by()
    by_month = {row["month"]: row for row in (
        opened.filter(expected_close__gte=today, expected_close__lte=end)
        .annotate(month=TruncMonth("expected_close")).values("month").annotate(**_measures()))}
    overdue = Q(expected_close__lt=today)
    undated = Q(expected_close__isnull=True)
    rest = opened.filter(overdue | undated).aggregate(
        **{f"overdue_{k}": v for k, v in _measures(overdue).items()},
        **{f"undated_{k}": v for k, v in _measures(undated).items()})
    since, until = (timezone.make_aware(datetime.combine(day, time.min)) for day in (first_month, end + timedelta(1)))
    won = {row["month"].date(): row["won"] for row in (
        queryset.filter(stage__kind=StageKind.WON, closed_at__gte=since, closed_at__lt=until).order_by()
        .annotate(month=TruncMonth("closed_at")).values("month").annotate(won=Sum("amount", filter=IN_HOME_CURRENCY)))}
    rows = [(month, _figures(by_month.get(month), won.get(month) or 0))
            for month in (add_months(first_month, i) for i in range(months))]
    return rows, _figures(_prefixed(rest, "overdue_")), _figures(_prefixed(rest, "undated_"))


def _prefixed(row: dict, prefix: str) -> dict:
    return {key.removeprefix(prefix): value for key, value in row.items() if key.startswith(prefix)}


def build_forecast(request, filters) -> dict:
    form, months = _months_form(request)
    today = timezone.localdate()
    rows, overdue, undated = forecast_figures(_scoped(request, filters), today=today, months=months)
    people = {"status": "open", **_people_query(filters)}
    end = add_months(month_start(today), months) - timedelta(days=1)
    table = Table(key="forecast", title="", columns=[
        Column(_("expected close")), Column(_("open opportunities"), numeric=True),
        Column(_("best case: open amount"), money=True), Column(_("commit: weighted amount"), money=True),
        Column(_("worst case: %(percent)d %% likely or more") % {"percent": WORST_CASE_PROBABILITY}, money=True),
        Column(_("won in the month"), money=True), Column(_("expected: won + commit"), money=True)])

    def add(label, figures, link):
        table.add([label, figures["count"], figures["best"], figures["commit"], figures["worst"], figures["won"],
                   figures["won"] + figures["commit"]], link)

    links = {}
    for month, figures in rows:
        label = f"{month:%Y-%m}"
        month_end = add_months(month, 1) - timedelta(days=1)
        links[label] = _list_url(**people, expected_close_after=max(month, today).isoformat(),
                                 expected_close_before=month_end.isoformat())
        add(label, figures, links[label])
    add(_("Overdue (expected close has passed)"), overdue,
        _list_url(**people, expected_close_before=(today - timedelta(days=1)).isoformat()))
    add(_("No expected close"), undated, _list_url(**people, no_close_date="true"))
    every = [figures for _month, figures in rows] + [overdue, undated]
    totals = {key: sum((f[key] for f in every), Decimal("0")) for key in ("best", "commit", "worst", "won")}
    table.totals = [_("Total"), sum(f["count"] for f in every), totals["best"], totals["commit"], totals["worst"],
                    totals["won"], totals["won"] + totals["commit"]]
    table.title = _other_currencies_note(_("Forecast by month of expected close"), sum(f["other"] for f in every))
    labels = list(links)
    chart = Chart(key="forecast", title=_("Won, commit and best case per month"), links=links, option={
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 36, "containLabel": True},
        "xAxis": {"type": "category", "data": labels},
        "yAxis": {"type": "value"},
        # Stacked: the bar's top is won + best case (the commit part plus the rest of the open amount).
        "series": [
            {"type": "bar", "stack": "month", "name": _("won"), "data": [float(f["won"]) for _m, f in rows]},
            {"type": "bar", "stack": "month", "name": _("commit"), "data": [float(f["commit"]) for _m, f in rows]},
            {"type": "bar", "stack": "month", "name": _("best case beyond commit"),
             "data": [float(f["best"] - f["commit"]) for _m, f in rows]},
        ],
    })
    # The page's period line shows the months forecast (the report has no period filter of its own).
    return {"extra_filter_fields": [form["months"]], "tables": [table], "charts": [chart],
            "filters": replace(filters, start=today, end=end)}


register(Report(
    key="funnel", title=gettext_lazy("Pipeline funnel"), section=SECTION, permissions=("sales.view_opportunity",),
    build=build_funnel, order=10, extra={"default_period": THIS_QUARTER},
    export_permissions=("sales.export_opportunity",),
    description=gettext_lazy(
        "Opportunities created in the period, per stage they reached: were in it, or went further (a won deal passed "
        "every stage; a lost one the stages it was in), with their amount and the share that went on."),
))
register(Report(
    key="forecast", title=gettext_lazy("Forecast"), section=SECTION, permissions=("sales.view_opportunity",),
    build=build_forecast, order=20, filters=("team", "owner"), export_permissions=("sales.export_opportunity",),
    description=format_lazy(gettext_lazy(
        "Open opportunities by month of expected close. Best case: all their amount; commit: amount × stage "
        "probability; worst case: only the deals in stages with a probability of at least {percent}. Won: the amount "
        "won in the month."), percent=f"{WORST_CASE_PROBABILITY} %"),
))
