"""The administrators' audit log: every change pghistory recorded (all event tables together) and every login event."""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from pghistory import core
from pghistory.models import Events

from . import log_values
from .history import REASONS, sealed_text
from .models import LoginEvent

CHANGE_ACTIONS = ("insert", "update", "delete", "import", "export")
LOGIN_ACTIONS = tuple(LoginEvent.Kind.values)


def tracked_models() -> list:
    """The models with a pghistory trail (with a pgh_obj to name the record), sorted by label."""
    tracked = {m.pgh_tracked_model for m in core.event_models() if hasattr(m, "pgh_obj")}
    return sorted(tracked, key=lambda m: m._meta.label)


def _time_range(qs, column: str, start, end):
    tz = timezone.get_current_timezone()
    if start:
        qs = qs.filter(**{f"{column}__gte": datetime.combine(start, time.min, tzinfo=tz)})
    if end:
        qs = qs.filter(**{f"{column}__lt": datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)})
    return qs


def change_event_list(*, user=None, model: str = "", object_id: str = "", action: str = "", start=None, end=None):
    """pghistory's aggregated events, newest first, narrowed by the acting user, the record, the action and dates."""
    qs = Events.objects.all()
    if model:
        tracked = apps.get_model(model)
        qs = qs.across(*core.event_models(tracks_model=tracked)).filter(pgh_obj_model=tracked._meta.label)
        if object_id:
            qs = qs.filter(pgh_obj_id=str(object_id))
    elif object_id:
        qs = qs.filter(pgh_obj_id=str(object_id))
    if user is not None:
        qs = qs.filter(pgh_context__user=user.pk)
    if action in ("insert", "update", "delete"):
        qs = qs.filter(pgh_label=action)
    elif action == "import":
        qs = qs.filter(Q(pgh_context__reason="import") | Q(pgh_context__reason="import_undo"))
    elif action == "export":
        qs = qs.filter(pgh_obj_model="exports.ExportJob", pgh_label__in=["insert", "download"])
    return _time_range(qs, "pgh_created_at", start, end).order_by("-pgh_created_at", "-pgh_slug")


def login_event_list(*, user=None, action: str = "", start=None, end=None):
    qs = LoginEvent.objects.select_related("user")
    if user is not None:
        qs = qs.filter(Q(user=user) | Q(user__isnull=True, username=user.get_username()))
    if action in LOGIN_ACTIONS:
        qs = qs.filter(kind=action)
    return _time_range(qs, "at", start, end).order_by("-at", "-id")


@dataclass
class Change:
    label: str
    old: str
    new: str


@dataclass
class LogRow:
    event: Events
    when: datetime
    actor: str
    action: str
    model_name: str
    object_id: str
    verb: str = ""  # the action in the page's language
    address: str = ""
    url: str = ""
    reason: str = ""
    changes: list[Change] = field(default_factory=list)


def _plain(value) -> str:
    if value in (None, "", [], {}):
        return "—"
    if isinstance(value, dict):
        return sealed_text(value)
    if isinstance(value, list):
        return "、".join(map(str, value))
    return str(value)


def _reason(reason, context) -> str:
    try:
        return str(REASONS[reason] % context) if reason in REASONS else str(reason or "")
    except (KeyError, TypeError):
        return str(reason)


def _tracked_model(event):
    try:
        return apps.get_model(event.pgh_obj_model)
    except LookupError:
        return None


def _changes(event, tracked, values: log_values.Values) -> list[Change]:
    fields = {f.attname: f for f in tracked._meta.concrete_fields} if tracked else {}

    def shown(key, value):
        f = fields.get(key)
        text = values.display(f, value) if f is not None else None
        return _plain(value) if text is None else text

    def label(key):
        return log_values.field_label(fields[key]) if key in fields else key

    if event.pgh_label == "update":
        return [Change(label(key), shown(key, old), shown(key, new))
                for key, (old, new) in sorted((event.pgh_diff or {}).items())]
    # Created, deleted, downloaded, granted...: what the record held, its id and timestamps aside.
    return [Change(label(key), "", shown(key, value))
            for key, value in (event.pgh_data or {}).items()
            if value not in (None, "", [], {}) and (key not in fields or values.shown_in_full(fields[key]))]


def log_rows(events) -> list[LogRow]:
    """One page of events made readable: actor names in one query, field labels from the tracked models."""
    events = list(events)
    contexts = [e.pgh_context or {} for e in events]
    ids = {c.get("user") for c in contexts} - {None}
    names = {u.pk: str(u) for u in get_user_model().objects.filter(pk__in=ids)}
    models_ = [_tracked_model(event) for event in events]
    values = log_values.Values(zip(events, models_, strict=True))
    rows = []
    for event, context, tracked in zip(events, contexts, models_, strict=True):
        model_name = str(tracked._meta.verbose_name) if tracked else event.pgh_obj_model
        changes = _changes(event, tracked, values)
        reason = context.get("reason")
        rows.append(LogRow(
            event=event, when=event.pgh_created_at,
            actor=names.get(context.get("user"), ""),
            action=event.pgh_label, verb=log_values.verb(tracked, event.pgh_label),
            model_name=model_name, object_id=event.pgh_obj_id or "",
            address=context.get("ip") or "", url=context.get("url") or "",
            reason=_reason(reason, context),
            changes=changes,
        ))
    return rows
