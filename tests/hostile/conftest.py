"""The records the hostile-input tests post into and read back, and how they post and read.

Requests go through the real URLs and views with the test client, which re-raises a view's exception: a 500 fails
the test with its traceback.
"""

import re
from types import SimpleNamespace

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.utils import timezone

from customers.choices import CustomFieldType
from sales.models import Pipeline
from tests.factories import ContactFactory, CustomerFactory, CustomFieldDefinitionFactory
from tests.factories.sales_commerce import PriceListFactory, ProductFactory, make_contract, make_order, make_quote
from tests.factories.sales_leads import LeadFactory
from tests.factories.sales_pipeline import OpportunityFactory

from .corpus import Hostile, form_body, query_string

FORM_TYPE = "application/x-www-form-urlencoded"


@pytest.fixture
def world(sales_rep, admin_user):
    """One of everything, owned by the 上海组 rep; custom fields of each free type, shown on customers and leads."""
    customer = CustomerFactory(owner=sales_rep, name="恒通物流")
    opportunity = OpportunityFactory(owner=sales_rep, customer=customer)
    product = ProductFactory(code="HX-001", name="货架")
    contract = make_contract(actor=sales_rep, customer=customer)
    return SimpleNamespace(
        rep=sales_rep, admin=admin_user, customer=customer, opportunity=opportunity, product=product,
        contact=ContactFactory(customer=customer, name="王五"), lead=LeadFactory(owner=sales_rep),
        price_list=PriceListFactory(name="经销商价"), contract=contract,
        order=make_order(actor=sales_rep, customer=customer),
        quote=make_quote(actor=sales_rep, customer=customer, opportunity=opportunity),
        pipeline=Pipeline.objects.get(is_default=True),
        fields=SimpleNamespace(
            text=CustomFieldDefinitionFactory(key="motto", label="口号", field_type=CustomFieldType.TEXT),
            number=CustomFieldDefinitionFactory(key="staff", label="员工数", field_type=CustomFieldType.NUMBER),
            date=CustomFieldDefinitionFactory(key="founded", label="成立日期", field_type=CustomFieldType.DATE),
        ),
        today=timezone.localdate().isoformat(),
    )


def post(client, url: str, data: dict, **extra):
    """POST ``data`` urlencoded, lone surrogates as raw bytes (see corpus)."""
    return client.post(url, form_body(data), content_type=FORM_TYPE, **extra)


def get(client, url: str, params: dict | None = None, **extra):
    return client.get(f"{url}?{query_string(params)}" if params else url, **extra)


def bound_forms(response) -> list:
    """The bound forms (and forms of bound formsets) the page was rendered with."""
    found, seen = [], set()
    for context in response.context or []:
        for value in context.flatten().values() if hasattr(context, "flatten") else []:
            candidates = [value]
            if isinstance(value, dict):
                candidates = list(value.values())
            for item in candidates:
                if isinstance(item, forms.BaseFormSet) and item.is_bound:
                    items = [*item.forms, item]
                elif isinstance(item, forms.BaseForm) and item.is_bound:
                    items = [item]
                else:
                    continue
                for form in items:
                    if id(form) not in seen:
                        seen.add(id(form))
                        found.append(form)
    return found


def form_errors(response) -> dict[str, list[str]]:
    """Field name (prefixed, as posted) -> its errors, over every bound form on the page; "__all__" for the rest,
    flash messages included."""
    errors: dict[str, list[str]] = {}
    for form in bound_forms(response):
        if isinstance(form, forms.BaseFormSet):
            if form.non_form_errors():
                errors.setdefault("__all__", []).extend(form.non_form_errors())
            continue
        for name, messages in form.errors.items():
            key = "__all__" if name == "__all__" else form.add_prefix(name)
            errors.setdefault(key, []).extend(str(m) for m in messages)
    flashed = [str(m) for m in get_messages(response.wsgi_request) if "error" in m.tags]
    if flashed:
        errors.setdefault("__all__", []).extend(flashed)
    return errors


def assert_shown_safely(page, hostile: Hostile) -> None:
    """The page is whole (200) and shows no markup of the value; where the value is markup, it shows it escaped."""
    assert page.status_code == 200
    html = page.content.decode()
    if hostile.raw:
        assert hostile.raw not in html, f"{hostile.id} is on the page unescaped"
        assert hostile.escaped in html, f"{hostile.id} is not on the page (escaped) after it was stored"


CJK = re.compile(r"[\u4e00-\u9fff]")
