"""Customer analytics (reports/customer_reports.py, reports/rfm.py): new customers, the customer base, RFM segments and
lead conversion. Figures against hand-computed expectations, scope (a manager his subtree, a rep his own records),
drill-down lists holding exactly the counted records, the .xlsx export, bad filter values.

Known fixtures, first quarter 2025 (Asia/Shanghai): see each fixture's table.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from io import BytesIO

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from reports import rfm
from reports.models import ReportExport
from sales.models import Lead, LeadStatus, Order
from tests.factories import CustomerFactory
from tests.factories.sales_leads import LeadFactory

User = get_user_model()
PERIOD = {"period": "custom", "date_from": "2025-01-01", "date_to": "2025-02-28"}


def at(text: str) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(text))


def page(client, key, **query):
    response = client.get(reverse("reports:report", args=[key]), query)
    assert response.status_code == 200
    return response


def table(response, key):
    return next(t for t in response.context["tables"] if t.key == key)


def figures(response, key, columns=2) -> dict:
    """{first cell: the next ``columns`` cells} of a table."""
    return {row[0]: row[1:1 + columns] if columns > 1 else row[1] for row in table(response, key).rows}


def links(response, key) -> dict:
    found = table(response, key)
    return dict(zip([row[0] for row in found.rows], found.links, strict=True))


def listed(client, link) -> set[int]:
    response = client.get(link)
    assert response.status_code == 200
    assert not response.context["filter"].form.errors, response.context["filter"].form.errors
    return {record.pk for record in response.context["page"].object_list}


def xlsx_rows(client, key, table_key, **query) -> list[tuple]:
    response = client.get(reverse("reports:export", args=[key, table_key]), query)
    assert response.status_code == 200
    return list(openpyxl.load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))


def customer(owner, created, **fields):
    made = CustomerFactory(owner=owner, **fields)
    Customer.objects.filter(pk=made.pk).update(created_at=at(created))
    return made


# ------------------------------------------------------------------------------------------------ new customers

#   name  owner (team)        created           source     province  industry  level  status
#   c1    rep (上海组)         2025-01-10        website    上海市     it        A      new
#   c2    rep                 2025-01-20        referral   浙江省     retail    B      deal
#   c3    rep                 2025-02-05        —          —          —         C      potential
#   c4    rep                 2024-12-31 23:30  website    上海市     it        A      new        (before the period)
#   c5    rep2 (杭州组)        2025-02-10        website    浙江省     it        A      high_value
#   c6    rep2                2025-02-11        phone      杭州       it        B      lost       (typed freely)
#   c7    rep3 (华南)          2025-01-15        website    广东省     it        B      new        (not the manager's)
#   c8    pool                2025-01-05        website    上海市     it        C      potential
#   c9    rep, deleted        2025-01-12        website    上海市     it        A      new        (counted nowhere)


@pytest.fixture
def book(sales_rep, other_rep, south_rep):
    it = {"industry": "it"}
    made = {
        "c1": customer(sales_rep, "2025-01-10 10:00", source="website", province="上海市", level="A", status="new",
                       **it),
        "c2": customer(sales_rep, "2025-01-20 10:00", source="referral", province="浙江省", industry="retail",
                       level="B", status="deal"),
        "c3": customer(sales_rep, "2025-02-05 10:00", source="", province="", industry="", level="C",
                       status="potential"),
        "c4": customer(sales_rep, "2024-12-31 23:30", source="website", province="上海市", level="A", status="new",
                       **it),
        "c5": customer(other_rep, "2025-02-10 10:00", source="website", province="浙江省", level="A",
                       status="high_value", **it),
        "c6": customer(other_rep, "2025-02-11 10:00", source="phone", province="杭州", level="B", status="lost",
                       **it),
        "c7": customer(south_rep, "2025-01-15 10:00", source="website", province="广东省", level="B", status="new",
                       **it),
        "c8": customer(None, "2025-01-05 10:00", source="website", province="上海市", level="C", status="potential",
                       **it),
        "c9": customer(sales_rep, "2025-01-12 10:00", source="website", province="上海市", level="A", status="new",
                       **it),
    }
    Customer.objects.filter(pk=made["c9"].pk).update(deleted_at=timezone.now())
    return made


def ids(book, *names) -> set[int]:
    return {book[name].pk for name in names}


def test_new_customers_per_month_source_province_and_industry(client_as, admin_user, book):
    response = page(client_as(admin_user), "new_customers", **PERIOD)
    assert figures(response, "months") == {"2025-01": [4, 4 / 7], "2025-02": [3, 3 / 7]}
    assert table(response, "months").totals == ["Total", 7, 1]
    assert figures(response, "sources") == {"Website": [4, 4 / 7], "Referral": [1, 1 / 7], "Cold call": [1, 1 / 7],
                                            "(not set)": [1, 1 / 7]}
    assert figures(response, "provinces") == {"上海市": [2, 2 / 7], "浙江省": [2, 2 / 7], "(not set)": [1, 1 / 7],
                                              "广东省": [1, 1 / 7], "杭州": [1, 1 / 7]}
    assert figures(response, "industries") == {"IT / Internet": [5, 5 / 7], "Retail / E-commerce": [1, 1 / 7],
                                               "(not set)": [1, 1 / 7]}
    chart = response.context["charts"][0]
    assert chart.option["xAxis"]["data"] == ["2025-01", "2025-02"]
    assert chart.option["series"][0]["data"] == [4, 3]
    assert chart.links["2025-02"] == table(response, "months").links[1]


def test_new_customers_of_a_manager_cover_his_subtree_and_of_a_rep_his_own(client_as, sales_manager, sales_rep,
                                                                           book):
    manager = page(client_as(sales_manager), "new_customers", **PERIOD)
    assert figures(manager, "months") == {"2025-01": [2, 2 / 5], "2025-02": [3, 3 / 5]}
    assert figures(manager, "sources", 1) == {"Website": 2, "Referral": 1, "Cold call": 1, "(not set)": 1}
    rep = page(client_as(sales_rep), "new_customers", **PERIOD)
    assert figures(rep, "months", 1) == {"2025-01": 2, "2025-02": 1}
    assert figures(rep, "provinces", 1) == {"上海市": 1, "浙江省": 1, "(not set)": 1}


@pytest.mark.parametrize("who", ["admin_user", "sales_manager", "sales_rep"])
def test_new_customers_rows_open_the_customer_list_on_exactly_the_counted_customers(client_as, request, who, book):
    client = client_as(request.getfixturevalue(who))
    response = page(client, "new_customers", **PERIOD)
    for key in ("months", "sources", "provinces", "industries"):
        found = table(response, key)
        for row, link in zip(found.rows, found.links, strict=True):
            assert len(listed(client, link)) == row[1], (who, key, row, link)
    expected = {"admin_user": ("c1", "c5", "c7", "c8"), "sales_manager": ("c1", "c5"), "sales_rep": ("c1",)}[who]
    assert listed(client, links(response, "sources")["Website"]) == ids(book, *expected)
    not_set = {"admin_user": ("c3",), "sales_manager": ("c3",), "sales_rep": ("c3",)}[who]
    assert listed(client, links(response, "provinces")["(not set)"]) == ids(book, *not_set)


def test_customer_list_filters_added_for_the_reports(client_as, sales_manager, teams, book):
    client = client_as(sales_manager)
    url = reverse("customers:list")
    # A team with its sub-teams; the team alone.
    assert listed(client, f"{url}?team={teams.east.pk}&subteams=on") == ids(book, "c1", "c2", "c3", "c4", "c5", "c6")
    assert listed(client, f"{url}?team={teams.east.pk}") == set()
    # Records whose field is empty; a province outside the suggested list (typed freely) is offered as chosen.
    assert listed(client, f"{url}?industry=none") == ids(book, "c3")
    response = client.get(url, {"province": "杭州"})
    assert {c.pk for c in response.context["page"].object_list} == ids(book, "c6")
    assert 'value="杭州" selected' in response.content.decode()
    # The open province choice does not leak into the next list's filter.
    assert "杭州" not in dict(client.get(url).context["filter"].form.fields["province"].choices)


def test_new_customers_export_holds_the_page_figures(client_as, admin_user, book):
    rows = xlsx_rows(client_as(admin_user), "new_customers", "sources", **PERIOD)
    assert rows[0] == ("source", "new customers", "share")
    assert rows[1:] == [("Website", 4, round(4 / 7, 4)), ("Cold call", 1, round(1 / 7, 4)),
                        ("Referral", 1, round(1 / 7, 4)), ("(not set)", 1, round(1 / 7, 4)), ("Total", 7, 1)]


def test_new_customers_bad_filter_values_give_the_page_with_a_message(client_as, sales_manager, book):
    response = page(client_as(sales_manager), "new_customers", period="custom", date_from="2025-02-30",
                    date_to="yesterday", team="abc")
    assert response.context["form"].errors
    assert "Enter a valid date." in response.content.decode()


# ------------------------------------------------------------------------------------------------ customer base


def test_customer_base_counts_todays_customers_by_level_and_status(client_as, admin_user, sales_manager, sales_rep,
                                                                    south_rep, book):
    admin = page(client_as(admin_user), "customer_base", **PERIOD)
    # Every live customer, whenever created (c4 too); not the deleted c9.
    assert figures(admin, "statuses", 1) == {"Potential": 2, "New customer": 3, "Closed deal": 1, "High value": 1,
                                             "Lost": 1}
    assert figures(admin, "levels") == {"A · Key account": [3, 3 / 8], "B · Regular": [3, 3 / 8],
                                        "C · Minor": [2, 2 / 8]}
    assert table(admin, "levels_statuses").rows[0] == ["A · Key account", 0, 2, 0, 1, 0, 3]
    assert table(admin, "levels_statuses").totals == ["Total", 2, 3, 1, 1, 1, 8]
    assert [item["value"] for item in admin.context["charts"][0].option["series"][0]["data"]] == [2, 3, 1, 1, 1]
    html = admin.content.decode()
    assert "whatever the period" in html
    assert 'name="period"' not in html
    manager = page(client_as(sales_manager), "customer_base")
    assert figures(manager, "levels", 1) == {"A · Key account": 3, "B · Regular": 2, "C · Minor": 1}
    rep = page(client_as(sales_rep), "customer_base")
    assert figures(rep, "statuses", 1) == {"Potential": 1, "New customer": 2, "Closed deal": 1, "High value": 0,
                                           "Lost": 0}
    # A rep asking for a colleague's customers still gets his own (and is told the choice is not his).
    other = page(client_as(sales_rep), "customer_base", owner=south_rep.pk)
    assert other.context["form"].errors
    assert figures(other, "statuses", 1) == figures(rep, "statuses", 1)


@pytest.mark.parametrize("who", ["admin_user", "sales_manager", "sales_rep"])
def test_customer_base_rows_open_the_list_on_exactly_the_counted_customers(client_as, request, who, book):
    client = client_as(request.getfixturevalue(who))
    response = page(client, "customer_base")
    for key in ("statuses", "levels", "levels_statuses"):
        found = table(response, key)
        for row, link in zip(found.rows, found.links, strict=True):
            assert len(listed(client, link)) == row[-1 if key == "levels_statuses" else 1], (who, key, row)
    if who == "sales_manager":
        assert listed(client, links(response, "levels")["A · Key account"]) == ids(book, "c1", "c4", "c5")


def test_customer_base_export(client_as, sales_manager, book):
    rows = xlsx_rows(client_as(sales_manager), "customer_base", "levels_statuses")
    assert rows[0] == ("level", "Potential", "New customer", "Closed deal", "High value", "Lost", "all")
    assert rows[1:] == [("A · Key account", 0, 2, 0, 1, 0, 3), ("B · Regular", 0, 0, 1, 0, 1, 2),
                        ("C · Minor", 1, 0, 0, 0, 0, 1), ("Total", 1, 2, 1, 1, 1, 6)]


# ------------------------------------------------------------------------------------------------ lead conversion

#   lead  owner (team)   created            source    status        converted after
#   L1    rep (上海组)    2025-01-10 10:00   website   converted     10 days
#   L2    rep            2025-01-11         website   assigned
#   L3    rep            2025-01-12         website   disqualified
#   L4    rep            2025-02-01         referral  converted     4 days
#   L5    rep            2025-02-02         —         assigned
#   L6    rep2 (杭州组)   2025-03-01         website   converted     2 days
#   L7    rep3 (华南)     2025-01-20         website   converted     6 days     (outside the manager's)
#   L8    pool           2025-01-21         website   new                      (admin only)
#   L9    rep            2024-12-31 23:00   website   converted     1 day      (before the period)

QUARTER = {"period": "custom", "date_from": "2025-01-01", "date_to": "2025-03-31"}


def lead(owner, created, *, source="website", status=None, days=None):
    made = LeadFactory(owner=owner, source=source, **({"status": status} if status else {}))
    converted = at(created) + timedelta(days=days) if days is not None else None
    Lead.objects.filter(pk=made.pk).update(created_at=at(created), converted_at=converted)
    return made


@pytest.fixture
def leads(sales_rep, other_rep, south_rep):
    converted, disqualified = LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED
    return {
        "L1": lead(sales_rep, "2025-01-10 10:00", status=converted, days=10),
        "L2": lead(sales_rep, "2025-01-11 10:00"),
        "L3": lead(sales_rep, "2025-01-12 10:00", status=disqualified),
        "L4": lead(sales_rep, "2025-02-01 10:00", source="referral", status=converted, days=4),
        "L5": lead(sales_rep, "2025-02-02 10:00", source=""),
        "L6": lead(other_rep, "2025-03-01 10:00", status=converted, days=2),
        "L7": lead(south_rep, "2025-01-20 10:00", status=converted, days=6),
        "L8": lead(None, "2025-01-21 10:00"),
        "L9": lead(sales_rep, "2024-12-31 23:00", status=converted, days=1),
    }


def test_lead_conversion_by_source(client_as, admin_user, sales_manager, sales_rep, leads):
    admin = page(client_as(admin_user), "lead_conversion", **QUARTER)
    # source: created, converted, rate, still open, disqualified, average days to convert
    assert figures(admin, "sources", 6) == {"Website": [6, 3, 0.5, 2, 1, 6.0], "Referral": [1, 1, 1.0, 0, 0, 4.0],
                                            "(not set)": [1, 0, 0.0, 1, 0, None]}
    assert table(admin, "sources").totals == ["Total", 8, 4, 0.5, 3, 1, 5.5]
    manager = page(client_as(sales_manager), "lead_conversion", **QUARTER)
    assert figures(manager, "sources", 6) == {"Website": [4, 2, 0.5, 1, 1, 6.0], "Referral": [1, 1, 1.0, 0, 0, 4.0],
                                              "(not set)": [1, 0, 0.0, 1, 0, None]}
    assert table(manager, "sources").totals == ["Total", 6, 3, 0.5, 2, 1, 5.3]
    rep = page(client_as(sales_rep), "lead_conversion", **QUARTER)
    assert figures(rep, "sources", 3) == {"Website": [3, 1, 1 / 3], "Referral": [1, 1, 1.0], "(not set)": [1, 0, 0.0]}
    chart = rep.context["charts"][0]
    assert chart.option["series"][0]["data"] == [3, 1, 1] and chart.option["series"][1]["data"] == [1, 1, 0]


def test_lead_conversion_sends_acquisition_cost_to_its_own_report(client_as, sales_manager, leads):
    response = page(client_as(sales_manager), "lead_conversion", **QUARTER)
    assert "is in the report “Customer acquisition cost”" in response.content.decode()
    assert all("cost" not in str(column.label) for column in table(response, "sources").columns)


@pytest.mark.parametrize("who", ["admin_user", "sales_manager", "sales_rep"])
def test_lead_conversion_rows_open_the_lead_list_on_exactly_the_counted_leads(client_as, request, who, leads):
    client = client_as(request.getfixturevalue(who))
    response = page(client, "lead_conversion", **QUARTER)
    for row, link in zip(table(response, "sources").rows, table(response, "sources").links, strict=True):
        assert len(listed(client, link)) == row[1], (who, row, link)
    expected = {"admin_user": ("L1", "L2", "L3", "L6", "L7", "L8"), "sales_manager": ("L1", "L2", "L3", "L6"),
                "sales_rep": ("L1", "L2", "L3")}[who]
    assert listed(client, links(response, "sources")["Website"]) == {leads[name].pk for name in expected}
    assert listed(client, links(response, "sources")["(not set)"]) == {leads["L5"].pk}


def test_lead_conversion_export_and_permissions(client_as, sales_manager, support_agent, leads):
    rows = xlsx_rows(client_as(sales_manager), "lead_conversion", "sources", **QUARTER)
    assert rows[1] == ("Website", 4, 2, 0.5, 1, 1, 6)
    assert rows[-1] == ("Total", 6, 3, 0.5, 2, 1, 5.3)
    # Support agents read no leads: the report is not theirs.
    assert client_as(support_agent).get(reverse("reports:report", args=["lead_conversion"])).status_code == 403


# ------------------------------------------------------------------------------------------------ RFM

#   Orders in the first half of 2025 (recency counts from 30 June), rep's customers A–E:
#   A  20 Jun 10,000; 1 May 10,000; 1 Mar 10,000        last 20 Jun (10 days)  F 3  M 30,000
#   B  25 Jun 500; 29 Jun 9,999 cancelled                last 25 Jun (5 days)   F 1  M 500
#   C  1 Feb 50,000; 15 Jan 20,000                       last 1 Feb (149 days)  F 2  M 70,000
#   D  10 Apr 1,000; 12 Apr 800 USD                      last 12 Apr (79 days)  F 2  M 1,000 (USD not summed)
#   E  5 Jan 3,000; 1 Dec 2024 9,000 (before)            last 5 Jan (176 days)  F 1  M 3,000
#   Five customers: a score is 1 + 5 × (rank − 1) / 5 = the rank, equal values sharing the lower one.
#   R (oldest first): E1 C2 D3 A4 B5.  F: B1 E1 C3 D3 A5.  M: B1 D2 E3 A4 C5.  High = 3 or more.
#   A R↑F↑M↑ important value; B R↑F↓M↓ general development; C R↓F↑M↑ important retention;
#   D R↑F↑M↓ general value; E R↓F↓M↑ important win-back.
#   F (rep3, 华南) orders 1 Jun 5,000: counted by the admin only. G (rep, deleted) orders: counted nowhere.

HALF = {"period": "custom", "date_from": "2025-01-01", "date_to": "2025-06-30"}


def order(customer_, on, total, *, owner=None, status="confirmed", currency="CNY"):
    order.count = getattr(order, "count", 0) + 1
    return Order.objects.create(number=f"T{order.count:06d}", customer=customer_, owner=owner or customer_.owner,
                                ordered_on=date.fromisoformat(on), total=Decimal(total), status=status,
                                currency=currency)


@pytest.fixture
def buyers(sales_rep, south_rep):
    made = {name: CustomerFactory(owner=sales_rep, name=f"客户{name}") for name in "ABCDEG"}
    made["F"] = CustomerFactory(owner=south_rep, name="客户F")
    for name, on, total in [("A", "2025-06-20", 10000), ("A", "2025-05-01", 10000), ("A", "2025-03-01", 10000),
                            ("B", "2025-06-25", 500), ("C", "2025-02-01", 50000), ("C", "2025-01-15", 20000),
                            ("D", "2025-04-10", 1000), ("E", "2025-01-05", 3000), ("E", "2024-12-01", 9000),
                            ("F", "2025-06-01", 5000), ("G", "2025-06-01", 90000)]:
        order(made[name], on, total)
    order(made["B"], "2025-06-29", 9999, status="cancelled")
    order(made["D"], "2025-04-12", 800, currency="USD")
    Customer.objects.filter(pk=made["G"].pk).update(deleted_at=timezone.now())
    return made


SEGMENT_ROWS = {
    # label: scores, customers, share, revenue, share of revenue, average days, average orders
    "Important value customers": ["R↑ F↑ M↑", 1, 0.2, Decimal("30000.00"), 30000 / 104500, 10.0, 3.0],
    "Important development customers": ["R↑ F↓ M↑", 0, 0, Decimal("0.00"), 0, None, None],
    "Important retention customers": ["R↓ F↑ M↑", 1, 0.2, Decimal("70000.00"), 70000 / 104500, 149.0, 2.0],
    "Important win-back customers": ["R↓ F↓ M↑", 1, 0.2, Decimal("3000.00"), 3000 / 104500, 176.0, 1.0],
    "General value customers": ["R↑ F↑ M↓", 1, 0.2, Decimal("1000.00"), 1000 / 104500, 79.0, 2.0],
    "General development customers": ["R↑ F↓ M↓", 1, 0.2, Decimal("500.00"), 500 / 104500, 5.0, 1.0],
    "General retention customers": ["R↓ F↑ M↓", 0, 0, Decimal("0.00"), 0, None, None],
    "General win-back customers": ["R↓ F↓ M↓", 0, 0, Decimal("0.00"), 0, None, None],
}


def rows_of(response, key):
    return {row[0]: row[1:] for row in table(response, key).rows}


def test_rfm_segments_from_hand_computed_scores(client_as, sales_rep, buyers):
    response = page(client_as(sales_rep), "rfm", **HALF)
    segments = rows_of(response, "segments")
    for label, expected in SEGMENT_ROWS.items():
        got = segments[label]
        assert got[:4] == expected[:4], label
        assert got[4] == pytest.approx(expected[4]) and got[5:] == expected[5:], label
    assert table(response, "segments").totals == ["Total", "", 5, 1, Decimal("104500.00"), 1, 83.8, 1.8]
    assert "1 order in another currency" in table(response, "segments").title
    # The important value segment is shown first: A with his scores.
    assert table(response, "customers").rows == [
        ["客户A", str(sales_rep), date(2025, 6, 20), 10, 3, Decimal("30000.00"), 4, 5, 4]]
    assert [item["value"] for item in response.context["charts"][0].option["series"][0]["data"]] == \
        [1, 0, 1, 1, 1, 1, 0, 0]


def test_rfm_segment_rows_open_their_customers_and_customers_their_page(client_as, sales_rep, buyers):
    client = client_as(sales_rep)
    response = page(client, "rfm", **HALF)
    expected = {"Important retention customers": "C", "Important win-back customers": "E",
                "General value customers": "D", "General development customers": "B"}
    for label, name in expected.items():
        segment = client.get(links(response, "segments")[label])
        assert segment.status_code == 200
        found = table(segment, "customers")
        assert [row[0] for row in found.rows] == [f"客户{name}"]
        assert found.links == [reverse("customers:detail", args=[buyers[name].pk])]
        assert client.get(found.links[0]).status_code == 200
    empty = client.get(links(response, "segments")["General retention customers"])
    assert table(empty, "customers").rows == []


def test_rfm_scope_a_manager_his_subtree_a_rep_his_own_orders(client_as, admin_user, sales_manager, sales_rep,
                                                               south_rep, buyers):
    admin = page(client_as(admin_user), "rfm", **HALF)
    assert table(admin, "segments").totals[2:5] == [6, 1, Decimal("109500.00")]
    manager = page(client_as(sales_manager), "rfm", **HALF)
    assert table(manager, "segments").totals[2:5] == [5, 1, Decimal("104500.00")]
    rep = page(client_as(sales_rep), "rfm", **HALF)
    assert table(rep, "segments").totals[2:5] == [5, 1, Decimal("104500.00")]
    # Alone in his report, F scores 1 on every measure.
    south = page(client_as(south_rep), "rfm", segment="general_winback", **HALF)
    assert [row[0] for row in table(south, "customers").rows] == ["客户F"]


def test_rfm_pages_through_a_segment_and_exports_all_of_it(client_as, sales_rep, sales_manager, monkeypatch):
    # Five customers with the same single order: equal ranks, every score 1, all general win-back; equal revenue
    # lists them in the order they were made.
    made = [CustomerFactory(owner=sales_rep, name=f"同分{i}") for i in range(5)]
    for each in made:
        order(each, "2025-03-01", 1000)
    monkeypatch.setattr(rfm, "PAGE_SIZE", 2)
    client = client_as(sales_rep)
    first = page(client, "rfm", segment="general_winback", **HALF)
    assert rows_of(first, "segments")["General win-back customers"][1] == 5
    assert [row[0] for row in table(first, "customers").rows] == ["同分0", "同分1"]
    assert [row[6:] for row in table(first, "customers").rows] == [[1, 1, 1], [1, 1, 1]]
    assert first.context["pager"]["pages"] == 3 and first.context["pager"]["previous"] == ""
    second = client.get(first.context["pager"]["next"])
    assert [row[0] for row in table(second, "customers").rows] == ["同分2", "同分3"]
    # the export is his manager's (a rep may not export customers or orders); the rep's customers are all there is
    manager = client_as(sales_manager)
    rows = xlsx_rows(manager, "rfm", "customers", segment="general_winback", **HALF)
    assert [row[0] for row in rows[1:]] == ["同分0", "同分1", "同分2", "同分3", "同分4"]
    segments = xlsx_rows(manager, "rfm", "segments", segment="general_winback", **HALF)
    assert segments[-2][0] == "General win-back customers" and segments[-2][2:5] == (5, 1, 5000)
    assert segments[-1][0] == "Total" and segments[-1][2:5] == (5, 1, 5000)


def test_rfm_bad_filter_values_give_the_page_with_a_message(client_as, sales_rep, buyers):
    response = page(client_as(sales_rep), "rfm", segment="best", page="x", period="someday")
    html = response.content.decode()
    assert "Select a valid choice" in html
    assert table(response, "customers").title.startswith("Customers in the segment Important value customers")


def test_rfm_customer_list_leaves_the_crm_only_with_customer_and_order_export_permissions(
        client_as, sales_rep, support_agent, sales_manager):
    url = reverse("reports:export", args=["rfm", "customers"])
    # the rep and the support agent read the report, but get no export button and a 403 for the file
    for user in (sales_rep, support_agent):
        client = client_as(user)
        assert b"data-export" not in page(client, "rfm").content
        assert client.get(url).status_code == 403
    # one of the two permissions is not enough: the rows are customers with their orders
    sales_rep.user_permissions.add(Permission.objects.get(codename="export_customer"))
    assert client_as(User.objects.get(pk=sales_rep.pk)).get(url).status_code == 403
    sales_rep.user_permissions.add(Permission.objects.get(codename="export_order"))
    assert client_as(User.objects.get(pk=sales_rep.pk)).get(url).status_code == 200
    assert b'data-export="customers"' in page(client_as(sales_manager), "rfm").content
    assert ReportExport.objects.filter(user=sales_rep, report="rfm", table="customers").count() == 1


def test_rfm_needs_order_permission(client_as, marketing_user, support_agent):
    assert client_as(marketing_user).get(reverse("reports:report", args=["rfm"])).status_code == 403
    assert client_as(support_agent).get(reverse("reports:report", args=["rfm"])).status_code == 200


# ------------------------------------------------------------------------------------------------ who may open them

ROLE_STATUSES = {
    #                   admin mgr  rep  mkt  sup
    "new_customers":   (200, 200, 200, 200, 200),
    "customer_base":   (200, 200, 200, 200, 200),
    "rfm":             (200, 200, 200, 403, 200),  # orders: not marketing's
    "lead_conversion": (200, 200, 200, 200, 403),  # leads: not support's
}
# The export needs the records' export permissions too: customers.export_customer (admins, managers, marketing), for
# RFM sales.export_order as well (admins, managers); leads have none of their own.
EXPORT_STATUSES = {
    #                   admin mgr  rep  mkt  sup
    "new_customers":   (200, 200, 403, 200, 403),
    "customer_base":   (200, 200, 403, 200, 403),
    "rfm":             (200, 200, 403, 403, 403),
    "lead_conversion": (200, 200, 200, 200, 403),
}
FIRST_TABLE = {"new_customers": "months", "customer_base": "statuses", "rfm": "segments",
               "lead_conversion": "sources"}


@pytest.mark.parametrize("key", list(ROLE_STATUSES))
def test_each_role_opens_and_exports_the_reports_its_modules_allow(client_as, users_by_role, key):
    statuses = zip(users_by_role.items(), ROLE_STATUSES[key], EXPORT_STATUSES[key], strict=True)
    for (role, user), status, export_status in statuses:
        client = client_as(user)
        assert client.get(reverse("reports:report", args=[key])).status_code == status, (role, key)
        export = client.get(reverse("reports:export", args=[key, FIRST_TABLE[key]]))
        assert export.status_code == export_status, (role, key)
    anonymous = client_as(None).get(reverse("reports:report", args=[key]))
    assert anonymous.status_code == 302


def test_each_report_runs_the_same_few_queries_whatever_the_number_of_records(client_as, sales_manager, sales_rep,
                                                                              other_rep, book, leads, buyers):
    client = client_as(sales_manager)
    queries = {"new_customers": PERIOD, "customer_base": {}, "rfm": HALF, "lead_conversion": QUARTER}

    def counts():
        found = {}
        for key, query in queries.items():
            with CaptureQueriesContext(connection) as context:
                page(client, key, **query)
            found[key] = len(context.captured_queries)
        return found

    before = counts()
    for index in range(30):
        owner = sales_rep if index % 2 else other_rep
        made = customer(owner, f"2025-01-{index % 28 + 1:02d} 09:00", source="event", province="江苏省", industry="it")
        order(made, f"2025-03-{index % 28 + 1:02d}", 100 * index + 1)
        lead(owner, f"2025-02-{index % 28 + 1:02d} 09:00", source="event", status=LeadStatus.CONVERTED, days=3)
    assert counts() == before
    assert max(before.values()) <= 20
