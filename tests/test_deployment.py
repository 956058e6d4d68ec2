"""Deployment hardening that a user or an auditor would notice: production settings pass Django's deployment
checks and send the security headers (HSTS, Content-Security-Policy, Permissions-Policy, nosniff, referrer
policy), every page of the main flows carries the Content-Security-Policy and has no inline script for it to
block, and pages with customer data are never kept by a browser or proxy cache."""

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from django.urls import reverse

from sales.models import Pipeline
from tests.factories import CustomerFactory
from tests.factories.sales_commerce import make_quote
from tests.factories.sales_pipeline import OpportunityFactory

ROOT = Path(__file__).resolve().parent.parent


def production_env() -> dict:
    """The environment of a production process: the settings module and the values it refuses to start without."""
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE is for tests only; a deployment never sets it.
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return env | {
        "DJANGO_SETTINGS_MODULE": "crm.settings.production",
        "DJANGO_SECRET_KEY": "a-long-random-secret-for-this-test-only-7f3k2m9q1z8x4c6v5b0n3m2l1k9j8h7g6f5",
        "DJANGO_ALLOWED_HOSTS": "crm.example.com",
        # Sensitive custom fields' keys (crm.fieldcrypto), for this test only.
        "CRM_FIELD_ENCRYPTION_KEYS": "Y3NwLWRlcGxveW1lbnQtdGVzdC1vbmx5LTMyYnl0ZXM=",
        "CRM_BLIND_INDEX_KEY": "blind-index-secret-for-this-test-only-4k8m2q",
    }


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"] if isinstance(response, dict) else response.headers.get(
        "Content-Security-Policy", "")
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def assert_strict_policy(directives: dict, where: str) -> None:
    """Scripts only from the CRM's own files (no inline script, no eval), nothing frames the page."""
    assert directives.get("default-src") == ["'self'"], where
    assert directives.get("script-src") == ["'self'"], where
    assert directives.get("style-src") == ["'self'"], where  # no <style> element; style="" is style-src-attr's
    assert directives.get("img-src") == ["'self'", "data:"], where
    assert directives.get("object-src") == ["'none'"], where
    assert directives.get("base-uri") == ["'self'"], where
    assert directives.get("form-action") == ["'self'"], where
    assert directives.get("frame-ancestors") == ["'none'"], where


def test_production_settings_pass_the_deployment_checks_without_a_warning():
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=production_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_pages_with_customer_data_are_not_stored(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    client = client_as(sales_rep)
    for url in (reverse("customers:list"), customer.get_absolute_url(), reverse("home")):
        cache_control = client.get(url)["Cache-Control"]
        assert "no-store" in cache_control and "private" in cache_control, url



# A production process answering one request, as gunicorn behind the TLS proxy would (X-Forwarded-Proto: https),
# and the same request over plain http. The database is unreachable on purpose: the login page needs none. Only the
# static files' storage is swapped, since the manifest exists only after collectstatic.
PRODUCTION_REQUEST = """
import json

import django
from django.test import Client
from django.test.utils import override_settings

django.setup()
storage = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
with override_settings(STORAGES=storage):
    client = Client(HTTP_HOST="crm.example.com")
    page = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    plain = client.get("/accounts/login/")
print(json.dumps({"status": page.status_code, "headers": dict(page.headers), "plain_status": plain.status_code,
                  "plain_location": plain.headers.get("Location")}))
"""


def test_production_pages_carry_the_security_headers():
    env = production_env() | {"DATABASE_URL": "postgres://nobody:nothing@127.0.0.1:9/none",
                              "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", PRODUCTION_REQUEST], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    headers = answer["headers"]
    assert answer["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "camera=()" in headers["Permissions-Policy"] and "geolocation=()" in headers["Permissions-Policy"]
    assert_strict_policy(csp_directives(headers), "production login page")
    # and plain http is sent to https
    assert answer["plain_status"] == 301
    assert answer["plain_location"] == "https://crm.example.com/accounts/login/"


class InlineCode(HTMLParser):
    """What a strict script-src would block in a page: <script> without src (JSON data blocks excepted),
    on*= handler attributes, javascript: URLs, htmx's hx-on attributes (evaluated code)."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src") and attributes.get("type") != "application/json":
            self.found.append(self.get_starttag_text())
        for name, value in attrs:
            if re.fullmatch(r"on[a-z]+", name) or name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"{tag} {name}={value!r}")
            elif name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                    "javascript:"):
                self.found.append(f"{tag} {name}={value!r}")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def test_every_page_of_the_main_flows_is_served_with_the_content_security_policy(client_as, admin_user, client):
    # given: an administrator's customer with an opportunity on the board and a quote
    customer = CustomerFactory(owner=admin_user, team=admin_user.team)
    OpportunityFactory(owner=admin_user, customer=customer)
    quote = make_quote(actor=admin_user, customer=customer)
    pipeline = Pipeline.objects.get(is_default=True)
    pages = [
        reverse("home"), reverse("customers:list"), customer.get_absolute_url(), reverse("sales:board"),
        reverse("sales:pipeline_board", args=[pipeline.pk]), reverse("reports:index"),
        reverse("reports:report", args=["funnel"]), reverse("sales:quote_detail", args=[quote.pk]),
        reverse("sales:quote_print", args=[quote.pk]), reverse("imports:new"), reverse("imports:list"),
        # the admin, where a library's own template had an inline script (templates/admin/djcelery)
        reverse("admin:index"), reverse("admin:django_celery_beat_periodictask_add"),
    ]
    admin = client_as(admin_user)
    for url in pages:
        # when: he opens each page
        response = admin.get(url)
        # then: the browser is told to run only the CRM's own script files, and the page has no other script
        assert response.status_code == 200, url
        assert_strict_policy(csp_directives(response), url)
        assert response.headers["Permissions-Policy"].startswith("accelerometer=()"), url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Referrer-Policy"] == "same-origin", url
        assert inline_code(response.content.decode()) == [], url
    # and the sign-in page, before anyone has signed in
    login = client.get(reverse("login"))
    assert_strict_policy(csp_directives(login), "login")
    assert inline_code(login.content.decode()) == []


def test_the_web_to_lead_form_may_be_framed_by_the_sites_the_admin_names(client, settings, db):
    # The form is made to be embedded on the company's website; every other page may not be framed at all.
    form = client.get(reverse("sales:lead_web_form"))
    assert csp_directives(form)["frame-ancestors"] == ["*"]
    assert csp_directives(form)["script-src"] == ["'self'"]
    assert "X-Frame-Options" not in form.headers
    settings.CRM_LEAD_FORM_FRAME_ANCESTORS = ["https://www.example.com", "https://shop.example.com"]
    for url in (reverse("sales:lead_web_form"), reverse("sales:lead_web_form_thanks")):
        assert csp_directives(client.get(url))["frame-ancestors"] == ["https://www.example.com",
                                                                     "https://shop.example.com"], url
    assert csp_directives(client.get(reverse("login")))["frame-ancestors"] == ["'none'"]


# What a strict script-src blocks, as it is written in a template: a <script> without src, an on*= handler, a
# javascript: URL, an hx-on attribute. {% ... %} and {{ ... }} are left in; json_script writes its <script> itself.
TEMPLATE_INLINE_CODE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:|\bhx-on", re.IGNORECASE)


def test_no_template_has_inline_script_or_handlers():
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")) + sorted((ROOT / "templates").rglob("*.txt")):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}", "", text, flags=re.DOTALL)
        found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in TEMPLATE_INLINE_CODE.finditer(text)]
    assert found == []
