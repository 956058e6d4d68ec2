"""RFM segmentation (RFM 客户分群) from orders: each customer who ordered in the period is scored 1–5 on recency (days
since his last order), frequency (his orders) and monetary value (their CNY total), by quintiles of the customers
the report covers, and placed in one of the eight classic segments by whether each score is high (3 or more).

The orders are those the viewer may see (sales.permissions.orders_for) of the filters' people (the order's owner
and his team), not cancelled, ordered in the period, of customers not in the recycle bin. One SQL statement does it
all: orders grouped per customer, then per measure the customer's quintile 1 + 5 × (rank − 1) / n of his RANK()
among all (read from four cut values of one sort per measure, see RFM_SQL), then the segments' figures (GROUPING
SETS) and one page of a segment's customers. Quintiles by rank rather than NTILE(5): NTILE splits equal values
between quintiles by chance (most customers have one order; NTILE would give some of them F = 1 and others F = 3),
where a rank gives equal values the same score. Orders in another currency count for recency and frequency; their
amounts are not summed (the page says how many).

No summary table: the figures are per customer over any period, so a summary would hold a row per customer and
month, about one per order; what costs is grouping the period's orders per customer, which it would not spare.
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

# A customer's score on a measure is 1 + 5 × (rank − 1) / n (integer division), his rank the RANK() of his value
# among the n customers: 1 + how many have a smaller value. So his score is k + 1 or more exactly when at least
# ceil(k × n / 5) values are smaller than his, i.e. when his value is above the ceil(k × n / 5)-th smallest value
# (k = 1 … 4; ceil(k × n / 5) is (k × n + 4) / 5 in integers): four cut values per measure give every score, and the
# cut k = HIGH_SCORE - 1 alone gives the segment. Three RANK() windows over 120,000 customers (an admin's year at
# 1,000,000 customers) passed every row three more times (bench/RESULTS.md, reports); this is three comparisons per
# customer, the scores themselves computed for the one page of customers shown. Recency and frequency take few
# values (days of a period, order counts): the j-th smallest is the first value whose running count reaches j,
# counted per value; amounts are nearly all different and are sorted once, in whole cents (a bigint sorts and sums
# faster than a numeric; order totals have two decimals, so this is exact, and a customer's total beyond 92,000
# trillion yuan would raise an error rather than be miscounted).
# - The orders are grouped per customer from a list sorted by customer: PostgreSQL then groups them in a stream,
#   in half the time of hashing 120,000 customers' numeric sums (its choice otherwise).
# - n and the cuts are MATERIALIZED: inlined, PostgreSQL put their one-row aggregate on the inner side of a nested
#   loop and sorted all customers again for each customer.
_POSITIONS = [f"({k} * n + 4) / 5" for k in range(1, 5)]
_CUTS = ",\n        ".join(
    [f"(SELECT MIN(value) FROM {measure}_values WHERE upto >= {position}) AS {measure}{k}"
     for measure in ("r", "f") for k, position in enumerate(_POSITIONS, 1)]
    + [f"m[{position}] AS m{k}" for k, position in enumerate(_POSITIONS, 1)])
RFM_SQL = """
WITH per_customer AS MATERIALIZED (
    SELECT customer_id, MAX(ordered_on) AS last_on, COUNT(*) AS frequency,
           COALESCE(SUM((total * 100)::bigint) FILTER (WHERE currency = '{home}'), 0)::bigint AS cents,
           COUNT(*) FILTER (WHERE currency <> '{home}') AS other
    FROM ({orders}) AS orders GROUP BY customer_id),
counted AS MATERIALIZED (SELECT COUNT(*) AS n FROM per_customer),
r_values AS (SELECT last_on AS value, SUM(COUNT(*)) OVER (ORDER BY last_on) AS upto FROM per_customer GROUP BY last_on),
f_values AS (
    SELECT frequency AS value, SUM(COUNT(*)) OVER (ORDER BY frequency) AS upto FROM per_customer GROUP BY frequency),
amounts AS MATERIALIZED (SELECT array_agg(cents ORDER BY cents) AS m FROM per_customer),
cuts AS MATERIALIZED (
    SELECT CUTS
    FROM counted CROSS JOIN amounts),
segmented AS MATERIALIZED (
    SELECT customer_id, last_on, frequency, cents, other,
           CASE WHEN last_on > r{cut} THEN 4 ELSE 0 END + CASE WHEN frequency > f{cut} THEN 2 ELSE 0 END
           + CASE WHEN cents > m{cut} THEN 1 ELSE 0 END AS segment
    FROM per_customer CROSS JOIN cuts)
SELECT 'segment', segment, GROUPING(segment), COUNT(*), SUM(cents) / 100.0, AVG(%s::date - last_on), AVG(frequency),
       SUM(other), NULL::bigint, NULL::date, NULL::int, NULL::int, NULL::int
FROM segmented GROUP BY GROUPING SETS ((segment), ())
UNION ALL (
SELECT 'customer', segment, 0, 1, cents / 100.0, %s::date - last_on, frequency, other, customer_id, last_on,
       1 + (last_on > r1)::int + (last_on > r2)::int + (last_on > r3)::int + (last_on > r4)::int,
       1 + (frequency > f1)::int + (frequency > f2)::int + (frequency > f3)::int + (frequency > f4)::int,
       1 + (cents > m1)::int + (cents > m2)::int + (cents > m3)::int + (cents > m4)::int
FROM segmented CROSS JOIN cuts WHERE segment = %s ORDER BY cents DESC, customer_id LIMIT %s OFFSET %s)
""".replace("CUTS", _CUTS)


def period_orders(user, filters):
    """The orders the report counts: the viewer's (sales.permissions.orders_for) of the filters' people, ordered in
    the period, not cancelled, of customers not in the recycle bin."""
    deleted = Customer.objects.filter(deleted_at__isnull=False).values("pk")
    return (filters.records(sales_policy.orders_for(user), owner_field="owner", team_field="owner__team")
            .filter(ordered_on__gte=filters.start, ordered_on__lte=filters.end)
            .exclude(status=OrderStatus.CANCELLED).exclude(customer_id__in=deleted))


def orders_per_customer(user, filters):
    """Per customer: his last order day, his orders, their CNY total, his orders in other currencies (what RFM_SQL
    computes first, as a queryset)."""
    home = Q(currency=HOME_CURRENCY)
    return period_orders(user, filters).values("customer_id").annotate(
        last_on=Max("ordered_on"), frequency=Count("pk"),
        monetary=Coalesce(Sum("total", filter=home), Value(Decimal("0")), output_field=DecimalField()),
        other=Count("pk", filter=~home)).order_by()


def rfm_figures(user, filters, *, segment: Segment, limit: int, offset: int = 0) -> dict:
    """{"segments": {segment code: figures}, "total": figures, "customers": [one page of the segment's customers]}
    in one query; figures are the customers, their CNY revenue, their orders in other currencies (counted, not
    summed), the average days since their last order and their average orders. Recency counts from the period's
    last day (today if later)."""
    orders = period_orders(user, filters).values("customer_id", "ordered_on", "total", "currency").order_by(
        "customer_id")
    sql, params = orders.query.sql_with_params()
    reference = min(filters.end, timezone.localdate())
    connection = connections[orders.db]
    with transaction.atomic(using=orders.db), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        cursor.execute(RFM_SQL.format(orders=sql, home=HOME_CURRENCY, cut=HIGH_SCORE - 1),
                       (*params, reference, reference, segment.code, limit, offset))
        rows = cursor.fetchall()
    return figures_from_rows(rows)


def figures_from_rows(rows) -> dict:
    """rfm_figures' answer from RFM_SQL's rows: one per segment (and the total), one per customer of the page."""
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
