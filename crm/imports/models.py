"""Imports: one ImportJob per uploaded file drives everything, its rows wait in ImportRow until committed.

A job moves uploaded → parsed (headers read, mapping proposed) → validating → validated (preview shown)
→ committing → committed → (undone); or ends failed / cancelled. The worker writes the state; the pages
only read it, so a reload shows where the job is.
"""

import pghistory
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Reading the file")
    PARSED = "parsed", _("Waiting for the column mapping")
    VALIDATING = "validating", _("Checking rows")
    VALIDATED = "validated", _("Ready to import")
    COMMITTING = "committing", _("Importing")
    COMMITTED = "committed", _("Imported")
    UNDOING = "undoing", _("Undoing")
    UNDONE = "undone", _("Undone")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


# States in which a worker is (or should be) busy with the job; the watchdog looks after these.
RUNNING_STATES = [ImportStatus.UPLOADED, ImportStatus.VALIDATING, ImportStatus.COMMITTING, ImportStatus.UNDOING]


class DuplicateMode(models.TextChoices):
    SKIP = "skip", _("Skip them")
    FILL = "fill", _("Update: fill only empty fields")
    OVERWRITE = "overwrite", _("Update: overwrite with the file's values")
    CREATE = "create", _("Create them anyway")


class OwnerMode(models.TextChoices):
    ME = "me", _("Me")
    USER = "user", _("A chosen user")
    COLUMN = "column", _("The owner column of the file (user name)")
    POOL = "pool", _("The public pool")


class RowAction(models.TextChoices):
    CREATE = "create", _("new")
    UPDATE = "update", _("update")
    SKIP = "skip", _("duplicate, skipped")
    FILE_DUPLICATE = "file_duplicate", _("repeated in the file")
    INVALID = "invalid", _("invalid")


# The sample rows stay out of the history: they are the file's cells as typed, sensitive ones included, and the
# audit tables keep what they hold for ever.
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), exclude=["sample"], model_name="ImportJobEvent")
class ImportJob(models.Model):
    resource = models.CharField(_("records"), max_length=50)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("imported by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    language = models.CharField(_("language"), max_length=10, default=settings.LANGUAGE_CODE)
    status = models.CharField(_("status"), max_length=20, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)

    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    file_name = models.CharField(_("file name"), max_length=255)
    file_size = models.PositiveBigIntegerField(_("size"), default=0)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64, db_index=True)
    file_type = models.CharField(_("file type"), max_length=10)  # xlsx, xls, csv

    # What the parse step found, for the mapping page.
    sheets = models.JSONField(_("sheets"), default=list, blank=True)
    sheet = models.CharField(_("sheet"), max_length=255, blank=True)
    header_row = models.PositiveIntegerField(_("header row"), null=True, blank=True)  # 1-based, as Excel numbers rows
    headers = models.JSONField(_("headers"), default=list, blank=True)
    sample = models.JSONField(_("sample rows"), default=list, blank=True)

    # What the admin chose.
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)  # column index (as text) -> field name
    duplicate_mode = models.CharField(
        _("rows that match an existing record"), max_length=20, choices=DuplicateMode.choices,
        default=DuplicateMode.SKIP,
    )
    owner_mode = models.CharField(_("owner"), max_length=20, choices=OwnerMode.choices, default=OwnerMode.ME)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    skip_invalid = models.BooleanField(_("import the valid rows and skip the invalid ones"), default=False)

    # What validation and commit found.
    total_rows = models.PositiveIntegerField(_("total rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows checked"), default=0)
    counts = models.JSONField(_("row counts by outcome"), default=dict, blank=True)  # RowAction -> rows
    # What the stored rows were checked with (sheet, header row, mapping, owner choice, the resource's fields):
    # the check step re-uses them when the admin's choices are the same, instead of reading the file again.
    checked_with = models.JSONField(_("rows checked with"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    validated_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    committed_at = models.DateTimeField(_("imported at"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, verbose_name=_("undone by"), on_delete=models.SET_NULL,
        related_name="+"
    )

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="import_job_by_user")]

    def __str__(self):
        return self.file_name

    @property
    def resource_label(self) -> str:
        from . import resources

        return str(resources.get(self.resource).label)

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING_STATES

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


class ImportRow(models.Model):
    """One data row of the file, as validation left it; the commit reads these, undo reads them back."""

    # No index of its own (import_row_unique starts with the job) and no constraint in the database: every row of a
    # 100,000-row file looked its job up again when the check's transaction committed, 0.5 s of it. The rows are
    # only written by the job's worker, for a job it has locked; deleting a job deletes its rows (Django's CASCADE).
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows", db_index=False,
                            db_constraint=False)
    row_number = models.PositiveIntegerField()  # the row's number in the sheet, 1-based as Excel shows it
    action = models.CharField(max_length=20, choices=RowAction.choices)
    data = models.JSONField(default=dict)  # cleaned values, by model field name
    raw = models.JSONField(default=list)  # the row's cells as text, for the error report
    errors = models.JSONField(default=list)  # [{"column": header, "message": text}]
    # Keys that find the same record twice (normalized mobile, email, name + company).
    key_mobile = models.CharField(max_length=32, blank=True)
    key_email = models.CharField(max_length=254, blank=True)
    key_name = models.CharField(max_length=420, blank=True)
    duplicate_of_row = models.PositiveIntegerField(null=True)
    object_id = models.BigIntegerField(null=True)  # the record created or updated
    # The id a valid row's record would get if created, drawn from the table's sequence when the rows are checked:
    # object_id starts as this and stays so unless the row matches an existing record. Drawn ahead so that the
    # commit does not have to write every row again to give it an id (~1 s per 100,000 rows).
    reserved_id = models.BigIntegerField(null=True)
    before = models.JSONField(null=True)  # an updated record's values before the import, for undo

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "row_number"], name="import_row_unique")]

    def __str__(self):
        return f"{self.job_id}:{self.row_number}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="ImportTemplateEvent")
class ImportTemplate(models.Model):
    """A remembered column mapping: the same headers get the same fields next time."""

    resource = models.CharField(max_length=50)
    name = models.CharField(_("name"), max_length=100)
    mapping = models.JSONField(default=dict)  # normalized header text -> field name
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("import template")
        verbose_name_plural = _("import templates")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["resource", "name"], name="import_template_unique")]

    def __str__(self):
        return self.name
