"""Report pages: the index of the reports the viewer may open, a report with its filters, a table of it as .xlsx.
Thin: the figures come from each report's build function (reports/*_reports.py), over scoped querysets, read from
the reports' replica when there is one (crm.db_routers)."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from crm.db_routers import report_reads
from crm.exports.writers import XlsxWriter

from . import registry
from .filters import ReportFilterForm
from .models import ReportExport


def _report(request, key):
    report = registry.get(key)
    if not report.allowed(request.user):
        raise PermissionDenied
    return (report, *_build(request, report))


def _build(request, report):
    form = ReportFilterForm(request.GET or None, user=request.user,
                            default_period=report.extra.get("default_period", "this_month"))
    filters = form.filters()
    context = report.build(request, filters)
    return form, filters, context


@require_GET
def report_index(request):
    reports = registry.available(request.user)
    if not reports:
        raise PermissionDenied
    sections = {}
    for report in reports:
        sections.setdefault(str(report.section), []).append(report)
    return render(request, "reports/index.html", {"sections": sections})


@require_GET
@report_reads
def report_page(request, key):
    report, form, filters, context = _report(request, key)
    query = urlencode(filters.query())
    return render(request, report.template, {
        "report": report, "form": form, "filters": filters, "query": query, "reports": registry.available(request.user),
        "may_export": report.may_export(request.user), **context,
    })


@require_GET
@report_reads
def report_export(request, key, table):
    report = registry.get(key)
    # A table taken away as a file needs the export permission of the records behind its rows, as their lists'
    # exports do (crm.exports), not only the right to read the page; refused with 403 like exports:create, before
    # anything is computed. Record scope still comes from the build (a row outside it is never in the table).
    if not report.may_export(request.user):
        raise PermissionDenied
    _form, filters, context = _build(request, report)
    found = next((t for t in context.get("tables", []) if t.key == table), None)
    if found is None:
        raise Http404
    response = HttpResponse(content_type=XlsxWriter.content_type)
    name = f"{report.key}-{table}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = XlsxWriter(response, headers=[str(c.label) for c in found.columns], title=str(found.title))
    writer.write_rows(found.export_rows())
    writer.close()
    # Figures that leave the CRM are recorded (who, which report and filters, when).
    ReportExport.objects.create(user=request.user, report=report.key, table=table,
                                query=request.GET.urlencode()[:500])
    return response
