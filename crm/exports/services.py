"""Writes on exports: request one (web), run one (worker), record a download.

The worker streams: records come from a server-side cursor in chunks, go through the exporter's columns
and into a streaming writer; progress is written every ~1,000 rows in autocommit, so the job's page sees
it while the export runs (the server-side cursor is declared WITH HOLD outside a transaction, so those
commits do not close it).
"""

import logging
import secrets
import tempfile

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm import fieldcrypto

from . import registry
from .models import DOWNLOAD_EVENT, ExportFormat, ExportJob, ExportStatus
from .writers import WRITERS, neutralize_row

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1_000  # rows per fetch from the server-side cursor (and per look-up of owner and team names)
PROGRESS_EVERY = 1_000  # rows between progress writes (checked once per chunk)
MAX_QUERY_LENGTH = 4_000


def may_export(user, model_key: str) -> bool:
    exporter = registry.get(model_key)
    return exporter is not None and user.is_active and user.has_perm(exporter.permission)


SEALED = "sealed:"  # an ExportJob.query kept encrypted (see export_job_create)


def stored_query(job: ExportJob) -> str:
    """The job's filters as the list had them."""
    if job.query.startswith(SEALED):
        return fieldcrypto.open_envelope({"c": job.query.removeprefix(SEALED), "b": ""})
    return job.query


@transaction.atomic
def export_job_create(*, actor, model_key: str, query: str, fmt: str, language: str | None = None) -> ExportJob:
    """Record an export request and hand it to a worker once the row is committed."""
    from .tasks import run_export  # tasks import this module

    if registry.get(model_key) is None:
        raise ValidationError(_("These records cannot be exported."))
    if fmt not in ExportFormat.values:
        raise ValidationError(_("Unknown file format."))
    if not may_export(actor, model_key):
        raise PermissionDenied
    query = (query or "").lstrip("?")
    if len(query) > MAX_QUERY_LENGTH:
        raise ValidationError(_("The filters are too long to export."))
    if registry.get(model_key).has_sensitive_filters(QueryDict(query)):
        # An ID number typed into the filters stays out of the export's row and its audit copy as text.
        query = SEALED + fieldcrypto.seal(query)["c"]
    # The request's context (user, URL, address) is already set by the audit middleware; this also names
    # the actor when the service is called from a shell or a script.
    with pghistory.context(user=actor.pk):
        job = ExportJob.objects.create(
            created_by=actor, model_key=model_key, query=query, format=fmt,
            language=language or translation.get_language() or settings.LANGUAGE_CODE,
        )
    transaction.on_commit(lambda: run_export.delay(job.pk))
    return job


def export_job_run(job_id: int) -> ExportJob | None:
    """Write the export's file. Safe to run twice: a finished job is left alone; a job a dead worker left
    running is started over (its state lives in the row, the file is written anew)."""
    claimed = ExportJob.objects.filter(pk=job_id, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]).update(
        status=ExportStatus.RUNNING, started_at=timezone.now(), rows_done=0, error=""
    )
    job = ExportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if not claimed or job is None:
        return job  # done, failed or gone: nothing to do
    # Headers, labels and any error message in the requester's language, whatever the worker's.
    with translation.override(job.language or None):
        try:
            _write(job)
        except Exception as error:
            logger.exception("export %s failed", job_id)
            failed = _("The export failed. Please try again.")
            message = error.messages[0] if isinstance(error, ValidationError) else failed
            ExportJob.objects.filter(pk=job_id).update(
                status=ExportStatus.FAILED, error=message, finished_at=timezone.now()
            )
    job.refresh_from_db()
    return job


def _write(job: ExportJob) -> None:
    exporter = registry.get(job.model_key)
    user = job.created_by
    # Rights are checked again now: they may have been withdrawn while the job waited.
    if exporter is None or not may_export(user, job.model_key):
        raise ValidationError(_("You may no longer export these records."))
    queryset = exporter.queryset(user, QueryDict(stored_query(job)))
    columns = exporter.columns(user)
    getters = [column.value for column in columns]
    total = queryset.order_by().count()
    ExportJob.objects.filter(pk=job.pk).update(rows_total=total)

    writer_class = WRITERS[job.format]
    done = reported = 0
    with tempfile.TemporaryFile() as scratch:
        # Headers too: custom field labels are typed in by administrators.
        headers = neutralize_row([str(c.header) for c in columns])
        writer = writer_class(scratch, headers=headers, title=str(exporter.verbose_name_plural))
        for chunk in exporter.chunks(queryset, CHUNK_SIZE):
            writer.write_rows([neutralize_row([get(record) for get in getters]) for record in chunk])
            done += len(chunk)
            if done - reported >= PROGRESS_EVERY:
                ExportJob.objects.filter(pk=job.pk).update(rows_done=done)
                reported = done
        writer.close()
        scratch.seek(0)
        # A random name: the file holds customer data and must not be guessable under MEDIA_URL.
        name = f"{job.model_key.replace('.', '-')}-{job.pk}-{secrets.token_urlsafe(12)}.{writer_class.extension}"
        job.file.save(name, File(scratch), save=False)
    # Rows added or removed while the file was written: the file is the truth.
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.DONE, file=job.file.name, rows_done=done, rows_total=done, finished_at=timezone.now()
    )


def export_job_download(*, actor, job: ExportJob) -> None:
    """Record in the audit trail that ``actor`` took the file of ``job``."""
    # Downloads are GET requests, which the audit middleware leaves without context: name the actor here.
    with pghistory.context(user=actor.pk):
        pghistory.create_event(job, label=DOWNLOAD_EVENT)


def download_name(job: ExportJob) -> str:
    """The file name the browser saves: what and when, in the requester's language, e.g. 客户-20261124-1530.xlsx."""
    exporter = registry.get(job.model_key)
    with translation.override(job.language or None):
        what = str(exporter.verbose_name_plural) if exporter else job.model_key
    stamp = timezone.localtime(job.created_at).strftime("%Y%m%d-%H%M")
    return f"{what}-{stamp}.{job.format}"
