"""Turn pghistory's row snapshots into a readable change list: who, when, field, old → new."""

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import fieldcrypto

ENCRYPTED = _("(encrypted)")

VERBS = {"insert": _("created"), "update": _("changed"), "delete": _("deleted")}

REASONS = {
    "pool_return": _("returned to the public pool: no contact for %(days)s days"),
    "import": _("imported from %(file)s"),
    "import_undo": _("import of %(file)s undone"),
    # crm.accounts.mfa: manual events on the user
    "mfa_enrolled": _("two-factor authentication turned on"),
    "mfa_removed": _("two-factor authentication turned off by the user"),
    "mfa_reset": _("two-factor authentication reset by an administrator"),
    "field_encryption": _("stored encryption of sensitive fields updated (encrypted, decrypted or new key)"),
}


@dataclass
class Change:
    label: str
    old: str
    new: str
    sensitive: bool = False  # masked for roles that may not see it (a mobile, an email)


@dataclass
class HistoryEntry:
    when: datetime
    actor: str
    action: str  # "insert", "update", "delete"
    subject: str  # what changed: the record itself, or e.g. "Contact 李四"
    reason: str = ""
    changes: list[Change] = field(default_factory=list)
    verb: str = ""
    event_id: int = 0  # orders events of one transaction, which share their time

    def __post_init__(self):
        if not self.verb:
            self.verb = str(VERBS.get(self.action, self.action))


def _display(model_field: models.Field, value, related_names: dict) -> str:
    if value in (None, ""):
        return ""
    if model_field.is_relation:
        return related_names.get((model_field.related_model, value), f"#{value}")
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, dict):
        return sealed_text(value)
    if isinstance(value, datetime):
        # Shown as the other times on the page: the user's time zone, to the minute.
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def sealed_text(value: dict) -> str:
    """A JSON object as one line; an encrypted value in it (a sensitive custom field, crm.fieldcrypto) shows as
    "(encrypted)", never as its ciphertext or blind index."""
    if fieldcrypto.is_envelope(value):
        return str(ENCRYPTED)
    return "; ".join(f"{k}: {ENCRYPTED if fieldcrypto.is_envelope(v) else v}" for k, v in value.items())


def _resolve_related(events, fields) -> dict:
    """Names for every foreign key id the events mention, one query per related model."""
    wanted: dict = {}
    for f in fields:
        if f.is_relation:
            wanted.setdefault(f.related_model, set()).update(
                getattr(e, f.attname) for e in events if getattr(e, f.attname) is not None
            )
    names = {}
    for model, ids in wanted.items():
        for obj in model._default_manager.filter(pk__in=ids):
            names[(model, obj.pk)] = str(obj)
    return names


def _actor_names(events) -> dict:
    ids = {e.pgh_context.metadata.get("user") for e in events if e.pgh_context_id}
    ids.discard(None)
    return {u.pk: str(u) for u in get_user_model().objects.filter(pk__in=ids)}


def _changes(fields, old: dict, new: dict, related_names: dict, json_labels: dict, sensitive=()) -> list[Change]:
    """Field-by-field differences; a JSON field named in ``json_labels`` is compared key by key."""
    changes = []
    for f in fields:
        before, after = old.get(f.name), new.get(f.name)
        if before == after:
            continue
        if f.name in json_labels:
            before, after = before or {}, after or {}
            for key in sorted(set(before) | set(after), key=str):
                if before.get(key) != after.get(key):
                    old_text, new_text = _plain(before.get(key)), _plain(after.get(key))
                    if old_text == new_text:
                        continue  # the same value re-encrypted (a new key; the field just marked sensitive)
                    # An encrypted value (crm.fieldcrypto) is decrypted here and masked by the page as a mobile is.
                    encrypted = fieldcrypto.is_envelope(before.get(key)) or fieldcrypto.is_envelope(after.get(key))
                    changes.append(Change(json_labels[f.name].get(key, key), old_text, new_text, sensitive=encrypted))
            continue
        changes.append(
            Change(str(f.verbose_name), _display(f, before, related_names), _display(f, after, related_names),
                   sensitive=f.name in sensitive)
        )
    return changes


def _plain(value) -> str:
    if value in (None, "", []):
        return ""
    if fieldcrypto.is_envelope(value):
        try:
            return fieldcrypto.open_envelope(value)
        except fieldcrypto.FieldCryptoError:
            return str(ENCRYPTED)
    return "、".join(map(str, value)) if isinstance(value, list) else str(value)


def entries(event_model, events, *, subject: str = "", skip_fields=(), json_labels=None,
            sensitive_fields=()) -> list[HistoryEntry]:
    """Entries for events of one model (oldest first), each update diffed against the previous event of
    the same object; inserts list the values set."""
    tracked = event_model.pgh_tracked_model
    tracked_names = {f.name for f in event_model._meta.fields}
    fields = [
        f for f in tracked._meta.concrete_fields
        if f.name in tracked_names and f.name not in skip_fields and not f.primary_key
    ]
    events = list(events)
    related_names = _resolve_related(events, fields)
    actors = _actor_names(events)
    result, previous = [], {}
    for event in events:
        metadata = event.pgh_context.metadata if event.pgh_context_id else {}
        values = {f.name: getattr(event, f.attname) for f in fields}
        label = event.pgh_label
        if label == "update" and event.pgh_obj_id not in previous:
            changes = []  # history began before tracking; nothing to compare with
        elif label == "delete":
            changes = []
        else:
            changes = _changes(fields, previous.get(event.pgh_obj_id, {}), values, related_names, json_labels or {},
                               sensitive_fields)
        previous[event.pgh_obj_id] = values
        reason = metadata.get("reason")
        result.append(
            HistoryEntry(
                when=event.pgh_created_at,
                actor=actors.get(metadata.get("user"), str(_("System"))),
                action=label,
                subject=subject or str(event),
                reason=str(REASONS[reason] % metadata) if reason in REASONS else "",
                changes=changes,
                event_id=event.pgh_id,
            )
        )
    return result
