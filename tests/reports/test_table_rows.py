"""Report tables' rows rendered in Python (reports.templatetags.report_tags.report_rows): what the template loop over
every cell showed, escaped, with the first cell linking to the list behind the row."""

from datetime import date
from decimal import Decimal

from django.template import Context, Template
from django.utils import translation

from reports.tables import Column, Table


def test_rows_show_formatted_escaped_values_and_link_the_first_cell():
    table = Table(key="t", title="", columns=[Column("name"), Column("day"), Column("n", numeric=True),
                                              Column("amount", money=True), Column("share", percent=True)])
    table.add(["<b>客户</b>", date(2025, 6, 20), 1234, Decimal("1234567.5"), 0.125], "/list/?a=1&b=2")
    table.add(["无链接", None, 0, Decimal("0"), None])
    with translation.override("en"):
        html = Template("{% load report_tags %}{{ table|report_rows }}").render(Context({"table": table}))
        day = Template("{{ day }}").render(Context({"day": date(2025, 6, 20)}))
    first, second = html.split("\n")
    assert first.startswith('<tr><td class=""><a href="/list/?a=1&amp;b=2">&lt;b&gt;客户&lt;/b&gt;</a></td>')
    assert f'<td class="">{day}</td>' in first  # the date as the template showed it
    assert '<td class="text-end">1,234</td><td class="text-end">1,234,567.50</td>' in first
    assert '<td class="text-end">12.5 %</td></tr>' in first
    assert second == ('<tr><td class="">无链接</td><td class="">—</td><td class="text-end">0</td>'
                      '<td class="text-end">0.00</td><td class="text-end">—</td></tr>')
