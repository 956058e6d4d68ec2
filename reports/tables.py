"""What a report shows: tables (each exportable to .xlsx, each row optionally a link to the list behind it) and
charts (Apache ECharts options, rendered by static/js/reports.js from a json_script block: no inline script)."""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Column:
    label: object
    numeric: bool = False
    money: bool = False  # shown with two decimals and thousands separators
    percent: bool = False  # a fraction 0..1 shown as 12.5 %


@dataclass
class Table:
    key: str  # unique within the report: the export URL names it
    title: object
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)  # per row: the drill-down URL (the list behind it)
    totals: list | None = None  # an optional last row (not linked)
    empty: object = ""  # what the page says when there are no rows

    def add(self, values: list, link: str | None = None) -> None:
        self.rows.append(values)
        self.links.append(link)

    def rows_with_links(self):
        return list(zip(self.rows, self.links + [None] * (len(self.rows) - len(self.links)), strict=False))

    def export_rows(self) -> list[list]:
        """Rows as a spreadsheet gets them: numbers as numbers, percentages as fractions rounded to 4 places."""
        out = []
        for row in self.rows + ([self.totals] if self.totals else []):
            out.append([_cell(value, column) for value, column in zip(row, self.columns, strict=False)])
        return out


def _cell(value, column: Column):
    if value is None:
        return ""
    if column.percent and isinstance(value, int | float | Decimal):
        return round(float(value), 4)
    if isinstance(value, Decimal):
        return float(value) if column.money or column.numeric else str(value)
    return value


@dataclass
class Chart:
    key: str
    title: object
    option: dict  # an ECharts option; strings in it must already be translated (str), never lazy
    height: int = 320
    # A click on a data item opens this URL with {name} replaced by the item's name (a stage, a month…);
    # links keyed by item name for anything that is not a simple template.
    links: dict[str, str] = field(default_factory=dict)

    @property
    def data_id(self) -> str:
        return f"chart-{self.key}"

    @property
    def links_id(self) -> str:
        return f"chart-links-{self.key}"
