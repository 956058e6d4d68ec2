"""Money arithmetic of quotes and orders, and their numbers. Pure functions except ``next_number``.

Every amount is a Decimal rounded half up to cents (0.005 → 0.01, as people and invoices round, not banker's
rounding), at three points only: each line's amount, the tax, and therefore the total. The subtotal is the sum of
rounded line amounts, so the printed lines always add up to the printed subtotal.

    line amount = quantity × unit price × (100 − line discount %) / 100
    subtotal    = Σ line amounts
    tax         = (subtotal − discount on the total) × tax rate / 100
    total       = subtotal − discount + tax
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import connection
from django.utils import timezone

CENT = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")
TOO_BIG = Decimal("1e15")


def money(value) -> Decimal:
    """``value`` as a Decimal rounded half up to cents."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def as_decimal(value, default=None) -> Decimal | None:
    """A typed number (str, int, Decimal; None or blank gives ``default``) as a Decimal, or ``default``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return default
    # Past TOO_BIG no quantity, price or rate can be stored (the columns hold at most 14 digits): it is a typo or
    # an attack, and its products would overflow decimal precision when rounded to cents (a 500 in the preview).
    return number if number.is_finite() and abs(number) < TOO_BIG else default


def line_amount(quantity, unit_price, discount_percent=ZERO) -> Decimal:
    gross = Decimal(quantity) * Decimal(unit_price)
    return money(gross * (HUNDRED - Decimal(discount_percent or 0)) / HUNDRED)


@dataclass
class Totals:
    subtotal: Decimal = ZERO
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal = ZERO
    amounts: list[Decimal] = field(default_factory=list)  # each line's amount, in the lines' order


def compute_totals(lines: Iterable[dict], *, discount=ZERO, tax_rate=ZERO) -> Totals:
    """Totals of lines given as dicts with ``quantity``, ``unit_price`` and optionally ``discount_percent``."""
    amounts = [line_amount(line["quantity"], line["unit_price"], line.get("discount_percent") or ZERO)
               for line in lines]
    subtotal = sum(amounts, ZERO)
    discount = money(discount or ZERO)
    tax = money((subtotal - discount) * Decimal(tax_rate or 0) / HUNDRED)
    return Totals(subtotal=subtotal, discount=discount, tax=tax, total=subtotal - discount + tax, amounts=amounts)


# Prefixes and the PostgreSQL sequences behind them (migration sales/0004_commerce_number_sequences).
NUMBERING = {
    "quote": ("Q", "sales_quote_number_seq"),
    "contract": ("C", "sales_contract_number_seq"),
    "order": ("SO", "sales_order_number_seq"),
}


def next_number(kind: str) -> str:
    """The next number of a quote, contract or order: Q-2026-000123. Unique under any concurrency (a sequence);
    the year is the current one in TIME_ZONE, the counter runs on across years."""
    prefix, sequence = NUMBERING[kind]
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [sequence])
        value = cursor.fetchone()[0]
    return f"{prefix}-{timezone.localdate().year}-{value:06d}"
