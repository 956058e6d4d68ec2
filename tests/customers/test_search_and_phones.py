"""Phone numbers as people type them, and the search box."""

import pytest
from django.db import connection
from django.urls import reverse

from customers.models import Customer
from customers.search import search_condition
from tests.customers.pages import field_errors, listed_ids
from tests.factories import CustomerFactory


def _create(client, **fields):
    data = {"kind": "company", "name": "新客户", "level": "B", "status": "potential", **fields}
    return client.post(reverse("customers:create"), data)


@pytest.mark.parametrize(
    ("field", "typed", "stored", "shown"),
    [
        ("mobile", "138 1234 5678", "+8613812345678", "138 1234 5678"),
        ("mobile", "+86 138-1234-5678", "+8613812345678", "138 1234 5678"),
        ("phone", "010-12345678", "+861012345678", "010 1234 5678"),
        ("phone", "+1 415 555 2671", "+14155552671", "+1 415-555-2671"),
    ],
)
def test_phone_numbers_are_normalised_when_saved(client_as, sales_rep, field, typed, stored, shown):
    client = client_as(sales_rep)
    # when a customer is created with the number as the rep typed it
    response = _create(client, **{field: typed})
    # then it is stored in one canonical form and shown the way people read it
    assert response.status_code == 302, response.context["form"].errors
    customer = Customer.objects.get(name="新客户")
    assert str(getattr(customer, field)) == stored
    assert shown in client.get(customer.get_absolute_url()).content.decode()


@pytest.mark.parametrize("typed", ["12345", "138 1234", "not a phone"])
def test_invalid_phone_gives_a_chinese_field_error(client_as, sales_rep, typed):
    # given the default language (Chinese)
    client = client_as(sales_rep, language=None)
    # when an impossible mobile number is entered
    response = _create(client, mobile=typed)
    # then the form comes back with the error on the mobile field, in Chinese
    assert response.status_code == 200
    errors = field_errors(response, "mobile")
    assert len(errors) == 1 and errors[0].startswith("输入一个合法的电话号码")
    assert "输入一个合法的电话号码" in response.content.decode()
    assert not Customer.objects.exists()


# ---------------------------------------------------------------------------------------- search


@pytest.fixture
def customers(sales_rep, other_rep):
    return {
        "zhangsan": CustomerFactory(
            owner=sales_rep, name="张三", company="上海华信科技有限公司", mobile="+8613812345678",
            phone="", email="zhangsan@huaxin.com",
        ),
        "zhangsanfeng": CustomerFactory(owner=sales_rep, name="张三丰", company="武当贸易", mobile="+8613900001111"),
        "lizhangsan": CustomerFactory(owner=sales_rep, name="李张三", company="恒通物流", mobile="+8613900002222"),
        "beijing": CustomerFactory(
            owner=sales_rep, name="北京客户", company="京城制造", mobile="", phone="+861087654321"
        ),
        "abroad": CustomerFactory(
            owner=None, name="Pacific Trading", company="Pacific Trading Inc.", mobile="+14155552671"
        ),
        "hidden": CustomerFactory(
            owner=other_rep, name="张三的竞争对手", company="上海华信科技分公司", mobile="+8613812349999",
            email="rival@huaxin.com",
        ),
    }


def search(client, text) -> set[int]:
    response = client.get(reverse("customers:list"), {"q": text})
    assert response.status_code == 200
    return set(listed_ids(response))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("138 1234 5678", {"zhangsan"}),
        ("13812345678", {"zhangsan"}),
        ("+86 138-1234-5678", {"zhangsan"}),
        ("+8613812345678", {"zhangsan"}),
        ("8613812345678", {"zhangsan"}),
        ("1234 5678", {"zhangsan"}),
        ("138123", {"zhangsan"}),
        ("010-87654321", {"beijing"}),
        ("(010) 8765 4321", {"beijing"}),
        ("87654321", {"beijing"}),
        ("+1 415 555 2671", {"abroad"}),
    ],
)
def test_search_by_phone_as_typed(client_as, sales_rep, customers, typed, expected):
    assert search(client_as(sales_rep), typed) == {customers[k].pk for k in expected}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("zhangsan@huaxin.com", {"zhangsan"}),
        ("ZhangSan@HuaXin.com", {"zhangsan"}),
        ("@huaxin", {"zhangsan"}),
        ("张三", {"zhangsan", "zhangsanfeng", "lizhangsan"}),
        ("三丰", {"zhangsanfeng"}),
        ("通物", {"lizhangsan"}),
        ("pa", {"abroad"}),
        ("张", {"zhangsan", "zhangsanfeng"}),
        ("华信科技", {"zhangsan"}),
        ("信科技有限", {"zhangsan"}),
        ("pacific trad", {"abroad"}),
        ("恒通物流", {"lizhangsan"}),
    ],
)
def test_search_by_email_name_and_company(client_as, sales_rep, customers, typed, expected):
    assert search(client_as(sales_rep), typed) == {customers[k].pk for k in expected}


def test_one_character_matches_the_start_of_a_name_or_company(client_as, sales_rep, customers):
    # "李" finds 李张三, not 张三 or 张三丰 whose names merely contain no 李 at the start
    assert search(client_as(sales_rep), "李") == {customers["lizhangsan"].pk}


def test_two_characters_inside_a_company_name_are_found(client_as, sales_rep, customers):
    # the two characters people remember of a company (华信 in 北京华信科技有限公司)
    assert search(client_as(sales_rep), "华信") == {customers["zhangsan"].pk}


def test_search_never_returns_customers_outside_scope(client_as, sales_rep, customers):
    client = client_as(sales_rep)
    hidden = customers["hidden"].pk
    for typed in ["张三的竞争对手", "138 1234 9999", "rival@huaxin.com", "上海华信", "张三"]:
        assert hidden not in search(client, typed), typed


def test_manager_search_reaches_his_subtree(client_as, sales_manager, customers):
    assert search(client_as(sales_manager), "138 1234 9999") == {customers["hidden"].pk}


def test_empty_search_lists_everything_in_scope(client_as, sales_rep, customers):
    expected = {c.pk for key, c in customers.items() if key != "hidden"}
    assert search(client_as(sales_rep), "  ") == expected


def test_one_character_matches_the_start_whatever_its_case(client_as, sales_rep, customers):
    # "p" finds Pacific Trading (name and company both start with P); "武" the company 武当贸易
    client = client_as(sales_rep)
    assert search(client, "p") == {customers["abroad"].pk}
    assert search(client, "武") == {customers["zhangsanfeng"].pk}


def test_longer_text_must_appear_as_typed_not_just_its_pairs(client_as, sales_rep):
    # 华信 and 信科 are both in "华信 信科", but 华信科 is not: the keys find the row, the text check drops it
    apart = CustomerFactory(owner=sales_rep, name="王五", company="华信 信科")
    together = CustomerFactory(owner=sales_rep, name="赵六", company="华信科技")
    assert search(client_as(sales_rep), "华信科") == {together.pk}
    assert search(client_as(sales_rep), "华信 信") == {apart.pk}


@pytest.mark.parametrize("typed", ["李", "华信", "恒通物流", "pacific trad"])
def test_name_and_company_searches_are_answered_by_the_keys_index(customers, typed):
    # An expression that reads differently from the index's (another collation, another function) would leave
    # every search to a scan of the whole customer table: fine here, seconds at a million customers.
    query = Customer.objects.filter(search_condition(typed))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "cust_name_keys" in plan, plan
