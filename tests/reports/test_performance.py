"""The sales performance report: won amount, win rate, average deal size and sales cycle per rep, team and month,
against targets, with the ranking; scope (a manager his subtree, a rep his own), drill-downs to the opportunity list
(holding exactly the counted deals), the .xlsx export, bad filter values.

Known fixtures, January and February 2025 (Asia/Shanghai):

    rep (上海组)     Jan: won 10,000 (10 days), won 30,000 (20 days, closed 23:30 on the 31st), lost 5,000;
                     a won USD deal (left out); Feb: won 20,000 (5 days). Targets: Jan 50,000, Feb 20,000.
    rep2 (杭州组)    Jan: won 50,000 (9 days), lost twice. Targets: Jan 40,000, Feb 40,000 (nothing won).
    rep3 (华南)      Jan: won 70,000 (1 day). Target Jan 60,000.
    Outside the period: a deal of rep won at 00:30 on 1 March, one at 23:30 on 31 December; an open deal.
    Team targets: 上海组 Jan 45,000; 华东销售部 Jan 100,000.
"""

import io
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from reports.filters import add_months, month_start
from reports.models import SalesTarget
from sales.models import Opportunity
from tests.factories.sales_pipeline import OpportunityFactory, stages_fixture  # noqa: F401

PERIOD = {"period": "custom", "date_from": "2025-01-01", "date_to": "2025-02-28"}
URL = reverse("reports:report", args=["performance"])


def at(text: str) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(text))


def deal(owner, stage, *, amount, closed, days=1, currency="CNY", name=None):
    closed_at = at(closed)
    opportunity = OpportunityFactory(owner=owner, stage=stage, amount=Decimal(amount), currency=currency,
                                     stage_entered_at=closed_at, closed_at=closed_at,
                                     **({"name": name} if name else {}))
    Opportunity.objects.filter(pk=opportunity.pk).update(created_at=closed_at - timedelta(days=days))
    return opportunity


@pytest.fixture
def world(stages, teams, sales_manager, sales_rep, other_rep, south_rep):
    won, lost = stages.won, stages.lost
    deals = {
        "rep_jan_a": deal(sales_rep, won, amount="10000", closed="2025-01-11 10:00", days=10),
        "rep_jan_b": deal(sales_rep, won, amount="30000", closed="2025-01-31 23:30", days=20),
        "rep_jan_lost": deal(sales_rep, lost, amount="5000", closed="2025-01-20 09:00"),
        "rep_usd": deal(sales_rep, won, amount="99999", closed="2025-01-15 09:00", currency="USD"),
        "rep_feb": deal(sales_rep, won, amount="20000", closed="2025-02-03 15:00", days=5),
        "rep_march": deal(sales_rep, won, amount="1000", closed="2025-03-01 00:30"),
        "rep_december": deal(sales_rep, won, amount="1000", closed="2024-12-31 23:30"),
        "rep_open": OpportunityFactory(owner=sales_rep, stage=stages.second, amount=Decimal("8000")),
        "rep2_jan": deal(other_rep, won, amount="50000", closed="2025-01-10 12:00", days=9),
        "rep2_lost_a": deal(other_rep, lost, amount="1000", closed="2025-01-12 12:00"),
        "rep2_lost_b": deal(other_rep, lost, amount="1000", closed="2025-01-13 12:00"),
        "rep3_jan": deal(south_rep, won, amount="70000", closed="2025-01-05 12:00"),
    }
    for user, month, amount in [(sales_rep, "2025-01-01", "50000"), (sales_rep, "2025-02-01", "20000"),
                                (other_rep, "2025-01-01", "40000"), (other_rep, "2025-02-01", "40000"),
                                (south_rep, "2025-01-01", "60000")]:
        SalesTarget.objects.create(user=user, month=month, amount=Decimal(amount))
    SalesTarget.objects.create(team=teams.shanghai, month="2025-01-01", amount=Decimal("45000"))
    SalesTarget.objects.create(team=teams.east, month="2025-01-01", amount=Decimal("100000"))
    return deals


def table(response, key):
    return next(t for t in response.context["tables"] if t.key == key)


def rows_by(table_, *columns):
    """{tuple of the given columns: the row as {label: value}}."""
    labels = [str(c.label) for c in table_.columns]
    out = {}
    for row, link in table_.rows_with_links():
        named = dict(zip(labels, row, strict=True)) | {"link": link}
        out[tuple(named[c] for c in columns)] = named
    return out


def listed(client, link) -> set[int]:
    response = client.get(link)
    assert response.status_code == 200
    return {o.pk for o in response.context["page"].object_list}


def get(client, **params):
    response = client.get(URL, PERIOD | params)
    assert response.status_code == 200
    return response


# ---------------------------------------------------------------------------------------------- figures


def test_manager_sees_his_reps_per_month_against_their_targets(client_as, world, sales_manager, sales_rep, other_rep):
    response = get(client_as(sales_manager))
    reps = rows_by(table(response, "reps"), "month", "rep")
    assert set(reps) == {("2025-01", str(sales_rep)), ("2025-02", str(sales_rep)),
                         ("2025-01", str(other_rep)), ("2025-02", str(other_rep))}  # no 华南 rep

    january = reps[("2025-01", str(sales_rep))]
    assert january["team"] == "上海组"
    assert january["won deals"] == 2
    assert january["won amount"] == Decimal("40000.00")  # the USD deal and the lost one left out
    assert january["win rate"] == pytest.approx(2 / 3)
    assert january["average deal size"] == Decimal("20000.00")
    assert january["average sales cycle (days)"] == Decimal("15.0")  # (10 + 20) / 2
    assert january["target"] == Decimal("50000.00")
    assert january["attainment"] == pytest.approx(0.8)

    february = reps[("2025-02", str(sales_rep))]
    assert (february["won amount"], february["win rate"], february["average sales cycle (days)"],
            february["attainment"]) == (Decimal("20000.00"), 1.0, Decimal("5.0"), 1.0)

    nothing_won = reps[("2025-02", str(other_rep))]  # a target and no deal: still a row, at 0 %
    assert (nothing_won["won deals"], nothing_won["won amount"], nothing_won["win rate"],
            nothing_won["average deal size"], nothing_won["attainment"]) == (0, Decimal("0"), None, None, 0.0)
    assert reps[("2025-01", str(other_rep))]["win rate"] == pytest.approx(1 / 3)
    assert reps[("2025-01", str(other_rep))]["attainment"] == pytest.approx(1.25)


def test_ranking_and_chart(client_as, world, sales_manager, admin_user, sales_rep, other_rep, south_rep):
    response = get(client_as(sales_manager))
    ranking = table(response, "ranking")
    assert [row[:7] for row in ranking.rows] == [
        [1, str(sales_rep), "上海组", 3, Decimal("60000.00"), Decimal("70000.00"), pytest.approx(60 / 70)],
        [2, str(other_rep), "杭州组", 1, Decimal("50000.00"), Decimal("80000.00"), pytest.approx(50 / 80)],
    ]
    assert ranking.totals[3:] == [4, Decimal("110000.00"), Decimal("150000.00"), pytest.approx(110 / 150)]
    chart = response.context["charts"][0]
    assert chart.option["xAxis"]["data"] == [str(sales_rep), str(other_rep)]
    assert chart.option["series"][0]["data"] == [60000.0, 50000.0]
    assert chart.option["series"][1]["data"] == [70000.0, 80000.0]
    assert set(chart.links) == {str(sales_rep), str(other_rep)}
    assert isinstance(chart.option["series"][0]["name"], str)

    everyone = table(get(client_as(admin_user)), "ranking")
    assert [(row[0], row[1]) for row in everyone.rows] == [(1, str(south_rep)), (2, str(sales_rep)),
                                                          (3, str(other_rep))]


def test_team_rows_roll_up_sub_teams_against_team_targets(client_as, world, sales_manager, teams):
    teams_table = rows_by(table(get(client_as(sales_manager)), "teams"), "month", "team")
    assert {key[1] for key in teams_table} == {"华东销售部", "上海组", "杭州组"}  # not 华南
    east = teams_table[("2025-01", "华东销售部")]
    assert (east["won deals"], east["won amount"], east["win rate"], east["average deal size"],
            east["average sales cycle (days)"], east["target"], east["attainment"]) == (
        3, Decimal("90000.00"), 0.5, Decimal("30000.00"), Decimal("13.0"), Decimal("100000.00"), 0.9)
    shanghai = teams_table[("2025-01", "上海组")]
    assert (shanghai["won amount"], shanghai["target"]) == (Decimal("40000.00"), Decimal("45000.00"))
    assert shanghai["attainment"] == pytest.approx(40 / 45)
    assert teams_table[("2025-01", "杭州组")]["target"] is None


def test_a_rep_sees_only_his_own_figures_and_targets(client_as, world, sales_rep, other_rep):
    response = get(client_as(sales_rep))
    assert {row[1] for row in table(response, "ranking").rows} == {str(sales_rep)}
    reps = rows_by(table(response, "reps"), "month", "rep")
    assert set(reps) == {("2025-01", str(sales_rep)), ("2025-02", str(sales_rep))}
    assert reps[("2025-01", str(sales_rep))]["target"] == Decimal("50000.00")
    assert "teams" not in {t.key for t in response.context["tables"]}
    assert not response.context["may_set_targets"]
    assert b"data-set-targets" not in response.content
    # asking for another rep in the URL changes nothing
    again = get(client_as(sales_rep), owner=other_rep.pk)
    assert again.context["form"].errors
    assert str(other_rep) not in {row[1] for row in table(again, "ranking").rows}


def test_a_manager_filtering_one_team(client_as, world, sales_manager, teams, sales_rep):
    response = get(client_as(sales_manager), team=teams.shanghai.pk)
    assert [row[1] for row in table(response, "ranking").rows] == [str(sales_rep)]
    assert {key[1] for key in rows_by(table(response, "teams"), "month", "team")} == {"上海组"}


def test_other_currencies_are_mentioned(client_as, world, sales_manager):
    response = get(client_as(sales_manager))
    assert response.context["other_currencies"] == 1
    assert b"data-other-currencies" in response.content
    assert b"data-set-targets" in response.content


# ------------------------------------------------------------------------------------------- drill-downs


def test_rep_month_row_opens_exactly_the_counted_deals(client_as, world, sales_manager, sales_rep, other_rep):
    client = client_as(sales_manager)
    reps = rows_by(table(get(client), "reps"), "month", "rep")
    link = reps[("2025-01", str(sales_rep))]["link"]
    query = parse_qs(urlparse(link).query)
    assert query["status"] == ["won"] and query["owner"] == [str(sales_rep.pk)]
    assert query["closed_at_after"] == ["2025-01-01"] and query["closed_at_before"] == ["2025-01-31"]
    assert listed(client, link) == {world["rep_jan_a"].pk, world["rep_jan_b"].pk}
    assert listed(client, reps[("2025-02", str(sales_rep))]["link"]) == {world["rep_feb"].pk}
    assert listed(client, reps[("2025-02", str(other_rep))]["link"]) == set()


def test_ranking_and_team_rows_open_exactly_the_counted_deals(client_as, world, sales_manager, sales_rep):
    client = client_as(sales_manager)
    response = get(client)
    ranking = rows_by(table(response, "ranking"), "rep")
    assert listed(client, ranking[(str(sales_rep),)]["link"]) == {
        world["rep_jan_a"].pk, world["rep_jan_b"].pk, world["rep_feb"].pk}
    teams_table = rows_by(table(response, "teams"), "month", "team")
    assert listed(client, teams_table[("2025-01", "华东销售部")]["link"]) == {
        world["rep_jan_a"].pk, world["rep_jan_b"].pk, world["rep2_jan"].pk}
    assert listed(client, teams_table[("2025-01", "上海组")]["link"]) == {world["rep_jan_a"].pk, world["rep_jan_b"].pk}
    assert response.context["charts"][0].links[str(sales_rep)] == ranking[(str(sales_rep),)]["link"]


def test_admin_drill_down_of_a_south_deal(client_as, world, admin_user, south_rep):
    client = client_as(admin_user)
    reps = rows_by(table(get(client), "reps"), "month", "rep")
    assert listed(client, reps[("2025-01", str(south_rep))]["link"]) == {world["rep3_jan"].pk}


# --------------------------------------------------------------------------------- the list's new filters


def test_opportunity_list_filters_by_closing_day_currency_and_sub_teams(client_as, world, admin_user, teams):
    client = client_as(admin_user)
    url = reverse("sales:opportunity_list")
    january = {"closed_at_after": "2025-01-01", "closed_at_before": "2025-01-31"}
    # the boundaries are days in the CRM's time zone: 23:30 on 31 January is in, 23:30 on 31 December is not
    assert world["rep_jan_b"].pk in listed(client, url + "?" + "&".join(f"{k}={v}" for k, v in january.items()))
    everything_in_january = listed(client, f"{url}?closed_at_after=2025-01-01&closed_at_before=2025-01-31")
    assert world["rep_december"].pk not in everything_in_january
    assert world["rep_usd"].pk in everything_in_january
    assert world["rep_usd"].pk not in listed(client, f"{url}?closed_at_after=2025-01-01&currency=CNY")
    assert listed(client, f"{url}?currency=USD") == {world["rep_usd"].pk}
    east_exact = listed(client, f"{url}?team={teams.east.pk}")
    east_tree = listed(client, f"{url}?team={teams.east.pk}&subteams=on")
    assert east_exact == set()
    assert world["rep2_jan"].pk in east_tree and world["rep_open"].pk in east_tree
    assert world["rep3_jan"].pk not in east_tree
    page = client.get(f"{url}?team={teams.east.pk}&subteams=on")
    assert page.context["filter"].active


# --------------------------------------------------------------------------------------- export, errors


def test_export_holds_the_same_figures(client_as, world, sales_manager, sales_rep, other_rep):
    client = client_as(sales_manager)
    response = client.get(reverse("reports:export", args=["performance", "ranking"]), PERIOD)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("rank", "rep", "team", "won deals", "won amount", "target", "attainment")
    assert rows[1] == (1, str(sales_rep), "上海组", 3, 60000, 70000, round(60 / 70, 4))
    assert rows[2] == (2, str(other_rep), "杭州组", 1, 50000, 80000, 0.625)
    assert rows[3][1:] == ("Total", None, 4, 110000, 150000, round(110 / 150, 4))

    monthly = client.get(reverse("reports:export", args=["performance", "reps"]), PERIOD)
    sheet = load_workbook(io.BytesIO(monthly.content)).active
    first = next(row for row in sheet.iter_rows(values_only=True) if row[:2] == ("2025-01", str(sales_rep)))
    assert first[3:] == (2, 40000, round(2 / 3, 4), 20000, 15, 50000, 0.8)


@pytest.mark.parametrize("params", [
    {"period": "custom", "date_from": "2025-02-30", "date_to": "2025-01-01"},
    {"period": "custom", "date_from": "2025-03-01", "date_to": "2025-01-01"},
    {"period": "nonsense", "team": "abc", "owner": "999999"},
])
def test_bad_filter_values_show_the_page_with_a_message(client_as, world, sales_manager, params):
    response = client_as(sales_manager).get(URL, params)
    assert response.status_code == 200
    assert response.context["form"].errors


def test_without_the_sales_module_the_report_is_refused(client_as, world, marketing_user, support_agent):
    assert client_as(marketing_user).get(URL).status_code == 403
    assert client_as(support_agent).get(URL).status_code == 403


def test_targets_of_months_not_yet_begun_do_not_count(client_as, world, sales_rep):
    this_month = month_start(timezone.localdate())
    SalesTarget.objects.create(user=sales_rep, month=this_month, amount=Decimal("1000"))
    SalesTarget.objects.create(user=sales_rep, month=add_months(this_month, 1), amount=Decimal("99999"))
    response = client_as(sales_rep).get(URL, {"period": "custom", "date_from": this_month.isoformat(),
                                              "date_to": (add_months(this_month, 2) - timedelta(days=1)).isoformat()})
    assert [row[5] for row in table(response, "ranking").rows] == [Decimal("1000")]


def test_the_report_runs_a_bounded_number_of_queries(client_as, world, sales_manager, django_assert_max_num_queries):
    client = client_as(sales_manager)
    client.get(URL, PERIOD)  # warm the session and caches
    with django_assert_max_num_queries(25):
        assert client.get(URL, PERIOD).status_code == 200
