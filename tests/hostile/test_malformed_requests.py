"""Requests no browser sends but anybody can: invalid UTF-8 in a form body or a query, over-long path parts.
Never a 500: the form says what is wrong, the page is shown, or the address is not found."""

import pytest
from django.urls import reverse

from customers.models import Customer

from .conftest import FORM_TYPE, form_errors

BASE = "kind=company&level=B&status=potential&mobile=13812345678"


def test_a_form_body_with_invalid_utf8_is_answered_with_the_form(client_as, sales_rep):
    # given a customer form whose name is the bytes FF FE, which are not UTF-8
    response = client_as(sales_rep).post(reverse("customers:create"), f"name=%ff%fe&{BASE}", content_type=FORM_TYPE)
    # then it is stored with replacement characters (Django decodes leniently) or refused, never a 500
    if response.status_code == 302:
        assert Customer.objects.get().name == "\ufffd\ufffd"
    else:
        assert response.status_code == 200 and form_errors(response)


def test_a_form_body_whose_field_names_are_invalid_utf8(client_as, sales_rep):
    response = client_as(sales_rep).post(reverse("customers:create"), f"%ff%fe=1&name=ok&{BASE}",
                                         content_type=FORM_TYPE)
    assert response.status_code == 302
    assert Customer.objects.get().name == "ok"


@pytest.mark.parametrize("charset", ["gbk", "no-such-charset"])
def test_a_form_body_declaring_another_charset_is_refused_by_django(client_as, sales_rep, charset):
    # Django refuses urlencoded bodies that are not UTF-8 with a 400 before any view runs (generic() sends the
    # bytes as they are: post() would encode the body in the declared charset itself, and fail on an unknown one)
    response = client_as(sales_rep).generic("POST", reverse("customers:create"), f"name=%d5%c5&{BASE}".encode(),
                                            content_type=f"{FORM_TYPE}; charset={charset}")
    assert response.status_code in (302, 400)
    assert response.status_code == 400 or Customer.objects.exists()


@pytest.mark.parametrize("url_name", ["customers:list", "sales:lead_list", "sales:opportunity_list",
                                      "sales:quote_list", "sales:contract_list", "sales:order_list",
                                      "interactions:my_activity", "audit:log"])
@pytest.mark.parametrize("query", ["q=%ff", "q=%ff%fe%00", "%ff=1", "q=%", "q=%zz", "page=%ff", "sort=%ff",
                                   "q=a&q=b&q=%00"])
def test_a_query_with_invalid_utf8(client_as, admin_user, url_name, query):
    response = client_as(admin_user).get(f"{reverse(url_name)}?{query}")
    assert response.status_code == 200


@pytest.mark.parametrize("path", [
    "/customers/" + "9" * 10_000 + "/",
    "/customers/99999999999999999999/",
    "/customers/99999999999999999999/edit/",
    "/customers/" + "a" * 10_000 + "/",
    "/customers/%ff/",
    "/sales/leads/99999999999999999999/",
    "/sales/opportunities/99999999999999999999/",
    "/sales/quotes/99999999999999999999/",
    "/sales/contracts/99999999999999999999/",
    "/sales/orders/99999999999999999999/",
    "/imports/99999999999999999999/",
    "/exports/99999999999999999999/",
    "/reports/" + "x" * 10_000 + "/",
    "/" + "长" * 5_000,
])
def test_over_long_or_out_of_range_path_parts_are_not_found(client_as, admin_user, path):
    response = client_as(admin_user).get(path)
    assert response.status_code == 404


def test_an_out_of_range_id_posted_to_a_form_view(client_as, admin_user):
    response = client_as(admin_user).post("/interactions/customers/99999999999999999999/log/", {"subject": "x"})
    assert response.status_code == 404
