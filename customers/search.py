"""The customer search box: one text field that understands names, companies, phones and emails.

- Digits (with any spaces, dashes, brackets or +86): the digits-only phone columns, trigram index.
- Something with "@": the email, trigram index.
- One character (a family name such as 李): prefix match on name and company, which a text_pattern_ops
  btree serves.
- Two characters (a Chinese given name such as 小明, or 华为 inside 深圳华为技术有限公司): name or company
  contains them, through a GIN index over each text's character pairs (``crm_bigrams``, created by
  migration 0004). pg_trgm needs three characters, so a two-character LIKE '%..%' would scan the table.
- Anything longer: name, company or email contains the text, trigram indexes on UPPER(...).
"""

import re

from django.contrib.postgres.fields import ArrayField
from django.db.models import Func, Q, TextField


class Bigrams(Func):
    """``crm_bigrams(text)``: the distinct upper-cased character pairs of a text, as text[] (SQL function
    defined in migration 0004; immutable, so an index can be built on it)."""

    function = "crm_bigrams"
    output_field = ArrayField(TextField())


def _contains_pair(field: str, pair: str) -> Q:
    # The expression must read exactly as the index's (crm_bigrams("customers_customer"."name")) to use it.
    contains = Bigrams.output_field.get_lookup("contains")
    return Q(contains(Bigrams(field), [pair.upper()]))

_PHONE_LIKE = re.compile(r"^[\d\s\-+().（）]+$")


def phone_digits(text: str) -> str:
    """Digits of a typed phone in the form the generated *_digits columns hold (no +86, no trunk 0)."""
    digits = re.sub(r"\D", "", text)
    if text.strip().startswith("+86") or (digits.startswith("86") and len(digits) == 13):
        digits = digits[2:]
    return digits.lstrip("0")


def search_condition(text: str) -> Q:
    text = text.strip()
    if not text:
        return Q()
    if _PHONE_LIKE.match(text) and sum(c.isdigit() for c in text) >= 3:
        digits = phone_digits(text)
        return Q(mobile_digits__contains=digits) | Q(phone_digits__contains=digits)
    if "@" in text:
        return Q(email__icontains=text)
    if len(text) == 1:
        return Q(name__startswith=text) | Q(company__startswith=text)
    if len(text) == 2:
        return _contains_pair("name", text) | _contains_pair("company", text)
    return Q(name__icontains=text) | Q(company__icontains=text) | Q(email__icontains=text)
