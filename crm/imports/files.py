"""Uploaded spreadsheets: what kind of file it really is, whether it is safe to open, and its rows.

The type is decided by the bytes, never by the name. Before an .xlsx is handed to a parser its zip
directory is checked (entry count, declared uncompressed size, compression ratio) and each of its XML parts
is read up to its root element for a DOCTYPE (where entities are declared), which a spreadsheet never
needs and XXE and billion-laughs attacks always do. calamine itself stops unpacking an entry at its
declared size. Reading is python-calamine (Rust) for .xlsx and .xls, except workbooks too large to hold whole,
which crm.imports.sheet_xml reads a row at a time; and the csv module for text.
"""

import codecs
import contextlib
import csv
import logging
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml import ElementTree as DefusedET
from django.conf import settings
from django.utils.translation import gettext as _
from python_calamine import CalamineWorkbook

from . import sheet_xml
from .sheet_xml import MAX_COLUMNS, column_number

log = logging.getLogger(__name__)

XLSX, XLS, CSV = "xlsx", "xls", "csv"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
# Other kinds of file people upload by mistake; a PDF or an RTF can start with a page of plain ASCII, which
# the test for NUL bytes below would take for a CSV.
NOT_SPREADSHEET_MAGIC = (b"%PDF-", b"{\\rtf", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf",
                         b"PK\x05\x06")

# Encodings Chinese Excel and WPS write CSV files in, tried in this order. GB18030 is a superset of GBK
# and GB2312; UTF-8 is tried first because GB18030 would decode most UTF-8 text into nonsense.
CSV_ENCODINGS = ["utf-8-sig", "gb18030"]


class FileProblem(Exception):
    """A file we will not read, with the reason in the user's language."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_rows: int
    max_zip_entries: int
    max_uncompressed_bytes: int
    max_compression_ratio: int


def limits() -> Limits:
    return Limits(**{name: getattr(settings, f"CRM_IMPORT_{name.upper()}") for name in Limits.__dataclass_fields__})


def sniff_type(head: bytes) -> str:
    """The kind of spreadsheet the first bytes say this is, or FileProblem."""
    if head.startswith(ZIP_MAGIC):
        return XLSX
    if head.startswith(OLE2_MAGIC):
        return XLS
    if head.startswith(NOT_SPREADSHEET_MAGIC):
        raise FileProblem(_("This is not a spreadsheet: upload an .xlsx, .xls or .csv file."))
    if head.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"<"):
        # Many business systems export "Excel" files that are an HTML table or Excel 2003 XML named .xls.
        raise FileProblem(_("This file is a web page or an XML file, not a workbook: open it in Excel and save "
                            "it as .xlsx."))
    if b"\x00" in head[:4096] and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileProblem(_("This is not a spreadsheet: upload an .xlsx, .xls or .csv file."))
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileProblem(_("This text file is UTF-16; save it from Excel as \"CSV UTF-8\" or as .xlsx."))
    return CSV


def check_xlsx(path) -> None:
    """Refuse zip bombs and XML with entity declarations before any parser sees the file."""
    lim = limits()
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > lim.max_zip_entries:
                raise FileProblem(_("The file holds %(count)s parts; a spreadsheet has far fewer. It was not read.")
                                  % {"count": len(entries)})
            declared = sum(entry.file_size for entry in entries)
            packed = max(1, sum(entry.compress_size for entry in entries))
            if declared > lim.max_uncompressed_bytes or declared / packed > lim.max_compression_ratio:
                raise FileProblem(_("The file unpacks to %(size)s MB, too much for its size: it was not read.")
                                  % {"size": declared // 1_000_000})
            names = {entry.filename for entry in entries}
            if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
                raise FileProblem(_("This zip file is not an Excel workbook."))
            for entry in entries:
                # Every part, whatever its name: the workbook's relationships may point a sheet at any name.
                if _declares_entities(archive, entry):
                    raise FileProblem(_("The workbook contains XML entity declarations, which spreadsheets never "
                                        "need: it was not read."))
            if not streamed(archive):  # sheet_xml builds no grid, and refuses cells past the last column itself
                for entry in entries:
                    _check_extent(archive, entry)
    # zlib.error and EOFError: damaged compressed data; NotImplementedError: a compression method Excel never
    # uses; RuntimeError: an encrypted entry.
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        raise FileProblem(_("The .xlsx file is damaged and cannot be opened.")) from None


def _declares_entities(archive, entry) -> bool:
    """Whether the part is XML with a document type declaration, the only place entities are declared.

    defusedxml reads it up to its root element (a DOCTYPE cannot come later), through comments and
    processing instructions of any length and in UTF-8 or UTF-16, and stops at the DOCTYPE itself, before
    anything in it is expanded or fetched. Parts that are not XML (images, vbaProject.bin) are passed over
    after their first bytes. A prolog that cannot be read is damage: Excel writes well-formed XML."""
    with archive.open(entry) as part:
        head = part.peek(64)[:64]
        if not head.removeprefix(codecs.BOM_UTF8).lstrip().startswith((b"<", b"\x00<")) and not head.startswith(
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        ):
            return False
        try:
            for _event in DefusedET.iterparse(part, events=("start",), forbid_dtd=True):
                return False  # the root element: past the only place a DOCTYPE can be
        except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden):
            return True
        except (DefusedET.ParseError, ValueError, LookupError):  # ValueError, LookupError: unknown encodings
            raise FileProblem(_("The .xlsx file is damaged and cannot be opened.")) from None
    return False


# calamine holds a sheet as a dense grid from A1 to its last cell: one cell far out (a million columns, or XFD1048576
# in a sheet of ten rows) would make it allocate billions of cells and kill the worker. The cells' references are
# read from the XML first; Excel itself stops at column XFD.
MAX_CELLS = 50_000_000  # a full sheet of a million rows by fifty columns
# calamine takes a reference in either quotes and either case (r='xfd1').
_CELL_REF = re.compile(rb'<(?:\w+:)?c\s[^>]*?\br=["\']([A-Za-z]+)([0-9]+)["\']')


# How Excel, WPS and openpyxl write a cell: r first. A part written so is read with these (two scans in C, 7 s for a
# 1,000,000-row sheet); any other way of writing cells (attributes in another order, a namespace prefix, a line
# break after the tag name) falls back to _CELL_REF, read a match at a time (15 s).
_PLAIN_COLUMN = re.compile(rb'<c r="([A-Z]+)')
_PLAIN_ROW = re.compile(rb'<c r="[A-Z]+([0-9]+)"')


def _cell_extent(data: bytes) -> tuple[set[bytes], int, bool]:
    """The column letters and the last row number of the cells in ``data`` (whole tags only), and whether some
    cell there has no reference (r) at all."""
    columns = _PLAIN_COLUMN.findall(data)
    if sheet_xml.only_plain_cells(data, len(columns)):
        unplaced = b"<c>" in data or b"<c/>" in data
        return set(columns), max(map(int, set(_PLAIN_ROW.findall(data))), default=0), unplaced
    refs = _CELL_REF.findall(data)
    unplaced = len(_ANY_CELL.findall(data)) > len(refs)
    return ({letters for letters, _digits in refs}, max((int(digits) for _letters, digits in refs), default=0),
            unplaced)


# A cell written without r goes in the column after the previous cell of its row (calamine, like Excel): one row of
# 20,000 such cells is 20,000 columns wide, which no reference says. Parts that hold such cells are walked again,
# tag by tag, to place every cell as calamine will.
_ANY_CELL = re.compile(rb"<(?:\w+:)?c[\s/>]")
_ROW_OR_CELL = re.compile(rb"<(?:\w+:)?(row|c)(?=[\s/>])([^>]*)>")


def _placed_extent(archive, entry) -> tuple[int, int]:
    """The last column and row of the part's cells, each placed as calamine places it."""
    row = column = last_row = last_column = 0
    for data in _whole_tags(archive, entry):
        for tag in _ROW_OR_CELL.finditer(data):
            reference = sheet_xml.REFERENCE.search(tag.group(2))
            letters, digits = reference.groups() if reference else (b"", b"")
            if tag.group(1) == b"row":
                row, column = (int(digits) if digits else row + 1), 0
                continue
            column = column_number(letters) if letters else column + 1
            row = int(digits) if digits else row
            last_row, last_column = max(last_row, row), max(last_column, column)
            if last_column > MAX_COLUMNS:
                return last_column, last_row
    return last_column, last_row


def _whole_tags(archive, entry):
    """The XML part in pieces of about a megabyte, each ending before a tag (nothing for a part that is not XML)."""
    with archive.open(entry) as part:
        if not part.peek(64)[:64].removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"<"):
            return
        carry = b""
        while True:
            chunk = part.read(1 << 20)
            data = carry + chunk
            # Whole tags only: what follows the last "<" waits for the next chunk (unless a "tag" runs on for
            # megabytes: then it is read as it is, so that the carry never grows).
            cut = data.rfind(b"<") if chunk else len(data)
            if cut <= 0:
                if chunk and len(data) <= 1 << 21:
                    carry = data
                    continue
                cut = len(data)
            data, carry = data[:cut], data[cut:]
            yield data
            if not chunk:
                break


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _past_last_column(column: str) -> FileProblem:
    # A hostile reference can run to a megabyte of letters: the message names its start.
    column = column if len(column) <= 12 else column[:12] + "…"
    return FileProblem(_("A sheet has a cell in column %(column)s, past Excel's last column (XFD, column 16,384): it "
                         "was not read.") % {"column": column})


def _check_extent(archive, entry) -> None:
    """Refuse a part whose cells reach past Excel's last column, or span more cells than can be held."""
    letters, last_row, unplaced = set(), 0, False
    for data in _whole_tags(archive, entry):
        columns, rows, without_reference = _cell_extent(data)
        letters |= columns
        last_row = max(last_row, rows)
        unplaced = unplaced or without_reference
    last_column = 0
    for column in letters:
        if column_number(column) > MAX_COLUMNS:
            raise _past_last_column(column.decode().upper())
        last_column = max(last_column, column_number(column))
    if unplaced:
        placed_column, placed_row = _placed_extent(archive, entry)
        if placed_column > MAX_COLUMNS:
            raise _past_last_column(_column_letters(placed_column))
        last_column, last_row = max(last_column, placed_column), max(last_row, placed_row)
    if last_row * last_column > MAX_CELLS:
        raise _too_large(last_row, last_column)


def _too_large(rows: int, columns: int) -> FileProblem:
    return FileProblem(_("A sheet spans %(rows)s rows by %(columns)s columns, too large to read: delete the empty rows "
                         "and columns beyond the data, or split it into several files.")
                       % {"rows": f"{rows:,}", "columns": f"{columns:,}"})


def check_file(path, file_type: str) -> None:
    if file_type == XLSX:
        check_xlsx(path)


# ------------------------------------------------------------------------------------------- reading


class Sheet:
    """The rows of one sheet, (1-based row number, cells), read as they are iterated; and its size."""

    def __init__(self, rows: Iterator[tuple[int, list]], last_row: int | None = None, shares=None):
        self._rows = rows
        self._last_row = last_row  # known without reading the rows (a workbook's used range), else None
        self._seen = 0
        self.walked = False  # total_rows() had to read every row to count them: iterating again yields nothing
        # shares(n): n iterators that together yield every row from the first, each readable in its own process;
        # None when the rows can only be read in order.
        self.shares = shares

    def __iter__(self) -> Iterator[tuple[int, list]]:
        for row_number, cells in self._rows:
            self._seen = row_number
            yield row_number, cells

    def close(self) -> None:
        """Stop reading (the rows are read again from shares): what the reader holds is let go."""
        if hasattr(self._rows, "close"):
            self._rows.close()

    def total_rows(self) -> int:
        """The number of the sheet's last row (blank rows below the data included, as Excel counts)."""
        if self._last_row is None:
            for _row in self:
                pass
            self._last_row = self._seen
            self.walked = True
        return self._last_row


def streamed(archive: zipfile.ZipFile) -> bool:
    """Whether the workbook is read with crm.imports.sheet_xml, a row at a time, instead of calamine, which holds a
    whole sheet (1.5 GB for 1,000,000 rows by 15 columns): when one of its parts is that large."""
    return any(entry.file_size >= settings.CRM_IMPORT_STREAM_FROM_BYTES for entry in archive.infolist())


@contextlib.contextmanager
def _reading_xml():
    # What a damaged part raises in sheet_xml: bad XML in the small parts, a missing part, bad compressed data,
    # text that is no character. The details are for the log; the user is told the file is damaged.
    try:
        yield
    except sheet_xml.PastLastColumn as error:
        raise _past_last_column(_column_letters(error.column + 1)) from None
    except (sheet_xml.SheetXmlError, DefusedET.ParseError, KeyError, ValueError, OverflowError, zlib.error, EOFError,
            zipfile.BadZipFile) as error:
        log.info("a workbook read row by row is damaged: %r", error)
        raise FileProblem(_("The .xlsx file is damaged and cannot be opened.")) from None


def sheet_names(path, file_type: str) -> list[str]:
    if file_type == CSV:
        return []
    if file_type == XLSX:
        with zipfile.ZipFile(path) as archive, _reading_xml():
            if streamed(archive):
                found = sheet_xml.sheets(archive)
                return [name for name, _part, visible in found if visible] or [name for name, *_rest in found]
    workbook = _open_workbook(path)
    return [m.name for m in workbook.sheets_metadata if str(m.visible).endswith("Visible")] or workbook.sheet_names


def _open_workbook(path) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine raises its own error types for every kind of damage
        raise FileProblem(_("The spreadsheet cannot be read: %(reason)s") % {"reason": str(error)[:200]}) from None


def read_rows(path, file_type: str, sheet: str = "") -> Iterator[tuple[int, list]]:
    """Every row of the chosen sheet (the first one by default) as (row number, cells)."""
    return iter(open_sheet(path, file_type, sheet))


def open_sheet(path, file_type: str, sheet: str = "") -> Sheet:
    """The chosen sheet (the first one by default).

    Cells keep calamine's types (str, float, int, bool, date, datetime); merged cells carry the merged
    value in the cells they cover, as a person reading the sheet would take it (see _fill_merged).
    """
    if file_type == CSV:
        return Sheet(_csv_rows(path))
    if file_type == XLSX:
        archive = zipfile.ZipFile(path)
        if streamed(archive):
            return _streamed_sheet(archive, sheet)
        archive.close()
    workbook = _open_workbook(path)
    if sheet and sheet not in workbook.sheet_names:
        raise FileProblem(_("The workbook has no sheet named %(name)s.") % {"name": sheet})
    try:
        data = workbook.get_sheet_by_name(sheet) if sheet else workbook.get_sheet_by_index(0)
    except Exception as error:  # a sheet calamine cannot parse: damaged XML, a part bigger than it says
        raise FileProblem(_("The spreadsheet cannot be read: %(reason)s") % {"reason": str(error)[:200]}) from None
    last_row = data.end[0] + 1 if data.end else 0
    _check_row_count(last_row - 1, limits().max_rows)
    return Sheet(_workbook_rows(data), last_row)


def _streamed_sheet(archive: zipfile.ZipFile, sheet: str) -> Sheet:
    with _reading_xml():
        parts = {name: part for name, part, _visible in sheet_xml.sheets(archive)}
        if not parts or (sheet and sheet not in parts):
            raise FileProblem(_("The workbook has no sheet named %(name)s.") % {"name": sheet})
        part = parts[sheet] if sheet else next(iter(parts.values()))
        last_row, merges = sheet_xml.survey(archive, part)
        workbook = sheet_xml.book(archive)
    _check_row_count(last_row - 1, limits().max_rows)
    # A merged range's value runs on from its first row into the next ones, which another share may read.
    shares = None if merges else (
        lambda n: [_share_rows(archive.filename, part, workbook, (k, n)) for k in range(n)])
    return Sheet(_streamed_rows(archive, part, workbook, merges), last_row, shares)


def _share_rows(path, part: str, workbook, share: tuple[int, int]) -> Iterator[tuple[int, list]]:
    # The file opened again, once the share is read: processes reading shares of it must not share the position of
    # one open file.
    with zipfile.ZipFile(path) as archive:
        yield from _streamed_rows(archive, part, workbook, [], share)


def _streamed_rows(archive: zipfile.ZipFile, part: str, workbook, merges: list, share=(0, 1)
                   ) -> Iterator[tuple[int, list]]:
    active, widest, max_rows = [], 0, limits().max_rows
    with _reading_xml():
        for row_number, cells in sheet_xml.rows(archive, part, workbook, share):
            _check_row_count(row_number - 1, max_rows)  # the rows' count before reading was only an estimate
            # No grid is built, but every row is as wide as its last cell: the same bound as for calamine's grid.
            widest = max(widest, len(cells))
            if row_number * widest > MAX_CELLS:
                raise _too_large(row_number, widest)
            yield row_number, (_fill_merged(cells, row_number, merges, active) if merges else cells)


def _check_row_count(index: int, max_rows: int) -> None:
    if index > max_rows + 50:  # a few title and blank rows above the data are allowed for
        raise FileProblem(_("The sheet has more than %(max)s rows; split it into several files.")
                          % {"max": f"{max_rows:,}"})


def _workbook_rows(data) -> Iterator[tuple[int, list]]:
    # iter_rows() pads the empty rows above the data (so its rows count from the sheet's row 1) but not
    # the empty columns left of it: those are put back here, so that column indexes are the sheet's too.
    _first_row, first_col = data.start or (0, 0)
    merges = [(top + 1, left, bottom + 1, right) for (top, left), (bottom, right) in data.merged_cell_ranges or []]
    active = []  # merged ranges the rows being read are inside of, with the value of their top-left cell
    for index, cells in enumerate(data.iter_rows()):
        row_number = index + 1
        if first_col:
            cells = [""] * first_col + list(cells)
        if merges:
            cells = _fill_merged(cells, row_number, merges, active)
        yield row_number, cells


def _fill_merged(cells: list, row_number: int, merges: list, active: list) -> list:
    """Give every cell a merged range covers the value of its top-left cell, row by row as they are read
    (the top row of a range always comes first).

    Except across a row that holds nothing but merged cells: that is a title ("2026年客户名单" over the
    whole table) or a band of group headings ("联系方式" over 手机 and 电话), whose text stays in the first
    column it covers; repeated in every column, a title naming 客户 or 公司 would be taken for the header row.
    """
    active[:] = [a for a in active if a[2] >= row_number]
    for top, left, bottom, right in merges:
        if top == row_number:
            active.append((top, left, bottom, right, cells[left] if left < len(cells) else ""))
    if not active:
        return cells
    covered = {col for _top, left, _bottom, right, _value in active for col in range(left, right + 1)}
    across = any(cell not in ("", None) for col, cell in enumerate(cells) if col not in covered)
    cells = list(cells)
    for _top, left, _bottom, right, value in active:
        last = right if across else left
        if len(cells) <= last:
            cells.extend([""] * (last + 1 - len(cells)))
        for col in range(left, last + 1):
            if cells[col] in ("", None):
                cells[col] = value
    return cells


def csv_encoding(path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as UTF-8, else GB18030 (GBK, GB2312).

    A NUL byte is refused on the way: no text file holds one (upload only looked at the first 8 KB), the csv
    module would pass it on, and PostgreSQL cannot store it."""
    for encoding in CSV_ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        lines = 0
        with open(path, "rb") as handle:
            try:
                while chunk := handle.read(1 << 20):
                    if (nul := chunk.find(b"\x00")) >= 0:
                        raise FileProblem(_("The CSV file contains a NUL byte on line %(line)s: it is not text. "
                                            "Save it from Excel as \"CSV UTF-8\" or as .xlsx.")
                                          % {"line": lines + chunk.count(b"\n", 0, nul) + 1})
                    lines += chunk.count(b"\n")
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                continue
            if encoding != CSV_ENCODINGS[0] and (mixed := _mixed_lines(path)):
                # GB18030 decodes UTF-8 bytes too, into nonsense: read as GBK, rows pasted in from a UTF-8 file
                # would be imported garbled (张三 as 寮犱笁) without a word.
                raise FileProblem(_("The CSV file mixes UTF-8 text (line %(utf8)s) and GBK text (line %(gbk)s): "
                                    "open it in Excel and save it again as \"CSV UTF-8\" or as .xlsx.")
                                  % {"utf8": mixed[0], "gbk": mixed[1]})
            return encoding
    raise FileProblem(_("The CSV file is neither UTF-8 nor GBK text; save it from Excel as \"CSV UTF-8\" or as "
                        ".xlsx."))


_CJK = re.compile(r"[\u3400-\u9fff]")


def _mixed_lines(path) -> tuple[int, int] | None:
    """(a line of Chinese in UTF-8, a line that is not UTF-8) of a file that is not UTF-8 as a whole, or None.

    Two Chinese characters at least: GBK text whose bytes happen to form one valid UTF-8 character is not rare,
    whole lines of UTF-8 Chinese are."""
    utf8_line = other_line = None
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.isascii():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                other_line = other_line or number
            else:
                if len(_CJK.findall(text)) >= 2:
                    utf8_line = utf8_line or number
            if utf8_line and other_line:
                return utf8_line, other_line
    return None


def _csv_rows(path) -> Iterator[tuple[int, list]]:
    encoding = csv_encoding(path)
    with open(path, encoding=encoding, newline="") as handle:
        sample = handle.read(64 * 1024)
        handle.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(handle, dialect)
        max_rows = limits().max_rows
        try:
            for index, cells in enumerate(reader):
                _check_row_count(index, max_rows)
                yield index + 1, cells  # the row number Excel shows when it opens the file
        except csv.Error as error:
            raise FileProblem(_("The CSV file is malformed near line %(line)s: %(reason)s")
                              % {"line": reader.line_num, "reason": error}) from None
