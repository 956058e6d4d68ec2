"""Summary tables the reports read where grouping the records on every view cannot stay under half a second at
1,000,000 opportunities (bench/RESULTS.md, reports), and the worker that keeps them.

reports.SalesMonth: deals won and lost per month of closing, owner, team and currency. The performance report reads
it for the whole months before the current one that it covers (SummaryState "sales_months") and groups the rest (the
current month, a period's partial months, months not yet summed) live from the opportunities, so that what was won
today shows at once. A summed month changes only when a deal closed in it is edited or reopened: the beat task
(reports.tasks.refresh_sales_months, every 10 minutes) sums the last RECENT_MONTHS again, and once a night every
month, and the page says when the summed months were computed.

Each refresh recomputes whole months and replaces their rows in one transaction under the state row's lock: it is
idempotent, and two refreshes at once run one after the other.
"""

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from sales.models import Opportunity, StageKind

from .filters import add_months, month_start
from .models import SalesMonth, SummaryState

SALES_MONTHS = "sales_months"
SUMMARY_MINUTES = 10  # how often the beat task sums the recent months again (CELERY_BEAT_SCHEDULE)
RECENT_MONTHS = 13  # what a frequent refresh sums again: a year back and the month before it


def _moment(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def closed_by_month(queryset):
    """Won and lost deals of ``queryset`` grouped by month of closing, owner, team and currency (one GROUP BY)."""
    won = Q(stage__kind=StageKind.WON)
    return (queryset.filter(stage__kind__in=[StageKind.WON, StageKind.LOST])
            .annotate(month=TruncMonth("closed_at")).values("month", "owner", "team", "currency")
            .annotate(won_count=Count("pk", filter=won), lost_count=Count("pk", filter=Q(stage__kind=StageKind.LOST)),
                      won_amount=Sum("amount", filter=won), won_cycle=Sum(F("closed_at") - F("created_at"), filter=won))
            .order_by())


def sales_months_refresh(*, everything: bool = False, today: date | None = None) -> SummaryState | None:
    """Sum the deals closed in the last RECENT_MONTHS whole months again (every month when ``everything``, or when
    nothing was summed yet) into SalesMonth. The current month is never summed: the report counts it live."""
    current = month_start(today or timezone.localdate())
    last = add_months(current, -1)
    with transaction.atomic():
        state = SummaryState.objects.select_for_update().filter(key=SALES_MONTHS).first()
        if everything or state is None:
            oldest = Opportunity.objects.filter(closed_at__isnull=False).aggregate(first=Min("closed_at"))["first"]
            first = month_start(timezone.localtime(oldest).date()) if oldest else last
        else:
            first = min(max(state.first_month, add_months(current, -RECENT_MONTHS)), last)
        first = min(first, last)
        closed = Opportunity.objects.filter(closed_at__gte=_moment(first), closed_at__lt=_moment(current))
        rows = closed_by_month(closed)
        SalesMonth.objects.filter(month__gte=first, month__lte=last).delete()
        SalesMonth.objects.bulk_create([
            SalesMonth(month=timezone.localtime(row["month"]).date(), owner_id=row["owner"], team_id=row["team"],
                       currency=row["currency"], won_count=row["won_count"], lost_count=row["lost_count"],
                       won_amount=row["won_amount"] or 0, won_cycle=row["won_cycle"])
            for row in rows], batch_size=2000)
        values = {"first_month": first if state is None else min(first, state.first_month), "last_month": last,
                  "refreshed_at": timezone.now()}
        state, _created = SummaryState.objects.update_or_create(key=SALES_MONTHS, defaults=values)
    return state


def summed_months(start: date, end: date, *, key: str = SALES_MONTHS) -> tuple[date, date, datetime] | None:
    """The whole months between two days (inclusive) that the summary ``key`` (SalesMonth by default) holds: (first
    month, last month, when they were summed), or None if there are none."""
    state = SummaryState.objects.filter(key=key).first()
    if state is None:
        return None
    first_whole = start if start.day == 1 else add_months(month_start(start), 1)
    last_whole = add_months(month_start(end + timedelta(days=1)), -1)  # the last month ending on or before ``end``
    first, last = max(state.first_month, first_whole), min(state.last_month, last_whole)
    if first > last:
        return None
    return first, last, state.refreshed_at
