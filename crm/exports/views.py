"""Export pages. Jobs are the requester's (and administrators'); anyone else gets 404, never 403."""

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from crm.web.pagination import paginate

from . import registry, selectors, services
from .forms import ExportForm
from .models import ExportStatus
from .writers import WRITERS


@require_POST
def export_create(request):
    form = ExportForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("This export request is incomplete."))
    try:
        # Without the exporter's permission the service raises PermissionDenied: 403.
        job = services.export_job_create(
            actor=request.user, model_key=form.cleaned_data["model"], query=form.cleaned_data["query"],
            fmt=form.cleaned_data["format"],
        )
    except ValidationError as error:
        return HttpResponseBadRequest(" ".join(error.messages))
    return redirect("exports:detail", pk=job.pk)


@require_GET
def export_detail(request, pk):
    job = selectors.get_export_job_or_404(user=request.user, pk=pk)
    exporter = registry.get(job.model_key)
    back_url = ""
    if exporter and exporter.list_url_name:
        query = services.stored_query(job)
        back_url = reverse(exporter.list_url_name) + (f"?{query}" if query else "")
    context = {"job": job, "exporter": exporter, "back_url": back_url}
    # htmx polls the progress fragment every second until the job is finished.
    if request.htmx and not request.htmx.boosted:
        return render(request, "exports/export_detail.html#progress", context)
    return render(request, "exports/export_detail.html", context)


@require_GET
def export_download(request, pk):
    job = selectors.get_export_job_or_404(user=request.user, pk=pk)
    if job.status != ExportStatus.DONE or not job.file:
        raise Http404
    try:
        handle = job.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    services.export_job_download(actor=request.user, job=job)
    return FileResponse(
        handle, as_attachment=True, filename=services.download_name(job), content_type=WRITERS[job.format].content_type
    )


@require_GET
def export_list(request):
    page = paginate(request, selectors.export_job_list(user=request.user))
    exporters = {key: registry.get(key) for key in registry.model_keys()}
    template = "exports/export_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"  # pagination swaps the results alone
    return render(request, template, {"page": page, "exporters": exporters})
