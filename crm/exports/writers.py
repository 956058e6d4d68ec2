"""Streaming file writers for exports: CSV (UTF-8 with BOM) and xlsx, row by row, in constant memory.

Why not openpyxl for xlsx: its write-only mode builds an XML element per cell and took 3.4 s per 20,000
customer rows here (2.7 s with lxml; XlsxWriter's constant_memory mode 2.0 s), so 100,000 customers could not
be exported in the 10 s the product asks for. The sheet below is written directly as SpreadsheetML, the
way those libraries write it (inline strings, one worksheet, a bold frozen header with an auto-filter, date
cells with a number format, the same constructs XlsxWriter writes for Excel and WPS): ~5x faster. Tests read
every file back with openpyxl and python-calamine; LibreOffice opens it too (bench/RESULTS.md, "Export").
"""

import csv
import datetime
import io
import math
import re
import zipfile
from decimal import Decimal
from xml.sax.saxutils import escape

from crm.web.spreadsheets import safe_cell


def neutralize_row(row: list) -> list:
    """Every cell of a row made safe to open (see crm.web.spreadsheets)."""
    return [safe_cell(value) for value in row]


def _text_of(value) -> str:
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


class CsvWriter:
    """Comma-separated, every field quoted only where needed, UTF-8 with a byte order mark: without the BOM
    Excel and WPS read the file as the system's ANSI code page (GBK on Chinese Windows) and garble it."""

    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    def __init__(self, fileobj, *, headers: list[str], title: str = ""):
        self._text = io.TextIOWrapper(fileobj, encoding="utf-8-sig", newline="", write_through=False)
        self._csv = csv.writer(self._text)
        self._csv.writerow(headers)

    def write_rows(self, rows: list[list]) -> None:
        # The csv module writes None as an empty field and numbers as digits itself; only dates need text.
        self._csv.writerows([[_text_of(v) if isinstance(v, datetime.date) else v for v in row] for row in rows])

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # leave the underlying file open for the caller


# ------------------------------------------------------------------------------------------------ xlsx

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_CONTENT_TYPES = (
    _XML_DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/docProps/core.xml" '
    'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    _XML_DECL + f'<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{_PKG_REL_NS}/metadata/core-properties" Target="docProps/core.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    _XML_DECL + f'<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL_NS}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
# Cell styles (the s attribute): 0 plain, 1 bold header, 2 date and time, 3 date.
_STYLE_HEADER, _STYLE_DATETIME, _STYLE_DATE = 1, 2, 3
_STYLES = (
    _XML_DECL + f'<styleSheet xmlns="{_MAIN_NS}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)

# Characters XML 1.0 cannot carry at all: a file holding one would not open.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MAX_CELL_TEXT = 32_767  # Excel's limit per cell
# Excel counts days from 1899-12-30 (its 1900 leap-year bug included); times are fractions of a day.
_EXCEL_EPOCH_ORDINAL = datetime.date(1899, 12, 30).toordinal()
_FLUSH_ROWS = 1_000


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _sheet_name(title: str) -> str:
    name = re.sub(r"[\[\]:*?/\\]", " ", title).strip("'").strip() or "Sheet1"
    return name[:31]


class XlsxWriter:
    """One worksheet, streamed: the sheet's XML is deflated into the zip as rows arrive."""

    extension = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def __init__(self, fileobj, *, headers: list[str], title: str = "", widths: list[int] | None = None):
        self._title = _sheet_name(title)
        self._columns = [column_letter(i) for i in range(len(headers))]
        # Level 1: the sheet's XML is repetitive, so the file is barely larger than at the default level 6,
        # which takes three times as long to deflate.
        self._zip = zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self._zip.writestr("[Content_Types].xml", _CONTENT_TYPES)
        self._zip.writestr("_rels/.rels", _ROOT_RELS)
        self._zip.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        self._zip.writestr("xl/styles.xml", _STYLES)
        self._zip.writestr("docProps/core.xml", self._core_properties())
        self._sheet = self._zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        widths = widths or [max(10, min(40, len(h.encode()) + 2)) for h in headers]
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths, start=1)
        )
        self._sheet.write(
            (
                _XML_DECL + f'<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
                '<sheetViews><sheetView workbookViewId="0">'
                '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                '<selection pane="bottomLeft"/></sheetView></sheetViews>'
                f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
            ).encode()
        )
        self._row = 0
        self._pending: list[str] = []
        self._write_row(headers, style=_STYLE_HEADER)

    def write_rows(self, rows: list[list]) -> None:
        for row in rows:
            self._write_row(row)
        if len(self._pending) >= _FLUSH_ROWS:
            self._flush()

    def close(self) -> None:
        self._flush()
        last = f"{self._columns[-1]}{self._row}" if self._columns else "A1"
        self._sheet.write(f'</sheetData><autoFilter ref="A1:{last}"/></worksheet>'.encode())
        self._sheet.close()
        name = escape(self._title)
        quoted = escape(self._title.replace("'", "''"))
        absolute = f"$A$1:${self._columns[-1]}${self._row}" if self._columns else "$A$1"
        self._zip.writestr(
            "xl/workbook.xml",
            _XML_DECL + f'<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            '<bookViews><workbookView/></bookViews>'
            f'<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets>'
            f'<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
            f"'{quoted}'!{absolute}</definedName></definedNames>"
            "</workbook>",
        )
        self._zip.close()

    # -- internals

    def _flush(self) -> None:
        if self._pending:
            self._sheet.write("".join(self._pending).encode())
            self._pending = []

    def _write_row(self, values, style: int = 0) -> None:
        self._row += 1
        n = self._row
        style_attr = f' s="{style}"' if style else ""
        cells = []
        for letter, value in zip(self._columns, values, strict=False):
            if value is None or value == "":
                continue
            ref = f"{letter}{n}"
            cls = value.__class__
            if cls is str:
                cells.append(f'<c r="{ref}" t="inlineStr"{style_attr}>{_inline(value)}</c>')
            elif cls is int or (cls is float and math.isfinite(value)) or (cls is Decimal and value.is_finite()):
                cells.append(f'<c r="{ref}"{style_attr}><v>{value}</v></c>')
            elif cls is datetime.datetime:
                # Spreadsheets have no time zones: the caller passes the wall-clock time people should read.
                seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
                serial = value.toordinal() - _EXCEL_EPOCH_ORDINAL + seconds / 86_400
                cells.append(f'<c r="{ref}" s="{_STYLE_DATETIME}"><v>{serial!r}</v></c>')
            elif cls is datetime.date:
                cells.append(f'<c r="{ref}" s="{_STYLE_DATE}"><v>{value.toordinal() - _EXCEL_EPOCH_ORDINAL}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="inlineStr"{style_attr}>{_inline(str(value))}</c>')
        self._pending.append(f'<row r="{n}">{"".join(cells)}</row>')

    def _core_properties(self) -> str:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            _XML_DECL + '<cp:coreProperties '
            'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:title>{escape(self._title)}</dc:title><dc:creator>CRM</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{now}</dcterms:created>'
            "</cp:coreProperties>"
        )


def _inline(text: str) -> str:
    if _ILLEGAL_XML.search(text):
        text = _ILLEGAL_XML.sub("", text)
    if len(text) > _MAX_CELL_TEXT:
        text = text[:_MAX_CELL_TEXT]
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if text[:1].isspace() or text[-1:].isspace():
        return f'<is><t xml:space="preserve">{escaped}</t></is>'
    return f"<is><t>{escaped}</t></is>"


WRITERS = {"csv": CsvWriter, "xlsx": XlsxWriter}

