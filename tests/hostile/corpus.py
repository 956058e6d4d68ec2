"""The hostile-input corpus: what people (and robots) type or paste into a CRM, each with why it is here.

Every form, list filter, search box and upload of the CRM meets these in tests/hostile/. The rule they check is the
one a user notices: each value gets a clear error in the user's language, or is stored as typed and shown escaped;
nothing answers with a server error (500).

Values that are not valid Unicode text (a lone surrogate) cannot be put into a Python ``str`` that the test client
would encode: ``form_body`` and ``query_string`` send them as the raw bytes a broken client sends
(``surrogatepass``), which Django decodes with replacement characters.
"""

from dataclasses import dataclass
from urllib.parse import quote_plus


@dataclass(frozen=True)
class Hostile:
    id: str
    value: str
    reason: str
    # Markup a browser would run if it reached the page unescaped, and the text escaping turns it into.
    raw: str = ""
    escaped: str = ""


SCRIPT = Hostile("script", "<script>alert(1)</script>", "the classic stored XSS",
                 raw="<script>alert(1)", escaped="&lt;script&gt;alert(1)&lt;/script&gt;")
IMG = Hostile("img-onerror", '"><img src=x onerror=alert(1)>', "breaks out of an attribute, then runs a handler",
              raw="<img src=x onerror=alert(1)>", escaped="&lt;img src=x onerror=alert(1)&gt;")

LONG_10K = "长" * 5_000 + "x" * 5_000
LONG_1M = "A" * 1_000_000  # ASCII: 1 MB on the wire, under DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)

STRINGS = [
    SCRIPT,
    IMG,
    Hostile("javascript-url", "javascript:alert(1)", "a URL that runs script if ever put in a link"),
    Hostile("sql-drop", "'; DROP TABLE customers_customer; --", "SQL injection through string concatenation"),
    Hostile("sql-or", "' OR '1'='1", "SQL injection widening a WHERE clause"),
    Hostile("percent", "%", "LIKE wildcard: a search for it must not match everything"),
    Hostile("underscore", "_", "LIKE single-character wildcard"),
    Hostile("backslash", "\\", "LIKE and string escape character"),
    Hostile("nul", "a\x00b", "PostgreSQL refuses NUL in text: a form error or stripped, never a 500"),
    Hostile("lone-surrogate", "a\ud800b", "not encodable as UTF-8: arrives as invalid bytes"),
    Hostile("rtl-override", "abc\u202eevil.exe", "right-to-left override hides a file's real extension"),
    Hostile("zero-width", "张\u200b三\u200d\ufeff", "zero-width characters make look-alike names"),
    Hostile("emoji-cjk-4byte", "😀𠀀客户🇨🇳", "4-byte UTF-8 (utf8mb3 databases truncate it)"),
    Hostile("long-10k", LONG_10K, "10,000 characters: past every CharField's max_length"),
    Hostile("whitespace", " \t\r\n\u3000 ", "whitespace only, ideographic space included: blank, not a value"),
    Hostile("template-django", "{{ 7*7 }}", "server-side template injection (Django/Jinja)"),
    Hostile("template-js", "${7*7}", "template-literal injection"),
    Hostile("formula-cmd", "=cmd|' /C calc'!A0", "DDE formula: runs a program when an export is opened"),
    Hostile("formula-plus", "+1+1", "formula starter +"),
    Hostile("formula-minus", "-2+3", "formula starter -"),
    Hostile("formula-at", "@SUM(1)", "formula starter @"),
]
LONG_1M_STRING = Hostile("long-1m", LONG_1M, "1,000,000 characters: one field per form (runtime)")

NUMBERS = [
    Hostile("1e309", "1e309", "overflows a double to infinity"),
    Hostile("26-nines", "99999999999999999999999999", "past every numeric column and bigint"),
    Hostile("minus-zero", "-0", "negative zero"),
    Hostile("nan", "NaN", "not a number: compares false with everything"),
    Hostile("infinity", "Infinity", "infinite"),
    Hostile("negative", "-1", "negative where only positive makes sense"),
    Hostile("comma", "1,5", "a decimal comma"),
    Hostile("fullwidth", "１２３", "full-width digits (Chinese input method)"),
]

DATES = [
    Hostile("feb-30", "2026-02-30", "well formed, not a date (parse_date raises ValueError)"),
    Hostile("year-9999", "9999-12-31", "the last date: a day later overflows"),
    Hostile("zero-date", "0000-00-00", "MySQL's zero date"),
    Hostile("year-1", "0001-01-01", "the first date: in UTC+8 its midnight is in year 0, which Python lacks"),
    Hostile("not-a-date", "tomorrow", "text"),
]

# The list pages' own parameters.
PAGES = [
    Hostile("page-negative", "-1", "page=-1"),
    Hostile("page-huge", "99999999", "page=99999999"),
    Hostile("page-text", "abc", "page=abc"),
]
SORT = Hostile("sort-sql", "id;drop", "an ordering parameter carrying SQL")

ALL_TEXT = STRINGS + NUMBERS + DATES
XSS = [SCRIPT, IMG]


def encoded(value: str) -> str:
    """``value`` percent-encoded as UTF-8, lone surrogates as the bytes a broken client would send."""
    return quote_plus(value.encode("utf-8", "surrogatepass"))


def form_body(data: dict) -> str:
    """An application/x-www-form-urlencoded body for ``data`` (lists give repeated keys)."""
    pairs = []
    for key, value in data.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append(f"{encoded(str(key))}={encoded(str(item))}")
    return "&".join(pairs)


query_string = form_body


def needs_raw_encoding(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
