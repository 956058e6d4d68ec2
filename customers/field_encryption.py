"""Keeping the stored values of sensitive custom fields in step with their definitions and with the keys.

One walk serves three actions, so that each is as safe to interrupt and re-run as the others:

- a field marked sensitive: its plain values are encrypted (``CustomFieldDefinition.encrypted`` turned on);
- a field no longer sensitive: its values are decrypted (turned off);
- key rotation (``manage.py rotate_field_keys``): values not encrypted under the first key of
  ``CRM_FIELD_ENCRYPTION_KEYS``, or indexed under another blind-index key than the target one, are re-encrypted /
  re-indexed.

Values live in more places than ``Customer.custom``: the audit trail copies each row into its event table, the
import staging rows keep the cleaned cells and the values an import overwrote (for undo), and leads use the same
field definitions. Each place is a *location* registered here (customers registers its own in
CustomersConfig.ready(), sales its leads), so that no plain copy is left behind and no copy stays readable only by
a retired key.

Rows are read in primary-key order in batches, each batch in its own transaction with its rows locked (a user
saving one of them waits for the batch, never the other way round); a value already in the wanted state is left
alone, so a re-run after an interruption only does what is left.
"""

import copy
from dataclasses import dataclass

import pghistory
from django.apps import apps
from django.db import transaction

from crm import fieldcrypto

from .models import CustomFieldDefinition

BATCH_SIZE = 500


@dataclass(frozen=True)
class Location:
    model: str  # "app_label.ModelName"
    column: str  # a JSON column
    path: tuple[str, ...] = ()  # where the custom values sit inside it: () for Customer.custom, ("custom",) for
    #                               ImportRow.data
    # An audit event table: the application's database role may only add rows there (crm/audit/app_role.py), so
    # only the owner rewrites them (rotate_field_keys, run with the owner's DATABASE_URL).
    audit: bool = False

    @property
    def label(self) -> str:
        return ".".join((self.model, self.column, *self.path))


_LOCATIONS: list[Location] = []


def register_location(model: str, column: str, path=(), *, audit: bool = False) -> None:
    location = Location(model, column, tuple(path), audit)
    if location not in _LOCATIONS:
        _LOCATIONS.append(location)


def locations() -> list[Location]:
    return list(_LOCATIONS)


class SyncError(fieldcrypto.FieldCryptoError):
    pass


def custom_values_sync(*, definitions=None, blind_key: str | None = None, batch_size: int = BATCH_SIZE,
                       report=None, include_audit: bool = False) -> dict[str, int]:
    """Bring every stored value of ``definitions`` (default: every sensitive field) to what its definition says:
    encrypted under the first key and indexed under ``blind_key`` (default: CRM_BLIND_INDEX_KEY) when it is
    marked sensitive, plain text when not. Returns the number of rows changed per location; ``report(label,
    changed)`` is called after each batch."""
    if definitions is None:
        definitions = CustomFieldDefinition.objects.filter(encrypted=True)
    wanted = {d.key: d.encrypted for d in definitions}
    if not wanted:
        return {}
    if blind_key is not None:
        fieldcrypto.blind_index("", key=blind_key)  # a key too short fails here, before any row is touched
    result = {}
    with pghistory.context(reason="field_encryption", fields=sorted(wanted)):
        for location in locations():
            if location.audit and not include_audit:
                continue  # the owner's job: see Location.audit
            result[location.label] = _sync_location(location, wanted, blind_key, batch_size, report)
    return result


def _sync_location(location: Location, wanted: dict, blind_key, batch_size: int, report) -> int:
    model = apps.get_model(location.model)
    has_keys = "__".join((location.column, *location.path, "has_any_keys"))
    queryset = model._base_manager.filter(**{has_keys: list(wanted)}).order_by("pk")
    changed, last = 0, None
    while True:
        with transaction.atomic():
            batch = queryset if last is None else queryset.filter(pk__gt=last)
            rows = list(batch.select_for_update().values_list("pk", location.column)[:batch_size])
            if not rows:
                return changed
            last = rows[-1][0]
            updates = []
            for pk, document in rows:
                try:
                    new = _converted(document, location.path, wanted, blind_key)
                except fieldcrypto.FieldCryptoError as error:
                    raise SyncError(f"{location.model} #{pk} ({location.label}): {error}") from None
                if new is not None:
                    updates.append(model(pk=pk, **{location.column: new}))
            if updates:
                model._base_manager.bulk_update(updates, [location.column])
            changed += len(updates)
        if report is not None:
            report(location.label, changed)


def _container(document, path):
    for part in path:
        document = document.get(part) if isinstance(document, dict) else None
    return document if isinstance(document, dict) else None


_SAME = object()


def _converted(document, path, wanted: dict, blind_key):
    """The JSON document with the values under ``wanted``'s keys converted; None when nothing changes."""
    values = _container(document, path)
    if values is None:
        return None
    result = None
    for key, encrypt in wanted.items():
        if key not in values:
            continue
        replacement = _converted_value(values[key], encrypt, blind_key)
        if replacement is _SAME:
            continue
        if result is None:
            result = copy.deepcopy(document)
        _container(result, path)[key] = replacement
    return result


def _converted_value(value, encrypt: bool, blind_key):
    if fieldcrypto.is_envelope(value):
        if not encrypt:
            return fieldcrypto.open_envelope(value)
        resealed = fieldcrypto.reseal(value, blind_key=blind_key)
        return _SAME if resealed is None else resealed
    if not encrypt or value in (None, "", []):
        return _SAME
    text = "、".join(map(str, value)) if isinstance(value, list) else str(value)
    return fieldcrypto.seal(text, blind_key=blind_key)


def stored_value_count(definition: CustomFieldDefinition) -> int:
    """How many customers hold a value of this field (what the admin is asked to confirm before it is encrypted
    or decrypted)."""
    from .models import Customer

    return Customer.objects.filter(custom__has_key=definition.key).count()
