"""Two-factor authentication in a real browser: an administrator's first login takes him to the set-up page (QR code
and key, no menus), he confirms with his app's code and sees his recovery codes; his next login asks for a code.
"""

import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from crm.accounts.roles import ADMIN
from crm.accounts.services import user_create

from .conftest import PASSWORD, screenshot
from .test_rep_journey import log_in, pass_second_step

pytestmark = pytest.mark.e2e


def test_admin_enrols_at_first_login_then_signs_in_with_a_code(open_page, transactional_db):
    admin = user_create(username="e2e_mfa_admin", password=PASSWORD, role=ADMIN, last_name="管理员", first_name="系统")
    page = open_page("en-US")
    # his first login stops at the set-up page: a QR code drawn inline, the key as text, no sidebar
    page.goto(reverse("login"))
    page.fill("#id_username", admin.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form:has(#id_password) button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(reverse("mfa_setup"))))
    expect(page.locator("[data-mfa-qr] svg")).to_be_visible()
    expect(page.locator("[data-mfa-secret]")).to_have_text(re.compile(r"^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$"))
    expect(page.locator("#sidebar")).to_have_count(0)
    box = page.locator("[data-mfa-qr] svg").bounding_box()
    assert box["width"] >= 150 and box["height"] >= 150  # big enough for a phone's camera
    screenshot(page, "mfa-enrolment")
    # in a fresh browser session the shared helper logs in and enrols as a person would (the key read off the page)
    page.context.clear_cookies()
    log_in(page, admin.username, PASSWORD)
    assert urlsplit(page.url).path == reverse("customers:list")
    expect(page.locator(f'#sidebar a[href="{reverse("mfa_policy")}"]')).to_be_visible()
    # signing out and in again asks for a code, which the helper types
    page.locator("#user-menu").click()
    page.locator('form[action="/accounts/logout/"] button').click()
    page.wait_for_url(re.compile(re.escape(reverse("login"))))
    page.fill("#id_username", admin.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form:has(#id_password) button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(reverse("mfa_verify"))))
    expect(page.locator("#sidebar")).to_have_count(0)
    screenshot(page, "mfa-verify")
    pass_second_step(page, admin.username)
    page.wait_for_url(re.compile(re.escape(reverse("home")) + r"$"))
    expect(page.locator("#sidebar")).to_be_visible()
    assert page.e2e_problems == []
