"""The acquisition cost report: per campaign and per channel, cost, leads, customers, cost per lead and per customer,
on the page and in the .xlsx, for each role's scope. The costs are the company's and whole for everyone; the leads and
customers are the viewer's, and a rep or manager is charged the share of the cost his leads stand for."""

import io
import re
from decimal import Decimal
from html import unescape

import openpyxl
import pytest
from django.urls import reverse

from sales.models import LeadStatus
from tests.factories import CustomerFactory
from tests.factories.sales_leads import LeadFactory

REPORT = reverse("reports:report", args=["acquisition_cost"])


@pytest.fixture
def world(make_campaign, marketing_user, sales_rep, other_rep, south_rep, long_ago):
    """春季展会 cost 10,000 and brought 4 leads: 2 of the 上海组 rep (one became a customer), 1 of the 杭州组 rep
    (a customer), 1 of 华南 (not the east manager's). 百度推广 has no cost recorded; 去年的沙龙 started long ago."""
    expo = make_campaign(marketing_user, name="春季展会", channel="exhibition", actual_cost=Decimal("10000.00"))
    ads = make_campaign(marketing_user, name="百度推广", channel="search_ads", actual_cost=None)
    old = make_campaign(marketing_user, name="去年的沙龙", channel="event", start_date=long_ago)

    def converted(owner, campaign):
        return LeadFactory(owner=owner, marketing_campaign=campaign, status=LeadStatus.CONVERTED,
                           customer=CustomerFactory(owner=owner))

    converted(sales_rep, expo)
    LeadFactory(owner=sales_rep, marketing_campaign=expo)
    converted(other_rep, expo)
    LeadFactory(owner=south_rep, marketing_campaign=expo)
    LeadFactory(owner=sales_rep, marketing_campaign=ads)
    converted(sales_rep, old)
    return expo


def _rows(content: bytes, table: str) -> list[list[str]]:
    """The body rows of one report table as the page shows them (text of each cell)."""
    html = content.decode()
    body = html.split(f'data-table="{table}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], flags=re.S)
    return [[unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in rows]


def _sheet(client, table: str) -> list[list]:
    response = client.get(reverse("reports:export", args=["acquisition_cost", table]))
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    return [list(row) for row in book.active.iter_rows(values_only=True)]


# cost, leads, cost of these leads, customers, conversion, cost per lead, cost per customer
EXPECTED = {
    # everything: the whole cost over 4 leads, 2 customers
    "admin_user": (["10,000.00", "4", "10,000.00", "2", "50.0 %", "2,500.00", "5,000.00"],
                   [10000.0, 4, 10000.0, 2, 0.5, 2500.0, 5000.0]),
    # marketing answers for the spend: every lead counts, as for an admin
    "marketing_user": (["10,000.00", "4", "10,000.00", "2", "50.0 %", "2,500.00", "5,000.00"],
                       [10000.0, 4, 10000.0, 2, 0.5, 2500.0, 5000.0]),
    # 华东 (上海组 and 杭州组): 3 of the 4 leads, so 3/4 of the cost, over its 2 customers
    "sales_manager": (["10,000.00", "3", "7,500.00", "2", "66.7 %", "2,500.00", "3,750.00"],
                      [10000.0, 3, 7500.0, 2, 0.6667, 2500.0, 3750.0]),
    # the 上海组 rep: his 2 leads are half the cost, over his 1 customer
    "sales_rep": (["10,000.00", "2", "5,000.00", "1", "50.0 %", "2,500.00", "5,000.00"],
                  [10000.0, 2, 5000.0, 1, 0.5, 2500.0, 5000.0]),
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_sees_its_figures_on_the_page_and_in_the_spreadsheet(request, client_as, world, role):
    client = client_as(request.getfixturevalue(role))
    page = client.get(REPORT)
    assert page.status_code == 200
    shown, exported = EXPECTED[role]
    rows = {row[0]: row for row in _rows(page.content, "campaigns")}
    # only the campaigns started in the period (this year, by default)
    assert set(rows) == {"春季展会", "百度推广"}
    assert rows["春季展会"][3:] == shown
    sheet = {row[0]: row for row in _sheet(client, "campaigns")}
    assert sheet["春季展会"][3:] == exported
    # the channel table: the trade shows are that one campaign
    channels = {row[0]: row for row in _rows(page.content, "channels")}
    assert channels["Trade show"][1:] == ["1", *shown]


def test_a_campaign_without_cost_says_so_instead_of_dividing(client_as, world, sales_rep):
    client = client_as(sales_rep)
    page = client.get(REPORT)
    row = {row[0]: row for row in _rows(page.content, "campaigns")}["百度推广"]
    # cost, leads (his one), share, customers, conversion, per lead, per customer
    assert row[3:] == ["no cost recorded", "1", "—", "0", "0.0 %", "no cost recorded", "no cost recorded"]
    assert "1 campaign has no actual cost recorded" in page.content.decode()
    sheet = {row[0]: row for row in _sheet(client, "campaigns")}
    assert sheet["百度推广"][3:] == ["no cost recorded", 1, None, 0, 0.0, "no cost recorded", "no cost recorded"]
    # the totals divide only the recorded cost by the leads and customers of the campaign that has one
    totals = _sheet(client, "campaigns")[-1]
    assert totals[0] == "Total" and totals[3:] == [10000.0, 3, 5000.0, 1, 0.3333, 2500.0, 5000.0]


def test_a_campaign_with_cost_but_no_customer_yet(client_as, make_campaign, marketing_user, admin_user):
    campaign = make_campaign(marketing_user, name="短信群发", channel="sms", actual_cost=Decimal("300.00"))
    LeadFactory(owner=None, marketing_campaign=campaign)
    make_campaign(marketing_user, name="公众号推文", channel="social", actual_cost=Decimal("0"))
    rows = {row[0]: row for row in _rows(client_as(admin_user).get(REPORT).content, "campaigns")}
    assert rows["短信群发"][3:] == ["300.00", "1", "300.00", "0", "0.0 %", "300.00", "no customers yet"]
    # free and leadless: nothing to spread, which is said, not shown as 0 per lead
    assert rows["公众号推文"][3:] == ["0.00", "0", "0.00", "0", "—", "no leads yet", "no customers yet"]


def test_a_managers_team_filter_cannot_reach_outside_his_subtree(client_as, world, sales_manager, teams):
    # 华南 is not his: the URL's team is ignored and he keeps his own subtree's figures
    page = client_as(sales_manager).get(REPORT, {"team": teams.south.pk})
    assert {row[0]: row for row in _rows(page.content, "campaigns")}["春季展会"][4] == "3"


def test_an_admin_narrows_to_a_team(client_as, world, admin_user, teams):
    page = client_as(admin_user).get(REPORT, {"team": teams.hangzhou.pk})
    row = {row[0]: row for row in _rows(page.content, "campaigns")}["春季展会"]
    assert row[3:] == ["10,000.00", "1", "2,500.00", "1", "100.0 %", "2,500.00", "2,500.00"]


def test_each_row_opens_the_leads_it_counts(client_as, world, sales_rep):
    client = client_as(sales_rep)
    page = client.get(REPORT).content.decode()
    link = reverse("sales:lead_list") + f"?campaign={world.pk}"
    assert f'href="{link}' in page
    listing = client.get(link + f"&owner={sales_rep.pk}")
    assert listing.content.decode().count('data-lead="') == 2


def test_the_campaign_page_shows_the_viewers_figures_and_leads(client_as, world, sales_rep):
    page = client_as(sales_rep).get(world.get_absolute_url()).content.decode()
    figure = {key: page.split(f'data-figure="{key}">', 1)[1].split("<", 1)[0].strip()
              for key in ("cost", "leads", "customers", "cost_per_lead", "cost_per_customer")}
    assert figure == {"cost": "10,000.00", "leads": "2", "customers": "1", "cost_per_lead": "2,500.00",
                      "cost_per_customer": "5,000.00"}
    leads = page.split('id="campaign-leads"', 1)[1].split('id="campaign-customers"', 1)[0]
    assert len(re.findall(r'href="/sales/leads/\d+/"', leads)) == 2  # his two, not the others'


def test_a_managers_report_does_not_query_once_per_campaign(client_as, sales_manager, marketing_user, make_campaign):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_as(sales_manager)
    url = reverse("reports:report", args=["acquisition_cost"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    make_campaign(marketing_user, name="一")
    one = queries()
    for name in "二三四五六":
        make_campaign(marketing_user, name=name)
    assert queries() == one
