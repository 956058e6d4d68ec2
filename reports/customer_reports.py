"""Customer analytics: new customers by month, source, region and industry; the customer base by level and lifecycle
status; lead-to-customer conversion by source; and RFM segmentation from orders (reports/rfm.py).

Every figure is an SQL aggregate over the records the viewer may see (customers.permissions.customers_for,
sales.permissions.leads_for / orders_for), narrowed to the filters' people: a rep's reports cover his own records, a
manager's his teams' subtree. Where a page shows the same records grouped several ways, one query groups them with
GROUPING SETS (``sum_by_sets``): the records are read once and grouped by every key together, and those few groups
are summed again per table. New customers and the customer base add up whole past months from the customer
summaries a worker keeps (reports.customer_summaries) and count the rest live; the page says when the months were
summed. Every row opens the list behind it (customers:list, sales:lead_list) on exactly the records it counts.
"""

from collections import Counter
from datetime import timedelta

from django.db.models import Count, F, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.accounts.models import Team
from customers.choices import Industry, Level, Source, Status
from customers.filters import NOT_SET
from customers.models import Customer
from sales import permissions as sales_policy
from sales.models import LeadStatus
from sales.models.leads import OPEN_LEAD

from .customer_summaries import new_customer_counts, standing_counts, sum_by_sets
from .filters import LAST_12_MONTHS, THIS_QUARTER, add_months, month_start
from .registry import Report, register
from .rfm import build_rfm
from .summaries import SUMMARY_MINUTES
from .tables import Chart, Column, Table

SECTION = gettext_lazy("Customers")
TEMPLATE = "reports/customer_report.html"


# ------------------------------------------------------------------------------------------------ shared helpers


def people_query(filters) -> dict:
    """The list pages' parameters for the filters' people: the rep, and the team with its sub-teams (the chosen one,
    or for a manager the teams he oversees: their top team). A manager of several unrelated teams has no single team
    to name: his lists then show all he may see."""
    query = {}
    if filters.owner_id is not None:
        query["owner"] = filters.owner_id
    if filters.team_ids is not None:
        roots = [filters.team_id] if filters.team_id is not None else list(
            Team.objects.filter(pk__in=filters.team_ids).exclude(parent_id__in=filters.team_ids)
            .values_list("pk", flat=True))
        if len(roots) == 1:
            query |= {"team": roots[0], "subteams": "on"}
    return query


def list_url(name: str, **query) -> str:
    return reverse(name) + "?" + urlencode({k: v for k, v in query.items() if v is not None})


def share(part, whole):
    return part / whole if whole else None


def _label(choices, value) -> str:
    if not value:
        return _("(not set)")
    return str(dict(choices).get(value, value))


def _count(value) -> int:
    return int(value or 0)


def _field_label(name: str) -> str:
    return str(Customer._meta.get_field(name).verbose_name)


# ------------------------------------------------------------------------------------------------ new customers


def build_new_customers(request, filters) -> dict:
    counts, summed_at = new_customer_counts(request.user, filters)
    total = sum(counts["month"].values())
    base = {"created_after": filters.start.isoformat(), "created_before": filters.end.isoformat(),
            **people_query(filters)}
    counted = [Column(_("new customers"), numeric=True), Column(_("share"), percent=True)]

    by_month = counts["month"]
    months = Table(key="months", title=_("New customers per month"), columns=[Column(_("month")), *counted],
                   empty=_("No customer was created in this period."))
    chart_links, labels, values = {}, [], []
    month = month_start(filters.start)
    while month <= filters.end:
        following = add_months(month, 1)
        first, last = max(month, filters.start), min(following - timedelta(days=1), filters.end)
        link = list_url("customers:list", **{**base, "created_after": first.isoformat(),
                                             "created_before": last.isoformat()})
        label = f"{month:%Y-%m}"
        months.add([label, by_month.get(month, 0), share(by_month.get(month, 0), total)], link)
        chart_links[label] = link
        labels.append(label)
        values.append(by_month.get(month, 0))
        month = following
    if total:
        months.totals = [_("Total"), total, 1]

    tables = [months]
    for key, title, choices, field in (
            ("sources", _("By source"), Source.choices, "source"),
            ("provinces", _("By province"), None, "province"),
            ("industries", _("By industry"), Industry.choices, "industry")):
        table = Table(key=key, title=title, columns=[Column(_field_label(field)), *counted],
                      empty=_("No customer was created in this period."))
        for value, n in sorted(counts[field].items(), key=lambda item: (-item[1], not item[0], item[0])):
            if not n:
                continue
            table.add([_label(choices or [], value), n, share(n, total)],
                      list_url("customers:list", **base, **{field: value or NOT_SET}))
        if total:
            table.totals = [_("Total"), total, 1]
        tables.append(table)

    charts = []
    if total:
        charts.append(Chart(key="months", title=_("New customers per month"), links=chart_links, option={
            "tooltip": {"trigger": "axis"},
            "xAxis": {"type": "category", "data": labels},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [{"type": "bar", "name": _("new customers"), "data": values}],
        }))
    return {"tables": tables, "charts": charts, "notes": summed_notes(summed_at)}


def summed_notes(summed_at) -> list[str]:
    """What the page says when whole months came from the customer summary (reports.customer_summaries)."""
    if summed_at is None:
        return []
    return [_("Customers created before this month are counted as they were at %(time)s (summed every %(minutes)d "
              "minutes); customers created since are counted as you look.") % {
        "time": timezone.localtime(summed_at).strftime("%Y-%m-%d %H:%M"), "minutes": SUMMARY_MINUTES}]


# ------------------------------------------------------------------------------------------------ customer base


def build_customer_base(request, filters) -> dict:
    cells, summed_at = standing_counts(request.user, filters)
    total = sum(cells.values())
    by_level, by_status = Counter(), Counter()
    for (level, status), n in cells.items():
        by_level[level] += n
        by_status[status] += n
    base = people_query(filters)
    empty = _("No customer for these filters.")
    counted = [Column(_("customers"), numeric=True), Column(_("share"), percent=True)]

    statuses = Table(key="statuses", title=_("Customers by lifecycle status"),
                     columns=[Column(_("lifecycle status")), *counted], empty=empty)
    status_links = {}
    for value, label in Status.choices:
        link = list_url("customers:list", **base, status=value)
        statuses.add([str(label), by_status.get(value, 0), share(by_status.get(value, 0), total)], link)
        status_links[str(label)] = link
    levels = Table(key="levels", title=_("Customers by level"), columns=[Column(_("level")), *counted], empty=empty)
    level_links = {}
    for value, label in Level.choices:
        link = list_url("customers:list", **base, level=value)
        levels.add([str(label), by_level.get(value, 0), share(by_level.get(value, 0), total)], link)
        level_links[str(label)] = link
    crossed = Table(key="levels_statuses", title=_("Levels by lifecycle status"),
                    columns=[Column(_("level")), *[Column(str(label), numeric=True) for _v, label in Status.choices],
                             Column(_("all"), numeric=True)], empty=empty)
    for value, label in Level.choices:
        crossed.add([str(label), *[cells.get((value, status), 0) for status in Status.values],
                     by_level.get(value, 0)], level_links[str(label)])
    if total:
        for table in (statuses, levels):
            table.totals = [_("Total"), total, 1]
        crossed.totals = [_("Total"), *[by_status.get(status, 0) for status in Status.values], total]

    charts = []
    if total:
        charts.append(Chart(key="statuses", title=_("Customers by lifecycle status"), links=status_links, option={
            "tooltip": {"trigger": "item", "formatter": "{b}: {c} ({d}%)"},
            "legend": {"bottom": 0},
            "series": [{"type": "pie", "name": _("customers"), "radius": ["35%", "65%"],
                        "data": [{"name": str(label), "value": by_status.get(value, 0)}
                                 for value, label in Status.choices]}],
        }))
        charts.append(Chart(key="levels", title=_("Customers by level"), links=level_links, option={
            "tooltip": {"trigger": "axis"},
            "xAxis": {"type": "category", "data": [str(label) for _v, label in Level.choices]},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [{"type": "bar", "name": _("customers"),
                        "data": [by_level.get(value, 0) for value, _label in Level.choices]}],
        }))
    notes = [_("These are today's customers, whatever the period: the figures count every customer the filters "
               "cover, as they are now."), *summed_notes(summed_at)]
    return {"tables": [statuses, levels, crossed], "charts": charts, "notes": notes, "timeless": True}


# ------------------------------------------------------------------------------------------------ lead conversion


def build_lead_conversion(request, filters) -> dict:
    leads = sales_policy.leads_for(request.user).filter(
        created_at__gte=filters.start_at, created_at__lt=filters.end_at, **filters.people_filter())
    converted = Q(status=LeadStatus.CONVERTED)
    timed = converted & Q(converted_at__isnull=False)
    inner = leads.values("source").annotate(
        total=Count("pk"), converted=Count("pk", filter=converted), open=Count("pk", filter=OPEN_LEAD),
        disqualified=Count("pk", filter=Q(status=LeadStatus.DISQUALIFIED)), timed=Count("pk", filter=timed),
        took=Sum(F("converted_at") - F("created_at"), filter=timed))
    measures = ("total", "converted", "open", "disqualified", "timed", "took")
    groups = sum_by_sets(inner, keys=("source",), sets=[("source",), ()], sums=measures)
    base = {"created_after": filters.start.isoformat(), "created_before": filters.end.isoformat(),
            **people_query(filters)}
    table = Table(key="sources", title=_("Lead conversion by source"), empty=_("No lead was created in this period."),
                  columns=[Column(_("source")), Column(_("leads created"), numeric=True),
                           Column(_("converted to customers"), numeric=True),
                           Column(_("conversion rate"), percent=True),
                           Column(_("still open"), numeric=True), Column(_("disqualified"), numeric=True),
                           Column(_("days to convert (average)"), numeric=True)])

    def figures(row) -> list:
        count, won = _count(row["total"]), _count(row["converted"])
        days = round(row["took"].total_seconds() / 86400 / _count(row["timed"]), 1) if row["timed"] else None
        return [count, won, share(won, count), _count(row["open"]), _count(row["disqualified"]), days]

    links, names, created, won = {}, [], [], []
    for row in sorted(groups[("source",)], key=lambda r: (-_count(r["total"]), not r["source"], r["source"])):
        label = _label(Source.choices, row["source"])
        link = list_url("sales:lead_list", **base, source=row["source"] or NOT_SET)
        table.add([label, *figures(row)], link)
        links[label] = link
        names.append(label)
        created.append(_count(row["total"]))
        won.append(_count(row["converted"]))
    if groups[()] and _count(groups[()][0]["total"]):
        table.totals = [_("Total"), *figures(groups[()][0])]
    charts = []
    if names:
        charts.append(Chart(key="sources", title=_("Leads created and converted by source"), links=links, option={
            "tooltip": {"trigger": "axis"},
            "legend": {"bottom": 0},
            "xAxis": {"type": "category", "data": names},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [{"type": "bar", "name": _("leads created"), "data": created},
                       {"type": "bar", "name": _("converted to customers"), "data": won}],
        }))
    # Costs belong to campaigns, not to these sources (a campaign's leads may come by any source): they are counted
    # in reports/acquisition_cost.py, per campaign and channel.
    notes = [_("What campaigns cost per lead and per converted customer is in the report “Customer acquisition "
               "cost”, per campaign and per channel.")]
    return {"tables": [table], "charts": charts, "notes": notes}


# ------------------------------------------------------------------------------------------------ registration

register(Report(key="new_customers", title=gettext_lazy("New customers"), section=SECTION, template=TEMPLATE,
                description=gettext_lazy("Customers created in the period, per month and by source, province and "
                                         "industry."),
                permissions=("customers.view_customer",), build=build_new_customers, order=60,
                export_permissions=("customers.export_customer",),
                extra={"default_period": LAST_12_MONTHS}))
register(Report(key="customer_base", title=gettext_lazy("Customer base by level and status"), section=SECTION,
                template=TEMPLATE, filters=("team", "owner"),
                description=gettext_lazy("Today's customers by level and lifecycle status (not bound to a period)."),
                permissions=("customers.view_customer",), build=build_customer_base, order=61,
                export_permissions=("customers.export_customer",)))
register(Report(key="rfm", title=gettext_lazy("RFM segmentation"), section=SECTION, template=TEMPLATE,
                description=gettext_lazy("Customers scored on recency, frequency and monetary value of their orders, "
                                         "in eight segments."),
                permissions=("customers.view_customer", "sales.view_order"), build=build_rfm, order=62,
                # Its second table lists customers with their order figures: both records' exports.
                export_permissions=("customers.export_customer", "sales.export_order"),
                extra={"default_period": LAST_12_MONTHS}))
register(Report(key="lead_conversion", title=gettext_lazy("Lead conversion by source"), section=SECTION,
                template=TEMPLATE,
                description=gettext_lazy("Leads created in the period and how many became customers, by source."),
                permissions=("customers.view_customer", "sales.view_lead"), build=build_lead_conversion, order=63,
                # Counts of leads per source; leads have no export permission of their own (sales.models.Lead),
                # so the view permissions are the only gate.
                export_permissions=(),
                extra={"default_period": THIS_QUARTER}))
