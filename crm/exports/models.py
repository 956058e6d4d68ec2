"""Exports: one ExportJob per "export this list" click. The web request only records it and enqueues; the
worker writes the file and the progress, so a reload of the job's page shows where it is.

The job row is the audit record of the export: its insert (who, which list, which filters, which format)
and its status changes land in the audit trail through pghistory's triggers, and every download is
recorded as a manual event of the job.
"""

import pghistory
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportFormat(models.TextChoices):
    XLSX = "xlsx", _("Excel (.xlsx)")
    CSV = "csv", _("CSV (.csv)")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting")
    RUNNING = "running", _("Exporting")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


# The label of the manual audit event written when someone downloads an export's file.
DOWNLOAD_EVENT = "download"


@pghistory.track(
    pghistory.InsertEvent(),
    # Progress (rows_done) is written every ~1,000 rows; only status changes are worth an audit event.
    pghistory.UpdateEvent(condition=pghistory.AnyChange("status")),
    pghistory.ManualEvent(DOWNLOAD_EVENT),
    model_name="ExportJobEvent",
)
class ExportJob(models.Model):
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("exported by"), on_delete=models.PROTECT, related_name="+"
    )
    model_key = models.CharField(_("records"), max_length=100)  # a key of crm.exports.registry
    # The list's query string as the user had it on screen (filters, search, sort); replayed by the worker.
    query = models.TextField(_("filters"), blank=True)
    format = models.CharField(_("format"), max_length=10, choices=ExportFormat.choices)
    status = models.CharField(_("status"), max_length=20, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows_total = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    rows_done = models.PositiveIntegerField(_("rows written"), default=0)
    file = models.FileField(_("file"), upload_to="exports/%Y/%m/", blank=True)
    error = models.TextField(_("error"), blank=True)
    # Headers, choice labels and the file name are in the requester's language, whatever the worker's.
    language = models.CharField(_("language"), max_length=10, blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="export_job_user_created")]

    def __str__(self):
        return f"{self.model_key} #{self.pk}"

    @property
    def is_pending(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)
