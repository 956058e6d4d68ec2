"""A report as a mail: built as its recipient would see it (his scope, his language), its tables in the message and,
for a recipient who may export them (Report.may_export, as on the page), each as an .xlsx attachment. Charts stay on
the page (a mail cannot run ECharts); the mail links there."""

import io

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest, QueryDict
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from crm.db_routers import reads_from_replica
from crm.exports.writers import XlsxWriter

from .filters import THIS_MONTH, ReportFilterForm
from .models import ReportExport


def filter_form(data: QueryDict, *, user, report) -> ReportFilterForm:
    """The report's filter form for ``user``. Values he may not use (another team, another rep: a manager's filters
    mailed to his rep) are dropped one by one, so the rest (the period) still applies; the filters then narrow to his
    own scope as on his own page."""
    kwargs = {"user": user, "default_period": report.extra.get("default_period", THIS_MONTH)}
    form = ReportFilterForm(data or None, **kwargs)
    if form.is_bound and not form.is_valid():
        data = data.copy()
        for name in form.errors:
            data.pop(name, None)
        form = ReportFilterForm(data or None, **kwargs)
    return form


def build_as(user, report, query: str):
    """(filters, context) of the report with the filters of ``query``, built for ``user`` as his own page would be:
    a report's build function reads the viewer from the request, so it gets a request of his."""
    request = HttpRequest()
    request.method = "GET"
    request.path = reverse("reports:report", args=[report.key])
    request.user = user
    form = filter_form(QueryDict(query or ""), user=user, report=report)
    request.GET = form.data if form.is_bound else QueryDict()
    filters = form.filters()
    context = report.build(request, filters)
    return context.get("filters", filters), context


def xlsx_bytes(table) -> bytes:
    """One report table as an .xlsx file, the same as the page's export of it."""
    buffer = io.BytesIO()
    writer = XlsxWriter(buffer, headers=[str(column.label) for column in table.columns], title=str(table.title))
    writer.write_rows(table.export_rows())
    writer.close()
    return buffer.getvalue()


def _absolute(path: str) -> str:
    return f"{settings.CRM_BASE_URL.rstrip('/')}{path}"


def report_message(*, subscription, report, recipient) -> tuple[EmailMultiAlternatives, list]:
    """The mail of one recipient and the tables it carries. Its figures are read from the reports' replica when
    there is one (crm.db_routers), tables and templates included."""
    with translation.override(recipient.language or settings.LANGUAGE_CODE), reads_from_replica():
        filters, context = build_as(recipient, report, subscription.query)
        tables = context.get("tables", [])
        # Reading the figures is the report's permission; taking them away as files is its export permissions'.
        attached = report.may_export(recipient)
        page = reverse("reports:report", args=[report.key]) + (f"?{subscription.query}" if subscription.query else "")
        values = {
            "report": report, "filters": filters, "tables": tables, "recipient": recipient,
            "subscription": subscription, "base_url": settings.CRM_BASE_URL.rstrip("/"), "report_url": _absolute(page),
            "manage_url": _absolute(reverse("reports:subscription_list")), "attached": attached,
        }
        subject = " ".join(f"[CRM] {report.title} {filters.start:%Y-%m-%d} – {filters.end:%Y-%m-%d}".split())
        message = EmailMultiAlternatives(
            subject=subject, body=render_to_string("reports/subscription_mail.txt", values),
            from_email=settings.DEFAULT_FROM_EMAIL, to=[recipient.email])
        message.attach_alternative(render_to_string("reports/subscription_mail.html", values), "text/html")
        for table in tables if attached else []:
            name = f"{report.key}-{table.key}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.xlsx"
            message.attach(name, xlsx_bytes(table), XlsxWriter.content_type)
    return message, tables


def send_report(*, subscription, report, recipient) -> int:
    """Mail the report to one recipient; the figures that left the CRM are recorded, as a download's are."""
    message, tables = report_message(subscription=subscription, report=report, recipient=recipient)
    message.send()
    query = f"subscription={subscription.pk}&{subscription.query}".rstrip("&")[:500]
    ReportExport.objects.bulk_create([ReportExport(user=recipient, report=report.key, table=table.key, query=query)
                                      for table in tables])
    return 1
