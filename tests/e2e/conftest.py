"""Browser tests: Playwright (Python, sync API) driving Debian's Chromium against pytest-django's live_server.

Self-sufficient on purpose: the organisation is made here through crm.accounts.services, not through the
shared fixtures, so these tests only depend on the application.

- Playwright's own browser download is not used; CRM_CHROMIUM (default /usr/bin/chromium) is launched.
- Playwright's sync API runs an event loop in the test's thread, so Django's ORM would refuse to run there
  without DJANGO_ALLOW_ASYNC_UNSAFE; set here too, so that a bare ``pytest tests/e2e`` works.
- live_server flushes every table after each test and flushing re-sends post_migrate, which re-creates
  the roles (crm.accounts.roles.sync_roles); ``e2e_org`` checks that they are there before using them.
- Screenshots go to bench/out/ (git-ignored): one at the end of each test, one more when a test fails.
"""

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "bench" / "out"
CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
PASSWORD = "e2e-Passw0rd-2026"


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Lets the page fixture know at teardown whether the test failed.
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"e2e_report_{report.when}", report)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CRM_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"e2e-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def open_page(browser, live_server, request):
    """``open_page(locale)``: a fresh browser context (no cookies) whose pages ask for ``locale``
    (Accept-Language, which Django's LocaleMiddleware follows). Static files that fail to load and
    JavaScript errors are collected on ``page.e2e_problems``."""
    contexts = []
    pages = []

    def make(locale: str = "en-US"):
        context = browser.new_context(locale=locale, viewport={"width": 1366, "height": 900}, base_url=live_server.url)
        context.set_default_timeout(10_000)
        page = context.new_page()
        problems = []
        page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("requestfailed", lambda r: problems.append(f"failed {r.url}: {r.failure}"))
        page.e2e_problems = problems
        contexts.append(context)
        pages.append(page)
        return page

    yield make
    failed = getattr(request.node, "e2e_report_call", None)
    for i, page in enumerate(pages):
        if failed is not None and failed.failed and not page.is_closed():
            screenshot(page, f"{request.node.name}-failed-{i}")
    for context in contexts:
        context.close()


@pytest.fixture
def e2e_org(transactional_db):
    """A sales rep in 上海组 with one customer of his own, and one customer in the public pool."""
    from django.contrib.auth.models import Group

    from crm.accounts.roles import ALL_ROLES, SALES_REP
    from crm.accounts.services import team_create, user_create
    from customers import services
    from customers.models import Customer

    present = set(Group.objects.filter(name__in=ALL_ROLES).values_list("name", flat=True))
    assert present == set(ALL_ROLES), f"roles missing in the test database: {set(ALL_ROLES) - present}"

    east = team_create(name="华东销售部")
    shanghai = team_create(name="上海组", parent=east)
    rep = user_create(
        username="e2e_rep", password=PASSWORD, role=SALES_REP, team=shanghai, last_name="张", first_name="伟",
        email="e2e_rep@example.com",
    )
    own = services.customer_create(
        actor=rep,
        data={"name": "既有客户 Existing Ltd", "company": "既有客户 Existing Ltd", "mobile": "+8613812345678"},
    )
    pool = Customer.objects.create(
        name="公海客户 Pool Trading", company="深圳公海贸易有限公司", mobile="+8613700137000", owner=None,
    )
    return SimpleNamespace(rep=rep, password=PASSWORD, own=own, pool=pool, team=shanghai)
