"""RFM segmentation (RFM 客户分群) from orders: each customer who ordered in the period is scored 1–5 on recency (days
since his last order), frequency (his orders) and monetary value (their CNY total), by quintiles of the customers
the report covers, and placed in one of the eight classic segments by whether each score is high (3 or more).

The orders are those the viewer may see (sales.permissions.orders_for) of the filters' people (the order's owner
and his team), not cancelled, ordered in the period, of customers not in the recycle bin. One SQL statement does it
all: orders grouped per customer, then per measure the customer's RANK() among all (one sort each) and its quintile
1 + 5 × (rank − 1) / n, then the segments' figures (GROUPING SETS) and one page of a segment's customers. Quintiles
by rank rather than NTILE(5): NTILE splits equal values between quintiles by chance (most customers have one order;
NTILE would give some of them F = 1 and others F = 3), where a rank gives equal values the same score; it is also
one sort per measure where NTILE plus a fix for ties needs two (a quarter faster on 110,000 buyers). Orders in
another currency count for recency and frequency; their amounts are not summed (the page says how many).
"""

from dataclasses import dataclass
from decimal import Decimal
from math import ceil

from django import forms
from django.db import connections, transaction
from django.db.models import Count, DecimalField, Max, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from customers.models import Customer
from sales import permissions as sales_policy
from sales.commerce_totals import money
from sales.models import OrderStatus

from .tables import Chart, Column, Table

HOME_CURRENCY = "CNY"
HIGH_SCORE = 3  # a score from 3 to 5 is "high"
PAGE_SIZE = 50  # customers of a segment per page
MAX_PAGE = 1_000_000  # far past the last page of any segment
EXPORT_LIMIT = 10_000  # customers of a segment in its .xlsx
# A few hundred thousand customers sort in memory with this much (PostgreSQL's default 4 MB spills them to disk).
WORK_MEM = "64MB"


@dataclass(frozen=True)
class Segment:
    key: str
    recent: bool  # R high
    frequent: bool  # F high
    valuable: bool  # M high
    label: object

    @property
    def code(self) -> int:
        return 4 * self.recent + 2 * self.frequent + self.valuable

    @property
    def pattern(self) -> str:
        return " ".join(f"{letter}{'↑' if high else '↓'}"
                        for letter, high in (("R", self.recent), ("F", self.frequent), ("M", self.valuable)))


# The eight classic segments: 重要价值 / 重要发展 / 重要保持 / 重要挽留 /
# 一般价值 / 一般发展 / 一般保持 / 一般挽留客户.
SEGMENTS = [
    Segment("important_value", True, True, True, gettext_lazy("Important value customers")),
    Segment("important_development", True, False, True, gettext_lazy("Important development customers")),
    Segment("important_retention", False, True, True, gettext_lazy("Important retention customers")),
    Segment("important_winback", False, False, True, gettext_lazy("Important win-back customers")),
    Segment("general_value", True, True, False, gettext_lazy("General value customers")),
    Segment("general_development", True, False, False, gettext_lazy("General development customers")),
    Segment("general_retention", False, True, False, gettext_lazy("General retention customers")),
    Segment("general_winback", False, False, False, gettext_lazy("General win-back customers")),
]
BY_KEY = {segment.key: segment for segment in SEGMENTS}
EMPTY = {"count": 0, "monetary": Decimal("0.00"), "other": 0, "days": None, "frequency": None}

RFM_SQL = """
WITH per_customer AS ({orders}),
ranked AS (
    SELECT customer_id, last_on, frequency, monetary, other, COUNT(*) OVER () AS n,
           RANK() OVER (ORDER BY last_on) AS r_rank,
           RANK() OVER (ORDER BY frequency) AS f_rank,
           RANK() OVER (ORDER BY monetary) AS m_rank
    FROM per_customer),
scored AS (
    SELECT customer_id, last_on, frequency, monetary, other,
           1 + 5 * (r_rank - 1) / n AS r, 1 + 5 * (f_rank - 1) / n AS f, 1 + 5 * (m_rank - 1) / n AS m
    FROM ranked),
segmented AS (
    SELECT *, CASE WHEN r >= {high} THEN 4 ELSE 0 END + CASE WHEN f >= {high} THEN 2 ELSE 0 END
              + CASE WHEN m >= {high} THEN 1 ELSE 0 END AS segment
    FROM scored)
SELECT 'segment', segment, GROUPING(segment), COUNT(*), SUM(monetary), AVG(%s::date - last_on), AVG(frequency),
       SUM(other), NULL::bigint, NULL::date, NULL::int, NULL::int, NULL::int
FROM segmented GROUP BY GROUPING SETS ((segment), ())
UNION ALL (
SELECT 'customer', segment, 0, 1, monetary, %s::date - last_on, frequency, other, customer_id, last_on, r, f, m
FROM segmented WHERE segment = %s ORDER BY monetary DESC, customer_id LIMIT %s OFFSET %s)
"""


def orders_per_customer(user, filters):
    """Per customer: his last order day, his orders, their CNY total, his orders in other currencies."""
    deleted = Customer.objects.filter(deleted_at__isnull=False).values("pk")
    orders = (filters.records(sales_policy.orders_for(user), owner_field="owner", team_field="owner__team")
              .filter(ordered_on__gte=filters.start, ordered_on__lte=filters.end)
              .exclude(status=OrderStatus.CANCELLED).exclude(customer_id__in=deleted))
    home = Q(currency=HOME_CURRENCY)
    return orders.values("customer_id").annotate(
        last_on=Max("ordered_on"), frequency=Count("pk"),
        monetary=Coalesce(Sum("total", filter=home), Value(Decimal("0")), output_field=DecimalField()),
        other=Count("pk", filter=~home)).order_by()


def rfm_figures(user, filters, *, segment: Segment, limit: int, offset: int = 0) -> dict:
    """{"segments": {segment code: figures}, "total": figures, "customers": [one page of the segment's customers]}
    in one query; figures are the customers, their CNY revenue, their orders in other currencies (counted, not
    summed), the average days since their last order and their average orders. Recency counts from the period's
    last day (today if later)."""
    per_customer = orders_per_customer(user, filters)
    sql, params = per_customer.query.sql_with_params()
    reference = min(filters.end, timezone.localdate())
    connection = connections[per_customer.db]
    with transaction.atomic(using=per_customer.db), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        cursor.execute(RFM_SQL.format(orders=sql, high=HIGH_SCORE),
                       (*params, reference, reference, segment.code, limit, offset))
        rows = cursor.fetchall()
    segments, total, customers = {}, EMPTY, []
    for kind, code, grouped, count, monetary, days, frequency, other, customer_id, last_on, r, f, m in rows:
        if kind == "customer":
            customers.append({"id": customer_id, "monetary": money(monetary), "days": int(days),
                              "frequency": int(frequency), "last_on": last_on, "r": int(r), "f": int(f), "m": int(m)})
            continue
        figures = {"count": int(count), "monetary": money(monetary or 0), "other": int(other or 0),
                   "days": round(float(days), 1) if days is not None else None,
                   "frequency": round(float(frequency), 2) if frequency is not None else None}
        if grouped:
            total = figures
        else:
            segments[code] = figures
    return {"segments": segments, "total": total, "customers": customers}


class SegmentForm(forms.Form):
    segment = forms.ChoiceField(label=gettext_lazy("segment"), required=False,
                                choices=[(s.key, s.label) for s in SEGMENTS])


def _chosen(request) -> tuple[SegmentForm, Segment, int]:
    form = SegmentForm(request.GET)
    key = form.cleaned_data.get("segment") if form.is_valid() else None
    try:
        # Capped: the page's offset goes to PostgreSQL as a bigint (page=99999999999999999999 was a 500).
        page = min(max(1, int(request.GET.get("page", 1))), MAX_PAGE)
    except (TypeError, ValueError):
        page = 1
    return form, BY_KEY.get(key or "", SEGMENTS[0]), page


def _report_url(filters, **query) -> str:
    return reverse("reports:report", args=["rfm"]) + "?" + urlencode({**filters.query(), **query})


def build_rfm(request, filters) -> dict:
    form, segment, page = _chosen(request)
    exporting = getattr(request.resolver_match, "url_name", None) == "export"
    limit = EXPORT_LIMIT if exporting else PAGE_SIZE
    figures = rfm_figures(request.user, filters, segment=segment, limit=limit,
                          offset=0 if exporting else (page - 1) * PAGE_SIZE)
    total = figures["total"]
    title = _("Segments")
    if total["other"]:
        title += " (" + ngettext("%(count)d order in another currency is counted, its amount is not summed",
                                 "%(count)d orders in other currencies are counted, their amounts are not summed",
                                 total["other"]) % {"count": total["other"]} + ")"
    table = Table(key="segments", title=title, empty=_("No customer ordered in this period."), columns=[
        Column(_("segment")), Column(_("scores")), Column(_("customers"), numeric=True),
        Column(_("share of customers"), percent=True), Column(_("revenue (CNY)"), money=True),
        Column(_("share of revenue"), percent=True), Column(_("days since last order (average)"), numeric=True),
        Column(_("orders per customer (average)"), numeric=True)])
    links, pie = {}, []
    for each in SEGMENTS:
        row = figures["segments"].get(each.code, EMPTY)
        link = _report_url(filters, segment=each.key) + "#table-customers"
        table.add([str(each.label), each.pattern, row["count"], _share(row["count"], total["count"]),
                   row["monetary"], _share(row["monetary"], total["monetary"]), row["days"], row["frequency"]], link)
        links[str(each.label)] = link
        pie.append({"name": str(each.label), "value": row["count"]})
    if total["count"]:
        table.totals = [_("Total"), "", total["count"], 1, total["monetary"], 1 if total["monetary"] else None,
                        total["days"], total["frequency"]]

    in_segment = figures["segments"].get(segment.code, {}).get("count", 0)
    customers = _customers_table(figures["customers"], segment, in_segment, exporting)
    pages = max(1, ceil(in_segment / PAGE_SIZE))
    pager = None
    if pages > 1 and not exporting:
        pager = {"page": page, "pages": pages,
                 "previous": _report_url(filters, segment=segment.key, page=page - 1) + "#table-customers"
                 if page > 1 else "",
                 "next": _report_url(filters, segment=segment.key, page=page + 1) + "#table-customers"
                 if page < pages else ""}
    charts = []
    if total["count"]:
        charts.append(Chart(key="segments", title=_("Customers per segment"), links=links, option={
            "tooltip": {"trigger": "item", "formatter": "{b}: {c} ({d}%)"},
            "legend": {"type": "scroll", "bottom": 0},
            "series": [{"type": "pie", "name": _("customers"), "radius": ["35%", "65%"], "data": pie}],
        }))
    notes = [_("Each customer who ordered in the period is scored 1 to 5 on recency, frequency and monetary value "
               "(quintiles of the customers counted here; equal values score the same); a score of %(high)d or "
               "more is high (↑). Recency counts from %(day)s.") % {
                   "high": HIGH_SCORE, "day": min(filters.end, timezone.localdate()).isoformat()}]
    return {"tables": [table, customers], "charts": charts, "notes": notes, "pager": pager,
            "extra_filter_fields": [form["segment"]]}


def _share(part, whole) -> float | None:
    return float(part / whole) if whole else None


def _customers_table(rows: list[dict], segment: Segment, in_segment: int, exporting: bool) -> Table:
    title = _("Customers in the segment %(segment)s, by revenue") % {"segment": segment.label}
    if exporting and in_segment > EXPORT_LIMIT:
        title += " " + _("(the first %(count)d)") % {"count": EXPORT_LIMIT}
    table = Table(key="customers", title=title, empty=_("No customer in this segment."), columns=[
        Column(_("customer")), Column(_("owner")), Column(_("last order")), Column(_("days since"), numeric=True),
        Column(_("orders"), numeric=True), Column(_("revenue (CNY)"), money=True), Column("R", numeric=True),
        Column("F", numeric=True), Column("M", numeric=True)])
    found = Customer.objects.select_related("owner").only("name", "owner__username", "owner__first_name",
                                                          "owner__last_name").in_bulk([row["id"] for row in rows])
    for row in rows:
        customer = found.get(row["id"])
        if customer is None:
            continue
        table.add([customer.name, str(customer.owner) if customer.owner else _("Public pool"), row["last_on"],
                   row["days"], row["frequency"], row["monetary"], row["r"], row["f"], row["m"]],
                  reverse("customers:detail", args=[customer.pk]))
    return table
