"""An administrator imports a customer list kept in Excel, in a real browser and in Chinese: upload,
the column mapping the worker proposes, the check of every row, the rejected rows as a workbook, the
import of the valid rows, and its undo. A real Celery worker (``live_celery_worker``) does the work; the
page polls through htmx while the job runs and reloads itself (HX-Refresh) when it stops.

Selectors are ids, names and hrefs; visible texts are asserted through the compiled Chinese catalogue.
"""

import io
import re
import threading
from types import SimpleNamespace

import pytest
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import translation
from django.utils.timezone import localtime
from openpyxl import load_workbook
from playwright.sync_api import expect

from crm.celery import app
from crm.imports.models import ImportJob
from customers import services as customer_services
from customers.models import Customer
from tests.factories import PASSWORD
from tests.imports.conftest import xlsx_bytes

from .conftest import screenshot
from .test_rep_journey import CJK, ZH_CATALOGUE, log_in, text_in

pytestmark = pytest.mark.e2e

WAIT = 30_000  # ms: the worker shares the machine with whatever else runs on it
FILE_NAME = "客户名单.xlsx"
HEADERS = ["客户名称", "公司名称", "手机号码", "邮箱", "省份", "客户等级"]
PROPOSED = ["name", "company", "mobile", "email", "province", "level"]
SURNAMES = "王李张刘杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
         "霞", "平", "刚", "桂英", "华", "建国", "文", "辉", "玲"]
PLACES = [("上海", "上海"), ("广东", "深圳"), ("浙江", "杭州"), ("江苏", "苏州"), ("北京", "北京"), ("四川", "成都")]
TRADES = ["恒通贸易", "华信科技", "鼎盛机械", "新联电子", "瑞丰食品", "启明软件", "永安物流"]


def zh(msgid: str, **values) -> str:
    return text_in("zh-hans", msgid, **values)


def zh_n(singular: str, plural: str, count: int, **values) -> str:
    """A {% blocktranslate count counter=... %} text as the Chinese page shows it."""
    with translation.override("zh-hans"):
        text = translation.ngettext(singular, plural, count)
    return text % {"counter": count, **values}


# ------------------------------------------------------------------------------------------- the file


def customer_list_file(existing: Customer) -> SimpleNamespace:
    """27 valid rows, the fifth repeated with its mobile typed with spaces, one row for a customer the
    CRM already has, one with a 5-digit mobile; a title row above the headers, as people keep them."""
    valid = []
    for i in range(27):
        province, city = PLACES[i % len(PLACES)]
        mobile = 13900000001 + i  # a number cell, as Excel keeps a typed mobile
        valid.append([SURNAMES[i] + GIVEN[i], f"{city}{TRADES[i % len(TRADES)]}有限公司", mobile,
                      f"client{i + 1:02d}@example.cn", province, "ABC"[i % 3]])
    repeated = [*valid[4][:2], "139 0000 0005", *valid[4][3:]]
    known = [existing.name, existing.company, "137 0000 1111", "", "四川", "B"]
    invalid = ["钱多多", "南京钱氏五金有限公司", "12345", "qian@example.cn", "江苏", "C"]
    data = valid[:10] + [repeated] + valid[10:18] + [known] + valid[18:24] + [invalid] + valid[24:]
    first_data_row = 3  # row 1: the title, row 2: the headers
    number = {id(row): first_data_row + index for index, row in enumerate(data)}
    content = xlsx_bytes([["2026年客户名单"], HEADERS, *data], merge=["A1:F1"])
    return SimpleNamespace(content=content, valid=valid, rows=len(data), row_of=lambda row: number[id(row)],
                           repeated=repeated, known=known, invalid=invalid)


# ------------------------------------------------------------------------------ a worker held busy

# The worker reads a small file in a fraction of a second, often before the browser has shown the job's
# page at all. To see the page poll, the worker is first kept busy with another task (one task at a time:
# start_worker's solo pool) until the test has seen a poll; the file's task waits in the queue meanwhile.
WORKER_HELD = threading.Event()
WORKER_FREED = threading.Event()


@app.task(name="tests.e2e.test_import_journey.keep_the_worker_busy")
def keep_the_worker_busy():
    WORKER_HELD.set()
    WORKER_FREED.wait(WAIT / 1000 * 2)


@pytest.fixture
def busy_worker(live_celery_worker):
    WORKER_HELD.clear()
    WORKER_FREED.clear()
    keep_the_worker_busy.delay()
    assert WORKER_HELD.wait(WAIT / 1000), "the test worker did not take its first task"
    try:
        yield SimpleNamespace(release=WORKER_FREED.set)
    finally:
        WORKER_FREED.set()


@pytest.fixture
def patient(open_page):
    """Waits of WAIT instead of Playwright's 5 s (expect) and the conftest's 10 s (actions, events), for this
    test only: the worker and the live server may share the machine with a benchmark."""
    previous = getattr(expect, "_timeout", None)
    expect.set_options(timeout=WAIT)

    def make(locale):
        page = open_page(locale)
        page.set_default_timeout(WAIT)
        return page

    try:
        yield make
    finally:
        expect.set_options(timeout=previous)


# ----------------------------------------------------------------------------------------- the steps


def is_status_poll(response) -> bool:
    return "part=status" in response.url and response.request.headers.get("hx-request") == "true"


def upload_while_the_worker_is_busy(page, path) -> ImportJob:
    page.locator(f'#sidebar a[href="{reverse("imports:list")}"]').click()
    page.wait_for_url(re.compile(re.escape(reverse("imports:list")) + r"$"))
    expect(page.locator("main h1")).to_have_text(zh("Imports"))
    page.locator(f'main a[href="{reverse("imports:new")}"]').click()
    page.wait_for_url(re.compile(re.escape(reverse("imports:new")) + r"$"))
    if page.locator("select#id_resource").count():  # shown only when the user may import several kinds
        page.locator("#id_resource").select_option("customers.customer")
    page.locator("#id_file").set_input_files(path)
    page.locator("#upload-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/imports/\d+/$"))
    job = ImportJob.objects.get()
    assert page.url.endswith(reverse("imports:detail", args=[job.pk]))
    return job


def see_the_page_poll_then_reload(page, job, worker):
    status = page.locator("#job-status")
    expect(status).to_have_attribute("hx-trigger", "every 1s")
    expect(status).to_contain_text(zh("Reading the file…"))
    expect(page.locator("main .badge").first).to_have_text(zh("Reading the file"))
    page.evaluate("window.__e2eBeforeRefresh = true")
    polled = page.wait_for_event("response", is_status_poll)
    assert polled.status == 200 and polled.text().lstrip().startswith('<div id="job-status"')
    job.refresh_from_db()
    assert job.status == "uploaded"

    with page.expect_response(lambda r: is_status_poll(r) and r.status == 204) as finished:
        worker.release()
    assert finished.value.headers.get("hx-refresh") == "true"
    expect(page.locator("#mapping-table")).to_be_visible()
    assert page.evaluate("window.__e2eBeforeRefresh") is None, "the page did not reload itself"
    assert status.get_attribute("hx-trigger") is None  # polling has stopped


def check_the_mapping(page, sheet):
    expect(page.locator("main .badge").first).to_have_text(zh("Waiting for the column mapping"))
    expect(page.locator("main")).to_contain_text(zh("headers in row %(row)s", row=2))
    rows = page.locator("#mapping-table tbody tr")
    expect(rows).to_have_count(len(HEADERS))
    for index, (header, field) in enumerate(zip(HEADERS, PROPOSED, strict=True)):
        expect(rows.nth(index).locator("td").first).to_have_text(header)
        expect(page.locator(f"#id_col_{index}")).to_have_value(field)
    names = " · ".join(row[0] for row in sheet.valid[:3])
    expect(rows.nth(0).locator("td").nth(1)).to_have_text(names)


def check_the_preview(page, job, sheet):
    expect(page.locator('[data-count="create"]')).to_have_text("27")
    expect(page.locator("main .badge").first).to_have_text(zh("Ready to import"))
    for action, count, label in [("create", 27, "new"), ("update", 0, "update"), ("skip", 1, "duplicates skipped"),
                                 ("file_duplicate", 1, "repeated in the file"), ("invalid", 1, "invalid")]:
        expect(page.locator(f'[data-count="{action}"]')).to_have_text(str(count))
        expect(page.locator(f'[data-count="{action}"] + div')).to_have_text(zh(label))

    preview = page.locator("#preview-table tbody tr")
    expect(preview).to_have_count(20)
    first = sheet.valid[0]
    cells = [str(sheet.row_of(first)), zh("new"), first[0], first[1], "139 0000 0001", first[3], "上海市",
             zh("A · Key account")]
    expect(preview.first.locator("td")).to_have_text(cells)

    duplicates = page.locator("#duplicates-table tbody tr")
    expect(duplicates).to_have_count(2)
    expect(duplicates.nth(0).locator("td").nth(0)).to_have_text(str(sheet.row_of(sheet.repeated)))
    expect(duplicates.nth(0).locator("td").nth(1)).to_have_text(
        zh("same as row %(other)s", other=sheet.row_of(sheet.valid[4])))
    expect(duplicates.nth(1).locator("td").nth(0)).to_have_text(str(sheet.row_of(sheet.known)))
    expect(duplicates.nth(1).locator("td").nth(1)).to_have_text(zh("already exists"))

    problems = page.locator("#problems-table tbody tr")
    expect(problems).to_have_count(1)
    reason = zh("%(value)s is not a valid phone number.", value="12345")
    expect(problems.first.locator("td")).to_have_text([str(sheet.row_of(sheet.invalid)), "手机号码", reason])

    commit = reverse("imports:commit", args=[job.pk])
    import_button = page.locator(f'form[action="{commit}"]:not(:has(input[name=skip_invalid])) button')
    expect(import_button).to_have_text(zh("Import"))
    expect(import_button).to_be_disabled()
    warning = page.locator(".alert-warning:has(input[name=skip_invalid])")
    expect(warning).to_contain_text(zh_n(
        "%(counter)s row is invalid. Fix it in the file and upload it again, or import the other rows without it.",
        "%(counter)s rows are invalid. Fix them in the file and upload it again, or import the other rows without "
        "them.", 1))
    return reason


def download_the_rejected_rows(page, job, sheet, reason) -> str:
    url = reverse("imports:errors", args=[job.pk])
    link = page.locator(f'.alert-warning a[href="{url}"]')
    expect(link).to_have_text(zh("Download the rejected rows (.xlsx)"))
    # A link to an attachment starts a navigation that the browser aborts when it sees the attachment, and
    # saves the file instead: that one "failed" request is the download itself, read in full below.
    with page.expect_event("requestfailed", lambda r: r.url.endswith(url)) as aborted:
        with page.expect_download() as downloaded:
            link.click()
    assert aborted.value.failure == "net::ERR_ABORTED"
    page.e2e_problems.remove(f"failed {aborted.value.url}: {aborted.value.failure}")
    # the download is saved under a name of Playwright's own, with no extension openpyxl would accept
    workbook = load_workbook(io.BytesIO(downloaded.value.path().read_bytes()), read_only=True)
    assert workbook.sheetnames == [zh("Rejected rows")]
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    assert rows[0] == (*HEADERS, zh("Reason"), zh("Row in the original file"))
    assert len(rows) == 2, rows
    assert rows[1][:6] == tuple(sheet.invalid)
    assert rows[1][6] == f"手机号码: {reason}"
    assert rows[1][7] == sheet.row_of(sheet.invalid)
    return downloaded.value.suggested_filename


def import_the_valid_rows(page, job):
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    commit = reverse("imports:commit", args=[job.pk])
    skip_invalid = page.locator(f'.alert-warning form[action="{commit}"]:has(input[name=skip_invalid]) button')
    expect(skip_invalid).to_have_text(zh("Import the valid rows, leave out the invalid ones"))
    skip_invalid.click()
    expect(page.locator("main .badge").first).to_have_text(zh("Imported"))
    assert dialogs == [zh("Import now? %(new)s new records will be created and %(updated)s updated; the invalid "
                          "rows are left out.", new=27, updated=0)]
    job.refresh_from_db()
    expect(page.locator(f'main .alert-success:has(a[href="{reverse("customers:list")}"])')).to_contain_text(
        zh("Imported at %(when)s.", when=date_filter(localtime(job.committed_at), "Y-m-d H:i")))


def find_one_in_the_customer_list(page, customer):
    page.locator(f'main .alert-success a[href="{reverse("customers:list")}"]').click()
    page.wait_for_url(re.compile(re.escape(reverse("customers:list")) + r"$"))
    with page.expect_response(lambda r: "q=" in r.url and r.request.headers.get("hx-request") == "true"):
        page.locator("#id_q").fill(customer.name)
    rows = page.locator("#listing-results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(f'a[href="{reverse("customers:detail", args=[customer.pk])}"]')).to_have_text(
        customer.name)
    expect(rows.first).to_contain_text(customer.company)


def undo_the_import(page, job, admin):
    page.locator(f'#sidebar a[href="{reverse("imports:list")}"]').click()
    page.wait_for_url(re.compile(re.escape(reverse("imports:list")) + r"$"))
    listed = page.locator("main tbody tr")
    expect(listed).to_have_count(1)
    expect(listed.first.locator(".badge")).to_have_text(zh("Imported"))
    listed.first.locator(f'a[href="{reverse("imports:detail", args=[job.pk])}"]').click()

    undo = page.locator(f'main a[href="{reverse("imports:undo", args=[job.pk])}"]')
    expect(undo).to_have_text(zh("Undo this import"))
    undo.click()
    page.wait_for_url(re.compile(re.escape(reverse("imports:undo", args=[job.pk])) + r"$"))
    expect(page.locator("main h1")).to_have_text(zh("Undo the import of %(name)s?", name=FILE_NAME))
    expect(page.locator("main li").first).to_have_text(zh_n(
        "%(counter)s record it created moves to the recycle bin (an administrator can restore it).",
        "%(counter)s records it created move to the recycle bin (an administrator can restore them).", 27))
    confirm = page.locator(f'main form:has(a[href="{reverse("imports:detail", args=[job.pk])}"]) button[type=submit]')
    expect(confirm).to_have_text(zh("Undo the import"))
    confirm.click()
    expect(page.locator("main .badge").first).to_have_text(zh("Undone"))
    job.refresh_from_db()
    expect(page.locator("main .alert-secondary")).to_have_text(zh(
        "Undone at %(when)s by %(who)s: %(binned)s new records moved to the recycle bin, %(restored)s updated "
        "records given back their earlier values, %(kept)s left as they are because they were changed after the "
        "import.", when=date_filter(localtime(job.undone_at), "Y-m-d H:i"), who=admin, binned=27, restored=0, kept=0))


# ------------------------------------------------------------------------------------------ the test


def test_admin_imports_checks_and_undoes_a_customer_list_in_chinese(
    patient, admin_user, sales_rep, busy_worker, tmp_path
):
    if not ZH_CATALOGUE.exists():
        pytest.skip("the Chinese catalogue is not compiled (run compilemessages)")
    # given: a customer the CRM already has, and the list as the administrator keeps it in Excel
    existing = customer_services.customer_create(
        actor=sales_rep, data={"name": "欧阳明月", "company": "成都锦江明月餐饮有限公司", "mobile": "+8613700001111"}
    )
    sheet = customer_list_file(existing)
    path = tmp_path / FILE_NAME
    path.write_bytes(sheet.content)
    page = patient("zh-CN")
    log_in(page, admin_user.username, PASSWORD)
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    expect(page.locator(f'#sidebar a[href="{reverse("imports:list")}"]')).to_have_text(zh("Imports"))

    # 1. the upload; the page polls while the worker is busy, and reloads itself once the file is read
    job = upload_while_the_worker_is_busy(page, path)
    assert job.file_name == FILE_NAME and job.language == "zh-hans"
    see_the_page_poll_then_reload(page, job, busy_worker)
    check_the_mapping(page, sheet)
    job.refresh_from_db()
    assert (job.status, job.header_row, job.total_rows) == ("parsed", 2, sheet.rows)

    # 2. the check of every row
    check_button = page.locator("#mapping-form button[type=submit]")
    expect(check_button).to_have_text(zh("Check the rows"))
    check_button.click()
    reason = check_the_preview(page, job, sheet)
    screenshot(page, "import-preview-zh")

    # 3. the rejected rows, as a workbook to fix
    filename = download_the_rejected_rows(page, job, sheet, reason)
    stem, suffix = FILE_NAME.removesuffix(".xlsx"), zh("rejected rows")
    assert filename == f"{stem}-{suffix}.xlsx"

    # 4. the valid rows imported, the invalid one left out
    import_the_valid_rows(page, job)
    imported = Customer.objects.filter(created_by=admin_user)
    assert imported.count() == 27
    assert set(imported.values_list("owner", "team", "source")) == {(admin_user.pk, admin_user.team_id, "import")}
    assert sorted(imported.values_list("name", flat=True)) == sorted(row[0] for row in sheet.valid)
    assert Customer.objects.filter(mobile_digits="13900000005").count() == 1  # the repeated row: once
    assert imported.get(mobile_digits="13900000002").province == "广东省"
    existing_now = Customer.objects.get(pk=existing.pk)
    assert (existing_now.owner_id, existing_now.updated_at) == (sales_rep.pk, existing.updated_at)
    assert not Customer.objects.filter(name=sheet.invalid[0]).exists()
    find_one_in_the_customer_list(page, imported.get(mobile_digits="13900000027"))

    # 5. undone: what it created goes to the recycle bin
    undo_the_import(page, job, admin_user)
    assert Customer.objects.alive().filter(created_by=admin_user).count() == 0
    binned = Customer.objects.in_recycle_bin()
    assert binned.count() == 27 and set(binned.values_list("deleted_by", flat=True)) == {admin_user.pk}
    assert Customer.objects.alive().get() == existing
    page.locator(f'#sidebar a[href="{reverse("customers:recycle_bin")}"]').click()
    page.wait_for_url(re.compile(re.escape(reverse("customers:recycle_bin")) + r"$"))
    bin_rows = page.locator("main tbody tr")
    expect(bin_rows).to_have_count(25)  # a page of them
    for name in bin_rows.locator("td:first-child").all_inner_texts():
        assert name in {row[0] for row in sheet.valid}

    assert page.e2e_problems == []
    screenshot(page, "import-journey-zh")

    # The rejected rows file is named in the page's language too (客户名单-未通过的行.xlsx).
    assert CJK.search(suffix), filename
