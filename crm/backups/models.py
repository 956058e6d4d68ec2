"""Backups: one row per pg_dump of the database (and a .tar.gz of the uploaded files beside it).

The files live under settings.CRM_BACKUP_DIR; the row keeps their names relative to it, their sizes and SHA-256
checksums, and the exact row counts of the main tables taken in the same snapshot as the dump, which a restore
compares against. A manifest (.json) beside the dump repeats all this, so that a restore on a machine whose own
database is lost still has something to check against.
"""

import pghistory
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class BackupStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pghistory.AnyChange("status")),
    model_name="BackupEvent",
)
class Backup(models.Model):
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=BackupStatus.choices, default=BackupStatus.RUNNING)
    # Names relative to settings.CRM_BACKUP_DIR.
    file = models.CharField(_("database dump"), max_length=255, blank=True)
    size = models.BigIntegerField(_("size"), null=True, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    media_file = models.CharField(_("uploaded files archive"), max_length=255, blank=True)
    media_size = models.BigIntegerField(_("archive size"), null=True, blank=True)
    media_sha256 = models.CharField(_("archive SHA-256"), max_length=64, blank=True)
    # {"customers.customer": 1234, ...}: exact counts, in the dump's snapshot.
    row_counts = models.JSONField(_("row counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    # The last restore drill of this backup (crm.backups.services.backup_restore_drill): restored into a scratch
    # database and counted there. drill_ok None: never drilled.
    drilled_at = models.DateTimeField(_("restore drill"), null=True, blank=True)
    drill_ok = models.BooleanField(_("restore drill passed"), null=True, blank=True)
    drill_report = models.TextField(_("restore drill report"), blank=True)
    # The copy to object storage (settings.STORAGES["backups"], when configured): when it was made, or why it failed.
    offsite_at = models.DateTimeField(_("copied off-site"), null=True, blank=True)
    offsite_error = models.TextField(_("off-site copy error"), blank=True)
    # None when the daily schedule took it.
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("backup")
        verbose_name_plural = _("backups")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["status", "-started_at"], name="backup_status_started")]

    def __str__(self):
        return f"{self.started_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def total_size(self) -> int:
        return (self.size or 0) + (self.media_size or 0)
