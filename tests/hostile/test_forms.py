"""Every hostile value of the corpus into every text field (numbers into numeric fields, dates into date fields) of
the CRM's main create and update forms, through the real views as a user of the role that uses them.

The answer is either the form again (200) with an error, or a redirect with the value stored; never a 500 (the test
client re-raises it). Where stored, the page the user lands on is whole and shows the value escaped.
When one field refuses a value (too long for it, not an email), the value is posted again into the fields that
did not refuse it, so that each field that can store it is seen storing it.
"""

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.urls import reverse

from customers.models import Customer
from interactions.models import FollowUp
from sales.lead_web import form_token
from sales.models import Lead
from tests.factories.sales_leads import LeadFactory

from .conftest import CJK, assert_shown_safely, form_errors, post
from .corpus import DATES, LONG_1M_STRING, NUMBERS, SCRIPT, STRINGS, Hostile

_serial = itertools.count(1)


def _lines(world, *, discount=True, **fields) -> dict:
    line = {"product": world.product.pk, "description": "货架", "quantity": "1", "unit_price": "100",
            "priced_for": world.product.pk}
    if discount:
        line["discount_percent"] = "0"
    line.update(fields)
    data = {"lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "200"}
    data.update({f"lines-0-{name}": value for name, value in line.items()})
    return data


def _followup(world):
    return FollowUp.objects.create(customer=world.customer, title="回访", assignee=world.rep,
                                   due_at=world.customer.created_at)


@dataclass
class FormCase:
    id: str
    role: str  # the fixture of the user who fills it in (None: the public)
    url: Callable
    base: Callable  # valid data, a new dict (and new unique values) per call
    text: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    long: str | None = None  # the field that gets the 1,000,000-character string
    stores: bool = True  # False for a preview that answers 200 with what it computed
    shown: Callable | None = None  # the page showing what was stored, if not the one the form redirects to
    displays: bool = True  # False where the stored value is not shown back (a saved filter query)
    bad_request: bool = False  # a form of hidden fields only (a button): a forged post is answered 400


CUSTOMER_BASE = {"kind": "company", "level": "B", "status": "potential", "confirm_duplicate": "on"}
CUSTOMER_TEXT = ["name", "company", "title", "province", "city", "district", "address", "notes", "email", "mobile",
                 "phone", "cf_motto"]
LEAD_TEXT = ["name", "company", "title", "province", "city", "campaign", "message", "email", "mobile", "phone",
             "cf_motto"]

CASES = [
    FormCase("customer-create", "sales_rep", lambda w: reverse("customers:create"),
             lambda w: {**CUSTOMER_BASE, "name": "基线客户", "mobile": "13812345678"},
             text=CUSTOMER_TEXT, numbers=["cf_staff"], dates=["cf_founded"], long="notes"),
    FormCase("customer-update", "sales_rep", lambda w: reverse("customers:update", args=[w.customer.pk]),
             lambda w: {**CUSTOMER_BASE, "name": "恒通物流", "mobile": "13812345678"},
             text=CUSTOMER_TEXT, numbers=["cf_staff"], dates=["cf_founded"], long="address"),
    FormCase("contact", "sales_rep", lambda w: reverse("customers:contact_create", args=[w.customer.pk]),
             lambda w: {"name": "联系人甲"},
             text=["name", "title", "mobile", "phone", "email", "wechat", "notes"], long="notes"),
    FormCase("lead-create", "sales_rep", lambda w: reverse("sales:lead_create"),
             lambda w: {"name": "基线线索", "mobile": "13812345678", "source": "website"},
             text=LEAD_TEXT, numbers=["cf_staff"], dates=["cf_founded"], long="message"),
    FormCase("lead-update", "sales_rep", lambda w: reverse("sales:lead_update", args=[w.lead.pk]),
             lambda w: {"name": "基线线索", "mobile": "13812345678", "source": "website"},
             text=LEAD_TEXT, numbers=["cf_staff"], dates=["cf_founded"], long="name"),
    FormCase("lead-status", "sales_rep", lambda w: reverse("sales:lead_status", args=[w.lead.pk]),
             lambda w: {"status": "contacted", "reason": "已联系"}, text=["reason", "status"], long="reason"),
    FormCase("lead-convert", "sales_rep",
             lambda w: reverse("sales:lead_convert", args=[LeadFactory(owner=w.rep).pk]),
             lambda w: {"create_opportunity": "on", "opportunity_name": "转化商机", "amount": "100"},
             text=["opportunity_name"], numbers=["amount"], dates=["expected_close"], long="opportunity_name",
             shown=lambda w: reverse("sales:opportunity_list")),
    FormCase("opportunity-create", "sales_rep",
             lambda w: reverse("sales:opportunity_create") + f"?customer={w.customer.pk}",
             lambda w: {"name": "基线商机", "amount": "1000", "currency": "CNY", "pipeline": w.pipeline.pk},
             text=["name", "next_step", "currency"], numbers=["amount"], dates=["expected_close"], long="next_step"),
    FormCase("opportunity-update", "sales_rep",
             lambda w: reverse("sales:opportunity_update", args=[w.opportunity.pk]),
             lambda w: {"name": "基线商机", "amount": "1000", "currency": "CNY"},
             text=["name", "next_step"], numbers=["amount"], dates=["expected_close"], long="name"),
    FormCase("opportunity-line", "sales_rep",
             lambda w: reverse("sales:opportunity_line_add", args=[w.opportunity.pk]),
             lambda w: {"product": w.product.pk, "quantity": "1", "unit_price": "10"},
             text=["product"], numbers=["quantity", "unit_price"]),
    FormCase("quote-create", "sales_rep", lambda w: reverse("sales:quote_create") + f"?customer={w.customer.pk}",
             lambda w: {"valid_until": w.today, "discount": "0", "tax_rate": "13", "notes": "", **_lines(w)},
             text=["notes", "lines-0-description", "opportunity", "price_list"],
             numbers=["discount", "tax_rate", "lines-0-quantity", "lines-0-unit_price", "lines-0-discount_percent",
                      "lines-TOTAL_FORMS"],
             dates=["valid_until"], long="notes"),
    FormCase("quote-lines", "sales_rep", lambda w: reverse("sales:quote_lines"),
             lambda w: {"discount": "0", "tax_rate": "13", "price_list": "", **_lines(w)},
             text=["lines-0-description", "price_list", "priced_list", "lines-0-product"],
             numbers=["discount", "tax_rate", "lines-0-quantity", "lines-0-unit_price", "lines-0-discount_percent",
                      "lines-TOTAL_FORMS"], stores=False),
    FormCase("order-create", "sales_rep", lambda w: reverse("sales:order_create") + f"?customer={w.customer.pk}",
             lambda w: {"ordered_on": w.today, **_lines(w, discount=False)},
             text=["lines-0-description", "contract", "opportunity", "price_list"],
             numbers=["lines-0-quantity", "lines-0-unit_price"], dates=["ordered_on"], long="lines-0-description"),
    FormCase("order-lines", "sales_rep", lambda w: reverse("sales:order_lines"),
             lambda w: {"price_list": "", **_lines(w, discount=False)},
             text=["lines-0-description"], numbers=["lines-0-quantity", "lines-0-unit_price"], stores=False),
    FormCase("contract-create", "sales_rep",
             lambda w: reverse("sales:contract_create") + f"?customer={w.customer.pk}",
             lambda w: {"title": "基线合同", "amount": "1000", "currency": "CNY", "status": "draft"},
             text=["title", "currency", "status"], numbers=["amount"], dates=["starts_on", "ends_on", "signed_on"],
             long="title"),
    FormCase("contract-payment", "sales_rep",
             lambda w: reverse("sales:contract_payment_add", args=[w.contract.pk]),
             lambda w: {"amount": "10", "received_on": w.today},
             text=["method", "reference", "plan"], numbers=["amount"], dates=["received_on"], long="reference"),
    FormCase("contract-plan", "sales_rep", lambda w: reverse("sales:contract_plan_add", args=[w.contract.pk]),
             lambda w: {"amount": "10", "due_on": w.today}, numbers=["amount"], dates=["due_on"]),
    FormCase("interaction", "sales_rep", lambda w: reverse("interactions:log", args=[w.customer.pk]),
             lambda w: {"channel": "call", "direction": "out", "subject": "电话", "next_priority": "normal",
                        "next_step": "回访", "next_due": "2030-01-01T10:00"},
             text=["subject", "body", "next_step", "channel", "contact", "next_assignee"],
             dates=["occurred_at", "next_due", "next_remind"], long="body"),
    FormCase("followup-snooze", "sales_rep", lambda w: reverse("interactions:followup_snooze", args=[_followup(w).pk]),
             lambda w: {"until": "2030-01-01T10:00"}, dates=["until"]),
    FormCase("product", "admin_user", lambda w: reverse("sales:product_create"),
             lambda w: {"code": f"BASE-{next(_serial)}", "name": "基线产品", "unit": "套", "price": "1",
                        "active": "on"},
             text=["code", "name", "unit", "description"], numbers=["price"], long="description"),
    FormCase("pipeline", "admin_user", lambda w: reverse("sales:pipeline_create"),
             lambda w: {"name": f"基线渠道{next(_serial)}"}, text=["name"], long="name"),
    FormCase("stage", "admin_user", lambda w: reverse("sales:stage_create", args=[w.pipeline.pk]),
             lambda w: {"name": f"基线阶段{next(_serial)}", "probability": "10", "kind": "open"},
             text=["name"], numbers=["probability"], long="name"),
    FormCase("assignment-rule", "admin_user", lambda w: reverse("sales:assignment_rule_create"),
             lambda w: {"name": "基线规则", "active": "on", "team": w.rep.team.pk, "method": "round_robin"},
             text=["name", "campaigns", "custom"], numbers=["capacity"], long="campaigns"),
    FormCase("mailbox", "sales_rep", lambda w: reverse("interactions:mailbox_create"),
             lambda w: {"name": "基线邮箱", "host": "imap.example.com", "port": "993", "username": "rep",
                        "password": "secret", "folder": "INBOX", "use_ssl": "on"},
             text=["name", "address", "host", "username", "password", "folder"], numbers=["port"], long="name"),
    FormCase("account-settings", "sales_rep", lambda w: reverse("account_settings"),
             lambda w: {"language": "", "notify_by_email": "on"}, text=["language"]),
    FormCase("report-subscription", "sales_rep", lambda w: reverse("reports:subscription_create"),
             lambda w: {"report": "activity", "query": "period=this_month", "frequency": "weekly",
                        "recipients": [w.rep.pk]},
             text=["query", "report", "frequency"], long="query", displays=False),
    FormCase("export", "admin_user", lambda w: reverse("exports:create"),
             lambda w: {"model": "customers.customer", "query": "", "format": "csv"},
             text=["query", "model", "format"], long="query", displays=False, bad_request=True),
]


def _submit(client, case: FormCase, world, url: str, fields: list[str], hostile: Hostile):
    """Post the value into ``fields``; on a form error, again into the fields that took it. Returns the last answer
    and the fields the value was stored in."""
    while True:
        response = post(client, url, {**case.base(world), **{name: hostile.value for name in fields}})
        if case.bad_request and response.status_code == 400:
            assert response.content.strip() and b"<" not in response.content, "a 400 says what is wrong, as text"
            taken = [name for name in fields if name == "query"]  # the user's filters; the rest are fixed
            if taken and taken != fields:
                fields = taken
                continue
            return response, []
        assert response.status_code in (200, 204, 302), (case.id, hostile.id, response.status_code)
        if response.status_code == 200 and case.stores:
            errors = form_errors(response)
            assert errors, f"{case.id}: {hostile.id} answered 200 without saying what is wrong"
            html = response.content.decode()
            if hostile.raw:  # the form shown again carries the value escaped, if at all
                assert hostile.raw not in html, f"{case.id}: {hostile.id} comes back unescaped"
            taken = [name for name in fields if name not in errors]
            if taken and len(taken) < len(fields):
                fields = taken
                continue
            return response, []
        return response, fields


def _check(client, case: FormCase, world, fields: list[str], hostile: Hostile):
    url = case.url(world)
    response, stored = _submit(client, case, world, url, fields, hostile)
    if response.status_code == 302 and stored:
        # the page the user is sent to shows what was stored, escaped
        page = client.get(case.shown(world) if case.shown else response.url.split("#")[0])
        assert_shown_safely(page, hostile if case.displays else Hostile(hostile.id, hostile.value, hostile.reason))
        if not case.displays and hostile.raw:
            assert hostile.raw not in page.content.decode()
    return response


def _client(request, client_as, case):
    user = request.getfixturevalue(case.role) if case.role else None
    return client_as(user)


def _ids(values):
    return [v.id for v in values]


def _each(client, case: FormCase, world, attempts) -> None:
    """Run every (fields, hostile value) attempt, then fail once listing all that went wrong (a 500 is re-raised
    by the test client and listed with its exception)."""
    problems = []
    for fields, hostile in attempts:
        try:
            with transaction.atomic():  # a database error of one attempt must not abort the others
                _check(client, case, world, fields, hostile)
        except Exception as error:  # noqa: BLE001 - every failure of the case is reported together
            problems.append(f"{hostile.id} in {fields}: {type(error).__name__}: {str(error)[:300]}")
    assert not problems, f"{case.id}:\n" + "\n".join(problems)


@pytest.mark.parametrize("case", [c for c in CASES if c.text], ids=[c.id for c in CASES if c.text])
def test_hostile_text_in_every_text_field(request, client_as, world, case):
    _each(_client(request, client_as, case), case, world, [(case.text, hostile) for hostile in STRINGS])


NUMERIC_CASES = [c for c in CASES if c.numbers]
DATE_CASES = [c for c in CASES if c.dates]


@pytest.mark.parametrize("case", NUMERIC_CASES, ids=[c.id for c in NUMERIC_CASES])
def test_hostile_numbers_in_every_numeric_field(request, client_as, world, case):
    _each(_client(request, client_as, case), case, world,
          [([name], hostile) for hostile in NUMBERS for name in case.numbers])


@pytest.mark.parametrize("case", DATE_CASES, ids=[c.id for c in DATE_CASES])
def test_hostile_dates_in_every_date_field(request, client_as, world, case):
    # date-time fields get each date with a time as well
    with_time = [Hostile(h.id + "-with-time", h.value + "T23:59", h.reason) for h in DATES]
    _each(_client(request, client_as, case), case, world,
          [([name], hostile) for hostile in DATES + with_time for name in case.dates])


LONG_CASES = [c for c in CASES if c.long]


@pytest.mark.parametrize("case", LONG_CASES, ids=[c.id for c in LONG_CASES])
def test_a_million_characters_in_one_field(request, client_as, world, case):
    _each(_client(request, client_as, case), case, world, [([case.long], LONG_1M_STRING)])


# ------------------------------------------------------------------------------------------- the public form


@pytest.fixture
def web_form_post(client_as, settings):
    settings.CRM_LEAD_FORM_RATE_LIMIT = 10_000

    def send(data: dict, campaign: str | None = None):
        url = reverse("sales:lead_web_form")
        if campaign is not None:
            from .corpus import query_string
            url += "?" + query_string({"campaign": campaign, "lang": "en"})
        token = form_token(issued_at=time.time() - 60)  # a person who took a minute to fill it in
        return post(client_as(None), url, {"name": "访客", "mobile": "13812345678", "token": token, **data})

    return send


@pytest.mark.parametrize("hostile", STRINGS + [LONG_1M_STRING], ids=_ids(STRINGS + [LONG_1M_STRING]))
def test_the_public_web_to_lead_form(web_form_post, client_as, admin_user, hostile):
    # when a visitor sends the value in every field of the form
    fields = ["message"] if hostile is LONG_1M_STRING else ["name", "company", "email", "mobile", "message",
                                                              "province"]  # 1 MB in one field: 2.5 MB is Django's cap
    response = web_form_post({name: hostile.value for name in fields})
    # then he is told what is wrong, in the form
    assert response.status_code == 200
    assert form_errors(response)
    if hostile.raw:
        assert hostile.raw not in response.content.decode()
    # and in the fields that take any text, the value is stored and shown escaped to the sales team
    response = web_form_post({"company": hostile.value[:200], "message": hostile.value[:2000]})
    if response.status_code == 302:
        lead = Lead.objects.order_by("-pk").first()
        assert_shown_safely(client_as(admin_user).get(reverse("sales:lead_detail", args=[lead.pk])), hostile)
    else:
        assert response.status_code == 200 and form_errors(response)


@pytest.mark.parametrize("hostile", STRINGS, ids=_ids(STRINGS))
def test_the_public_form_campaign_parameter(web_form_post, client_as, admin_user, hostile):
    # given the embedding site's campaign code, taken from the form's address
    response = web_form_post({}, campaign=hostile.value)
    # then the lead is stored (the code cut to its column and cleaned), never a 500
    assert response.status_code == 302
    lead = Lead.objects.order_by("-pk").first()
    assert "\x00" not in lead.campaign and len(lead.campaign) <= 100
    assert_shown_safely(client_as(admin_user).get(reverse("sales:lead_detail", args=[lead.pk])), hostile)


# ----------------------------------------------------------------------------------- errors in the user's language


@pytest.mark.parametrize("hostile", [h for h in STRINGS if h.id in ("nul", "long-10k")], ids=["nul", "long-10k"])
def test_a_refused_value_is_explained_in_chinese_to_a_chinese_user(client_as, sales_rep, world, hostile):
    client = client_as(sales_rep, language="zh-hans")
    response = post(client, reverse("customers:create"), {**CUSTOMER_BASE, "name": hostile.value,
                                                         "mobile": "13812345678"})
    assert response.status_code == 200
    errors = form_errors(response)["name"]
    assert errors and all(CJK.search(e) for e in errors), errors
    assert not Customer.objects.filter(name__startswith="长").exists()


def test_a_stored_script_is_escaped_on_the_customer_list_too(client_as, sales_rep, world):
    post(client_as(sales_rep), reverse("customers:create"),
         {**CUSTOMER_BASE, "name": SCRIPT.value, "company": SCRIPT.value, "mobile": "13812345678"})
    assert Customer.objects.filter(name=SCRIPT.value).exists()
    assert_shown_safely(client_as(sales_rep).get(reverse("customers:list")), SCRIPT)
    assert_shown_safely(client_as(sales_rep).get(reverse("customers:list"), {"q": "script"}), SCRIPT)
