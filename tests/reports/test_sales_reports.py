"""The pipeline funnel and the forecast (reports/sales_reports.py): figures against hand-computed expectations,
scope (a manager his subtree, a rep his own deals), drill-down lists holding exactly the counted deals, the .xlsx
export, bad filter values."""

from datetime import timedelta
from decimal import Decimal
from io import BytesIO

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reports.filters import add_months, month_start
from reports.sales_reports import WORST_CASE_PROBABILITY, funnel_figures
from sales.models import Opportunity, StageHistory
from sales.permissions import opportunities_for
from sales.pipeline_furthest import furthest_refresh
from tests.factories import CustomerFactory
from tests.factories.sales_pipeline import OpportunityFactory, other_pipeline_fixture, stages_fixture  # noqa: F401


def deal(owner, path, *, amount, created_days_ago=2, **kwargs):
    """A deal of ``owner`` that went through the stages of ``path`` in order and sits in the last one."""
    now = timezone.now()
    opportunity = OpportunityFactory(owner=owner, stage=path[-1], amount=Decimal(amount), **kwargs)
    for index, stage in enumerate(path[:-1]):
        entered = now - timedelta(hours=len(path) - index)
        StageHistory.objects.create(opportunity=opportunity, stage=stage, entered_at=entered,
                                    left_at=entered + timedelta(hours=1))
    Opportunity.objects.filter(pk=opportunity.pk).update(created_at=now - timedelta(days=created_days_ago))
    furthest_refresh(opportunity_ids=[opportunity.pk])  # as the moves through ``path`` would have left it
    return opportunity


def page(client, key, **query):
    response = client.get(reverse("reports:report", args=[key]), query)
    assert response.status_code == 200
    return response


def listed(client, link) -> set[int]:
    response = client.get(link)
    assert response.status_code == 200
    return {o.pk for o in response.context["page"].object_list}


def xlsx_rows(client, key, table, **query) -> list[tuple]:
    response = client.get(reverse("reports:export", args=[key, table]), query)
    assert response.status_code == 200
    return list(openpyxl.load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))


# ------------------------------------------------------------------------------------------------ the funnel


@pytest.fixture
def funnel_deals(stages, sales_rep, other_rep, south_rep):
    s = stages
    return {
        "A": deal(sales_rep, [s.first], amount=1000),
        "B": deal(sales_rep, [s.first, s.second], amount=2000),
        "C": deal(sales_rep, [s.first, s.second, s.third, s.lost], amount=3000),  # lost after the third stage
        "D": deal(sales_rep, [s.first, s.third, s.won], amount=4000),  # skipped stages, won: reached them all
        "E": deal(sales_rep, [s.first, s.second], amount=50000, created_days_ago=400),  # before the period
        "F": deal(sales_rep, [s.first, s.second], amount=5000, currency="USD"),  # counted, amount not summed
        "G": deal(other_rep, [s.first, s.fourth], amount=6000),
        "H": deal(south_rep, [s.won], amount=7000),  # outside the manager's subtree
    }


def funnel_query():
    today = timezone.localdate()
    return {"period": "custom", "date_from": (today - timedelta(days=30)).isoformat(), "date_to": today.isoformat()}


def funnel_rows(response):
    return [row[:3] for row in response.context["tables"][0].rows]


def test_funnel_counts_each_stage_reached_by_the_deals_created_in_the_period(client_as, admin_user, funnel_deals):
    response = page(client_as(admin_user), "funnel", **funnel_query())
    # A B C D F G H created in the period (not E); the USD deal F counts but adds no amount.
    assert funnel_rows(response) == [
        ["初步接洽", 7, Decimal("23000.00")], ["需求确认", 6, Decimal("22000.00")],
        ["方案报价", 4, Decimal("20000.00")], ["谈判审批", 3, Decimal("17000.00")], ["赢单", 2, Decimal("11000.00")]]
    table = response.context["tables"][0]
    assert [row[3] for row in table.rows] == [6 / 7, 4 / 6, 3 / 4, 2 / 3, None]
    assert [row[4] for row in table.rows] == [1, 6 / 7, 4 / 7, 3 / 7, 2 / 7]
    assert table.totals[-1] == 2 / 7
    assert "1 deal in another currency" in table.title
    chart = response.context["charts"][0]
    assert chart.option["series"][0]["type"] == "funnel"
    assert [item["value"] for item in chart.option["series"][0]["data"]] == [7, 6, 4, 3, 2]
    assert chart.links["方案报价"] == table.links[2]


def test_funnel_of_a_manager_covers_his_subtree_and_of_a_rep_his_own_deals(
        client_as, sales_manager, sales_rep, funnel_deals):
    manager = page(client_as(sales_manager), "funnel", **funnel_query())
    assert funnel_rows(manager) == [
        ["初步接洽", 6, Decimal("16000.00")], ["需求确认", 5, Decimal("15000.00")],
        ["方案报价", 3, Decimal("13000.00")], ["谈判审批", 2, Decimal("10000.00")], ["赢单", 1, Decimal("4000.00")]]
    rep = page(client_as(sales_rep), "funnel", **funnel_query())
    assert funnel_rows(rep) == [
        ["初步接洽", 5, Decimal("10000.00")], ["需求确认", 4, Decimal("9000.00")],
        ["方案报价", 2, Decimal("7000.00")], ["谈判审批", 1, Decimal("4000.00")], ["赢单", 1, Decimal("4000.00")]]
    assert [row[3] for row in rep.context["tables"][0].rows] == [0.8, 0.5, 0.5, 1.0, None]
    assert rep.context["tables"][0].totals[-1] == 0.2
    # A rep asking for his colleague's deals still gets his own.
    assert funnel_rows(page(client_as(sales_rep), "funnel", owner=funnel_deals["G"].owner_id,
                            **funnel_query())) == funnel_rows(rep)


def test_funnel_drill_down_lists_exactly_the_deals_counted(client_as, sales_manager, sales_rep, south_rep, stages,
                                                           funnel_deals):
    # A deal of another team on a customer of the manager's rep: the manager may open it, but his funnel (his
    # teams' deals) does not count it, and neither does the list its stage opens.
    deal(south_rep, [stages.first, stages.third], amount=900, customer=CustomerFactory(owner=sales_rep))
    client = client_as(sales_manager)
    table = page(client, "funnel", **funnel_query()).context["tables"][0]
    d = funnel_deals
    assert listed(client, table.links[2]) == {d["C"].pk, d["D"].pk, d["G"].pk}
    assert listed(client, table.links[0]) == {d[k].pk for k in "ABCDFG"}
    assert listed(client, table.links[4]) == {d["D"].pk}
    for link, row in zip(table.links, table.rows, strict=True):
        assert len(listed(client, link)) == row[1]
    rep = client_as(sales_rep)
    rep_table = page(rep, "funnel", **funnel_query()).context["tables"][0]
    assert listed(rep, rep_table.links[1]) == {d[k].pk for k in "BCDF"}  # D skipped the stage: won, it passed it
    # The list's filter also takes a lost stage: the deals lost there.
    assert listed(rep, reverse("sales:opportunity_list") + f"?reached={stages.lost.pk}") == {d["C"].pk}


def test_funnel_is_one_query_per_pipeline(admin_user, stages, funnel_deals):
    queryset = opportunities_for(admin_user)
    reaching = [s for s in stages.all if s.kind != "lost"]
    with CaptureQueriesContext(connection) as queries:
        figures = funnel_figures(queryset, stages.pipeline, reaching)
    assert len(queries) == 1
    assert figures[stages.won.pk][0] == 2


def test_funnel_of_another_pipeline_is_chosen_in_the_page(client_as, admin_user, sales_rep, stages, other_pipeline):
    deal(sales_rep, [other_pipeline.first, other_pipeline.won], amount=800)
    deal(sales_rep, [stages.first], amount=100)
    response = page(client_as(admin_user), "funnel", pipeline=other_pipeline.pipeline.pk, **funnel_query())
    assert funnel_rows(response) == [["渠道接洽", 1, Decimal("800.00")], ["渠道赢单", 1, Decimal("800.00")]]
    assert b'name="pipeline"' in response.content


def test_funnel_export_holds_the_page_figures(client_as, sales_manager, funnel_deals):
    client = client_as(sales_manager)
    rows = xlsx_rows(client, "funnel", "funnel", **funnel_query())
    assert [row[:3] for row in rows[1:6]] == [
        ("初步接洽", 6, 16000), ("需求确认", 5, 15000), ("方案报价", 3, 13000), ("谈判审批", 2, 10000),
        ("赢单", 1, 4000)]
    assert rows[1][3] == round(5 / 6, 4) and rows[6][4] == round(1 / 6, 4)


def test_funnel_bad_filter_values_give_the_page_with_a_message(client_as, admin_user, funnel_deals):
    client = client_as(admin_user)
    response = page(client, "funnel", pipeline="abc", period="someday", team="x")
    assert response.context["tables"][0].rows  # the default pipeline, the default period
    assert b"invalid-feedback" in response.content
    assert page(client, "funnel", pipeline="999999").context["tables"][0].rows
    assert client.get(reverse("sales:opportunity_list"), {"reached": "abc"}).status_code == 200


def test_funnel_needs_the_sales_permission(client_as, marketing_user, support_agent):
    for user in (marketing_user, support_agent):
        assert client_as(user).get(reverse("reports:report", args=["funnel"])).status_code == 403


# ---------------------------------------------------------------------------------------------- the forecast


@pytest.fixture
def forecast_deals(stages, sales_rep, other_rep, south_rep):
    today = timezone.localdate()
    next_month = add_months(month_start(today), 1) + timedelta(days=4)
    s = stages
    return {
        "P1": OpportunityFactory(owner=sales_rep, stage=s.second, amount=Decimal("10000"), expected_close=today),
        "P2": OpportunityFactory(owner=sales_rep, stage=s.fourth, amount=Decimal("20000"), expected_close=next_month),
        "P3": OpportunityFactory(owner=sales_rep, stage=s.first, amount=Decimal("5000"),
                                 expected_close=today - timedelta(days=10)),
        "P4": OpportunityFactory(owner=sales_rep, stage=s.third, amount=Decimal("8000"), expected_close=None),
        "P5": OpportunityFactory(owner=sales_rep, stage=s.won, amount=Decimal("9000"), expected_close=today),
        "P6": OpportunityFactory(owner=sales_rep, stage=s.second, amount=Decimal("3000"),
                                 expected_close=add_months(month_start(today), 7)),  # beyond six months
        "P7": OpportunityFactory(owner=sales_rep, stage=s.lost, amount=Decimal("4000"), expected_close=today),
        "Q1": OpportunityFactory(owner=other_rep, stage=s.third, amount=Decimal("6000"), expected_close=next_month),
        "S1": OpportunityFactory(owner=south_rep, stage=s.fourth, amount=Decimal("100000"), expected_close=today),
    }


def forecast_rows(response):
    return {row[0]: row[1:] for row in response.context["tables"][0].rows}


def money_row(count, *amounts):
    return [count, *(Decimal(a).quantize(Decimal("0.01")) for a in amounts)]


def test_forecast_of_a_manager_by_month_with_best_commit_and_worst_case(client_as, sales_manager, forecast_deals):
    today = timezone.localdate()
    this_month, next_month = f"{today:%Y-%m}", f"{add_months(month_start(today), 1):%Y-%m}"
    response = page(client_as(sales_manager), "forecast")
    rows = forecast_rows(response)
    assert len(rows) == 6 + 2
    # count, best (open amount), commit (weighted), worst (≥ 70 % stages), won in the month, won + commit
    assert rows[this_month] == money_row(1, 10000, 3000, 0, 9000, 12000)
    assert rows[next_month] == money_row(2, 26000, 17000, 20000, 0, 17000)
    assert rows["Overdue (expected close has passed)"] == money_row(1, 5000, 500, 0, 0, 500)
    assert rows["No expected close"] == money_row(1, 8000, 4000, 0, 0, 4000)
    assert response.context["tables"][0].totals == ["Total", *money_row(5, 49000, 24500, 20000, 9000, 33500)]
    assert WORST_CASE_PROBABILITY == 70
    assert b"70 %" in response.content
    series = {s["name"]: s["data"] for s in response.context["charts"][0].option["series"]}
    assert series["won"][0] == 9000 and series["commit"][1] == 17000 and series["best case beyond commit"][1] == 9000


def test_forecast_of_a_rep_and_of_an_admin(client_as, admin_user, sales_rep, forecast_deals):
    today = timezone.localdate()
    this_month, next_month = f"{today:%Y-%m}", f"{add_months(month_start(today), 1):%Y-%m}"
    rep = forecast_rows(page(client_as(sales_rep), "forecast"))
    assert rep[next_month] == money_row(1, 20000, 14000, 20000, 0, 14000)
    admin = forecast_rows(page(client_as(admin_user), "forecast", months="12"))
    assert len(admin) == 12 + 2
    assert admin[this_month] == money_row(2, 110000, 73000, 100000, 9000, 82000)
    assert admin[f"{add_months(month_start(today), 7):%Y-%m}"] == money_row(1, 3000, 900, 0, 0, 900)


def test_forecast_drill_down_lists_exactly_the_deals_counted(client_as, sales_manager, forecast_deals):
    client = client_as(sales_manager)
    table = page(client, "forecast").context["tables"][0]
    d = forecast_deals
    assert listed(client, table.links[0]) == {d["P1"].pk}
    assert listed(client, table.links[1]) == {d["P2"].pk, d["Q1"].pk}
    assert listed(client, table.links[2]) == set()
    assert listed(client, table.links[6]) == {d["P3"].pk}
    assert listed(client, table.links[7]) == {d["P4"].pk}


def test_forecast_export_holds_the_page_figures(client_as, sales_manager, forecast_deals):
    today = timezone.localdate()
    rows = xlsx_rows(client_as(sales_manager), "forecast", "forecast")
    by_label = {row[0]: row[1:] for row in rows[1:]}
    assert by_label[f"{add_months(month_start(today), 1):%Y-%m}"] == (2, 26000, 17000, 20000, 0, 17000)
    assert by_label["Total"] == (5, 49000, 24500, 20000, 9000, 33500)


def test_forecast_bad_months_give_the_page_with_a_message(client_as, sales_manager, forecast_deals):
    response = page(client_as(sales_manager), "forecast", months="1000", team="nope")
    assert len(response.context["tables"][0].rows) == 6 + 2
    assert b"invalid-feedback" in response.content
