"""The customer summaries (reports.CustomerMonth, reports.CustomerStanding) and the worker that keeps them: the new
customers and customer base reports grouped up to the whole 1,000,000-row customer table on every view, 0.6–1.3 s
(bench/RESULTS.md, reports); from these rows they add up at most a few tens of thousands.

Both are keyed by the month a customer was created (in TIME_ZONE), his owner and team: the reports read the whole
months the summary holds and count the rest live (the current month, the partial months of a custom period, customers
created since), so a customer created today shows at once. A customer created in a summed month and edited since
(reassigned, deleted, another status) shows as edited at the next refresh: the beat task
(reports.tasks.refresh_customer_months, every SUMMARY_MINUTES) sums every month before the current one again, one
pass over the customer table (4–8 s at 1,000,000 on the two-core bench machine under load), and the pages say
when that was.

A refresh replaces every row in one transaction under the state row's lock: it is idempotent, and two refreshes at
once run one after the other. The rows keep no policy: a report reads them only for the filters' people whose
records the viewer sees through their owner or team (ReportFilters.own_work), and counts everyone else live.
"""

from collections import Counter
from datetime import date, datetime, time

from django.db import connection, connections, transaction
from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from customers import permissions as customer_policy
from customers.models import Customer

from .filters import add_months, month_start
from .models import CustomerMonth, CustomerStanding, SummaryState
from .summaries import summed_months

CUSTOMER_MONTHS = "customer_months"
FIELDS = ("source", "province", "industry")  # what CustomerMonth counts by, each on its own
# The refresh groups 1,000,000 customers four ways at once; in PostgreSQL's default 4 MB the hash spills to disk.
WORK_MEM = "64MB"

REFRESH_SQL = """
WITH grouped AS (
    SELECT month, owner_id, team_id, source, province, industry, level, status, COUNT(*) AS n,
           GROUPING(level) AS by_other, GROUPING(source) AS no_source, GROUPING(province) AS no_province
    FROM ({customers}) AS customers
    GROUP BY GROUPING SETS ((month, owner_id, team_id, level, status), (month, owner_id, team_id, source),
                            (month, owner_id, team_id, province), (month, owner_id, team_id, industry))),
standing AS (
    INSERT INTO {standing} (month, owner_id, team_id, level, status, count)
    SELECT month::date, owner_id, team_id, level, status, n FROM grouped WHERE by_other = 0)
INSERT INTO {months} (month, owner_id, team_id, field, value, count)
SELECT month::date, owner_id, team_id,
       CASE WHEN no_source = 0 THEN 'source' WHEN no_province = 0 THEN 'province' ELSE 'industry' END,
       COALESCE(source, province, industry), n
FROM grouped WHERE by_other = 1
"""


def sum_by_sets(inner, *, keys: tuple[str, ...], sets: list[tuple[str, ...]], sums: tuple[str, ...]) -> dict:
    """{grouping set: [row dict, …]}: ``inner`` (a ``values(*keys).annotate(…)`` queryset, grouped by every key)
    summed again per grouping set, in one query. The empty set () gives the grand total (one row)."""
    sql, params = inner.order_by().query.sql_with_params()
    connection = connections[inner.db]
    quote = connection.ops.quote_name
    key_list = ", ".join(quote(key) for key in keys)
    grouping = ", ".join("(" + ", ".join(quote(key) for key in chosen) + ")" for chosen in sets)
    totals = ", ".join(f"SUM({quote(name)})" for name in sums)
    # Only quoted column names are written into the SQL; values stay parameters.
    query = (f"SELECT GROUPING({key_list}), {key_list}, {totals} FROM ({sql}) AS grouped "
             f"GROUP BY GROUPING SETS ({grouping})")
    # GROUPING() has one bit per key, the first key the highest, set where the key is not grouped on.
    by_mask = {sum(1 << (len(keys) - 1 - i) for i, key in enumerate(keys) if key not in chosen): chosen
               for chosen in sets}
    result = {chosen: [] for chosen in sets}
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        for mask, *values in cursor.fetchall():
            row = dict(zip(keys + sums, values, strict=True))
            result[by_mask[mask]].append(row)
    return result


def _moment(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def customer_months_refresh(*, today: date | None = None) -> SummaryState:
    """Sum every customer created before the current month again into CustomerMonth and CustomerStanding."""
    current = month_start(today or timezone.localdate())
    last = add_months(current, -1)
    with transaction.atomic():
        # get_or_create first, so that the very first two refreshes also queue on the row's lock; the row is only
        # seen by readers once this transaction commits, with the rows it describes.
        state, _created = SummaryState.objects.get_or_create(
            key=CUSTOMER_MONTHS, defaults={"first_month": last, "last_month": last, "refreshed_at": timezone.now()})
        state = SummaryState.objects.select_for_update().get(pk=state.pk)
        refreshed_at = timezone.now()  # before the read: whatever changes after it is as yet unsummed
        alive = Customer.objects.alive().filter(created_at__lt=_moment(current))
        oldest = alive.aggregate(first=Min("created_at"))["first"]
        first = min(month_start(timezone.localtime(oldest).date()), last) if oldest else last
        customers = alive.annotate(month=TruncMonth("created_at")).values(
            "month", "owner_id", "team_id", "source", "province", "industry", "level", "status")
        sql, params = customers.query.sql_with_params()
        CustomerMonth.objects.all().delete()
        CustomerStanding.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            cursor.execute(REFRESH_SQL.format(customers=sql, standing=CustomerStanding._meta.db_table,
                                              months=CustomerMonth._meta.db_table), params)
        state.first_month, state.last_month, state.refreshed_at = first, last, refreshed_at
        state.save(update_fields=["first_month", "last_month", "refreshed_at"])
    return state


def _live_ranges(summed, start_at: datetime, end_at: datetime) -> Q | None:
    """``start_at``..``end_at`` less the summed months: at most two plain ranges of created_at, which the index on
    created_at serves (a NOT BETWEEN would make PostgreSQL read the whole table); None when nothing is left."""
    if not summed:
        return Q(created_at__gte=start_at, created_at__lt=end_at)
    live = None
    for since, until in ((start_at, _moment(summed[0])), (_moment(add_months(summed[1], 1)), end_at)):
        if since < until:
            part = Q(created_at__gte=since, created_at__lt=until)
            live = part if live is None else live | part
    return live


def new_customer_counts(user, filters, *, summary: bool = True) -> tuple[dict[str, Counter], datetime | None]:
    """The customers created in the period that ``user`` may see and the filters choose, counted per month (first
    day) and per source, province and industry ({"month": Counter, "source": Counter, …}); and when the summed
    months were summed (None: all counted live, e.g. with ``summary=False``)."""
    counts = {key: Counter() for key in ("month", *FIELDS)}
    summed = summed_months(filters.start, filters.end, key=CUSTOMER_MONTHS) if summary and filters.own_work else None
    people = filters.people_filter()
    if summed:
        months = Q(month__gte=summed[0], month__lte=summed[1])
        for month, n in (CustomerStanding.objects.filter(months, **people).values_list("month")
                         .annotate(n=Sum("count")).order_by()):
            counts["month"][month] += n
        for field, value, n in (CustomerMonth.objects.filter(months, **people).values_list("field", "value")
                                .annotate(n=Sum("count")).order_by()):
            counts[field][value] += n
    ranges = _live_ranges(summed, filters.start_at, filters.end_at)
    if ranges is None:
        return counts, summed[2]
    live = customer_policy.customers_for(user).filter(ranges, **people)
    inner = (live.annotate(month=TruncMonth("created_at")).values("month", *FIELDS).annotate(n=Count("pk")))
    groups = sum_by_sets(inner, keys=("month", *FIELDS), sets=[(key,) for key in ("month", *FIELDS)], sums=("n",))
    for key in ("month", *FIELDS):
        for row in groups[(key,)]:
            value = row[key]
            if key == "month":
                value = value.date() if hasattr(value, "date") else value
            counts[key][value] += int(row["n"] or 0)
    return counts, (summed[2] if summed else None)


def standing_counts(user, filters, *, summary: bool = True) -> tuple[Counter, datetime | None]:
    """Today's customers that ``user`` may see and the filters choose, counted per (level, lifecycle status); and
    when the summed months were summed (None: all counted live)."""
    state = SummaryState.objects.filter(key=CUSTOMER_MONTHS).first() if summary and filters.own_work else None
    people = filters.people_filter()
    counts = Counter()
    live = customer_policy.customers_for(user).filter(**people)
    if state:
        for level, status, n in (CustomerStanding.objects.filter(month__gte=state.first_month,
                                                                 month__lte=state.last_month, **people)
                                 .values_list("level", "status").annotate(n=Sum("count")).order_by()):
            counts[(level, status)] += n
        live = live.filter(Q(created_at__lt=_moment(state.first_month))
                           | Q(created_at__gte=_moment(add_months(state.last_month, 1))))
    for row in live.values("level", "status").annotate(n=Count("pk")).order_by():
        counts[(row["level"], row["status"])] += row["n"]
    return counts, (state.refreshed_at if state else None)
