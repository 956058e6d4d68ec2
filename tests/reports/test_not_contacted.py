"""Customers not contacted for N days (reports/not_contacted.py): who is listed for N (the default 30 and a chosen one),
oldest contact first with never contacted first, scope (a manager his subtree, a rep his own customers), the count per
owner, rows opening the customer, pages, the .xlsx export and who may take it, the Chinese page.

Known fixtures (days before today, contacts at noon in the CRM's time zone):

    name       owner (team)       last contacted   level
    r_never    rep (上海组)        never            C
    r_old      rep                40               A
    r_edge     rep                30               B      (listed at N = 30: 30 days or more)
    r_recent   rep                29               B
    r_deleted  rep, deleted       never            A      (in the recycle bin: nowhere)
    o_old      rep2 (杭州组)       100              A
    o_recent   rep2               5                B
    s_old      rep3 (华南)         200              B      (not the manager's)
    p_never    public pool        never            C      (nobody's: not listed)
"""

from datetime import datetime, time, timedelta
from io import BytesIO

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from reports import not_contacted
from tests.factories import CustomerFactory

URL = reverse("reports:report", args=["not_contacted"])


def days_ago(days: int):
    return timezone.make_aware(datetime.combine(timezone.localdate() - timedelta(days=days), time(12)))


@pytest.fixture
def book(sales_rep, other_rep, south_rep):
    made = {
        "r_never": CustomerFactory(owner=sales_rep, level="C"),
        "r_old": CustomerFactory(owner=sales_rep, level="A", last_contacted_at=days_ago(40)),
        "r_edge": CustomerFactory(owner=sales_rep, level="B", last_contacted_at=days_ago(30)),
        "r_recent": CustomerFactory(owner=sales_rep, level="B", last_contacted_at=days_ago(29)),
        "r_deleted": CustomerFactory(owner=sales_rep, level="A"),
        "o_old": CustomerFactory(owner=other_rep, level="A", last_contacted_at=days_ago(100)),
        "o_recent": CustomerFactory(owner=other_rep, level="B", last_contacted_at=days_ago(5)),
        "s_old": CustomerFactory(owner=south_rep, level="B", last_contacted_at=days_ago(200)),
        "p_never": CustomerFactory(owner=None, level="C"),
    }
    Customer.objects.filter(pk=made["r_deleted"].pk).update(deleted_at=timezone.now())
    return made


def page(client, **query):
    response = client.get(URL, query)
    assert response.status_code == 200
    return response


def table(response, key):
    return next(t for t in response.context["tables"] if t.key == key)


def names(response, book) -> list[str]:
    """The listed customers, in the page's order, by fixture name."""
    by_name = {customer.name: key for key, customer in book.items()}
    return [by_name[row[0]] for row in table(response, "customers").rows]


def test_a_manager_sees_his_subtrees_customers_not_contacted_for_30_days_oldest_first(client_as, sales_manager,
                                                                                    sales_rep, other_rep, book):
    response = page(client_as(sales_manager))
    assert response.context["extra_filter_fields"][0].value() == 30
    assert names(response, book) == ["r_never", "o_old", "r_old", "r_edge"]
    rows = {row[0]: row[1:] for row in table(response, "customers").rows}
    assert rows[book["r_never"].name] == [str(sales_rep), "C · Minor", "never", None]
    assert rows[book["r_edge"].name] == [str(sales_rep), "B · Regular", days_ago(30).date(), 30]
    assert rows[book["o_old"].name] == [str(other_rep), "A · Key account", days_ago(100).date(), 100]
    owners = table(response, "owners")
    assert [row[:3] for row in owners.rows] == [[str(sales_rep), 3, 1], [str(other_rep), 1, 0]]
    assert owners.totals[:3] == ["Total", 4, 1]


def test_a_rep_sees_only_his_own_customers_whatever_the_url_says(client_as, sales_rep, south_rep, book):
    assert names(page(client_as(sales_rep)), book) == ["r_never", "r_old", "r_edge"]
    asked = page(client_as(sales_rep), owner=south_rep.pk)
    assert names(asked, book) == ["r_never", "r_old", "r_edge"]
    assert [row[:3] for row in table(asked, "owners").rows] == [[str(sales_rep), 3, 1]]


def test_an_admin_sees_every_owned_customer_and_not_the_public_pool(client_as, admin_user, book):
    assert names(page(client_as(admin_user)), book) == ["r_never", "s_old", "o_old", "r_old", "r_edge"]


def test_n_is_chosen_on_the_page_and_a_bad_value_falls_back_to_30(client_as, sales_manager, book):
    client = client_as(sales_manager)
    assert names(page(client, days=35), book) == ["r_never", "o_old", "r_old"]
    assert names(page(client, days=5), book) == ["r_never", "o_old", "r_old", "r_edge", "r_recent", "o_recent"]
    assert names(page(client, days=6), book) == ["r_never", "o_old", "r_old", "r_edge", "r_recent"]
    bad = page(client, days="abc")
    assert names(bad, book) == ["r_never", "o_old", "r_old", "r_edge"]
    assert bad.context["extra_filter_fields"][0].errors
    # the chosen N is kept by the owner rows' links, which open the list of that owner's customers
    chosen = page(client, days=35)
    rep_link = table(chosen, "owners").links[0]
    assert "days=35" in rep_link
    assert names(client.get(rep_link), book) == ["r_never", "r_old"]


def test_rows_open_the_customer(client_as, sales_manager, book):
    client = client_as(sales_manager)
    found = table(page(client), "customers")
    assert found.links[0] == reverse("customers:detail", args=[book["r_never"].pk])
    assert client.get(found.links[1]).status_code == 200


def test_the_list_pages_and_keeps_a_bounded_number_of_queries(client_as, sales_manager, sales_rep, book,
                                                              monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(not_contacted, "PAGE_SIZE", 3)
    client = client_as(sales_manager)
    first = page(client)
    assert names(first, book) == ["r_never", "o_old", "r_old"]
    assert first.context["pager"]["pages"] == 2
    assert names(client.get(first.context["pager"]["next"]), book) == ["r_edge"]
    for _ in range(20):
        CustomerFactory(owner=sales_rep)
    with django_assert_max_num_queries(16):  # 15 for a manager, whatever the number of customers
        crowded = page(client)
    assert len(table(crowded, "customers").rows) == 3


def test_every_table_exports_to_xlsx_for_those_who_may_export_customers(client_as, sales_manager, sales_rep,
                                                                        support_agent, book):
    def sheet(client, table_key, **query):
        response = client.get(reverse("reports:export", args=["not_contacted", table_key]), query)
        assert response.status_code == 200
        return list(openpyxl.load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))

    client = client_as(sales_manager)
    rows = sheet(client, "customers", days=35)
    assert rows[0] == ("customer", "owner", "level", "last contacted", "days since")
    assert [row[0] for row in rows[1:]] == [book[key].name for key in ("r_never", "o_old", "r_old")]
    assert rows[2][3:] == (datetime.combine(days_ago(100).date(), time()), 100)
    assert sheet(client, "owners")[1][:3] == (str(sales_rep), 3, 1)
    # the rep and support may read the page but not take the customers away: no button, and 403
    for user in (sales_rep, support_agent):
        viewer = client_as(user)
        assert b"data-export" not in page(viewer).content
        assert viewer.get(reverse("reports:export", args=["not_contacted", "customers"])).status_code == 403
    assert b'data-export="customers"' in page(client).content


def test_the_page_is_in_chinese(client_as, sales_manager, book):
    response = client_as(sales_manager, language="zh-hans").get(URL)
    text = response.content.decode()
    assert "超过 N 天未跟进的客户" in text and "从未跟进" in text and "各负责人的未跟进客户" in text
    assert "未跟进天数" in text and "公海客户不计入" in text
