"""Encryption at rest of values an administrator marks sensitive (custom fields such as ID numbers or bank
accounts: ``CustomFieldDefinition.encrypted``).

A sensitive value is stored as an *envelope*, a small JSON object in place of the text:

    {"c": "<Fernet token>", "b": "<blind index>"}

- ``c``: the text encrypted with Fernet (AES-128-CBC + HMAC-SHA256: authenticated, so a changed byte is an
  error, never garbage) under the first key of ``CRM_FIELD_ENCRYPTION_KEYS``. Every key of that list decrypts
  (MultiFernet), which is what lets keys rotate: put the new key first, re-encrypt (``rotate_field_keys``),
  then drop the old one.
- ``b``: HMAC-SHA256 under ``CRM_BLIND_INDEX_KEY`` (a key of its own, so that the index key opens no value)
  of the normalized text. Equal values written differently ("1101 0519 4912 3100 2x", full-width digits)
  have equal indexes, so an exact-match search or duplicate check works without decrypting anything; without
  the key the index tells nothing but equality.

The envelope sits where the text sat (e.g. in ``Customer.custom`` under the field's key), so every path that
copies the JSON (imports and their undo, lead conversion, the audit trail's row copies) carries the ciphertext
and its index together, and the customers table's existing jsonb_path_ops GIN index serves ``custom @>
{"key": {"b": ...}}`` lookups.
"""

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Fixed keys for development and tests only (crm/settings/dev.py, test.py). Production refuses them.
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktbm90LXNlY3JldC1maWVsZC1rZXktMDA="
DEV_BLIND_INDEX_KEY = "dev-only-not-secret-blind-index-key-000000"
BLIND_KEY_MIN_LENGTH = 32

_SEPARATORS = re.compile(r"[\s\-]+")


class FieldCryptoError(Exception):
    """A sensitive value cannot be encrypted or decrypted; the message says why and what to do."""


class FieldKeysMissing(FieldCryptoError, ImproperlyConfigured):
    pass


class DecryptionError(FieldCryptoError):
    pass


# ------------------------------------------------------------------------------------------------- keys


def validate_keys(encryption_keys, blind_index_key, *, allow_dev_keys: bool) -> None:
    """Raise ImproperlyConfigured unless the keys can be used (production: and are not the development keys)."""
    if not encryption_keys:
        raise FieldKeysMissing(
            "CRM_FIELD_ENCRYPTION_KEYS is empty: give one or more Fernet keys, comma-separated (make one with "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
        )
    for position, key in enumerate(encryption_keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError) as error:
            raise FieldKeysMissing(
                f"Key {position} of CRM_FIELD_ENCRYPTION_KEYS is not a Fernet key (32 url-safe base64-encoded "
                f"bytes): {error}"
            ) from None
    if not blind_index_key or len(blind_index_key) < BLIND_KEY_MIN_LENGTH:
        raise FieldKeysMissing(
            f"CRM_BLIND_INDEX_KEY must be a secret of at least {BLIND_KEY_MIN_LENGTH} characters (make one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'); it must differ from the encryption keys."
        )
    if blind_index_key in encryption_keys:
        raise FieldKeysMissing("CRM_BLIND_INDEX_KEY must not be one of the CRM_FIELD_ENCRYPTION_KEYS.")
    if not allow_dev_keys and (DEV_ENCRYPTION_KEY in encryption_keys or blind_index_key == DEV_BLIND_INDEX_KEY):
        raise FieldKeysMissing(
            "The development keys of crm.fieldcrypto are public: set CRM_FIELD_ENCRYPTION_KEYS and "
            "CRM_BLIND_INDEX_KEY to keys of your own."
        )


@lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> tuple[list[Fernet], MultiFernet]:
    fernets = [Fernet(k) for k in keys]
    return fernets, MultiFernet(fernets)


def _keys() -> tuple[list[Fernet], MultiFernet]:
    keys = tuple(k for k in getattr(settings, "CRM_FIELD_ENCRYPTION_KEYS", None) or () if k)
    if not keys:
        raise FieldKeysMissing(
            "CRM_FIELD_ENCRYPTION_KEYS is not set: sensitive fields can be neither encrypted nor decrypted."
        )
    try:
        return _fernets(keys)
    except (ValueError, TypeError):
        validate_keys(keys, settings.CRM_BLIND_INDEX_KEY, allow_dev_keys=True)  # raises with the key's position
        raise


def _blind_key(override: str | None = None) -> bytes:
    key = override if override is not None else getattr(settings, "CRM_BLIND_INDEX_KEY", "")
    if not key or len(key) < BLIND_KEY_MIN_LENGTH:
        raise FieldKeysMissing(
            f"CRM_BLIND_INDEX_KEY is not set or shorter than {BLIND_KEY_MIN_LENGTH} characters: sensitive fields "
            "cannot be indexed for duplicate search."
        )
    return key.encode()


# ---------------------------------------------------------------------------------------------- values


def normalize(text: str) -> str:
    """The form two spellings of one ID or account number share: full-width digits and letters made half-width
    (NFKC), spaces and dashes removed, upper-case (the X of a Chinese ID number)."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", str(text))).upper()


def blind_index(text: str, *, key: str | None = None) -> str:
    return hmac.new(_blind_key(key), normalize(text).encode(), hashlib.sha256).hexdigest()


def is_envelope(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("c"), str) and "b" in value


def seal(text: str, *, blind_key: str | None = None) -> dict:
    """The envelope to store for ``text`` (indexed under ``blind_key``, default the current one)."""
    text = str(text)
    fernets, _multi = _keys()
    return {"c": fernets[0].encrypt(text.encode()).decode(), "b": blind_index(text, key=blind_key)}


def reveal(value):
    """A stored value as text: an encrypted one decrypted (FieldCryptoError when it cannot be), others as they are."""
    return open_envelope(value) if is_envelope(value) else value


def open_envelope(envelope: dict) -> str:
    """The text of an envelope; DecryptionError when no configured key opens it (never a garbled value)."""
    _fernets_list, multi = _keys()
    try:
        return multi.decrypt(envelope["c"].encode()).decode()
    except (InvalidToken, KeyError, AttributeError, TypeError, ValueError):
        raise DecryptionError(
            "No key in CRM_FIELD_ENCRYPTION_KEYS decrypts this value: the key that encrypted it has been removed "
            "or changed, or the stored value was altered. Put the old key back (after the first) and run "
            "manage.py rotate_field_keys."
        ) from None


def reseal(envelope: dict, *, blind_key: str | None = None) -> dict | None:
    """The envelope re-encrypted under the first key and re-indexed under ``blind_key`` (default: the current
    one); None when it already is both, so that a re-run after an interruption only touches what is left."""
    fernets, multi = _keys()
    try:
        text = fernets[0].decrypt(envelope["c"].encode()).decode()
        current = True
    except InvalidToken:
        text = open_envelope(envelope)
        current = False
    index = blind_index(text, key=blind_key)
    if current and index == envelope.get("b"):
        return None
    token = envelope["c"] if current else fernets[0].encrypt(text.encode()).decode()
    return {"c": token, "b": index}

