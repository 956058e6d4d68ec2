"""Turning spreadsheet cells into field values the way a person reading the sheet would.

Each cleaner takes a cell as calamine or csv gives it (str, float, int, bool, date, datetime, None) and
returns the value to store or raises CellError with a message for the user. They run once per cell of
100,000-row files, so the common cases (a Chinese mobile, a plain text) take a fast path.
"""

import datetime
import re
import unicodedata
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.utils.translation import gettext as _


class CellError(ValueError):
    pass


# Full-width ASCII (１３８, ＡＢＣ, ＠) to half-width, and the ideographic space to a space; NFKC would
# also do it, but it rewrites more than this (e.g. ① to 1), which a name or an address must keep.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# Dropped: characters nobody sees, which text pasted from web pages and chats carries (zero-width spaces and
# joiners, a byte order mark), and control characters, which an .xlsx can hold as _x0000_ escapes and
# PostgreSQL refuses to store (NUL) or no screen shows. Tabs and line breaks are spaces, as above.
_INVISIBLE = dict.fromkeys([*range(0x00, 0x09), *range(0x0E, 0x1C), 0x7F, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF])
_FULL_WIDTH |= _INVISIBLE
_SPACES = re.compile(r"\s+")
# Most cells need none of the above; one search in C tells, and saves the rest (1.5 million cells a 100,000-row
# list: 2.8 s of the import without this test, 0.6 s with it).
_NEEDS_TIDYING = re.compile(r"[\x00-\x1f\x7f\u3000\uff01-\uff5e\u200b-\u200d\u2060\ufeff]|\s\s|^\s|\s$")


def text(value) -> str:
    """A cell as the text a person sees: numbers without a trailing .0, dates as 2024-01-05, spaces tidied."""
    if type(value) is str:
        if not _NEEDS_TIDYING.search(value):
            return value
        return _SPACES.sub(" ", value.translate(_FULL_WIDTH)).strip()
    if value is None:
        return ""
    if isinstance(value, str):
        return _SPACES.sub(" ", value.translate(_FULL_WIDTH)).strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour, value.minute) != (0, 0) else value.strftime("%Y-%m-%d")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M")
    return str(value).strip()


# ---------------------------------------------------------------------------------------------- phones

_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# A landline with its area code: 010 and 02x are followed by 8 digits, the three-digit codes by 7 or 8.
_CN_LANDLINE = re.compile(r"^0(?:(?:10|2\d)\d{8}|[3-9]\d{2}\d{7,8})$")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?E\+?\d+$", re.IGNORECASE)
_PHONE_PUNCTUATION = re.compile(r"[\s\-()（）.]")


def phone(value) -> str:
    """A phone number in E.164 (+8613812345678), or "" for an empty cell.

    Fast path for the usual 11-digit Chinese mobile; anything else goes through phonenumbers with China
    as the default region, as the customer form does.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        if not value.is_integer():
            raise CellError(_("%(value)s is not a phone number.") % {"value": value})
        raw = str(int(value))
    else:
        raw = text(value)
    if not raw:
        return ""
    if _SCIENTIFIC.match(raw):
        # Excel wrote a long number in scientific notation when it saved the CSV: its last digits are gone.
        raise CellError(_("%(value)s is a number in scientific notation; its last digits were lost when the file "
                          "was saved. Format the column as text in Excel and save again.") % {"value": raw})
    compact = _PHONE_PUNCTUATION.sub("", raw)
    if _CN_MOBILE.match(compact):
        return "+86" + compact
    if _CN_LANDLINE.match(compact):  # as phonenumbers writes it, without its 30 µs a number
        return "+86" + compact[1:]
    if compact.startswith("+86") and _CN_MOBILE.match(compact[3:]):
        return compact
    if compact.startswith("0086") and _CN_MOBILE.match(compact[4:]):
        return "+86" + compact[4:]
    if compact.startswith("86") and len(compact) == 13 and _CN_MOBILE.match(compact[2:]):
        return "+" + compact
    try:
        number = phonenumbers.parse(compact if compact.startswith("+") else raw, "CN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise CellError(_("%(value)s is not a valid phone number.") % {"value": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# ---------------------------------------------------------------------------------------------- emails

# The shape Django's EmailValidator accepts for ordinary addresses, in one regular expression.
_EMAIL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                    r"[A-Za-z]{2,63}$")


def email(value) -> str:
    raw = text(value).replace("＠", "@").lower()
    if not raw:
        return ""
    raw = raw.removeprefix("mailto:")
    if len(raw) > 254 or not _EMAIL.match(raw) or ".." in raw:
        raise CellError(_("%(value)s is not a valid email address.") % {"value": raw})
    return raw


# ----------------------------------------------------------------------------------------------- dates

EXCEL_EPOCH = datetime.date(1899, 12, 30)  # Excel's day 0, Lotus's leap-year bug included
_DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S",
                 "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"]


def date(value) -> str:
    """An ISO date (2024-01-05) from a date cell, an Excel serial number (45296) or a written date."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value < 2_958_466:  # up to 9999-12-31
            return (EXCEL_EPOCH + datetime.timedelta(days=int(value))).isoformat()
        raise CellError(_("%(value)s is not a date.") % {"value": value})
    raw = text(value)
    if raw.isdigit() and 20_000 <= int(raw) < 80_000:  # a serial that went through a CSV as text
        return (EXCEL_EPOCH + datetime.timedelta(days=int(raw))).isoformat()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(raw, fmt).date().isoformat()  # noqa: DTZ007 (the date part only)
        except ValueError:
            continue
    raise CellError(_("%(value)s is not a date; write it as 2024-01-31.") % {"value": raw})


# --------------------------------------------------------------------------------------------- numbers


def number(value) -> str:
    """A decimal number as text (JSON keeps it exact): 1,234.50 → 1234.50; 12% stays an error."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        raise CellError(_("%(value)s is not a number.") % {"value": value})
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    raw = text(value).replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").strip()
    try:
        parsed = Decimal(raw)
    except InvalidOperation:
        raise CellError(_("%(value)s is not a number.") % {"value": text(value)}) from None
    if not parsed.is_finite() or abs(parsed) >= Decimal("1e15"):
        raise CellError(_("%(value)s is not a number in a sensible range.") % {"value": text(value)})
    return str(parsed)


# --------------------------------------------------------------------------------------------- choices


def choice_key(label: str) -> str:
    """How a choice is compared: NFKC, lower case, no spaces or separators."""
    return re.sub(r"[\s·・.\-_/]", "", unicodedata.normalize("NFKC", str(label)).lower())


def choice(value, options: dict[str, str]) -> str:
    """The stored value of a choice, from any of its spellings (``options``: choice_key(spelling) → value)."""
    raw = text(value)
    if not raw:
        return ""
    found = options.get(choice_key(raw))
    if found is None:
        raise CellError(_("%(value)s is not one of the choices.") % {"value": raw})
    return found


_LIST_SEPARATORS = re.compile(r"[,，;；、|/\n]+")


def split_list(value) -> list[str]:
    """Several values in one cell: 'VIP，老客户、渠道' → ['VIP', '老客户', '渠道']."""
    return [part.strip() for part in _LIST_SEPARATORS.split(text(value)) if part.strip()]


# ------------------------------------------------------------------------------------------------ rows


def clean_cells(values: dict) -> tuple[dict, list[tuple[str, str]]]:
    """A row's mapped cells (field name → (cell, cleaner)) through their cleaners: (field name → value,
    [(field name, message)] for the cells that would not clean)."""
    cleaned, errors = {}, []
    for name, (cell, clean) in values.items():
        try:
            cleaned[name] = clean(cell)
        except CellError as error:
            errors.append((name, str(error)))
    return cleaned, errors
