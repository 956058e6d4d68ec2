"""Admin-defined custom fields: in the form, validated, stored, shown and filterable."""

import pytest
from django.urls import reverse

from customers.choices import CustomFieldType
from customers.models import Customer
from tests.customers.pages import field_errors, listed_ids
from tests.factories import CustomerFactory, CustomFieldDefinitionFactory

BASE = {"kind": "company", "name": "自定义字段客户", "mobile": "13812345678", "level": "B", "status": "potential"}


@pytest.fixture
def definitions(db):
    return {
        "wechat_group": CustomFieldDefinitionFactory(
            key="wechat_group", label="微信群", label_en="WeChat group", field_type=CustomFieldType.TEXT
        ),
        "budget": CustomFieldDefinitionFactory(
            key="budget", label="年度预算", label_en="Annual budget", field_type=CustomFieldType.NUMBER, required=True
        ),
        "signed_on": CustomFieldDefinitionFactory(
            key="signed_on", label="签约日期", label_en="Signed on", field_type=CustomFieldType.DATE
        ),
        "size": CustomFieldDefinitionFactory(
            key="size", label="公司规模", label_en="Company size", field_type=CustomFieldType.CHOICE,
            choices=["小型", "中型", "大型"],
        ),
        "products": CustomFieldDefinitionFactory(
            key="products", label="关注产品", label_en="Products", field_type=CustomFieldType.MULTI_CHOICE,
            choices=["CRM", "ERP", "OA"],
        ),
    }


VALID = {
    "cf_wechat_group": "华东客户群",
    "cf_budget": "120.5",
    "cf_signed_on": "2026-03-01",
    "cf_size": "中型",
    "cf_products": ["CRM", "OA"],
}


def test_every_custom_field_appears_in_the_create_form(client_as, sales_rep, definitions):
    page = client_as(sales_rep).get(reverse("customers:create")).content.decode()
    for key in definitions:
        assert f'name="cf_{key}"' in page
    assert "Annual budget" in page and 'type="date"' in page
    assert 'value="中型"' in page and 'value="ERP"' in page


def test_inactive_custom_fields_are_left_out(client_as, sales_rep, definitions):
    definitions["size"].is_active = False
    definitions["size"].save()
    assert 'name="cf_size"' not in client_as(sales_rep).get(reverse("customers:create")).content.decode()


def test_custom_values_are_stored_as_json_and_shown_on_the_detail_page(client_as, sales_rep, definitions):
    client = client_as(sales_rep)
    response = client.post(reverse("customers:create"), {**BASE, **VALID})
    assert response.status_code == 302
    customer = Customer.objects.get(name="自定义字段客户")
    assert customer.custom == {
        "wechat_group": "华东客户群", "budget": 120.5, "signed_on": "2026-03-01", "size": "中型",
        "products": ["CRM", "OA"],
    }
    page = client.get(customer.get_absolute_url()).content.decode()
    for text in ["WeChat group", "华东客户群", "Annual budget", "120.5", "2026-03-01", "中型", "CRM、OA"]:
        assert text in page, text


def test_whole_numbers_are_stored_as_integers(client_as, sales_rep, definitions):
    client_as(sales_rep).post(reverse("customers:create"), {**BASE, **VALID, "cf_budget": "300"})
    assert Customer.objects.get().custom["budget"] == 300


def test_chinese_labels_are_shown_in_chinese(client_as, sales_rep, definitions):
    page = client_as(sales_rep, language="zh-hans").get(reverse("customers:create")).content.decode()
    assert "年度预算" in page and "Annual budget" not in page


def test_bad_number_is_a_field_error(client_as, sales_rep, definitions):
    response = client_as(sales_rep).post(reverse("customers:create"), {**BASE, **VALID, "cf_budget": "很多"})
    assert field_errors(response, "cf_budget") == ["Enter a number."]
    assert not Customer.objects.exists()


def test_invalid_choice_is_a_field_error(client_as, sales_rep, definitions):
    response = client_as(sales_rep).post(
        reverse("customers:create"), {**BASE, **VALID, "cf_size": "超大型", "cf_products": ["CRM", "SAP"]}
    )
    assert field_errors(response, "cf_size") == ["Select a valid choice. 超大型 is not one of the available choices."]
    assert field_errors(response, "cf_products") == ["Select a valid choice. SAP is not one of the available choices."]
    assert not Customer.objects.exists()


def test_required_custom_field_missing_is_a_field_error(client_as, sales_rep, definitions):
    data = {**BASE, **VALID}
    del data["cf_budget"]
    response = client_as(sales_rep).post(reverse("customers:create"), data)
    assert field_errors(response, "cf_budget") == ["This field is required."]


def test_bad_date_is_a_field_error(client_as, sales_rep, definitions):
    response = client_as(sales_rep).post(reverse("customers:create"), {**BASE, **VALID, "cf_signed_on": "2026-13-45"})
    assert field_errors(response, "cf_signed_on") == ["Enter a valid date."]


def test_editing_keeps_values_and_values_of_retired_fields(client_as, sales_rep, definitions):
    # given a customer with a value of a field that was since retired
    customer = CustomerFactory(owner=sales_rep, custom={"budget": 50, "old_field": "保留"})
    definitions["size"].is_active = False
    definitions["size"].save()
    client = client_as(sales_rep)
    # when the rep changes the budget
    form = client.get(reverse("customers:update", args=[customer.pk])).context["form"]
    assert form["cf_budget"].value() == 50
    data = {"kind": "company", "name": customer.name, "mobile": "13812345678", "level": "B", "status": "potential",
            "cf_budget": "75"}
    response = client.post(reverse("customers:update", args=[customer.pk]), data)
    # then the new value is stored and the retired one is kept
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.custom == {"budget": 75, "old_field": "保留"}


# -------------------------------------------------------------------------------- list filters


@pytest.fixture
def filed(sales_rep, definitions):
    return {
        "small": CustomerFactory(owner=sales_rep, custom={
            "budget": 10, "signed_on": "2025-06-01", "size": "小型", "products": ["CRM"], "wechat_group": "老客户群"}),
        "medium": CustomerFactory(owner=sales_rep, custom={
            "budget": 150, "signed_on": "2026-01-15", "size": "中型", "products": ["CRM", "ERP"]}),
        "large": CustomerFactory(owner=sales_rep, custom={
            "budget": 900.5, "signed_on": "2026-04-30", "size": "大型", "products": ["OA"],
            "wechat_group": "大客户群"}),
        "empty": CustomerFactory(owner=sales_rep),
    }


def filtered(client, **params) -> set[int]:
    response = client.get(reverse("customers:list"), params)
    assert response.status_code == 200
    return set(listed_ids(response))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"cf_size": "中型"}, {"medium"}),
        ({"cf_products": "CRM"}, {"small", "medium"}),
        ({"cf_products": "OA"}, {"large"}),
        ({"cf_budget_min": "100"}, {"medium", "large"}),
        ({"cf_budget_min": "100", "cf_budget_max": "200"}, {"medium"}),
        ({"cf_budget_max": "900.5"}, {"small", "medium", "large"}),
        ({"cf_signed_on_after": "2026-01-01"}, {"medium", "large"}),
        ({"cf_signed_on_after": "2026-01-15", "cf_signed_on_before": "2026-01-15"}, {"medium"}),
        ({"cf_signed_on_before": "2025-12-31"}, {"small"}),
        ({"cf_wechat_group": "大客户"}, {"large"}),
        ({"cf_wechat_group": "客户群"}, {"small", "large"}),
    ],
)
def test_list_filters_on_custom_fields(client_as, sales_rep, filed, params, expected):
    assert filtered(client_as(sales_rep), **params) == {filed[k].pk for k in expected}


def test_unfilterable_fields_have_no_list_filter(client_as, sales_rep, filed, definitions):
    definitions["size"].filterable = False
    definitions["size"].save()
    client = client_as(sales_rep)
    assert 'name="cf_size"' not in client.get(reverse("customers:list")).content.decode()
    assert filtered(client, cf_size="中型") == {c.pk for c in filed.values()}
