"""Admin-defined custom fields: form fields for them, validation, display and list filters.

Values are stored in ``Customer.custom`` (JSONB) as JSON-native values: text and choices as strings,
numbers as numbers, dates as ISO strings (which sort and compare correctly as text), multi-choice as a
list of strings. A field marked ``encrypted`` stores a crm.fieldcrypto envelope ({"c": ciphertext, "b": blind
index}) instead of its text; only this module and customers.field_encryption open one.
"""

import datetime
import logging
from decimal import Decimal

import django_filters
from django import forms
from django.db.models import DecimalField, F, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from crm import fieldcrypto
from crm.web.templatetags.crm_tags import masked

from .choices import CustomFieldType
from .models import CustomFieldDefinition

PREFIX = "cf_"

log = logging.getLogger(__name__)


def active_definitions():
    return list(CustomFieldDefinition.objects.filter(is_active=True))


def definitions_signature() -> str:
    """The active definitions as text: an import's checked rows are re-used only while it stays the same (a
    field's type, options, required or encrypted flag decide how its cells are cleaned)."""
    return repr(list(CustomFieldDefinition.objects.filter(is_active=True).order_by("pk").values()))


def owners_signature(users) -> str:
    """Who an import may give records to, as text (see definitions_signature): names in a column are resolved to
    these users when the rows are checked."""
    return repr(sorted((u.pk, u.username, u.is_active) for u in users))


def label_of(definition: CustomFieldDefinition) -> str:
    if definition.label_en and not (get_language() or "").startswith("zh"):
        return definition.label_en
    return definition.label


def form_field(definition: CustomFieldDefinition) -> forms.Field:
    common = {"label": label_of(definition), "required": definition.required}
    options = [(c, c) for c in definition.choices]
    match definition.field_type:
        case CustomFieldType.NUMBER:
            return forms.DecimalField(max_digits=20, decimal_places=4, **common)
        case CustomFieldType.DATE:
            return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
        case CustomFieldType.CHOICE:
            return forms.ChoiceField(choices=[("", "---------"), *options], **common)
        case CustomFieldType.MULTI_CHOICE:
            return forms.MultipleChoiceField(
                choices=options, widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}), **common
            )
        case _:
            return forms.CharField(max_length=500, **common)


def to_json(value):
    """A cleaned form value as stored in JSONB; None for empty."""
    if value in (None, "", []):
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def from_json(definition: CustomFieldDefinition, value):
    """A stored value as the form expects it."""
    if value is None:
        return None
    if definition.field_type == CustomFieldType.DATE:
        try:
            return datetime.date.fromisoformat(value)
        except (TypeError, ValueError):
            return None
    return value


def undecryptable_text() -> str:
    return _("(cannot be decrypted: encryption key missing)")


def display(definition: CustomFieldDefinition, value, *, may_view_sensitive: bool = False) -> str:
    """A stored value as a page, an export or the history shows it. Values of a sensitive (encrypted) field are
    decrypted, and masked unless ``may_view_sensitive`` (customers.view_sensitive_customer); one that cannot be
    decrypted says so instead of showing ciphertext."""
    if value in (None, "", []):
        return ""
    sensitive = definition.encrypted or fieldcrypto.is_envelope(value)
    if fieldcrypto.is_envelope(value):
        try:
            value = fieldcrypto.open_envelope(value)
        except fieldcrypto.FieldCryptoError as error:
            log.warning("custom field %s: %s", definition.key, error)
            return undecryptable_text()
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return masked(str(value), may_view_sensitive) if sensitive else str(value)


def add_form_fields(form: forms.Form, definitions, custom_values: dict, *, may_view_sensitive: bool = False) -> None:
    """The custom fields of a form. A sensitive field's stored value is shown only to ``may_view_sensitive``
    users; for others (and when it cannot be decrypted) the field starts empty, shows the masked value, and an
    empty answer keeps the stored value (``form.kept_custom_keys``, read by collect)."""
    form.kept_custom_keys = set()
    for definition in definitions:
        name = PREFIX + definition.key
        field = form.fields[name] = form_field(definition)
        stored = custom_values.get(definition.key)
        if definition.encrypted and stored not in (None, ""):
            shown = display(definition, stored, may_view_sensitive=may_view_sensitive)
            if not may_view_sensitive or shown == undecryptable_text():
                form.kept_custom_keys.add(definition.key)
                field.required = False
                field.widget.attrs["placeholder"] = shown
                field.help_text = _("Stored encrypted. Leave empty to keep the current value.")
                continue
        if not form.is_bound:
            form.initial[name] = from_json(definition, reveal_quietly(stored))


def reveal_quietly(value):
    try:
        return fieldcrypto.reveal(value)
    except fieldcrypto.FieldCryptoError:
        return None


def collect(cleaned_data: dict, definitions, previous: dict, *, kept=()) -> dict:
    """The custom dict to store: edited values replace old ones; keys of retired fields are kept. Values of
    sensitive fields are stored encrypted; an unchanged one keeps its stored envelope, and an empty answer for a
    field in ``kept`` (shown masked) keeps the stored value."""
    custom = dict(previous or {})
    for definition in definitions:
        value = to_json(cleaned_data.get(PREFIX + definition.key))
        if value is None:
            if definition.key not in kept:
                custom.pop(definition.key, None)
        elif definition.encrypted:
            old = custom.get(definition.key)
            if not (fieldcrypto.is_envelope(old) and reveal_quietly(old) == value):
                custom[definition.key] = fieldcrypto.seal(str(value))
        else:
            custom[definition.key] = value
    return custom


def stored_value(definition: CustomFieldDefinition, value):
    """A cleaned value (an import's cell) as stored: encrypted for a sensitive field."""
    if definition.encrypted and value not in (None, "", []):
        return fieldcrypto.seal(str(value))
    return value


def encrypted_match(key: str, text: str) -> Q:
    """Customers (or leads) whose sensitive field ``key`` holds exactly ``text``, however it was written (spaces,
    full-width digits, case): its blind index, through the jsonb_path_ops GIN index on ``custom``. A value not
    encrypted yet (the field was marked sensitive, its values are being encrypted) is found as typed."""
    text = text.strip()
    if not text:
        return Q()
    return Q(custom__contains={key: {"b": fieldcrypto.blind_index(text)}}) | Q(custom__contains={key: text})


def filters_for(definitions) -> dict[str, django_filters.Filter]:
    """List filters for the filterable custom fields, each using the JSONB GIN index or a cast."""
    result = {}
    for definition in definitions:
        if not definition.filterable:
            continue
        key, label, name = definition.key, label_of(definition), PREFIX + definition.key
        options = [(c, c) for c in definition.choices]
        match definition.field_type:
            case CustomFieldType.CHOICE | CustomFieldType.MULTI_CHOICE:
                result[name] = django_filters.ChoiceFilter(
                    label=label, choices=options, method=_contains_filter(key, definition.field_type)
                )
            case CustomFieldType.NUMBER:
                result[name] = django_filters.RangeFilter(label=label, method=_number_range_filter(key))
            case CustomFieldType.DATE:
                result[name] = django_filters.DateFromToRangeFilter(
                    label=label, method=_text_range_filter(key),
                    widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
                )
            case _ if definition.encrypted:
                # Ciphertext cannot be searched for a part of a value: the whole value, via its blind index.
                result[name] = django_filters.CharFilter(
                    label=label, method=_encrypted_filter(key),
                    widget=forms.TextInput(attrs={"placeholder": _("exact value")}),
                )
            case _:
                result[name] = django_filters.CharFilter(label=label, method=_text_contains_filter(key))
    return result


def _encrypted_filter(key):
    def apply(queryset, name, value):
        return queryset.filter(encrypted_match(key, value)) if value and value.strip() else queryset

    return apply


def _contains_filter(key, field_type):
    def apply(queryset, name, value):
        if not value:
            return queryset
        stored = [value] if field_type == CustomFieldType.MULTI_CHOICE else value
        return queryset.filter(custom__contains={key: stored})  # @> uses the jsonb_path_ops GIN index

    return apply


def _text_contains_filter(key):
    def apply(queryset, name, value):
        return (
            queryset.annotate(**{f"_{name}": KT(f"custom__{key}")}).filter(**{f"_{name}__icontains": value})
            if value
            else queryset
        )

    return apply


def _number_range_filter(key):
    def apply(queryset, name, value):
        if not value:
            return queryset
        number = Cast(F(f"custom__{key}"), DecimalField(max_digits=30, decimal_places=6))
        queryset = queryset.alias(**{f"_{name}": number})
        if value.start is not None:
            queryset = queryset.filter(**{f"_{name}__gte": value.start})
        if value.stop is not None:
            queryset = queryset.filter(**{f"_{name}__lte": value.stop})
        return queryset

    return apply


def _text_range_filter(key):
    def apply(queryset, name, value):
        if not value:
            return queryset
        queryset = queryset.alias(**{f"_{name}": KT(f"custom__{key}")})
        if value.start is not None:
            queryset = queryset.filter(**{f"_{name}__gte": value.start.date().isoformat()})
        if value.stop is not None:
            queryset = queryset.filter(**{f"_{name}__lte": value.stop.date().isoformat()})
        return queryset

    return apply


