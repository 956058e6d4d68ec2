"""The global search and every list page's parameters with each hostile value: never a 500; a bad value is ignored
(the page shows what it would without it) or answered with a clear message, and never reflected unescaped.

Each page's parameters are read off the page itself (the names of its GET forms' fields and the query keys of its
links), so a filter added later is tried too, together with the parameters the views read directly.
"""

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.urls import reverse

from reports import registry

from .conftest import get
from .corpus import DATES, NUMBERS, PAGES, SORT, STRINGS, XSS

# Read straight from request.GET by some view (not all of them appear in a form on every page).
COMMON = ["q", "page", "sort", "ordering", "tab", "part", "kind", "before", "after", "date", "section", "find",
          "customer", "opportunity", "next", "lang", "campaign", "unread", "mine", "report", "query", "month",
          "period", "days", "segment", "status", "owner", "team", "pipeline", "stage", "date_from", "date_to"]

PAGES_TO_TRY = [
    ("home", lambda w: []), ("customers:list", lambda w: []), ("customers:recycle_bin", lambda w: []),
    ("customers:detail", lambda w: [w.customer.pk]), ("customers:create", lambda w: []),
    ("sales:lead_list", lambda w: []), ("sales:lead_detail", lambda w: [w.lead.pk]),
    ("sales:lead_convert", lambda w: [w.lead.pk]),
    ("sales:board", lambda w: []), ("sales:board_column", lambda w: [w.opportunity.stage_id]),
    ("sales:opportunity_list", lambda w: []), ("sales:opportunity_create", lambda w: []),
    ("sales:opportunity_detail", lambda w: [w.opportunity.pk]),
    ("sales:product_list", lambda w: []), ("sales:pricelist_list", lambda w: []),
    ("sales:quote_list", lambda w: []), ("sales:quote_create", lambda w: []),
    ("sales:quote_detail", lambda w: [w.quote.pk]),
    ("sales:contract_list", lambda w: []), ("sales:contract_create", lambda w: []),
    ("sales:contract_detail", lambda w: [w.contract.pk]),
    ("sales:order_list", lambda w: []), ("sales:order_create", lambda w: []),
    ("sales:order_detail", lambda w: [w.order.pk]),
    ("sales:assignment_rule_list", lambda w: []), ("sales:pipeline_settings", lambda w: []),
    ("interactions:my_tasks", lambda w: []), ("interactions:week", lambda w: []),
    ("interactions:activity", lambda w: []), ("interactions:my_activity", lambda w: []),
    ("interactions:mailbox_list", lambda w: []), ("interactions:mail_unfiled", lambda w: []),
    ("interactions:mail_compose", lambda w: [w.customer.pk]),
    ("notifications:list", lambda w: []), ("notifications:bell", lambda w: []), ("notifications:menu", lambda w: []),
    ("reports:index", lambda w: []), ("reports:subscription_list", lambda w: []),
    ("reports:subscription_create", lambda w: []), ("reports:target_list", lambda w: []),
    ("audit:log", lambda w: []), ("imports:list", lambda w: []), ("exports:list", lambda w: []),
    ("backups:list", lambda w: []), ("account_settings", lambda w: []),
    ("sales:lead_web_form", lambda w: []), ("sales:lead_web_form_thanks", lambda w: []),
] + [("reports:report", lambda w, key=key: [key]) for key in sorted(r.key for r in registry.all_reports())]

FIELD_NAME = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"')
GET_FORM = re.compile(r'<form\b(?![^>]*method="post")[^>]*>(.*?)</form>', re.S | re.I)
LINK = re.compile(r'href="([^"]*\?[^"]*)"')
# Values that are no parameter's business: a hostile value in them changes nothing a user could see.
SKIP = {"csrfmiddlewaretoken", "token", "website"}
HTMX_TOO = {"nul", "lone-surrogate", "long-10k", "26-nines", "year-9999", "year-1", "template-django"}


def parameters(html: str) -> set[str]:
    """The parameters the page's GET forms and links send."""
    names = set(COMMON)
    for form in GET_FORM.findall(html):
        names.update(FIELD_NAME.findall(form))
    for href in LINK.findall(html):
        names.update(key for key, _value in parse_qsl(urlsplit(unescape(href)).query, keep_blank_values=True))
    return names - SKIP


def _assert_answered(response, hostile, what):
    allowed = (200, 204, 302, 404)
    if hostile.id == "long-10k":
        # a redirect carrying the query on (team activity -> mine) past Django's 16,384-character limit for a
        # redirect is answered 400 by Django; web servers refuse such an address long before (gunicorn: 4,094)
        allowed += (400,)
    assert response.status_code in allowed, (what, hostile.id, response.status_code)
    if hostile.raw and response.status_code == 200:
        assert hostile.raw not in response.content.decode(), f"{what}: {hostile.id} reflected unescaped"


@pytest.mark.parametrize(("name", "args"), PAGES_TO_TRY, ids=[
    f"{n}-{i}" if n == "reports:report" else n for i, (n, _a) in enumerate(PAGES_TO_TRY)])
def test_every_parameter_of_every_list_page(client_as, admin_user, world, name, args):
    client = client_as(admin_user)
    url = reverse(name, args=args(world))
    page = client.get(url)
    assert page.status_code == 200
    names = sorted(parameters(page.content.decode()))
    for hostile in STRINGS + NUMBERS + DATES:
        # every parameter at once (a bad one must not break the others' handling) ...
        _assert_answered(get(client, url, {n: hostile.value for n in names}), hostile, url)
        # ... and as htmx asks for the results alone (other templates: the values that could break them; all of
        # them would double the runtime for nothing)
        if hostile.raw or hostile.id in HTMX_TOO:
            _assert_answered(get(client, url, {n: hostile.value for n in names}, HTTP_HX_REQUEST="true"), hostile,
                             f"{url} (htmx)")
    for hostile in [*PAGES, SORT]:
        _assert_answered(get(client, url, {"page": hostile.value, "sort": SORT.value, "ordering": SORT.value}),
                         hostile, url)


@pytest.mark.parametrize("hostile", STRINGS + NUMBERS + DATES, ids=lambda h: h.id)
@pytest.mark.parametrize("parameter", ["q", "find"])
def test_each_parameter_alone_on_the_customer_searches(client_as, sales_rep, world, parameter, hostile):
    # the global search box (the customer list's q) and the customer pickers of the sales forms (find), one at a time
    client = client_as(sales_rep)
    for url in (reverse("customers:list"), reverse("sales:opportunity_create"), reverse("sales:quote_create"),
                reverse("sales:contract_create"), reverse("sales:order_create"), reverse("sales:lead_list"),
                reverse("sales:opportunity_list"), reverse("interactions:my_activity")):
        response = get(client, url, {parameter: hostile.value})
        _assert_answered(response, hostile, url)
        assert response.status_code == 200


@pytest.mark.parametrize("hostile", [h for h in STRINGS if h.id in ("percent", "underscore", "backslash")],
                         ids=lambda h: h.id)
def test_like_wildcards_are_searched_for_literally(client_as, sales_rep, world, customer_factory, hostile):
    # given a customer whose name holds the character, and one whose name does not
    holder = customer_factory(owner=sales_rep, name=f"折扣{hostile.value}客户")
    customer_factory(owner=sales_rep, name="普通客户")
    # when the rep searches for the character with a word around it
    response = get(client_as(sales_rep), reverse("customers:list"), {"q": f"扣{hostile.value}客"})
    # then only the customer holding it is found
    assert [c.pk for c in response.context["page"].object_list] == [holder.pk]


@pytest.mark.parametrize("hostile", XSS, ids=lambda h: h.id)
def test_the_search_box_shows_the_typed_text_escaped(client_as, sales_rep, world, hostile):
    response = get(client_as(sales_rep), reverse("customers:list"), {"q": hostile.value})
    html = response.content.decode()
    assert hostile.raw not in html
    assert hostile.escaped in html  # in the search box, as typed
