"""The customer list: filters, sorting, htmx partials, bounded queries and capped counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.web import pagination
from customers.models import Customer
from tests.customers.pages import listed_ids
from tests.factories import CustomerFactory, TagFactory

LIST = reverse("customers:list")


@pytest.fixture
def book(sales_rep, other_rep, south_rep):
    vip = TagFactory(name="VIP")
    now = timezone.now()
    book = {
        "a_mine": CustomerFactory(owner=sales_rep, name="Alpha 上海", level="A", status="deal", source="referral",
                                  province="上海市", tags=[vip]),
        "b_mine": CustomerFactory(owner=sales_rep, name="Bravo 上海", level="C", status="potential",
                                  source="website", province="江苏省"),
        "c_other": CustomerFactory(owner=other_rep, name="Charlie 杭州", level="B", status="deal",
                                   source="referral", province="浙江省", tags=[vip]),
        "d_pool": CustomerFactory(owner=None, name="Delta 公海", level="A", status="lost", source="exhibition",
                                  province="广东省"),
        "e_south": CustomerFactory(owner=south_rep, name="Echo 华南", level="A", status="deal", province="广东省"),
    }
    for days, key in enumerate(["a_mine", "b_mine", "c_other", "d_pool", "e_south"]):
        Customer.objects.filter(pk=book[key].pk).update(created_at=now - timedelta(days=10 * days))
    return book


def ids(client, **params) -> list[int]:
    response = client.get(LIST, params)
    assert response.status_code == 200
    return listed_ids(response)


def keys(book, *names) -> set[int]:
    return {book[n].pk for n in names}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"a_mine", "b_mine", "c_other", "d_pool"}),
        ({"level": "A"}, {"a_mine", "d_pool"}),
        ({"level": ["A", "C"]}, {"a_mine", "b_mine", "d_pool"}),
        ({"status": "deal"}, {"a_mine", "c_other"}),
        ({"source": "referral"}, {"a_mine", "c_other"}),
        ({"province": "广东省"}, {"d_pool"}),
        ({"view": "pool"}, {"d_pool"}),
        ({"view": "mine"}, set()),  # he owns none himself; his team's customers are not "mine"
    ],
)
def test_manager_filters(client_as, sales_manager, book, params, expected):
    # 华东's manager sees 上海组, 杭州组 and the pool; 华南's customer never appears
    assert set(ids(client_as(sales_manager), **params)) == keys(book, *expected)


def test_rep_filters_his_own_customers(client_as, sales_rep, book):
    client = client_as(sales_rep)
    assert set(ids(client, view="mine")) == keys(book, "a_mine", "b_mine")
    assert set(ids(client, view="mine", level="A")) == keys(book, "a_mine")


def test_filter_by_owner_and_team(client_as, sales_manager, other_rep, teams, book):
    client = client_as(sales_manager)
    assert set(ids(client, owner=other_rep.pk)) == keys(book, "c_other")
    assert set(ids(client, team=teams.shanghai.pk)) == keys(book, "a_mine", "b_mine")


def test_filter_by_tag(client_as, sales_manager, book):
    vip = TagFactory(name="VIP")
    assert set(ids(client_as(sales_manager), tag=vip.pk)) == keys(book, "a_mine", "c_other")


def test_filter_by_created_range(client_as, sales_manager, book):
    today = timezone.localdate()
    params = {"created_after": (today - timedelta(days=25)).isoformat(),
              "created_before": (today - timedelta(days=5)).isoformat()}
    assert set(ids(client_as(sales_manager), **params)) == keys(book, "b_mine", "c_other")


def test_owner_and_team_choices_are_scoped(client_as, sales_rep, south_rep, teams, book):
    client = client_as(sales_rep)
    form = client.get(LIST).context["filter"].form
    assert list(form.fields["owner"].queryset) == [sales_rep]
    assert list(form.fields["team"].queryset) == [teams.shanghai]
    # a hand-made filter on someone else's owner id reveals nothing
    assert ids(client, owner=south_rep.pk) == ids(client)


def test_sort_by_name_both_ways(client_as, sales_manager, book):
    client = client_as(sales_manager)
    ascending = ids(client, sort="name")
    assert ascending == [book[k].pk for k in ["a_mine", "b_mine", "c_other", "d_pool"]]
    assert ids(client, sort="-name") == ascending[::-1]


def test_default_order_is_most_recently_updated_first(client_as, sales_manager, book):
    Customer.objects.filter(pk=book["c_other"].pk).update(updated_at=timezone.now() + timedelta(minutes=5))
    assert ids(client_as(sales_manager))[0] == book["c_other"].pk


def test_sort_by_creation(client_as, sales_manager, book):
    newest_first = [book[k].pk for k in ["a_mine", "b_mine", "c_other", "d_pool"]]
    assert ids(client_as(sales_manager), sort="-created") == newest_first


def test_htmx_request_gets_only_the_results(client_as, sales_rep, book):
    response = client_as(sales_rep).get(LIST, {"level": "A"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page and 'id="filter-form"' not in page
    assert page.lstrip().startswith('<div id="listing-results">')
    assert set(listed_ids(response)) == keys(book, "a_mine", "d_pool")


def test_bulk_action_from_htmx_answers_with_the_refreshed_results(client_as, sales_rep, book):
    vip = TagFactory(name="重点")
    client = client_as(sales_rep)
    # when the rep tags his two customers from a list filtered on level A, without leaving the page
    response = client.post(
        reverse("customers:bulk"),
        {"action": "tag", "tag": vip.pk, "ids": [book["a_mine"].pk, book["b_mine"].pk], "next": f"{LIST}?level=A"},
        HTTP_HX_REQUEST="true", follow=True,
    )
    page = response.content.decode()
    # then he gets the same filtered results back as a partial, with the outcome in the messages box
    assert "<html" not in page and 'id="filter-form"' not in page
    assert set(listed_ids(response)) == keys(book, "a_mine", "d_pool")
    assert 'id="messages" hx-swap-oob="true"' in page and "2 customers updated." in page
    assert set(vip.customers.values_list("pk", flat=True)) == keys(book, "a_mine", "b_mine")


def test_full_request_gets_the_whole_page(client_as, sales_rep, book):
    page = client_as(sales_rep).get(LIST).content.decode()
    assert "<html" in page and 'id="filter-form"' in page and 'id="listing-results"' in page


# ------------------------------------------------------------------------------------ performance


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST, {"sort": "name"}).status_code == 200
    return len(queries)


def test_list_queries_do_not_grow_with_rows(
    client_as, sales_manager, sales_rep, other_rep, django_assert_max_num_queries
):
    tags = [TagFactory(name=f"标签{i}") for i in range(3)]
    client = client_as(sales_manager)
    # given 5 customers, each with an owner, a team and tags
    for i in range(5):
        CustomerFactory(owner=[sales_rep, other_rep][i % 2], tags=tags)
    small = _list_queries(client)
    # given 60 (more than a page)
    for i in range(55):
        CustomerFactory(owner=[sales_rep, other_rep][i % 2], tags=tags)
    # then the page runs no more queries than with 5
    with django_assert_max_num_queries(small):
        response = client.get(LIST, {"sort": "name"})
    assert len(listed_ids(response)) == 25
    assert small <= 20


# ------------------------------------------------------------------------------------- pagination


def test_small_lists_show_the_exact_total(client_as, sales_rep, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    CustomerFactory.create_batch(3, owner=sales_rep)
    page = client_as(sales_rep).get(LIST).content.decode()
    assert "of 3" in page and "of more than" not in page


def test_past_the_cap_the_total_is_not_counted(client_as, sales_rep, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    CustomerFactory.create_batch(7, owner=sales_rep)
    page = client_as(sales_rep).get(LIST).content.decode()
    assert "of more than" in page and "of 7" not in page


def test_past_the_cap_next_pages_still_work(client_as, sales_rep, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 30)
    CustomerFactory.create_batch(60, owner=sales_rep)
    client = client_as(sales_rep)
    seen = ids(client, page=1) + ids(client, page=2) + ids(client, page=3)
    assert len(seen) == len(set(seen)) == 60
    assert ids(client, page=4) == []
