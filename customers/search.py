"""The customer search box: one text field that understands names, companies, phones and emails.

- Digits (with any spaces, dashes, brackets or +86): the digits-only phone columns, trigram index.
- Something with "@": the email, trigram index.
- Text: name and company through one GIN index of keys (``crm_name_keys``, migration 0015): every pair of
  adjacent characters of both (upper-cased), and a "starts with" key for the first character of each.
  - one character (a family name such as 李): name or company starts with it (its start key);
  - two characters (a given name such as 小明, or 华为 inside 深圳华为技术有限公司): the pair itself;
  - longer text: name, company or email contains it; the rows are found by every pair of it, or by the email's
    trigram index (a row holding the pairs apart is dropped by the check that follows).
  pg_trgm needs three characters, so pairs are what makes two-character search fast; and one index of pairs
  instead of pairs plus trigram and prefix indexes of each column took a third off the commit of an imported
  list (bench/RESULTS.md, "Import").
"""

import re

from django.contrib.postgres.fields import ArrayField
from django.db.models import Func, Q, TextField
from django.db.models.functions import Collate


class NameBigrams(Func):
    """``crm_name_bigrams(name, company)``: the function of the index migrations 0007–0014 built; kept because
    those migrations name it."""

    function = "crm_name_bigrams"
    output_field = ArrayField(TextField())


class NameKeys(Func):
    """``crm_name_keys(name, company)``: the search keys of a customer's name and company, as text[] (SQL
    function of migration 0015; immutable, so one GIN index serves both columns)."""

    function = "crm_name_keys"
    output_field = ArrayField(TextField())


START = "\x02"  # marks a start key: START + the first character of the name or of the company


def name_keys():
    # Collated "C": GIN compares its keys byte by byte instead of through the locale, which made indexing an
    # import's customers cost twice as much. A query must spell the expression the same way to use the index.
    return Collate(NameKeys("name", "company"), "C")


def _has_keys(keys) -> Q:
    contains = NameKeys.output_field.get_lookup("contains")
    return Q(contains(name_keys(), sorted(set(keys))))


def _upper(text: str) -> str:
    # As PostgreSQL's upper() does, one character for one (str.upper() turns ß into SS).
    return "".join(u if len(u := c.upper()) == 1 else c for c in text)


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
    upper = _upper(text)
    if len(text) == 1:
        return _has_keys([START + upper])
    pairs = [upper[i : i + 2] for i in range(len(upper) - 1)]
    if len(text) == 2:
        return _has_keys(pairs)
    # Said as (pairs or email) and (name, company or email contains it): the same rows as "name or company contains
    # it, or the email does", since a text's pairs are in every name holding it; but PostgreSQL reads the first
    # half from the indexes and checks only the second on the rows found, without working out their keys again.
    contains = Q(name__icontains=text) | Q(company__icontains=text) | Q(email__icontains=text)
    return (_has_keys(pairs) | Q(email__icontains=text)) & contains
