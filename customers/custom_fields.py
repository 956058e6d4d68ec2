"""Admin-defined custom fields: form fields for them, validation, display and list filters.

Values are stored in ``Customer.custom`` (JSONB) as JSON-native values: text and choices as strings,
numbers as numbers, dates as ISO strings (which sort and compare correctly as text), multi-choice as a
list of strings.
"""

import datetime
from decimal import Decimal

import django_filters
from django import forms
from django.db.models import DecimalField, F
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils.translation import get_language

from .choices import CustomFieldType
from .models import CustomFieldDefinition

PREFIX = "cf_"


def active_definitions():
    return list(CustomFieldDefinition.objects.filter(is_active=True))


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


def display(definition: CustomFieldDefinition, value) -> str:
    if value in (None, "", []):
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def add_form_fields(form: forms.Form, definitions, custom_values: dict) -> None:
    for definition in definitions:
        name = PREFIX + definition.key
        form.fields[name] = form_field(definition)
        if not form.is_bound:
            form.initial[name] = from_json(definition, custom_values.get(definition.key))


def collect(cleaned_data: dict, definitions, previous: dict) -> dict:
    """The custom dict to store: edited values replace old ones; keys of retired fields are kept."""
    custom = dict(previous or {})
    for definition in definitions:
        value = to_json(cleaned_data.get(PREFIX + definition.key))
        if value is None:
            custom.pop(definition.key, None)
        else:
            custom[definition.key] = value
    return custom


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
            case _:
                result[name] = django_filters.CharFilter(label=label, method=_text_contains_filter(key))
    return result


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


