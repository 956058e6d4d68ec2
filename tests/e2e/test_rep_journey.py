"""A sales rep's everyday journey, in a real browser: log in, create a customer, find it again by the
phone number typed the way people type it, and claim a customer from the public pool.

Selectors are ids, names and hrefs (never visible text), so the flow runs the same in both languages;
visible texts are asserted in English, and in Chinese only through the compiled catalogue.
"""

import base64
import re
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django_otp.oath import TOTP, totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from customers.models import Customer

from .conftest import screenshot

pytestmark = pytest.mark.e2e

ZH_CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"
CJK = re.compile(r"[\u4e00-\u9fff]")


def text_in(language: str, msgid: str, **values) -> str:
    with translation.override(language):
        text = translation.gettext(msgid)
    return text % values if values else text


def log_in(page, username, password):
    page.goto(reverse("login"))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.locator("form:has(#id_password) button[type=submit]").click()
    # after the password: the dashboard, or first the second step of two-factor authentication (crm.accounts.mfa)
    second_step = {reverse("mfa_setup"), reverse("mfa_verify")}
    page.wait_for_url(lambda url: urlsplit(url).path in {reverse("home"), *second_step})
    if urlsplit(page.url).path in second_step:
        pass_second_step(page, username)
    # after login: the dashboard of his role; the journeys go on from the customer list
    page.wait_for_url(re.compile(re.escape(reverse("home")) + r"$"))
    expect(page.locator("main h1")).to_be_visible()
    page.goto(reverse("customers:list"))


def pass_second_step(page, username):
    """What a user with an authenticator app does: an admin at his first login scans the key shown (we read it from
    the page as he would type it), confirms it with the app's code and goes on past his recovery codes; a user who
    already has one types the code his app shows now (computed from his device's key)."""
    if urlsplit(page.url).path == reverse("mfa_setup"):
        key = base64.b32decode(page.locator("[data-mfa-secret]").inner_text().replace(" ", ""))
        page.fill("#id_code", f"{totp(key):06d}")
        page.locator("form[data-mfa-enrol] button[type=submit]").click()
        page.wait_for_url(re.compile(re.escape(reverse("mfa_recovery_codes"))))
        expect(page.locator("[data-recovery-codes] li")).to_have_count(10)
        page.locator("main a.btn-primary").click()
        return
    device = TOTPDevice.objects.get(user__username=username, confirmed=True)
    while TOTP(device.bin_key).t() + 1 <= device.last_t:  # the codes up to the next step's are spent: wait for one
        time.sleep(1)
    offset = 0 if TOTP(device.bin_key).t() > device.last_t else 1
    page.fill("#id_code", f"{totp(device.bin_key, drift=offset):06d}")
    page.locator("form[data-mfa-verify] button[type=submit]").click()


def create_customer(page, *, name, company, mobile) -> Customer:
    page.locator(f'#sidebar a[href="{reverse("customers:create")}"]').click()
    page.wait_for_url(re.compile(re.escape(reverse("customers:create")) + r"$"))
    page.fill("#id_name", name)
    page.fill("#id_company", company)
    page.fill("#id_mobile", mobile)
    page.locator("form:has(#id_name) button[type=submit]").click()
    page.wait_for_url(re.compile(r"/customers/\d+/$"))
    customer = Customer.objects.get(name=name)
    assert page.url.endswith(reverse("customers:detail", args=[customer.pk]))
    return customer


def search_list_without_reload(page, text, *, expect_name, hidden_name):
    """Type ``text`` in the list's search box; the results swap in through htmx, the page stays."""
    page.locator(f'#sidebar a[href="{reverse("customers:list")}"]').click()
    page.wait_for_url(re.compile(re.escape(reverse("customers:list")) + r"$"))
    results = page.locator("#listing-results")
    expect(results.locator("tbody")).to_contain_text(hidden_name)
    assert page.evaluate("typeof window.htmx") == "object", "htmx did not load from static/vendor/"
    page.evaluate("window.__e2eSamePage = true")

    def is_htmx_search(response):
        return "q=" in response.url and response.request.headers.get("hx-request") == "true"

    with page.expect_response(is_htmx_search) as searched:
        page.locator("#id_q").fill(text)
    assert searched.value.status == 200
    # hx-push-url: the address bar carries the search, so reload and back work
    query = r"[?&]q=" + r"(\+|%20)".join(re.escape(quote(part)) for part in text.split())
    expect(page).to_have_url(re.compile(query))
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results.locator("tbody tr")).to_contain_text(expect_name)
    assert page.evaluate("window.__e2eSamePage") is True, "the search reloaded the whole page"


def claim_from_pool(page, pool_customer, *, pool_link_text):
    link = page.locator(f'#sidebar a[href="{reverse("customers:list")}?view=pool"]')
    expect(link).to_contain_text(pool_link_text)
    link.click()
    page.wait_for_url(re.compile(r"[?&]view=pool"))
    detail = reverse("customers:detail", args=[pool_customer.pk])
    page.locator(f'#listing-results a[href="{detail}"]').click()
    page.wait_for_url(re.compile(re.escape(detail) + r"$"))
    claim = page.locator(f'form[action="{reverse("customers:claim", args=[pool_customer.pk])}"] button[type=submit]')
    expect(claim).to_be_visible()
    claim.click()
    page.wait_for_url(re.compile(re.escape(detail) + r"$"))
    expect(claim).to_have_count(0)  # owned now: nothing left to claim


def test_rep_creates_finds_and_claims_customers_in_english(open_page, e2e_org):
    rep = e2e_org.rep
    page = open_page("en-US")

    log_in(page, rep.username, e2e_org.password)
    assert page.locator("html").get_attribute("lang") == "en"

    customer = create_customer(page, name="Acme Robotics", company="Acme Robotics Ltd", mobile="139 0013 8000")
    assert customer.owner_id == rep.pk and customer.mobile_digits == "13900138000"
    expect(page.locator("#messages .alert-success")).to_contain_text("Customer Acme Robotics created.")
    expect(page.locator("main h1")).to_contain_text("Acme Robotics")
    expect(page.locator("#customer-tab")).to_contain_text("139 0013 8000")

    search_list_without_reload(page, "139 0013 8000", expect_name="Acme Robotics", hidden_name=e2e_org.own.name)

    claim_from_pool(page, e2e_org.pool, pool_link_text="Public pool")
    expect(page.locator("#messages .alert-success")).to_contain_text(f"You now own {e2e_org.pool.name}.")
    expect(page.locator("main")).to_contain_text(f"owner: {rep}")
    e2e_org.pool.refresh_from_db()
    assert e2e_org.pool.owner_id == rep.pk and e2e_org.pool.team_id == e2e_org.team.pk

    assert page.e2e_problems == []
    screenshot(page, "rep-journey-en")


def test_rep_journey_in_chinese_by_default(open_page, e2e_org):
    """The same journey for a browser that asks for Chinese: the site's default language."""
    rep = e2e_org.rep
    page = open_page("zh-CN")
    translated = ZH_CATALOGUE.exists()
    # With no catalogue compiled yet the pages show the English msgids; the flow is checked either way.
    zh = (lambda msgid, **values: text_in("zh-hans", msgid, **values)) if translated else None

    log_in(page, rep.username, e2e_org.password)
    assert page.locator("html").get_attribute("lang") == "zh-hans"

    name, company = "王芳", "上海恒通贸易有限公司"
    customer = create_customer(page, name=name, company=company, mobile="139 0013 8000")
    assert customer.owner_id == rep.pk and customer.mobile_digits == "13900138000"
    expect(page.locator("main h1")).to_contain_text(name)
    expect(page.locator("#customer-tab")).to_contain_text("139 0013 8000")
    created_message = page.locator("#messages .alert-success").inner_text()

    # the phone with spaces, then the two-character name
    search_list_without_reload(page, "139 0013 8000", expect_name=name, hidden_name=e2e_org.own.name)
    search_list_without_reload(page, name, expect_name=company, hidden_name=e2e_org.own.name)

    pool_link_text = zh("Public pool") if translated else "Public pool"
    claim_from_pool(page, e2e_org.pool, pool_link_text=pool_link_text)
    e2e_org.pool.refresh_from_db()
    assert e2e_org.pool.owner_id == rep.pk
    expect(page.locator("main")).to_contain_text(str(rep))
    assert page.e2e_problems == []
    screenshot(page, "rep-journey-zh")

    if not translated:
        pytest.skip(f"{ZH_CATALOGUE.relative_to(settings.BASE_DIR)} is not compiled yet: the journey ran, "
                    "but its Chinese texts cannot be checked (run compilemessages)")
    claimed = zh("You now own %(name)s.", name=e2e_org.pool.name)
    created = zh("Customer %(name)s created.", name=name)
    for text in (pool_link_text, claimed, created, zh("owner")):
        assert CJK.search(text), f"the Chinese catalogue leaves {text!r} untranslated"
    assert created in created_message
    expect(page.locator("#messages .alert-success")).to_contain_text(claimed)
    expect(page.locator("main")).to_contain_text(f"{zh('owner')}: {rep}")
    expect(page.locator("#sidebar")).to_contain_text(zh("Customers"))
