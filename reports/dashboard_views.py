"""The home page: the dashboard of the user's role (reports.dashboards), each figure linking to the list or report
behind it. Reads only; a handful of small queries whatever the number of records."""

from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from . import dashboards, registry
from .dashboard_health import system_health
from .dashboards import ADMIN, MANAGER, REP
from .filters import month_start
from .tables import Chart


@require_GET
def dashboard(request):
    user = request.user
    kind = dashboards.dashboard_kind(user)
    today = timezone.localdate()
    reports = registry.available(user)
    context = {"kind": kind, "today": today, "tasks": dashboards.my_tasks(user), "reports": reports,
               "report_keys": {report.key for report in reports}, "charts": []}
    if kind == REP:
        scope = dashboards.Scope(owner_id=user.pk)
        context["pipeline"] = dashboards.open_by_stage(user, scope)
        context["target"] = dashboards.my_target(user, today=today)
        context["charts"].append(_stage_chart("pipeline", _("My open opportunities (CNY)"), context["pipeline"]))
    elif kind in (MANAGER, ADMIN):
        scope = dashboards.scope_for(user, kind)
        pipeline = dashboards.default_pipeline()
        if pipeline is not None:
            context["funnel_pipeline"] = pipeline
            context["funnel"] = dashboards.open_by_stage(user, scope, pipeline=pipeline)
            context["charts"].append(_funnel_chart(context["funnel"]))
        context["ranking"] = dashboards.ranking(user, scope, today=today,
                                                limit=dashboards.RANKING_LIMIT if kind == ADMIN else None)
        context["ranking_month"] = month_start(today)
        context["forecast"] = dashboards.forecast(user, scope, today=today)
        context["charts"].append(_forecast_chart(context["forecast"]))
    if kind == ADMIN:
        context["health"] = system_health()
    context["chart_by_key"] = {chart.key: chart for chart in context["charts"]}
    return render(request, "reports/dashboard.html", context)


def _stage_chart(key, title, figures) -> Chart:
    return Chart(key=key, title=title, height=240, links={row.label: row.link for row in figures.rows}, option={
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 16, "top": 8, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "value"},
        "yAxis": {"type": "category", "inverse": True, "data": [row.label for row in figures.rows]},
        "series": [{"type": "bar", "name": _("amount (CNY)"), "data": [float(row.amount) for row in figures.rows]}],
    })


def _funnel_chart(figures) -> Chart:
    return Chart(key="funnel", title=_("Open opportunities per stage"), height=260,
                 links={row.label: row.link for row in figures.rows}, option={
                     "tooltip": {"trigger": "item"},
                     "series": [{"type": "funnel", "name": _("open opportunities"), "sort": "none", "gap": 2,
                                 "left": "10%", "width": "80%", "minSize": "20%",
                                 "label": {"show": True, "position": "inside"},
                                 "data": [{"name": row.label, "value": row.count} for row in figures.rows]}],
                 })


def _forecast_chart(rows) -> Chart:
    labels = [f"{row.month:%Y-%m}" for row in rows]
    return Chart(key="forecast", title=_("Forecast (CNY)"), height=240,
                 links={label: row.link for label, row in zip(labels, rows, strict=True)}, option={
                     "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
                     "legend": {"top": 0},
                     "grid": {"left": 8, "right": 8, "top": 32, "bottom": 8, "containLabel": True},
                     "xAxis": {"type": "category", "data": labels},
                     "yAxis": {"type": "value"},
                     "series": [
                         {"type": "bar", "name": _("open amount"), "data": [float(row.amount) for row in rows]},
                         {"type": "bar", "name": _("weighted amount"), "data": [float(row.weighted) for row in rows]},
                     ],
                 })
