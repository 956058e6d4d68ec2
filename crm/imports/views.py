"""Import pages: upload, the job page (progress, mapping, preview, result), commit, undo, error report.

Each view takes the job from crm.imports.permissions (404 outside the user's imports), calls one service
and answers with a page, a partial for htmx polling, or a redirect.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.web.pagination import paginate

from . import permissions, resources, services
from .forms import MappingForm, UploadForm
from .models import ImportRow, ImportStatus, RowAction


def _require_import_permission(request):
    if not permissions.may_import(request.user):
        raise PermissionDenied


@require_GET
def import_list(request):
    _require_import_permission(request)
    page = paginate(request, permissions.jobs_for(request.user))
    return render(request, "imports/import_list.html", {"page": page, "form": UploadForm(user=request.user)})


@require_http_methods(["GET", "POST"])
def import_new(request):
    _require_import_permission(request)
    form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.import_job_create(
                actor=request.user, resource_key=form.cleaned_data["resource"], upload=form.cleaned_data["file"]
            )
        except ValidationError as error:
            form.add_error("file", error)
        else:
            return redirect("imports:detail", pk=job.pk)
    return render(request, "imports/import_new.html", {"form": form})


@require_GET
def import_detail(request, pk):
    job = services.live_progress(permissions.get_job_or_404(request.user, pk))
    context = {"job": job, "phase": services.phase(job), "statuses": ImportStatus, "actions": RowAction}
    if job.status == ImportStatus.PARSED or (job.status == ImportStatus.FAILED and job.headers):
        context["form"] = MappingForm(job=job, user=request.user)
    if job.status in (ImportStatus.VALIDATED, ImportStatus.COMMITTED, ImportStatus.UNDONE):
        context.update(_preview(request, job))
    if job.status == ImportStatus.VALIDATED:
        context["form"] = MappingForm(job=job, user=request.user)
        context["earlier"] = services.earlier_import_of_same_file(job)
    if request.htmx and request.GET.get("part") == "status":
        if not job.is_running:  # finished: the whole page changes (mapping, preview, result)
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return render(request, "imports/import_detail.html#status", context)
    if request.htmx and "page" in request.GET and "problems" in context:
        return render(request, "imports/_preview.html#problems", context)
    return render(request, "imports/import_detail.html", context)


def _preview(request, job):
    rows = ImportRow.objects.filter(job=job)
    columns = services.preview_columns(job)
    resource = resources.get(job.resource)
    ready = rows.filter(action__in=[RowAction.CREATE, RowAction.UPDATE]).order_by("row_number")
    problems = rows.filter(action=RowAction.INVALID).order_by("row_number").only("row_number", "errors")
    return {
        "columns": columns,
        "preview": [(row, services.preview_cells(row, columns, resource)) for row in ready[: services.PREVIEW_ROWS]],
        "duplicates": [
            (row, services.preview_cells(row, columns, resource))
            for row in rows.filter(action__in=[RowAction.SKIP, RowAction.FILE_DUPLICATE]).order_by("row_number")[:50]
        ],
        "problems": paginate(request, problems, per_page=50),
    }


@require_POST
def import_configure(request, pk):
    job = permissions.get_job_or_404(request.user, pk)
    form = MappingForm(request.POST, job=job, user=request.user)
    if form.is_valid():
        try:
            services.import_job_configure(
                actor=request.user, job=job, sheet=form.cleaned_data.get("sheet") or "",
                header_row=form.cleaned_data.get("header_row"), mapping=form.mapping(),
                duplicate_mode=form.cleaned_data["duplicate_mode"], owner_mode=form.cleaned_data["owner_mode"],
                owner=form.cleaned_data.get("owner"), skip_invalid=form.cleaned_data["skip_invalid"],
                template_name=form.cleaned_data["template_name"].strip(),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("imports:detail", pk=job.pk)
    context = {"job": job, "form": form, "statuses": ImportStatus, "actions": RowAction, "phase": ""}
    return render(request, "imports/import_detail.html", context, status=200)


def _act(request, pk, service, success: str):
    job = permissions.get_job_or_404(request.user, pk)
    try:
        service(actor=request.user, job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, success)
    return redirect("imports:detail", pk=job.pk)


@require_POST
def import_commit(request, pk):
    if request.POST.get("skip_invalid"):
        services.import_job_skip_invalid(actor=request.user, job=permissions.get_job_or_404(request.user, pk))
    return _act(request, pk, services.import_job_request_commit, _("Importing. You can leave this page; the import "
                                                                  "goes on in the background."))


@require_POST
def import_cancel(request, pk):
    return _act(request, pk, services.import_job_cancel, _("Import cancelled. Nothing was written."))


@require_http_methods(["GET", "POST"])
def import_undo(request, pk):
    job = permissions.get_job_or_404(request.user, pk)
    if request.method == "POST":
        return _act(request, pk, services.import_job_request_undo, _("Undoing the import."))
    context = {"job": job, "changed": services.changed_since(job), "resource": resources.get(job.resource)}
    return render(request, "imports/import_confirm_undo.html", context)


@require_GET
def import_errors(request, pk):
    job = permissions.get_job_or_404(request.user, pk)
    response = HttpResponse(
        services.error_report(job),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    stem = job.file_name.rsplit(".", 1)[0]
    suffix = _("rejected rows")  # not inside the f-string, where makemessages cannot see it
    response["Content-Disposition"] = _attachment(f"{stem}-{suffix}.xlsx")
    return response


def _attachment(filename: str) -> str:
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "ignore").decode() or "rows.xlsx"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
