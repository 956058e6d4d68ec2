"""The reports the CRM offers, registered by the modules that compute them (reports/*_reports.py, from
ReportsConfig.ready()). A report is a page of tables and charts over the records its viewer may see; it is reached
at /reports/<key>/ with the filters in the query string (a shareable URL), and each of its tables exports to .xlsx.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import Http404


@dataclass(frozen=True)
class Report:
    key: str
    title: object  # a lazy translation
    section: object  # the index groups reports by section: sales, customers, activity
    permissions: tuple[str, ...]  # all needed to open the report (module permissions of the data it reads)
    # build(request, filters) -> dict: the template's context; tables under "tables" (a list of tables.Table),
    # charts under "charts" (a list of tables.Chart). ``filters`` is the cleaned reports.filters.ReportFilters.
    build: Callable
    template: str = "reports/report.html"
    description: object = ""
    order: int = 100
    filters: tuple[str, ...] = ("period", "team", "owner")  # which filter fields the page shows
    extra: dict = field(default_factory=dict)
    # Needed on top of ``permissions`` to take the tables away as .xlsx (a download or a scheduled mail's
    # attachments): the export permission of the records the rows are made of, as their list's export asks.
    # None (not declared) exports nothing, so a new report cannot leak records before someone decides.
    export_permissions: tuple[str, ...] | None = None

    def allowed(self, user) -> bool:
        return user.is_authenticated and user.has_perms(self.permissions)

    def may_export(self, user) -> bool:
        return self.export_permissions is not None and self.allowed(user) and user.has_perms(self.export_permissions)


_REPORTS: dict[str, Report] = {}


def register(report: Report) -> None:
    _REPORTS[report.key] = report


def get(key: str) -> Report:
    try:
        return _REPORTS[key]
    except KeyError:
        raise Http404 from None


def available(user) -> list[Report]:
    return sorted((r for r in _REPORTS.values() if r.allowed(user)), key=lambda r: (r.order, r.key))


def all_reports() -> list[Report]:
    return sorted(_REPORTS.values(), key=lambda r: (r.order, r.key))
