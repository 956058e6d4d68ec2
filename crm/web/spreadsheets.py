"""Cells written into spreadsheets the CRM hands out (exports, import error reports)."""

# A cell starting with one of these is taken for a formula by Excel, WPS and LibreOffice: "=HYPERLINK(...)"
# in a customer's name would run when the file is opened (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """The value, with text that would be read as a formula prefixed by an apostrophe (shown as text)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
