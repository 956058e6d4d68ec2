"""A manager exports his filtered customer list in a real browser: the list is filtered through htmx (no
reload), the Export menu posts what is on screen, the job's page polls until a real Celery worker has
written the file, and the download holds exactly the rows the list showed.
"""

import io
import re

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from playwright.sync_api import expect

from .conftest import PASSWORD, screenshot
from .test_rep_journey import log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def manager(e2e_org):
    from crm.accounts.roles import SALES_MANAGER
    from crm.accounts.services import team_save, user_create

    manager = user_create(username="e2e_manager", password=PASSWORD, role=SALES_MANAGER, team=e2e_org.team,
                          last_name="王", first_name="经理")
    e2e_org.team.manager = manager
    team_save(e2e_org.team)
    return manager


def test_manager_exports_the_list_as_filtered_on_screen(open_page, e2e_org, manager, live_celery_worker):
    page = open_page("en-US")
    log_in(page, manager.username, PASSWORD)

    # the list filtered by typing in its search box: htmx swaps the results, the header stays
    with page.expect_response(lambda r: "q=Existing" in r.url and r.request.headers.get("hx-request") == "true"):
        page.locator("#id_q").fill("Existing")
    expect(page.locator("#listing-results tbody tr")).to_have_count(1)

    page.locator("#export-form .dropdown-toggle").click()
    expect(page.locator("#export-form .dropdown-menu")).to_be_visible()
    screenshot(page, "export-menu-en")
    page.locator('#export-form button[name=format][value=xlsx]').click()
    page.wait_for_url(re.compile(r"/exports/\d+/$"))

    # the page polls until the worker has written the file, then offers it
    download_link = page.locator("#export-progress a[data-download]")
    expect(download_link).to_be_visible(timeout=30_000)
    expect(page.locator("#export-progress")).to_contain_text("1 row exported.")
    screenshot(page, "export-done-en")
    with page.expect_download() as downloaded:
        download_link.click()
    assert downloaded.value.suggested_filename.startswith("customers-")
    sheet = load_workbook(io.BytesIO(open(downloaded.value.path(), "rb").read()), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Customer name"
    assert [row[0] for row in rows[1:]] == [e2e_org.own.name]

    # the job is in his exports, newest first
    page.goto(reverse("exports:list"))
    expect(page.locator("#listing-results tbody tr")).to_have_count(1)
    # a click on a download link aborts the navigation it started (the browser saves the file instead)
    problems = [p for p in page.e2e_problems if not (p.endswith("net::ERR_ABORTED") and "/download/" in p)]
    assert problems == []
