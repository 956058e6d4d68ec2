"""The customer search box: one text field that understands names, companies, phones and emails.

- Digits (with any spaces, dashes, brackets or +86): the digits-only phone columns, trigram index.
- Something with "@": the email, trigram index.
- One or two characters (typical Chinese names such as 张三): prefix match on name and company, which a
  text_pattern_ops btree serves; trigrams need three characters and would scan the table.
- Anything longer: name, company or email contains the text, trigram indexes on UPPER(...).
"""

import re

from django.db.models import Q

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
    if len(text) <= 2:
        return Q(name__startswith=text) | Q(company__startswith=text)
    return Q(name__icontains=text) | Q(company__icontains=text) | Q(email__icontains=text)
