"""The main pages under the CRM's Content-Security-Policy, in a real browser: an administrator opens his dashboard,
the customer list and a customer, the kanban board, a report, a quote's print page and the import page. No page
reports a violation of the policy (the browser's securitypolicyviolation event, or a console message about it), and
what the scripts do still works: charts are drawn, "/" focuses the search box, the bell's menu loads, a card is
dragged to another column, the print button prints, the admin's periodic task form says its schedule in words.

The policy is the one every environment sends (crm/settings/base.py), so this runs against the real header."""

from importlib import import_module

import pytest
from django.apps import apps
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule
from playwright.sync_api import expect

from crm.accounts.roles import ADMIN
from crm.accounts.services import user_create
from customers import services as customer_services
from sales.models import Opportunity, Pipeline, StageKind
from tests.factories.sales_commerce import make_quote
from tests.factories.sales_pipeline import OpportunityFactory

from .conftest import PASSWORD, screenshot
from .test_rep_journey import log_in

pytestmark = pytest.mark.e2e

# Runs in every document before its own scripts (Playwright's init scripts are not subject to the page's policy),
# and hands each violation to the test through a binding, which outlives the page's navigations.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  window.cspViolation([event.violatedDirective, event.blockedURI || "inline", event.sourceFile + ":" + event.lineNumber,
                       document.location.pathname].join(" | "));
});
"""


@pytest.fixture
def watched(open_page):
    """``watched()``: a page (English) whose policy violations, and console messages about the policy, are
    collected on ``page.csp_violations``."""

    def make():
        page = open_page("en-US")
        violations = []
        page.context.expose_binding("cspViolation", lambda source, text: violations.append(text))
        page.context.add_init_script(REPORT_VIOLATIONS)
        page.on("console", lambda message: violations.append(f"console: {message.text}")
                if "Content Security Policy" in message.text else None)
        page.csp_violations = violations
        return page

    return make


@pytest.fixture
def admin_with_data(transactional_db):
    """An administrator with a customer, an open opportunity in the default pipeline's first stage, and a quote."""
    if not Pipeline.objects.filter(is_default=True).exists():  # an earlier browser test's flush took it
        import_module("sales.migrations.0003_default_pipeline").create(apps, None)
    admin = user_create(username="e2e_csp_admin", password=PASSWORD, role=ADMIN, last_name="管理员", first_name="安")
    customer = customer_services.customer_create(
        actor=admin, data={"name": "策略客户 Policy Ltd", "company": "策略客户 Policy Ltd", "mobile": "+8613912345678"})
    stages = list(Pipeline.objects.get(is_default=True).stages.filter(kind=StageKind.OPEN).order_by("position"))
    opportunity = OpportunityFactory(owner=admin, customer=customer, stage=stages[0], name="策略商机")
    quote = make_quote(actor=admin, customer=customer)
    return admin, customer, opportunity, stages[1], quote


def expect_chart_drawn(page):
    """ECharts (static/js/reports.js, SVG renderer) has drawn into every chart box: shapes, not an empty box."""
    charts = page.locator(".report-chart")
    expect(charts.first).to_be_visible()
    for index in range(charts.count()):
        expect(charts.nth(index).locator("svg path").first).to_be_attached()


def test_admin_uses_the_main_pages_without_any_content_security_policy_violation(watched, admin_with_data):
    admin, customer, opportunity, next_stage, quote = admin_with_data
    page = watched()

    # the dashboard after signing in: its charts are drawn
    log_in(page, admin.username, PASSWORD)  # ends on the customer list
    page.goto(reverse("home"))
    expect_chart_drawn(page)

    # the customer list: "/" focuses the search box, and the bell's menu loads (Bootstrap's dropdown + htmx)
    page.goto(reverse("customers:list"))
    expect(page.locator(f"a[href='{customer.get_absolute_url()}']").first).to_be_visible()
    page.locator("main h1").click()  # focus outside any input
    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()
    with page.expect_response(lambda r: reverse("notifications:menu") in r.url) as menu:
        page.locator("#notification-bell button").click()
    assert menu.value.status == 200
    expect(page.locator("#bell-menu")).to_be_visible()

    # the customer's page
    page.goto(customer.get_absolute_url())
    expect(page.locator("main h1")).to_contain_text(customer.name)

    # the kanban board: a real drag of the card to the next stage (SortableJS, then an htmx POST)
    page.goto(reverse("sales:board"))
    card = page.locator(f"#opportunity-{opportunity.pk}")
    target = page.locator(f"#column-cards-{next_stage.pk}")
    page.wait_for_function("id => !!(document.getElementById(id) || {}).kanbanSortable",
                           arg=target.get_attribute("id"))
    with page.expect_response(lambda r: r.request.method == "POST"
                              and reverse("sales:opportunity_move", args=[opportunity.pk]) in r.url) as moved:
        card.drag_to(target)
    assert moved.value.status == 200, moved.value.text()
    expect(target.locator(f"#opportunity-{opportunity.pk}")).to_be_visible()
    assert Opportunity.objects.get(pk=opportunity.pk).stage_id == next_stage.pk

    # a report with a chart
    page.goto(reverse("reports:report", args=["funnel"]))
    expect_chart_drawn(page)
    screenshot(page, "csp-report")

    # the quote's print page: the print button, hidden until static/js/app.js handles it, prints
    page.goto(reverse("sales:quote_print", args=[quote.pk]))
    button = page.locator("[data-print]")
    expect(button).to_be_visible()
    page.evaluate("window.print = function () { window.printed = true; }")
    button.click()
    assert page.evaluate("window.printed === true")

    # the import page
    page.goto(reverse("imports:new"))
    expect(page.locator("input[type=file]")).to_be_attached()
    screenshot(page, "csp-import-page")

    # the admin's periodic task form: the chosen crontab in words (static/js/admin_periodic_task.js)
    schedule = CrontabSchedule.objects.create(minute="30", hour="2")
    page.goto(reverse("admin:django_celery_beat_periodictask_add"))
    page.select_option("#id_crontab", str(schedule.pk))
    expect(page.locator(".field-crontab")).to_contain_text("In words:")
    expect(page.locator(".field-crontab_translation")).to_be_hidden()

    # then: not one violation, and no script error or failed request on the way
    assert page.csp_violations == []
    assert page.e2e_problems == []

    # and the watch itself works: an inline script put into the page is refused, and reported
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.inlineRan = true";
                             document.head.append(s); }""")
    for _ in range(50):  # the report comes through the binding, a moment later
        if page.csp_violations:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("window.inlineRan === undefined")
    assert any("script-src" in violation for violation in page.csp_violations), page.csp_violations
