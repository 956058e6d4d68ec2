"""How the audit log names what an event did and the values it touched: verbs per kind of record, field labels in
the page's language, and foreign keys as names (a user, a role, a permission, a customer) instead of ids."""

from collections import defaultdict

from django.contrib.auth.models import Group, Permission
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from crm.accounts.roles import role_label

VERBS = {"insert": _("created"), "update": _("changed"), "delete": _("deleted"), "download": _("downloaded")}

# Django's default permissions, named in the page's language ("view customer" / "查看客户"); the names Django
# stores ("Can view customer") are English only.
PERMISSION_ACTIONS = {
    "add": _("add %(model)s"), "change": _("change %(model)s"), "delete": _("delete %(model)s"),
    "view": _("view %(model)s"),
}


def verb(model, label: str) -> str:
    """A record kind may name its own actions (``audit_verbs`` on the model: a share is "granted", not "created")."""
    text = (getattr(model, "audit_verbs", None) or {}).get(label) or VERBS.get(label)
    return str(text) if text else label


def field_label(f) -> str:
    name = getattr(f, "verbose_name", f.name)
    if f.is_relation and f.related_model is not None and not isinstance(name, Promise):
        # Django's many-to-many tables and guardian's share tables name their keys in English only ("user",
        # "group", "permission", "content object"): the related model's own name is in both languages.
        return str(f.related_model._meta.verbose_name)
    return str(name)


def permission_label(permission: Permission) -> str:
    model = permission.content_type.model_class()
    if model is not None:
        custom = dict(model._meta.permissions).get(permission.codename)
        if custom:
            return str(custom)
        action, _sep, _rest = permission.codename.partition("_")
        if action in PERMISSION_ACTIONS and permission.codename == f"{action}_{model._meta.model_name}":
            return str(PERMISSION_ACTIONS[action] % {"model": model._meta.verbose_name})
    return permission.name


def _group_label(group: Group) -> str:
    team = getattr(group, "team", None)
    return str(_("team %(name)s") % {"name": team.name}) if team is not None else role_label(group)


def _names(model, ids) -> dict:
    if model is Group:
        return {g.pk: _group_label(g) for g in Group.objects.filter(pk__in=ids).select_related("team")}
    if model is Permission:
        return {p.pk: permission_label(p) for p in Permission.objects.filter(pk__in=ids).select_related("content_type")}
    return {obj.pk: str(obj) for obj in model._default_manager.filter(pk__in=ids)}


def _concrete_model(model):
    return model._meta.concrete_model if model is not None else None


class Values:
    """Displays the values of one page of events; the names of the foreign keys they mention are read up front,
    one query per related model."""

    def __init__(self, events_with_models):
        wanted = defaultdict(set)
        for event, model in events_with_models:
            if model is None:
                continue
            keys = {f.attname: f for f in model._meta.concrete_fields if f.is_relation and f.related_model}
            values = list((event.pgh_data or {}).items())
            values += [(key, v) for key, pair in (event.pgh_diff or {}).items() for v in pair]
            for key, value in values:
                if key in keys and value not in (None, ""):
                    wanted[_concrete_model(keys[key].related_model)].add(value)
        self.names = {}
        for model, ids in wanted.items():
            for pk, name in _names(model, ids).items():
                self.names[(model, pk)] = name

    def display(self, f, value) -> str:
        if value in (None, "", [], {}):
            return "—"
        if f is not None and f.is_relation and f.related_model is not None:
            return self.names.get((_concrete_model(f.related_model), value), f"#{value}")
        if isinstance(value, bool):
            return str(_("yes") if value else _("no"))
        if f is not None and f.choices and not isinstance(value, list | dict):
            return str(dict(f.flatchoices).get(value, value))
        if isinstance(f, models.DateTimeField) and isinstance(value, str) and (moment := parse_datetime(value)):
            return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
        return None  # the caller's plain display

    @staticmethod
    def shown_in_full(f) -> bool:
        """Whether a created or deleted record's field is listed: not its id nor its automatic timestamps, which the
        time column says."""
        return not (f.primary_key or getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))
