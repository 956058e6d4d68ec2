"""An .xlsx sheet read straight from its XML, row by row, for sheets too large to hold whole.

python-calamine holds a whole sheet in memory: 1.5 GB for 1,000,000 rows by 15 columns. This reader keeps one
megabyte-sized piece of the sheet at a time, plus the workbook's shared strings. Cells come out as calamine gives
them (crm.imports.files): text as str, numbers as float, TRUE/FALSE as bool, dates (by the cell's number format)
as date, datetime or time, durations as timedelta, errors and empty formulas as "". Rows with no cell are left out.

Only parts that crm.imports.files.check_xlsx let through reach it (no DTD, sizes checked); it builds no grid, so
a cell far out costs nothing, and cells past Excel's last column are refused as check_xlsx refuses them.
"""

import datetime
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from defusedxml import ElementTree as DefusedET

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
OFFICE_RELATIONSHIP = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"

# How Excel, WPS and openpyxl write nearly every cell, read with one expression; a piece of the sheet holding any
# other cell is read cell by cell with the general expressions below.
_PLAIN_CELL = re.compile(rb'<c r="([A-Z]{1,3})(\d+)"(?: s="(\d+)")?(?: t="(\w+)")?'
                         rb'(?: ?/>|><is><t>([^<]*)</t></is></c>|><v>([^<]*)</v></c>)')
# The body of a row or cell may not run into the next one: a tag left open cannot make a search scan the rest of
# the piece again for every cell (hours for a few megabytes).
_ROW = re.compile(rb"<(?:\w+:)?row(?=[\s/>])([^>]*?)(?:/>|>((?:(?!<(?:\w+:)?row[\s/>]).)*?)</(?:\w+:)?row>)", re.S)
_CELL = re.compile(rb"<(?:\w+:)?c(?=[\s/>])([^>]*?)(?:/>|>((?:(?!<(?:\w+:)?c[\s/>]).)*?)</(?:\w+:)?c>)", re.S)
_ATTRIBUTE = {name: re.compile(rb"\b" + name + rb"""=["']([^"']*)["']""") for name in (b"s", b"t")}
# A cell's or row's reference, in either quotes and either case, as calamine reads it: (letters, digits).
REFERENCE = re.compile(rb'\br=["\']([A-Za-z]*)([0-9]*)["\']')
_VALUE = re.compile(rb"<(?:\w+:)?v\b[^>]*>(.*?)</(?:\w+:)?v>", re.S)
_PHONETIC = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_TEXT = re.compile(rb"<(?:\w+:)?t\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?t>)", re.S)
_PLAIN_STRING = re.compile(rb"<si><t>([^<]*)</t></si>")
_STRING = re.compile(rb"<(?:\w+:)?si\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?si>)", re.S)
_LAST_ROW = re.compile(rb'<row r="(\d+)"')
_ROW_NUMBER = re.compile(rb"""<(?:\w+:)?row(?=[\s/>])(?:[^>]*?\br=["'](\d*)["'])?""")
_MERGED = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?ref="([A-Z]+\d+):([A-Z]+\d+)"')
_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
MAX_COLUMNS = 16_384
MAX_PIECE = 64 * 1024 * 1024  # no row (or shared string) of a real sheet is this long

# Number formats Excel has built in that show a date or time (and those of Chinese, Japanese and Korean Excel).
_BUILT_IN_DATES = {*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82)}
_BUILT_IN_DURATIONS = {46}
_QUOTED_OR_ESCAPED = re.compile(r'"[^"]*"|\\.|_.|\*.')


class SheetXmlError(Exception):
    """The part is not a sheet this reader can read; the message says why (in English, for the log)."""


class PastLastColumn(SheetXmlError):
    """A cell past Excel's last column (XFD): crm.imports.files tells the user which."""

    def __init__(self, column: int):
        super().__init__(f"a cell in column {column + 1}")
        self.column = column  # 0-based


def sheets(archive: zipfile.ZipFile) -> list[tuple[str, str, bool]]:
    """(name, part, visible) of the workbook's sheets, in order."""
    workbook_part = _office_document(archive)
    targets = _relationships(archive, workbook_part)
    root = _xml(archive, workbook_part)
    result = []
    for sheet in root.iter(f"{MAIN}sheet"):
        part = targets.get(sheet.get(OFFICE_RELATIONSHIP), "")
        result.append((sheet.get("name", ""), part, sheet.get("state", "visible") == "visible"))
    return result


@dataclass(frozen=True)
class Book:
    """What every cell of the workbook is read with: its shared strings, the styles that show a date or a duration,
    and the day its dates count from. Read once, by book(), for all the readers of its rows (a helper process
    forked from the worker has it too)."""

    strings: list
    dates: dict
    epoch: datetime.datetime


def book(archive: zipfile.ZipFile) -> Book:
    workbook_part = _office_document(archive)
    shared, formats = _shared_parts(archive, workbook_part)
    return Book(shared_strings(archive, shared) if shared else [], _date_styles(archive, formats),
                _epoch(archive, workbook_part))


def rows(archive: zipfile.ZipFile, part: str, workbook: Book, share: tuple[int, int] = (0, 1)
         ) -> Iterator[tuple[int, list]]:
    """The sheet's rows that hold a cell, as (1-based row number, cells). ``share`` (k, n): only the rows of every
    n-th piece of the part from the k-th on, for n processes reading it together."""
    strings, dates, epoch = workbook.strings, workbook.dates, workbook.epoch
    number, cells = 0, None
    columns = _COLUMNS
    mine, processes = share
    for index, piece in enumerate(_pieces(archive, part)):
        if index % processes != mine:
            if cells:
                yield number, cells
            number, cells = _last_row_number(piece, number), None  # for the rows written without a number
            continue
        found = _PLAIN_CELL.findall(piece)
        if _plain(piece, len(found)):
            # Written out here rather than through _value and _put: 1.5 million cells per 100,000 rows.
            digits_now = None  # the row being read, as written: comparing bytes saves an int() per cell
            escaped = b"&" in piece or b"_x" in piece or b"\r" in piece  # most pieces have no text to unescape
            for letters, digits, style, kind, inline, value in found:
                if digits != digits_now:
                    if cells:
                        yield number, cells
                    digits_now, number, cells = digits, int(digits), []
                column = columns.get(letters)
                if column is None:
                    column = _column(letters)
                if inline:
                    value = _text(inline) if escaped else inline.decode()
                elif kind == b"s" and value.isdigit() and int(value) < len(strings):
                    value = strings[int(value)]
                elif (not kind or kind == b"n") and not style and value:
                    value = float(value)
                else:
                    value = _value(kind, value, style, strings, dates, epoch, False)
                if column == len(cells) < MAX_COLUMNS:
                    cells.append(value)
                else:
                    _put(cells, column, value)
            continue
        for attributes, body in _ROW.findall(piece):
            reference = REFERENCE.search(attributes)
            row = int(reference.group(2)) if reference and reference.group(2) else number + 1
            if row != number and cells:
                yield number, cells
                cells = None
            if row != number or cells is None:
                number, cells = row, []
            column = -1
            for cell_attributes, inner in _CELL.findall(body or b""):
                reference = REFERENCE.search(cell_attributes)
                letters = reference.group(1) if reference else b""
                column = _column(letters) if letters else column + 1
                style, kind = (_ATTRIBUTE[name].search(cell_attributes) for name in (b"s", b"t"))
                kind = kind.group(1) if kind else b""
                if kind == b"inlineStr":
                    raw, inline = _joined_text(inner), True
                else:
                    value = _VALUE.search(inner)
                    raw, inline = (value.group(1) if value else b""), False
                _put(cells, column, _value(kind, raw, style.group(1) if style else b"", strings, dates, epoch, inline))
    if cells:
        yield number, cells


def _last_row_number(piece: bytes, number: int) -> int:
    """The number of the piece's last row, given that of the row before it."""
    if b":row" not in piece and piece.count(b"<row") == piece.count(b'<row r="'):  # every row numbered, as usual
        last = _LAST_ROW.match(piece, max(piece.rfind(b'<row r="'), 0))
        return int(last.group(1)) if last else number
    for reference in _ROW_NUMBER.findall(piece):
        number = int(reference) if reference else number + 1
    return number


def survey(archive: zipfile.ZipFile, part: str) -> tuple[int, list[tuple[int, int, int, int]]]:
    """The number of the sheet's last row, and its merged cells as (top row, left column, bottom row, right
    column), rows 1-based and columns 0-based as crm.imports.files expects them. Merged cells are listed after
    the cells, so the part is read through once for them (a quarter of the time of reading its rows)."""
    last, number, ranges = 0, 0, []
    for piece in _pieces(archive, part):
        number = _last_row_number(piece, number)
        last = max(last, number)
        if b"mergeCell" in piece:
            for first, second in _MERGED.findall(piece):
                (left, top), (right, bottom) = _split(first), _split(second)
                ranges.append((top, left, bottom, right))
    return last, ranges


def shared_strings(archive: zipfile.ZipFile, part: str) -> list[str]:
    strings = []
    for piece in _pieces(archive, part, end=b"</si>", root=b"sst>"):
        plain = _PLAIN_STRING.findall(piece)
        if len(plain) == piece.count(b"<si") and b"&" not in piece and b"_x" not in piece and b"\r" not in piece:
            strings.extend(text.decode() for text in plain)  # one plain <t> in each, as Excel writes most
            continue
        for item in _STRING.findall(piece):
            strings.append(_text(_joined_text(item)))
    return strings


# ------------------------------------------------------------------------------------------- cells


def _value(kind: bytes, raw: bytes, style: bytes, strings, dates: dict, epoch, inline: bool):
    if inline or kind == b"str":
        return _text(raw)
    if kind == b"s":
        if not raw.strip():
            return ""
        index = int(raw) if raw.strip().isdigit() else -1
        if not 0 <= index < len(strings):
            raise SheetXmlError(f"shared string {raw[:20]!r} out of range")
        return strings[index]
    if kind == b"b":
        return raw.strip() in (b"1", b"true")
    if kind == b"e" or not raw.strip():
        return ""
    if kind not in (b"", b"n"):
        return _text(raw)  # t="d" (a date written as text) and kinds Excel does not write
    try:
        number = float(raw)
    except ValueError:
        raise SheetXmlError(f"number {raw[:20]!r}") from None
    kind_of_date = dates.get(int(style)) if style else None
    return _date(number, kind_of_date, epoch) if kind_of_date else number


def _date(serial: float, kind: str, epoch: datetime.datetime):
    if kind == "duration":
        return datetime.timedelta(days=serial)
    if serial < 0 or serial > 2_958_465:  # before 1900 or after 9999: calamine gives the number
        return serial
    if epoch.year == 1899 and 1 <= serial < 60:
        serial += 1  # Excel's 1900-02-29, which never was: days before it count from 1899-12-31
    moment = epoch + datetime.timedelta(days=serial)
    moment = moment.replace(microsecond=0) + datetime.timedelta(seconds=round(moment.microsecond / 1e6))
    if serial < 1:
        return moment.time()
    if moment.time() == datetime.time(0):
        return moment.date()
    return moment


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # as an XML parser gives line ends
    if "&" in text:
        text = _ENTITY.sub(_entity, text)
    if "_x" in text:
        text = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text


def _entity(match) -> str:
    name = match.group(1)
    if name.startswith("#x"):
        return chr(int(name[2:], 16))
    if name.startswith("#"):
        return chr(int(name[1:]))
    return _NAMED[name]


def _joined_text(inner: bytes) -> bytes:
    """The text of a rich or plain string (<t>, and <r><t> runs), phonetic guides (<rPh>) left out."""
    if b"<rPh" in inner or b":rPh" in inner:
        inner = _PHONETIC.sub(b"", inner)
    return b"".join(_TEXT.findall(inner))


def _put(cells: list, column: int, value) -> None:
    if column >= MAX_COLUMNS:
        raise PastLastColumn(column)
    if column >= len(cells):
        cells.extend([""] * (column - len(cells)))
        cells.append(value)
    else:
        cells[column] = value


def column_number(letters: bytes) -> int:
    """The column's number (A is 1); past Excel's last one for any reference of more than three letters, without
    working out how far (a reference of a million letters would take the worker hours of big-number arithmetic)."""
    if len(letters) > 3:
        return MAX_COLUMNS + 1
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


_COLUMNS: dict[bytes, int] = {}


def _column(letters: bytes) -> int:
    """0-based column of the letters, remembered (a sheet has a few dozen columns, and a million rows)."""
    column = _COLUMNS.get(letters)
    if column is None:
        column = column_number(letters) - 1
        if column < MAX_COLUMNS:
            _COLUMNS[letters] = column
    return column


def _split(reference: bytes) -> tuple[int, int]:
    letters = reference.rstrip(b"0123456789")
    return _column(letters), int(reference[len(letters):])


def only_plain_cells(data: bytes, plain_count: int) -> bool:
    """Whether every cell tag of ``data`` that has attributes is one of the ``plain_count`` written '<c r="…' (cells
    written bare, <c> and <c/>, aside)."""
    if plain_count != data.count(b"<c ") or b":c" in data:  # another order of attributes; a namespace prefix
        return False
    # A tab or line break after the tag name. Most parts hold none of these bytes at all, which is found in a
    # fraction of the time of looking for the three tags (7 such searches were 0.4 s of a 100,000-row sheet).
    return not any(space in data and b"<c" + space in data for space in (b"\t", b"\n", b"\r"))


def _plain(piece: bytes, plain_cells: int) -> bool:
    """Whether every cell of the piece is one of the ``plain_cells`` written as _PLAIN_CELL reads them."""
    return only_plain_cells(piece, plain_cells) and b"<c>" not in piece and b"<c/>" not in piece


# ------------------------------------------------------------------------------------------- parts


def _pieces(archive: zipfile.ZipFile, part: str, end: bytes = b"</row>", root: bytes = b"worksheet>"
            ) -> Iterator[bytes]:
    """The part in pieces of about four megabytes, each ending after an ``end`` tag (or at the end). A part that
    does not end with its root element's closing tag is cut short (damaged, or lying about its size)."""
    with archive.open(part) as stream:
        carry = b""
        while True:
            chunk = stream.read(1 << 22)
            data = carry + chunk
            if not chunk:
                if not data.rstrip().endswith(root):
                    raise SheetXmlError(f"{part} is cut short")
                yield data
                return
            found = _last_end(data, end)
            if found < 0:
                if len(data) > MAX_PIECE:
                    raise SheetXmlError(f"{part}: no {end!r} within {MAX_PIECE} bytes")
                carry = data
                continue
            yield data[:found]
            carry = data[found:]


def _last_end(data: bytes, end: bytes) -> int:
    """Where the last closing tag ``end`` (</row>, or </x:row> with a prefix) in ``data`` ends, or -1."""
    name = end[2:]  # b"row>"
    at = data.rfind(name)
    while at >= 0:
        start = data.rfind(b"<", 0, at)
        if start >= 0 and re.fullmatch(rb"</(?:\w+:)?", data[start:at]):
            return at + len(name)
        at = data.rfind(name, 0, at)
    return -1


def _xml(archive: zipfile.ZipFile, part: str):
    with archive.open(part) as stream:
        return DefusedET.parse(stream, forbid_dtd=True).getroot()


def _office_document(archive: zipfile.ZipFile) -> str:
    for relationship in _xml(archive, "_rels/.rels").iter(f"{RELATIONSHIPS}Relationship"):
        if relationship.get("Type", "").endswith("/officeDocument"):
            return relationship.get("Target", "").lstrip("/")
    raise SheetXmlError("no workbook part")


def _relationships(archive: zipfile.ZipFile, part: str) -> dict[str, str]:
    """Relationship id → part name, for the relationships of ``part``."""
    folder, name = posixpath.split(part)
    targets = {}
    for relationship in _xml(archive, posixpath.join(folder, "_rels", name + ".rels")).iter(
            f"{RELATIONSHIPS}Relationship"):
        target = relationship.get("Target", "")
        targets[relationship.get("Id")] = (target.lstrip("/") if target.startswith("/")
                                           else posixpath.normpath(posixpath.join(folder, target)))
        targets[relationship.get("Type", "").rsplit("/", 1)[-1]] = targets[relationship.get("Id")]
    return targets


def _shared_parts(archive: zipfile.ZipFile, workbook_part: str) -> tuple[str, str]:
    targets = _relationships(archive, workbook_part)
    names = set(archive.namelist())
    return (targets.get("sharedStrings") if targets.get("sharedStrings") in names else "",
            targets.get("styles") if targets.get("styles") in names else "")


def _epoch(archive: zipfile.ZipFile, workbook_part: str) -> datetime.datetime:
    properties = _xml(archive, workbook_part).find(f"{MAIN}workbookPr")
    # Naive, as calamine gives them: a cell's date and time are as typed, in no time zone.
    if properties is not None and properties.get("date1904") in ("1", "true"):
        return datetime.datetime(1904, 1, 1)  # noqa: DTZ001
    return datetime.datetime(1899, 12, 30)  # noqa: DTZ001


def _date_styles(archive: zipfile.ZipFile, part: str) -> dict[int, str]:
    """Cell style index → "date" or "duration", for the styles whose number format shows one."""
    if not part:
        return {}
    root = _xml(archive, part)
    custom = {int(f.get("numFmtId", -1)): f.get("formatCode", "") for f in root.iter(f"{MAIN}numFmt")}
    styles = {}
    cell_formats = root.find(f"{MAIN}cellXfs")
    for index, style in enumerate(cell_formats if cell_formats is not None else []):
        number_format = int(style.get("numFmtId", 0) or 0)
        kind = _format_kind(number_format, custom.get(number_format))
        if kind:
            styles[index] = kind
    return styles


def _format_kind(number_format: int, code: str | None) -> str:
    if code is None:
        if number_format in _BUILT_IN_DURATIONS:
            return "duration"
        return "date" if number_format in _BUILT_IN_DATES else ""
    code = _QUOTED_OR_ESCAPED.sub("", code).split(";")[0]
    if re.search(r"\[[hms]+\]", code, re.I):
        return "duration"
    code = re.sub(r"\[[^\]]*\]", "", code)
    return "date" if re.search(r"[dmyhs]", code, re.I) and code.lower() != "general" else ""
