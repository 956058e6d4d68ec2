"""A lead's way to an order, in a real browser, with a real Celery worker: a visitor of a company's website fills in
the CRM's web form embedded there (an iframe, as the assignment rules page tells admins to embed it), in Chinese;
the worker routes the lead by the rules to the right rep of 上海组 (round-robin), who is told under the bell. He
converts it into customer + contact + opportunity, drags the opportunity to the won column of the kanban board
(SortableJS, a real mouse drag), records the order from the customer's page, and reads the order and the lifetime
value in the customer's purchases panel. A second visitor, in English, gets the English form and thank-you page, and
his lead goes to the other rep (round-robin).

Selectors are ids, names and hrefs; visible texts are compared with what the application itself renders in the
page's language (through the catalogue where there is a translation, the msgid where there is none yet).
"""

import re
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.template import Context, Template
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import timezone, translation
from playwright.sync_api import expect

from crm.accounts.roles import ADMIN, SALES_REP
from crm.accounts.services import user_create
from crm.notifications.models import Notification, NotificationKind
from customers.models import Contact
from sales import lead_web
from sales.commerce_services import product_create
from sales.lead_rules import rule_save
from sales.models import (
    AssignmentMethod,
    AssignmentRule,
    Lead,
    LeadAssignment,
    LeadStatus,
    Opportunity,
    Order,
    Pipeline,
    StageHistory,
    StageKind,
)

from .conftest import PASSWORD, screenshot
from .test_rep_journey import CJK, log_in, text_in

pytestmark = pytest.mark.e2e

WAIT = 20  # s: how long the worker may take to route a lead (it shares the machine with whatever else runs)
EXPECT_MS = 15_000
AMOUNT = Decimal("48000.00")  # 20 users of CRM 专业版 at 2400


def zh(msgid: str, **values) -> str:
    return text_in("zh-hans", msgid, **values)


def in_template(msgid: str, language: str = "zh-hans", **values) -> str:
    """A ``{% translate %}`` text holding %(name)s placeholders as a template shows it: the tag looks such a text
    up with its % doubled (so the catalogue has it so), which gettext(msgid) would not find."""
    with translation.override(language):
        text = Template("{% load i18n %}{% translate '" + msgid + "' %}").render(Context())
    return text % values


def shown(amount, language: str = "zh-hans") -> str:
    """An amount as the pages show it (``floatformat:"2g"`` in the page's language)."""
    with translation.override(language):
        return floatformat(amount, "2g")


def label(choice, language: str = "zh-hans") -> str:
    with translation.override(language):
        return str(choice.label)


def wait_for(predicate, *, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


# ------------------------------------------------------------------------------------------------- given


@pytest.fixture
def sales_setup(e2e_org, live_celery_worker, settings):
    """e2e_org's rep and a second rep in 上海组; a rule sending website leads from 浙江 and 上海 to 上海组 in turn;
    the CRM 专业版 product; the default pipeline (made again if an earlier browser test's flush took it)."""
    # Every browser context posts from 127.0.0.1; the limit is not what this journey is about.
    settings.CRM_LEAD_FORM_RATE_LIMIT = 1000
    admin = user_create(username="e2e_admin", password=PASSWORD, role=ADMIN, last_name="管理员", first_name="系统")
    second = user_create(username="e2e_rep2", password=PASSWORD, role=SALES_REP, team=e2e_org.team,
                         last_name="李", first_name="芳")
    assert e2e_org.rep.pk < second.pk  # round-robin starts with the lowest id
    rule = rule_save(actor=admin, rule=AssignmentRule(
        name="华东官网线索", provinces=["浙江省", "上海市"], sources=["website"], team=e2e_org.team,
        method=AssignmentMethod.ROUND_ROBIN))
    product = product_create(actor=admin, data={"code": "CRM-PRO", "name": "CRM 专业版（年费/用户）", "unit": "用户",
                                                "price": Decimal("2400")})
    if not Pipeline.objects.filter(is_default=True).exists():
        import_module("sales.migrations.0003_default_pipeline").create(apps, None)
    pipeline = Pipeline.objects.get(is_default=True)
    stages = list(pipeline.stages.order_by("position", "pk"))
    return SimpleNamespace(
        org=e2e_org, rep=e2e_org.rep, second=second, rule=rule, product=product, pipeline=pipeline,
        first=next(s for s in stages if s.kind == StageKind.OPEN),
        won=next(s for s in stages if s.kind == StageKind.WON), worker=live_celery_worker,
    )


@pytest.fixture
def patient():
    """Assertions wait up to EXPECT_MS instead of Playwright's 5 s, for this test only: the live server and the
    worker share the machine with whatever else runs on it."""
    previous = getattr(expect, "_timeout", None)
    expect.set_options(timeout=EXPECT_MS)
    try:
        yield
    finally:
        expect.set_options(timeout=previous)


@pytest.fixture
def company_site():
    """The company's own website: another origin than the CRM's (127.0.0.1 against live_server's localhost), served
    by a real server, since Chromium lets a page of a real local server frame another local one but not a page
    that Playwright made up (page.route: of no known address, its frame to localhost is blocked)."""
    pages = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 204)
            if body:
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def add_page(html: str) -> str:
        path = f"/contact-{len(pages) + 1}.html"
        pages[path] = html
        return path

    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}", add_page=add_page)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ------------------------------------------------------------------------------------------------- steps


def open_company_site(page, company_site, live_server, *, query: str):
    """The company's contact page, with the CRM's form embedded as the rules page says (an iframe)."""
    form_url = live_server.url + reverse("sales:lead_web_form") + query
    path = company_site.add_page(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>恒通贸易 · 联系我们</title></head>'
        f'<body><h1>联系我们</h1><iframe id="crm-form" src="{form_url}" width="100%" height="720" '
        f'style="border:0" title="Contact us"></iframe></body></html>')
    page.goto(company_site.url + path)
    frame = page.frame_locator("#crm-form")
    expect(frame.locator("#lead-web-form")).to_be_visible()
    return frame


def fill_and_send(page, frame, *, name, company, mobile, email, province, message, language) -> None:
    """Type the details as a person does, wait out the form's minimum time (a robot's speed is thanked and
    forgotten), send, and see the thank-you page in ``language``."""
    token = frame.locator("input[name=token]").input_value()
    issued = lead_web.token_issued_at(token)
    assert issued is not None
    assert frame.locator("html").get_attribute("lang") == language
    frame.locator("#id_name").press_sequentially(name, delay=30)
    frame.locator("#id_company").press_sequentially(company, delay=30)
    frame.locator("#id_mobile").press_sequentially(mobile, delay=30)
    frame.locator("#id_email").fill(email)
    frame.locator("#id_province").select_option(province)
    frame.locator("#id_message").fill(message)
    expect(frame.locator("#id_website")).to_have_value("")  # the honeypot stays empty
    remaining = issued + lead_web.MIN_SECONDS + 0.3 - time.time()
    if remaining > 0:
        page.wait_for_timeout(remaining * 1000)
    frame.locator("#lead-web-form button[type=submit]").click()
    thanks = frame.locator("main h1")
    expect(thanks).to_have_text(text_in(language, "Thank you!"))
    assert frame.locator("html").get_attribute("lang") == language


def routed_lead(*, mobile_digits: str, owner) -> Lead:
    """The lead, once the worker has given it to ``owner`` and he has been told."""
    lead = wait_for(lambda: Lead.objects.filter(mobile__endswith=mobile_digits).first(), what="the lead is stored")
    lead = wait_for(lambda: Lead.objects.filter(pk=lead.pk, owner__isnull=False).first(),
                    what="the worker assigns the lead")
    assert lead.owner_id == owner.pk, f"the lead went to {lead.owner}, not {owner}"
    wait_for(lambda: Notification.objects.filter(user=owner, url=lead.get_absolute_url()).exists(),
             what="the rep is notified")
    return lead


def open_the_notification(page, lead, notification) -> None:
    bell = page.locator("#notification-bell")
    expect(bell.locator("#bell-count")).to_have_attribute("data-count", "1")
    with page.expect_response(lambda r: r.url.endswith(reverse("notifications:menu"))) as menu:
        bell.locator("button[data-bs-toggle=dropdown]").click()
    assert menu.value.status == 200
    item = page.locator(f'#bell-menu form[action="{reverse("notifications:read", args=[notification.pk])}"] button')
    expect(item).to_contain_text(notification.title[:60])
    item.click()
    page.wait_for_url(re.compile(re.escape(lead.get_absolute_url()) + r"$"))


def convert(page, lead, *, amount, expected_close) -> Lead:
    page.locator(f'main a[href="{reverse("sales:lead_convert", args=[lead.pk])}"]').click()
    page.wait_for_url(re.compile(re.escape(reverse("sales:lead_convert", args=[lead.pk])) + r"$"))
    expect(page.locator("#id_create_opportunity")).to_be_checked()
    page.fill("#id_amount", str(amount))
    page.fill("#id_expected_close", expected_close.isoformat())
    page.locator("main form[method=post] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/customers/\d+/$"))
    lead.refresh_from_db()
    assert page.url.endswith(reverse("customers:detail", args=[lead.customer_id]))
    return lead


def head(page, stage):
    return page.locator(f"#column-head-{stage.pk}")


def expect_column(page, stage, *, count: int, total) -> None:
    expect(head(page, stage).locator("[data-count]")).to_have_text(str(count))
    expect(head(page, stage).locator("[data-total]")).to_have_text(f"¥{shown(total)}")


def drag_to_won(page, setup, opportunity) -> None:
    """A real drag of the card (mouse down, moves, up) from its column onto the won column."""
    card = page.locator(f"#opportunity-{opportunity.pk}")
    won_list = page.locator(f"#column-cards-{setup.won.pk}")
    expect(page.locator(f"#column-cards-{setup.first.pk}")).to_contain_text(opportunity.name)
    page.wait_for_function("id => !!(document.getElementById(id) || {}).kanbanSortable", arg=won_list.get_attribute(
        "id"))  # kanban.js (deferred) has made the columns sortable
    move_url = reverse("sales:opportunity_move", args=[opportunity.pk])
    with page.expect_response(lambda r: r.request.method == "POST" and move_url in r.url) as moved:
        card.drag_to(won_list)
    assert moved.value.status == 200, moved.value.text()
    expect(won_list.locator(f"#opportunity-{opportunity.pk}")).to_be_visible()


def record_the_order(page, setup, customer, opportunity, *, quantity: int) -> Order:
    """From the customer's purchases panel: a new order for the won opportunity, one line of the product."""
    panel = page.locator("#customer-purchases")
    new_order = panel.locator(f'a[href="{reverse("sales:order_create")}?customer={customer.pk}"]')
    new_order.click()
    page.wait_for_url(re.compile(re.escape(reverse("sales:order_create")) + r"\?customer=\d+$"))
    form = page.locator("#order-form")
    expect(form.locator("#id_ordered_on")).to_have_value(timezone.localdate().isoformat())
    # Each change posts the form to the line editor (htmx), which answers with the lines and totals recomputed; a
    # change made before the answer came would cancel that request (hx-sync replace), as a quick user's does.
    line_editor = reverse("sales:order_lines")
    with page.expect_response(lambda r: line_editor in r.url):
        form.locator("#id_opportunity").select_option(str(opportunity.pk))
    with page.expect_response(lambda r: line_editor in r.url):
        form.locator("select[name=lines-0-product]").select_option(str(setup.product.pk))
    expect(form.locator("input[name=lines-0-unit_price]")).to_have_value("2400.00")
    expect(form.locator("input[name=lines-0-description]")).to_have_value(setup.product.name)
    with page.expect_response(lambda r: line_editor in r.url):
        form.locator("input[name=lines-0-quantity]").fill(str(quantity))
        form.locator("input[name=lines-0-quantity]").press("Tab")
    expect(form.locator("#line-totals [data-total]")).to_have_text(shown(AMOUNT))
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/sales/orders/\d+/$"))
    order = Order.objects.get(customer=customer)
    assert page.url.endswith(order.get_absolute_url())
    return order


# ------------------------------------------------------------------------------------------------- the journey


def test_a_web_lead_becomes_a_won_deal_and_an_order(open_page, live_server, company_site, sales_setup, patient):
    setup = sales_setup
    rep = setup.rep

    # given a visitor of the company's website, in Chinese, who leaves his details on the embedded form
    visitor = open_page("zh-CN")
    frame = open_company_site(visitor, company_site, live_server, query="?campaign=2026春季展会")
    fill_and_send(visitor, frame, name="王建国", company="杭州恒通贸易有限公司", mobile="139 0571 8888",
                  email="wangjianguo@hengtong.example.cn", province="浙江省",
                  message="我们有 20 个销售，想了解专业版的价格和实施周期。", language="zh-hans")
    screenshot(visitor, "sales-journey-web-form-zh")

    # then the worker gives the lead to the first rep of 上海组 by the rule, and tells him
    lead = routed_lead(mobile_digits="13905718888", owner=rep)
    assert (lead.name, lead.company, lead.province, lead.source, lead.campaign, lead.status) == (
        "王建国", "杭州恒通贸易有限公司", "浙江省", "website", "2026春季展会", LeadStatus.ASSIGNED)
    assert lead.team_id == setup.org.team.pk and lead.created_by is None
    assignment = LeadAssignment.objects.get(lead=lead)
    assert (assignment.user_id, assignment.rule_id, assignment.reason) == (rep.pk, setup.rule.pk, "rule")
    notification = Notification.objects.get(user=rep, url=lead.get_absolute_url())
    assert notification.kind == NotificationKind.ASSIGNMENT
    with translation.override(rep.language or "zh-hans"):
        assert notification.title == translation.gettext("New lead for you: %(lead)s") % {"lead": lead}
    assert visitor.e2e_problems == []

    # and a second visitor, on the English version of the page, gets English texts; his lead goes to the other rep
    english = open_page("en-US")
    frame = open_company_site(english, company_site, live_server, query="?lang=en&campaign=expo-2026")
    expect(frame.locator("#lead-web-form button[type=submit]")).to_have_text("Send")
    expect(frame.locator("label[for=id_name]")).to_contain_text("Your name")
    fill_and_send(english, frame, name="David Chen", company="Shanghai Bright Logistics", mobile="139 2100 6666",
                  email="david.chen@bright.example.com", province="上海市", message="Please send a quote.",
                  language="en")
    second_lead = routed_lead(mobile_digits="13921006666", owner=setup.second)
    assert (second_lead.province, second_lead.campaign) == ("上海市", "expo-2026")
    assert english.e2e_problems == []

    # when the rep logs in, he sees the notification under the bell and opens the lead from it
    page = open_page("zh-CN")
    log_in(page, rep.username, setup.org.password)
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    open_the_notification(page, lead, notification)
    expect(page.locator("main h1")).to_contain_text(lead.name)
    expect(page.locator("#lead-status")).to_have_text(label(LeadStatus.ASSIGNED))
    notification.refresh_from_db()
    assert notification.read_at is not None

    # and converts it into a customer, a contact and an opportunity of 48,000
    expected_close = timezone.localdate() + timedelta(days=30)
    lead = convert(page, lead, amount=AMOUNT, expected_close=expected_close)
    assert lead.status == LeadStatus.CONVERTED and lead.touched_at is not None
    customer, opportunity = lead.customer, Opportunity.objects.get(pk=lead.opportunity_id)
    assert (customer.name, customer.owner_id, customer.province, customer.source) == (
        "杭州恒通贸易有限公司", rep.pk, "浙江省", "website")
    assert Contact.objects.filter(customer=customer, name="王建国", mobile_digits="13905718888").exists()
    assert (opportunity.customer_id, opportunity.owner_id, opportunity.stage_id, opportunity.amount,
            opportunity.expected_close) == (customer.pk, rep.pk, setup.first.pk, AMOUNT, expected_close)
    expect(page.locator("#messages .alert-success")).to_contain_text(
        zh("The lead is converted: customer %(customer)s.", customer=customer))
    expect(page.locator("main h1")).to_contain_text(customer.name)

    # when he opens the board (wide enough for every column, as on a desktop monitor) and drags the deal to won
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.locator(f'#sidebar a[href="{reverse("sales:board")}"]').click()
    page.wait_for_url(re.compile(re.escape(reverse("sales:board")) + r"$"))
    expect_column(page, setup.first, count=1, total=AMOUNT)
    expect_column(page, setup.won, count=0, total=0)
    summary = page.locator("#board-summary")
    expect(summary).to_contain_text(f"¥{shown(AMOUNT)}")
    drag_to_won(page, setup, opportunity)

    # then both columns' counts and sums, and the open pipeline's summary, change without a reload
    expect_column(page, setup.won, count=1, total=AMOUNT)
    expect_column(page, setup.first, count=0, total=0)
    expect(summary).not_to_contain_text(f"¥{shown(AMOUNT)}")
    expect(page.locator("#board-status")).to_have_text(in_template("Moved to %(stage)s.", stage=setup.won.name))
    expect(page.locator("#board-alert")).to_be_empty()
    # and the server says the same on a fresh page, and has the deal won, with its stage history
    page.reload()
    expect_column(page, setup.won, count=1, total=AMOUNT)
    expect_column(page, setup.first, count=0, total=0)
    expect(page.locator(f"#column-cards-{setup.won.pk} #opportunity-{opportunity.pk}")).to_be_visible()
    opportunity.refresh_from_db()
    assert opportunity.stage_id == setup.won.pk and opportunity.closed_at is not None
    assert list(StageHistory.objects.filter(opportunity=opportunity).values_list("stage_id", "moved_by_id")) == [
        (setup.first.pk, rep.pk), (setup.won.pk, rep.pk)]
    screenshot(page, "sales-journey-board-won")

    # when he goes from the deal to its customer, and records the order from the purchases panel
    page.locator(f'#opportunity-{opportunity.pk} a[href="{opportunity.get_absolute_url()}"]').click()
    page.wait_for_url(re.compile(re.escape(opportunity.get_absolute_url()) + r"$"))
    expect(page.locator("main h1 .badge")).to_have_text(setup.won.name)
    page.locator(f'main a[href="{reverse("customers:detail", args=[customer.pk])}"]').first.click()
    page.wait_for_url(re.compile(re.escape(reverse("customers:detail", args=[customer.pk])) + r"$"))
    page.locator("#tab-timeline").click()
    panel = page.locator("#customer-purchases")
    expect(panel.locator("[data-lifetime-value]")).to_have_text(shown(0))
    expect(panel.locator("[data-last-purchase]")).to_have_text("—")
    order = record_the_order(page, setup, customer, opportunity, quantity=20)
    assert (order.total, order.opportunity_id, order.owner_id, order.ordered_on) == (
        AMOUNT, opportunity.pk, rep.pk, timezone.localdate())
    assert [(line.product_id, line.quantity, line.amount) for line in order.lines.all()] == [
        (setup.product.pk, Decimal("20.00"), AMOUNT)]
    expect(page.locator("#messages .alert-success")).to_contain_text(zh("Order %(number)s saved.",
                                                                        number=order.number))

    # then the customer's page shows the order, the last purchase and the lifetime value
    page.locator(f'main a[href="{reverse("customers:detail", args=[customer.pk])}"]').first.click()
    page.wait_for_url(re.compile(re.escape(reverse("customers:detail", args=[customer.pk])) + r"$"))
    page.locator("#tab-timeline").click()
    expect(panel.locator(f'a[href="{order.get_absolute_url()}"]')).to_have_text(order.number)
    assert re.fullmatch(rf"SO-{timezone.localdate().year}-\d{{6}}", order.number), order.number
    expect(panel.locator("[data-lifetime-value]")).to_have_text(shown(AMOUNT))
    expect(panel.locator("[data-last-purchase]")).to_have_text(timezone.localdate().isoformat())
    assert page.e2e_problems == []
    screenshot(page, "sales-journey-customer-order")

    # and the texts checked on the way were the Chinese ones (the catalogue translates them)
    for text in (zh("Thank you!"), notification.title, zh("Order %(number)s saved.", number=order.number),
                 in_template("Moved to %(stage)s.", stage="")):
        assert CJK.search(text), f"the Chinese catalogue leaves {text!r} untranslated"
