"""The performance report's monthly summary (reports.summaries, reports.SalesMonth): after a refresh the page shows
the figures a direct computation over the opportunities gives, says when the months were summed, counts the current
month live, keeps to the viewer's people, and catches up with an edited old deal at the next refresh."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from reports.filters import ReportFilterForm, add_months, month_start
from reports.models import SalesMonth
from reports.performance_reports import Figures, closed_figures
from reports.summaries import closed_by_month, sales_months_refresh
from reports.tasks import refresh_sales_months
from sales.models import Opportunity
from tests.factories.sales_pipeline import OpportunityFactory, stages_fixture  # noqa: F401 - fixture


def mid_month(months_back: int) -> datetime:
    day = add_months(month_start(timezone.localdate()), -months_back).replace(day=15)
    return timezone.make_aware(datetime.combine(day, time(10)))


def closed(owner, stage, amount, when, currency="CNY"):
    deal = OpportunityFactory(owner=owner, stage=stage, amount=Decimal(amount), currency=currency, closed_at=when)
    Opportunity.objects.filter(pk=deal.pk).update(created_at=when - timedelta(days=10))
    return deal


@pytest.fixture
def history(stages, sales_rep, other_rep, south_rep):
    now = timezone.now()
    return {
        "rep_old_won": closed(sales_rep, stages.won, 1000, mid_month(5)),
        "rep_old_lost": closed(sales_rep, stages.lost, 700, mid_month(5)),
        "rep_won": closed(sales_rep, stages.won, 2000, mid_month(2)),
        "other_won": closed(other_rep, stages.won, 3000, mid_month(1)),
        "south_won": closed(south_rep, stages.won, 40000, mid_month(1)),
        "south_usd": closed(south_rep, stages.won, 500, mid_month(3), currency="USD"),
        "rep_this_month": closed(sales_rep, stages.won, 4000, now),
    }


def direct(user, **data) -> dict:
    """The figures computed straight from the opportunities (no summary), for the filters of ``data``."""
    filters = ReportFilterForm({"period": "last_12_months", **data}, user=user).filters()
    out = {}
    for row in closed_by_month(Opportunity.objects.filter(
            closed_at__gte=filters.start_at, closed_at__lt=filters.end_at, currency="CNY", **filters.people_filter())):
        out[(row["owner"], row["team"], timezone.localtime(row["month"]).date())] = Figures(
            row["won_count"], row["lost_count"], row["won_amount"] or 0, row["won_cycle"] or timedelta(0))
    return out


def performance(client, **query):
    response = client.get(reverse("reports:report", args=["performance"]), {"period": "last_12_months", **query})
    assert response.status_code == 200
    return response


def ranking_totals(response):
    return response.context["tables"][0].totals[3:5]


def test_after_a_refresh_the_figures_equal_a_direct_computation_and_say_when(client_as, admin_user, history):
    client = client_as(admin_user)
    live = performance(client)
    assert live.context["summed_at"] is None  # nothing summed yet: all counted live
    assert not live.context["notes"]

    sales_months_refresh()
    summed = performance(client)
    filters = ReportFilterForm({"period": "last_12_months"}, user=admin_user).filters()
    assert closed_figures(admin_user, filters)[0] == direct(admin_user)
    assert summed.context["summed_at"] is not None
    assert "Months before this one as summed at" in summed.content.decode()
    assert [t.rows for t in summed.context["tables"]] == [t.rows for t in live.context["tables"]]
    assert ranking_totals(summed) == [5, Decimal("50000.00")]  # 1,000 + 2,000 + 3,000 + 40,000 + 4,000 this month
    assert summed.context["other_currencies"] == 1  # the USD deal, counted from the summary


def test_the_current_month_is_live_and_an_edited_old_deal_shows_after_the_next_refresh(
        client_as, admin_user, sales_rep, stages, history):
    sales_months_refresh()
    client = client_as(admin_user)
    closed(sales_rep, stages.won, 6000, timezone.now())  # won just now: no refresh needed
    assert ranking_totals(performance(client)) == [6, Decimal("56000.00")]
    Opportunity.objects.filter(pk=history["rep_won"].pk).update(amount=Decimal("2500"))
    assert ranking_totals(performance(client)) == [6, Decimal("56000.00")]  # the summed month: as of the refresh
    refresh_sales_months()
    assert ranking_totals(performance(client)) == [6, Decimal("56500.00")]
    filters = ReportFilterForm({"period": "last_12_months"}, user=admin_user).filters()
    assert closed_figures(admin_user, filters)[0] == direct(admin_user)


def test_a_manager_and_a_rep_read_only_their_peoples_months(client_as, sales_manager, sales_rep, history):
    sales_months_refresh()
    manager = performance(client_as(sales_manager))
    assert manager.context["summed_at"] is not None
    assert ranking_totals(manager) == [4, Decimal("10000.00")]  # not south's 40,000
    assert manager.context["other_currencies"] == 0  # south's USD deal is not his
    rep = performance(client_as(sales_rep))
    assert ranking_totals(rep) == [3, Decimal("7000.00")]
    for user in (sales_manager, sales_rep):
        filters = ReportFilterForm({"period": "last_12_months"}, user=user).filters()
        assert closed_figures(user, filters)[0] == direct(user)


def test_partial_months_of_a_custom_period_are_counted_live(client_as, admin_user, history):
    sales_months_refresh()
    # From the 16th of five months ago: the old deals of the 15th fall outside, the rest counts.
    start = add_months(month_start(timezone.localdate()), -5).replace(day=16)
    query = {"period": "custom", "date_from": start.isoformat(), "date_to": timezone.localdate().isoformat()}
    response = performance(client_as(admin_user), **query)
    assert ranking_totals(response) == [4, Decimal("49000.00")]
    assert response.context["summed_at"] is not None  # the whole months in between came from the summary


def test_a_refresh_is_idempotent(history):
    sales_months_refresh()
    first = sorted(SalesMonth.objects.values_list("month", "owner", "team", "currency", "won_count", "lost_count",
                                                  "won_amount"))
    sales_months_refresh()
    sales_months_refresh(everything=True)
    assert sorted(SalesMonth.objects.values_list("month", "owner", "team", "currency", "won_count", "lost_count",
                                                 "won_amount")) == first
    assert not SalesMonth.objects.filter(month=month_start(timezone.localdate())).exists()  # this month is live


def test_beat_sums_the_recent_months_every_ten_minutes_and_all_of_them_each_night(settings):
    recent = settings.CELERY_BEAT_SCHEDULE["reports-sales-months-recent"]
    nightly = settings.CELERY_BEAT_SCHEDULE["reports-sales-months-all"]
    assert recent["task"] == nightly["task"] == refresh_sales_months.name
    assert recent["schedule"].minute == set(range(0, 60, 10))
    assert nightly["kwargs"] == {"everything": True}
