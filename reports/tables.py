"""What a report shows: tables (each exportable to .xlsx, each row optionally a link to the list behind it) and
charts (Apache ECharts options, rendered by static/js/reports.js from a json_script block: no inline script).

A long table (a year of 100 reps per month or per week: 1,200–5,200 rows, about a second to render) can be paged by
the group its rows belong to (a rep): the page shows one page of reps with all their rows, a page control keeps the
report's filters in the URL, and the .xlsx export still has every row."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.core.paginator import Paginator


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
    groups: list = field(default_factory=list)  # per row: the group it belongs to (a rep), for paging
    page: "TablePage | None" = None  # set by paginate: the page shows only these groups' rows

    def add(self, values: list, link: str | None = None, *, group=None) -> None:
        self.rows.append(values)
        self.links.append(link)
        self.groups.append(group)

    def paginate(self, request, *, order: list, per_page: int) -> None:
        """Show the rows of one page of ``order`` (the groups in the order the pages take them), the page named by
        the query parameter ``<key>_page``; the export keeps every row."""
        param = f"{self.key}_page"
        page = Paginator(order, per_page).get_page(request.GET.get(param))
        self.page = TablePage(number=page.number, count=page.paginator.num_pages, first=page.start_index(),
                              last=page.end_index(), total=len(order), shown=set(page.object_list),
                              param=param, query=request.GET.copy())

    def rows_with_links(self):
        return list(zip(self.rows, self.links + [None] * (len(self.rows) - len(self.links)), strict=False))

    def page_rows_with_links(self):
        """The rows the page shows: those of the page's groups when the table is paged (a mail, like the export,
        has every row)."""
        pairs = self.rows_with_links()
        if self.page is None:
            return pairs
        return [pair for pair, group in zip(pairs, self.groups, strict=False) if group in self.page.shown]

    def export_rows(self) -> list[list]:
        """Rows as a spreadsheet gets them: numbers as numbers, percentages as fractions rounded to 4 places."""
        out = []
        for row in self.rows + ([self.totals] if self.totals else []):
            out.append([_cell(value, column) for value, column in zip(row, self.columns, strict=False)])
        return out


@dataclass
class TablePage:
    """One page of a table's groups (reps): the page control's numbers and links, the page's other parameters
    (its filters) kept."""

    number: int
    count: int  # pages
    first: int  # the first and last group shown (1-based) and how many there are
    last: int
    total: int
    shown: set
    param: str
    query: object  # the request's QueryDict (a mutable copy)

    def url(self, number: int) -> str:
        query = self.query.copy()
        query[self.param] = number
        return "?" + query.urlencode()

    def links(self) -> list[tuple[int | None, str]]:
        """(page number, its URL) for the first, last and nearby pages; None marks a gap."""
        wanted = sorted({1, self.count, *range(max(1, self.number - 2), min(self.count, self.number + 2) + 1)})
        out, previous = [], 0
        for number in wanted:
            if number - previous > 1:
                out.append((None, ""))
            out.append((number, self.url(number)))
            previous = number
        return out

    @property
    def previous_url(self) -> str | None:
        return self.url(self.number - 1) if self.number > 1 else None

    @property
    def next_url(self) -> str | None:
        return self.url(self.number + 1) if self.number < self.count else None


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
