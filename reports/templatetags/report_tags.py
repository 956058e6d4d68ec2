"""Showing report cells: money with thousands separators, percentages, counts."""

from decimal import Decimal

from django import template
from django.template.defaultfilters import floatformat
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime

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


def _aligned(column) -> bool:
    return column.numeric or column.money or column.percent


@register.filter
def report_rows(table):
    """The table's body rows as HTML (the first cell links to the list behind the row), built here rather than by a
    template loop over every cell: that loop took about a second for the 13,000 cells of a year's performance per
    rep and month (bench/RESULTS.md, reports). Every value is escaped."""
    classes = ['<td class="text-end">' if _aligned(column) else '<td class="">' for column in table.columns]
    html = []
    for row, link in table.page_rows_with_links():  # one page of a paged table (reports.tables.Table.paginate)
        cells = []
        for index, (value, column) in enumerate(zip(row, table.columns, strict=False)):
            shown = report_cell(value, column)
            if not isinstance(shown, str):  # a date, a number kept as is: as the template would show it
                shown = localize(template_localtime(shown))
            text = conditional_escape(shown)
            if index == 0 and link:
                text = f'<a href="{conditional_escape(link)}">{text}</a>'
            cells.append(f"{classes[index]}{text}</td>")
        html.append("<tr>" + "".join(cells) + "</tr>")
    return mark_safe("\n".join(html))  # noqa: S308 - built from escaped values only
