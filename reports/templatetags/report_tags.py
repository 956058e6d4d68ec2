"""Showing report cells: money with thousands separators, percentages, counts."""

from decimal import Decimal

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()


@register.filter
def zip_columns(values, columns):
    return list(zip(values, columns, strict=False))


@register.filter
def report_cell(value, column):
    if value is None or value == "":
        return "—"
    if column.percent and isinstance(value, int | float | Decimal):
        return f"{floatformat(float(value) * 100, 1)} %"
    if column.money and isinstance(value, int | float | Decimal):
        return floatformat(value, "2g")
    if column.numeric and isinstance(value, int | float | Decimal):
        return floatformat(value, "g" if isinstance(value, int) else "-1g")
    return value
