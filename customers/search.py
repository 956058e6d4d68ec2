"""The customer search box: one text field that understands names, companies, phones and emails.

- Digits (with any spaces, dashes, brackets or +86): the digits-only phone columns, trigram index.
- Something with "@": the email, trigram index.
- One character (a family name such as 李): prefix match on name and company, which a text_pattern_ops
  btree serves.
- Two characters (a Chinese given name such as 小明, or 华为 inside 深圳华为技术有限公司): name or company
  contains them, through a GIN index over the character pairs of both (``crm_name_bigrams``, created by
  migration 0007). pg_trgm needs three characters, so a two-character LIKE '%..%' would scan the table.
- Anything longer: name, company or email contains the text, trigram indexes on UPPER(...).
"""

import re

from django.contrib.postgres.fields import ArrayField
from django.db.models import Func, Q, TextField


class NameBigrams(Func):
    """``crm_name_bigrams(name, company)``: the upper-cased character pairs of a customer's name and company,
    as text[] (SQL function of migration 0007; immutable, so one GIN index covers both columns)."""

    function = "crm_name_bigrams"
    output_field = ArrayField(TextField())


def name_bigrams():
    return NameBigrams("name", "company")


def _contains_pair(pair: str) -> Q:
    # The expression must read exactly as the index's to use it.
    contains = NameBigrams.output_field.get_lookup("contains")
    return Q(contains(name_bigrams(), [pair.upper()]))

_PHONE_LIKE = re.compile(r"^[\d\s\-+().（）]+$")


def phone_digits(text: str) -> str:
    """Digits of a typed phone in the form the generated *_digits columns hold (no +86, no trunk 0)."""
    digits = re.sub(r"\D", "", text)
    if text.strip().startswith("+86") or (digits.startswith("86") and len(digits) == 13):
        digits = digits[2:]
    return digits.lstrip("0")


def search_condition(text: str) -> Q:
    # NUL cannot reach PostgreSQL (psycopg refuses it: a 500); the pickers pass the typed text straight here.
    text = text.replace("\x00", "").strip()
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
        return _contains_pair(text)
    return Q(name__icontains=text) | Q(company__icontains=text) | Q(email__icontains=text)
