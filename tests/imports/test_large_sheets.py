"""Workbooks too large to hold whole are read a row at a time, and half their rows are checked by a helper
process forked from the worker: the outcome is the same, row for row, as when the worker checks every row."""

import io
import os
import signal
import zipfile

import openpyxl
import pytest

from crm.imports import files
from crm.imports.helper import Helper
from crm.imports.models import ImportRow

from .conftest import run_to_preview, xlsx_bytes
from .test_hostile_files import rezip

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

ROWS = 20_000  # about 12 MB of sheet XML: three pieces of four megabytes, the middle one the helper's
SHEET = "xl/worksheets/sheet1.xml"
BAD = {9_000: "138123", 10_500: "buyer@@example"}  # in the middle piece: a short mobile, a broken email


def large_list() -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("客户")
    sheet.append(["客户名称", "公司", "手机", "邮箱", "地址", "备注"])
    for i in range(ROWS):
        mobile, email = f"139{i:08d}", f"c{i}@example.com"
        row_number = i + 2
        if row_number in BAD:
            mobile, email = (BAD[row_number], email) if BAD[row_number].isdigit() else (mobile, BAD[row_number])
        sheet.append([f"客户{i}", f"公司{i}", mobile, email, "上海市浦东新区世纪大道100号",
                      "一段让每一行更像真实数据的备注" * 3])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def with_sheet(content: bytes, change) -> bytes:
    """The workbook ``content`` with its sheet's XML gone through ``change``."""
    source = zipfile.ZipFile(io.BytesIO(content))
    return rezip(content, replace={SHEET: change(source.read(SHEET))})


@pytest.fixture(scope="module")
def content() -> bytes:
    return large_list()


def checked_rows(job) -> list[tuple]:
    return list(ImportRow.objects.filter(job=job).order_by("row_number")
                .values_list("row_number", "action", "data", "errors", "key_mobile", "key_email"))


def test_a_large_workbook_checked_with_a_helper_process_comes_out_as_checked_alone(importer, content, settings,
                                                                                     tmp_path):
    settings.CRM_IMPORT_STREAM_FROM_BYTES = 1_000_000  # read row by row
    path = tmp_path / "large.xlsx"
    path.write_bytes(content)
    # the helper's share holds the bad rows
    helper_share = files.open_sheet(path, files.XLSX).shares(2)[1]
    assert set(BAD) <= {number for number, _cells in helper_share}

    settings.CRM_IMPORT_CHECK_HELPER = False
    alone = run_to_preview(importer, content)
    settings.CRM_IMPORT_CHECK_HELPER = True
    helped = run_to_preview(importer, content)

    assert helped.counts == alone.counts == {"create": ROWS - 2, "invalid": 2, "update": 0, "skip": 0,
                                             "file_duplicate": 0}
    assert checked_rows(helped) == checked_rows(alone)
    assert [row[0] for row in checked_rows(helped)] == list(range(2, ROWS + 2))  # every row once
    invalid = ImportRow.objects.filter(job=helped, action="invalid").order_by("row_number")
    assert [(row.row_number, row.errors[0]["column"]) for row in invalid] == [(9_000, "手机"), (10_500, "邮箱")]
    # the worker and its helper reserve no id twice (a share's rows beyond its half of the ids get theirs at the
    # commit)
    ids = [i for i in ImportRow.objects.filter(job=helped, action="create").values_list("reserved_id", flat=True)
           if i is not None]
    assert len(set(ids)) == len(ids) > ROWS / 2
    # and the helper did check its share: its rows took ids from the second half, out of the rows' order
    def in_row_order(job):
        ids = [i for i in ImportRow.objects.filter(job=job, action="create").order_by("row_number")
               .values_list("reserved_id", flat=True) if i is not None]
        return ids == sorted(ids)

    assert in_row_order(alone) and not in_row_order(helped)


def test_a_cell_past_the_last_column_in_the_helpers_share_fails_the_import(importer, content, settings):
    settings.CRM_IMPORT_STREAM_FROM_BYTES = 1_000_000
    # the same list, with one far cell in the middle piece
    job = run_to_preview(importer, with_sheet(content, lambda sheet: sheet.replace(
        b'<c r="A10000" ', b'<c r="XFE10000" t="inlineStr"><is><t>x</t></is></c><c r="A10000" ')))
    assert job.status == "failed"
    assert job.error == ("A sheet has a cell in column XFE, past Excel's last column (XFD, column 16,384): it was "
                         "not read.")
    assert not ImportRow.objects.filter(job=job).exists()


def test_both_readers_read_cells_written_in_less_usual_ways_alike(settings, tmp_path):
    # a number in scientific format (its E is no date letter), a cell tag broken by a line break among plainly
    # written cells, and an empty shared-string cell
    content = xlsx_bytes([["客户名称", "数量", "备注"], ["王芳", 12345, "x"]], number_formats={"B2": "0.00E+00"})
    path = tmp_path / "usual.xlsx"
    path.write_bytes(with_sheet(content, lambda sheet: sheet.replace(b'<c r="C2"', b'<c\nr="C2"').replace(
        b"</row></sheetData>", b'<c r="D2" t="s"/></row></sheetData>')))

    def read():  # empty cells at the end of a row are no cells (calamine leaves them out of its grid)
        rows = [list(cells) for _number, cells in files.read_rows(path, files.XLSX)]
        return [cells[:max((i + 1 for i, c in enumerate(cells) if c != ""), default=0)] for cells in rows]

    whole = read()
    settings.CRM_IMPORT_STREAM_FROM_BYTES = 0
    by_row = read()
    assert by_row == whole
    assert by_row[1][:3] == ["王芳", 12345.0, "x"]


def test_a_helper_that_dies_halfway_fails_the_check_instead_of_hanging():
    # (killed by the kernel for memory, say): the worker, waiting for the rest of its rows, is told at once
    def produce():
        yield "a line\n", 1
        os.kill(os.getpid(), signal.SIGKILL)
        yield "never\n", 1

    helper = Helper(produce)
    try:
        with pytest.raises(RuntimeError, match="stopped before it was done"):
            list(helper.rest())
    finally:
        helper.stop()
