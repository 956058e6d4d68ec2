"""Hostile uploads: files to import (through the import pages and the worker's steps), and attachments of
interactions and contracts.

What tests/imports/test_hostile_files.py already covers (not repeated here): files over the size limit, noise /
PDF / PNG / EXE named .xlsx refused by the service, HTML and XML "Excel", UTF-16, NUL bytes in a CSV (near its start
and further down), neither-UTF-8-nor-GBK text, truncated and corrupt zips, zip bombs, too many parts or rows, XML
entities, formula-looking cells stored as text. Here: the same refusals as the importer meets them on the pages,
and what was missing - a workbook claiming a million columns, a CSV mixing UTF-8 and GBK, a 1 MB cell, formulas in
every column taken through import and export, and hostile file names.
"""

import csv
import io
import random
import re
import string
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from crm.exports import services as export_services
from crm.imports import files, services
from crm.imports.models import ImportJob, ImportRow
from customers.models import Customer
from interactions.models import Attachment
from sales.models import ContractAttachment
from tests.imports.conftest import commit, run_to_preview, upload, xlsx_bytes
from tests.imports.test_hostile_files import _exe, _png, rezip

from .corpus import IMG, SCRIPT

A_LIST = [["姓名", "手机", "备注"], ["张三", "13812345678", "老客户"], ["李四", "13912345678", "新客户"]]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def _upload_page(client, content: bytes, name: str):
    return client.post(reverse("imports:new"), {"resource": "customers.customer", "file": upload(content, name)})


def _job_page(client, job) -> str:
    page = client.get(reverse("imports:detail", args=[job.pk]))
    assert page.status_code == 200
    return page.content.decode()


# ----------------------------------------------------------------------------------------- refused on the page


@pytest.mark.parametrize(("content", "message"), [
    (b"", "The file is empty."),
    (_exe(), "This is not a spreadsheet"),
    (_png(), "This is not a spreadsheet"),
], ids=["0-byte", "exe-named-xlsx", "png-named-xlsx"])
def test_the_upload_page_refuses_what_is_no_spreadsheet(client_as, admin_user, content, message):
    response = _upload_page(client_as(admin_user), content, "客户名单.xlsx")
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get("file", []))
    # an empty upload is refused by the form itself (Django: "The submitted file is empty.")
    assert message in errors or (not content and "empty" in errors), errors
    assert not ImportJob.objects.exists() and not Customer.objects.exists()


def test_a_file_name_with_markup_is_shown_escaped_on_the_job_pages(client_as, admin_user):
    client = client_as(admin_user)
    response = _upload_page(client, xlsx_bytes(A_LIST), f"{IMG.value}.xlsx")
    assert response.status_code == 302
    job = ImportJob.objects.get()
    for html in (_job_page(client, job), client.get(reverse("imports:list")).content.decode()):
        assert IMG.raw not in html
        assert IMG.escaped in html


# ---------------------------------------------------------------------------------------- failed by the worker


def _failed_on_the_page(client, admin_user, content: bytes, name: str) -> str:
    """Upload through the page, read as the worker does; the job failed, wrote nothing, and its page says why."""
    response = _upload_page(client, content, name)
    assert response.status_code == 302, response.context and response.context["form"].errors
    job = ImportJob.objects.get()
    services.import_job_parse(job.pk)
    job.refresh_from_db()
    if job.status == "parsed":  # the rows are checked next (as the worker goes on after the mapping page)
        services.import_job_configure(actor=admin_user, job=job, sheet="", header_row=None, mapping=job.mapping,
                                      duplicate_mode="skip", owner_mode="me", owner=None, skip_invalid=False)
        services.import_job_validate(job.pk)
        job.refresh_from_db()
    assert job.status == "failed", (job.status, job.counts, job.error)
    assert not Customer.objects.exists()
    html = _job_page(client, job)
    assert job.error and job.error.split(":")[0] in html.replace("&quot;", '"').replace("&#x27;", "'")
    return job.error


def test_a_truncated_workbook_fails_on_its_page(client_as, admin_user):
    content = xlsx_bytes(A_LIST)
    error = _failed_on_the_page(client_as(admin_user), admin_user, content[: len(content) // 2], "客户名单.xlsx")
    assert error == "The .xlsx file is damaged and cannot be opened."


@pytest.mark.parametrize("cell", [
    '<c r="{ref}" t="inlineStr"><is><t>远方</t></is></c>',  # as Excel writes it: read by the fast scan
    '<c t="inlineStr" r="{ref}"><is><t>远方</t></is></c>',  # r after another attribute
    '<c\nr="{ref}" t="inlineStr"><is><t>远方</t></is></c>',  # a line break after the tag name
    '<x:c xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" r="{ref}"/>',  # a namespace prefix
    "<c r='{ref}' t=\"inlineStr\"><is><t>远方</t></is></c>",  # single quotes, which calamine reads too
    '<c r="{lower}" t="inlineStr"><is><t>远方</t></is></c>',  # a reference in lower case, which calamine reads too
])
@pytest.mark.parametrize("ref, words", [("ZZZZ1", "ZZZZ"), ("AX1048576", "too large to read")])
def test_a_far_cell_is_found_however_its_tag_is_written(cell, ref, words, tmp_path):
    path = _with_sheet(tmp_path, lambda sheet: sheet.replace(
        "</row>", cell.format(ref=ref, lower=ref.lower()) + "</row>", 1))
    with translation.override("en"), pytest.raises(files.FileProblem, match=words):
        files.check_xlsx(path)


@pytest.mark.parametrize("cell", [
    '<c r="XFE1" t="inlineStr"><is><t>远方</t></is></c>',
    '<c t="inlineStr" r="XFE1"><is><t>远方</t></is></c>',
    "<c r='xfe1'><v>1</v></c>",
    '<c r="XFD1"><v>1</v></c><c><v>2</v></c>',  # a cell without reference goes after the one before it
])
def test_a_workbook_read_row_by_row_refuses_a_cell_past_the_last_column(cell, tmp_path, settings):
    settings.CRM_IMPORT_STREAM_FROM_BYTES = 0  # read as the workbooks too large to hold whole are
    path = _with_sheet(tmp_path, lambda sheet: sheet.replace("</row>", cell + "</row>", 1))
    files.check_xlsx(path)  # no grid is built: the guard leaves the far cells to the reader
    with translation.override("en"), pytest.raises(files.FileProblem, match="column XFE, past Excel's last column"):
        list(files.read_rows(path, "xlsx"))


def test_a_workbook_read_row_by_row_refuses_rows_too_wide_to_hold(tmp_path, settings):
    settings.CRM_IMPORT_STREAM_FROM_BYTES = 0
    # 3,100 rows each reaching column XFD: 50.8 million cells as the rows are read, past the 50 million calamine
    # may hold
    far = "".join(f'<row r="{n}"><c r="XFD{n}"><v>1</v></c></row>' for n in range(4, 3_104))
    path = _with_sheet(tmp_path, lambda sheet: sheet.replace("</sheetData>", far + "</sheetData>"))
    with translation.override("en"), pytest.raises(files.FileProblem, match="3,052 rows by 16,384 columns, too large"):
        list(files.read_rows(path, "xlsx"))


def _with_sheet(tmp_path, change) -> Path:
    """A_LIST as an .xlsx whose sheet XML went through ``change``."""
    content = xlsx_bytes(A_LIST)
    sheet = change(zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml").decode())
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(rezip(content, replace={"xl/worksheets/sheet1.xml": sheet.encode()}))
    return path


@pytest.mark.parametrize("cell", ['<c t="inlineStr"><is><t>x</t></is></c>', "<c><v>1</v></c>"])
def test_a_row_of_cells_without_references_is_measured_where_calamine_puts_them(cell, tmp_path):
    # A cell without r goes in the column after the one before it: 16,400 of them after the first row's three
    # cells make the sheet 16,403 columns wide (calamine would hold 16,403 x 3 cells), though no reference says so.
    path = _with_sheet(tmp_path, lambda sheet: sheet.replace("</row>", cell * 16_400 + "</row>", 1))
    with translation.override("en"), pytest.raises(files.FileProblem, match="column XFE, past Excel's last column"):
        files.check_xlsx(path)


def test_a_sheet_written_without_any_references_is_read_as_it_shows(tmp_path):
    # Some exporters write neither row nor cell references: the rows are read in order, nothing is refused
    path = _with_sheet(tmp_path, lambda sheet: re.sub(r'<row r="[0-9]+"', "<row", re.sub(r' r="[A-Z]+[0-9]+"', "",
                                                                                            sheet)))
    assert ' r="' not in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    files.check_xlsx(path)
    assert [cells for _number, cells in files.read_rows(path, "xlsx")] == A_LIST


def test_a_reference_of_a_million_letters_is_refused_without_working_out_its_column(tmp_path):
    # One cell without reference sends the part to the tag-by-tag walk, which meets a reference of a million letters
    # (after another attribute and without a row number: the first scan reads none of it). Its column is past
    # Excel's last, and is not computed: that alone would take a worker hours. Random letters, or the zip-bomb guard
    # would refuse the file first.
    letters = "".join(random.Random(7).choices(string.ascii_uppercase, k=1_000_000))
    path = _with_sheet(tmp_path, lambda sheet: sheet.replace(
        "</row>", "<c><v>1</v></c>" + f'<c t="n" r="{letters}"><v>1</v></c>' + "</row>", 1))
    with translation.override("en"), pytest.raises(files.FileProblem, match="column XFE, past Excel's last column"):
        files.check_xlsx(path)


def test_a_far_column_of_a_million_letters_is_named_by_its_start(tmp_path):
    # the message (kept on the job and shown on its page) is a sentence, not a megabyte
    letters = "".join(random.Random(7).choices(string.ascii_uppercase, k=1_000_000))
    path = _with_sheet(tmp_path, lambda sheet: sheet.replace(
        "</row>", f'<c r="{letters}1"><v>1</v></c>' + "</row>", 1))
    with translation.override("en"), pytest.raises(files.FileProblem) as refused:
        files.check_xlsx(path)
    assert str(refused.value) == (f"A sheet has a cell in column {letters[:12]}…, past Excel's last column (XFD, "
                                  "column 16,384): it was not read.")


def test_a_workbook_claiming_a_million_columns_is_not_read_past_its_real_cells(client_as, admin_user, tmp_path):
    # given a workbook whose sheet declares A1:<column 1,000,000> and holds a cell out there
    far = files._column_letters(1_000_000)
    path = _with_sheet(tmp_path, lambda sheet: re.sub(
        r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{far}3"/>', sheet
    ).replace("</row>", f'<c r="{far}1" t="inlineStr"><is><t>远方</t></is></c></row>', 1))
    # when it is read
    client = client_as(admin_user)
    response = _upload_page(client, path.read_bytes(), "客户名单.xlsx")
    assert response.status_code == 302
    job = ImportJob.objects.get()
    services.import_job_parse(job.pk)
    job.refresh_from_db()
    # then it is refused with a message naming the columns (no sheet has more than Excel's 16,384), and its page
    # says so
    assert job.status == "failed", (job.status, job.headers[:5] if job.headers else None)
    assert "16,384" in job.error or "16384" in job.error, job.error
    assert "16,384" in _job_page(client, job)


def test_a_csv_mixing_utf8_and_gbk_fails_naming_the_lines(client_as, admin_user):
    # given a CSV whose header and first row were saved as UTF-8 and whose next row was pasted in from a GBK file
    content = "姓名,手机\r\n张三,13812345678\r\n".encode() + "李四,13912345678\r\n".encode("gbk")
    # when it is read, it fails (it would otherwise be read as GBK, turning 张三 into 寮犱笁), naming a line of each
    error = _failed_on_the_page(client_as(admin_user), admin_user, content, "客户名单.csv")
    assert "UTF-8" in error and "GBK" in error and "line 1" in error and "line 3" in error, error


def test_a_csv_with_invalid_utf8_fails_on_its_page(client_as, admin_user):
    content = "姓名,手机\r\n".encode() + b"\x81\x30\xff\xfe,13812345678\r\n"
    error = _failed_on_the_page(client_as(admin_user), admin_user, content, "客户名单.csv")
    assert error.startswith("The CSV file is neither UTF-8 nor GBK text")


def test_a_csv_with_a_megabyte_cell_fails_naming_its_line(client_as, admin_user):
    content = ("姓名,手机,备注\r\n张三,13812345678,老客户\r\n李四,13912345678," + "长" * 1_048_576 + "\r\n").encode()
    error = _failed_on_the_page(client_as(admin_user), admin_user, content, "客户名单.csv")
    assert "line 3" in error, error


def test_a_megabyte_cell_in_a_workbook_is_refused_naming_row_and_column(admin_user):
    # given a workbook whose second customer's name is a megabyte of text
    job = run_to_preview(admin_user, xlsx_bytes([["姓名", "手机"], ["张三", "13812345678"],
                                                 ["名" * 1_048_576, "13912345678"]]))
    # then the row is refused, naming the row and the column, and nothing is written
    assert job.status == "validated" and job.counts["invalid"] == 1
    row = ImportRow.objects.get(job=job, row_number=3)
    assert "姓名" in " ".join(map(str, row.errors)) or "name" in " ".join(map(str, row.errors)).lower(), row.errors
    assert not Customer.objects.exists()


# ------------------------------------------------------------------------------ formulas: imported, then exported

FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1)", "=HYPERLINK(\"http://x.cn\")"]


def test_formulas_in_every_column_are_stored_as_text_and_neutralized_on_export(admin_user):
    # given a CSV whose every text column starts with a formula character (the mobile stays a number)
    header = ["姓名", "公司", "职位", "手机", "省份", "城市", "区县", "地址", "备注"]
    rows = [[f"{formula}客户{i}", formula, formula, f"1381234{i:04d}", formula, formula, formula, formula, formula]
            for i, formula in enumerate(FORMULAS)]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    # when it is imported
    job = run_to_preview(admin_user, buffer.getvalue().encode("utf-8-sig"), "客户名单.csv")
    assert job.status == "validated", (job.status, job.error, job.counts)
    commit(admin_user, job)
    # then every customer holds the text as typed, never a computed value
    stored = {c.notes: c for c in Customer.objects.all()}
    assert sorted(stored) == sorted(FORMULAS)
    assert all(c.address == c.notes and c.company == c.notes for c in stored.values())
    # and an export puts an apostrophe before each, in every column
    export = export_services.export_job_create(actor=admin_user, model_key="customers.customer", query="", fmt="csv")
    export_services.export_job_run(export.pk)
    export.refresh_from_db()
    with export.file.open("rb") as handle:
        table = list(csv.reader(io.StringIO(handle.read().decode("utf-8-sig"))))
    cells = [cell for row in table[1:] for cell in row]
    for formula in FORMULAS:
        assert cells.count("'" + formula) >= 6, formula  # company, title, province, city, district, address, notes
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@") or (cell[:1] == "-" and not cell[1:2].isdigit())]


# ---------------------------------------------------------------------------------------------- attachments

BOUNDARY = "----hostile-boundary"


def multipart(fields: dict, files: list[tuple[str, str, bytes]]) -> bytes:
    """A multipart/form-data body with the file names exactly as given (the test client would take their
    basename first, as browsers do, hiding what a hand-made request can send)."""
    body = b""
    for name, value in fields.items():
        body += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for field, filename, content in files:
        body += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n").encode("utf-8", "surrogatepass")
        body += content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def _post_files(client, url, fields, files):
    return client.post(url, multipart(fields, files), content_type=f"multipart/form-data; boundary={BOUNDARY}")


HOSTILE_NAMES = [
    ("traversal", "../../etc/passwd.txt"),
    ("windows-traversal", "..\\..\\windows\\win.ini.txt"),
    ("img-markup", IMG.value.replace('"', "") + ".txt"),
    ("script-markup", SCRIPT.value + ".txt"),
    ("200-characters", "合同" * 98 + ".txt"),
    # past 1,024 bytes of part header Django's upload parser answers 400 before any view runs (kept as it is: no
    # file name is that long, and nothing is stored)
    ("1000-characters", "合同" * 498 + ".txt"),
    ("1000-character-extension", "a." + "t" * 1000),
    ("rtl-override", "invoice\u202etxt.exe.txt"),
    ("nul", "a\x00b.txt"),
    ("only-dots", ".."),
]


def _stored_safely(path: Path, media_root: Path) -> None:
    resolved = path.resolve()
    assert resolved.is_relative_to(Path(media_root).resolve()), resolved
    assert not set(path.name) & set("<>\"'\\\x00\u202e"), path.name


@pytest.mark.parametrize(("label", "filename"), HOSTILE_NAMES, ids=[n for n, _f in HOSTILE_NAMES])
def test_interaction_attachments_with_hostile_names(client_as, sales_rep, world, media_root, label, filename):
    client = client_as(sales_rep)
    response = _post_files(client, reverse("interactions:log", args=[world.customer.pk]),
                           {"channel": "call", "direction": "out", "subject": "附件", "next_priority": "normal"},
                           [("files", filename, b"hello")])
    assert response.status_code in (200, 302, 400), response.status_code
    attachment = Attachment.objects.filter(interaction__customer=world.customer).first()
    if response.status_code != 302:  # refused: said so, nothing kept
        assert attachment is None
        assert response.status_code == 400 or b"invalid-feedback" in response.content
        return
    if attachment is None:  # a name that is no name ("..", NUL): Django's parser drops the file, the log is kept
        assert label in ("only-dots", "nul")
        return
    _stored_safely(Path(attachment.file.path), media_root)
    assert "\x00" not in attachment.name and len(attachment.name) <= 255
    page = client.get(reverse("customers:detail", args=[world.customer.pk]), {"tab": "timeline"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<img src=x" not in html and "<script>alert(1)" not in html
    download = client.get(reverse("interactions:attachment", args=[attachment.interaction_id, attachment.pk]))
    assert download.status_code == 200
    assert "\n" not in download["Content-Disposition"] and "/" not in download["Content-Disposition"].split("=")[-1]


@pytest.mark.parametrize(("label", "filename"), HOSTILE_NAMES, ids=[n for n, _f in HOSTILE_NAMES])
def test_contract_attachments_with_hostile_names(client_as, sales_rep, world, media_root, label, filename):
    client = client_as(sales_rep)
    response = _post_files(client, reverse("sales:contract_attachment_add", args=[world.contract.pk]), {},
                           [("files", filename, "双方同意。".encode())])
    assert response.status_code in (200, 302, 400), response.status_code
    attachment = ContractAttachment.objects.filter(contract=world.contract).first()
    if response.status_code != 302:
        assert attachment is None
        assert response.status_code == 400 or b"invalid-feedback" in response.content
        return
    assert attachment is not None, "redirected as if attached, with nothing attached"
    _stored_safely(Path(attachment.file.path), media_root)
    page = client.get(reverse("sales:contract_detail", args=[world.contract.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<img src=x" not in html and "<script>alert(1)" not in html
    download = client.get(reverse("sales:contract_attachment", args=[world.contract.pk, attachment.pk]))
    assert download.status_code == 200


@pytest.mark.parametrize("url_name", ["interactions:log", "sales:contract_attachment_add"])
def test_an_attachment_over_20_mb_is_refused_with_its_name(client_as, sales_rep, world, url_name):
    big = SimpleUploadedFile("扫描件.txt", b"x" * (20 * 1024 * 1024 + 1), content_type="text/plain")
    pk = world.customer.pk if url_name == "interactions:log" else world.contract.pk
    data = {"files": big}
    if url_name == "interactions:log":
        data.update(channel="call", direction="out", subject="大附件", next_priority="normal")
    response = client_as(sales_rep).post(reverse(url_name, args=[pk]), data)
    assert response.status_code == 200
    assert "扫描件.txt is larger than 20 MB." in response.content.decode()
    assert not Attachment.objects.exists() and not ContractAttachment.objects.exists()
