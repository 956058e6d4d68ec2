"""The import job's steps. Requests only store the file and record choices; every step that reads the
file or writes records runs in a worker (crm.imports.tasks) and keeps its state in the ImportJob row.

Safety of the writes: the commit of a job is one transaction (all its rows or none), guarded by a
PostgreSQL advisory lock held while a worker works on the job, and by the job's status, re-read under
the lock. A worker killed mid-commit rolls the transaction back and frees the lock with its connection;
the watchdog then hands the job to another worker, which starts the commit again from the same rows.
Running a step twice does nothing the second time.
"""

import contextlib
import hashlib
import io
import itertools
import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import orjson
import pghistory
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm import fieldcrypto
from crm.accounts.selectors import assignable_users

from . import files, parts, resources
from .cells import text as cell_text
from .helper import Helper
from .models import (
    RUNNING_STATES,
    DuplicateMode,
    ImportJob,
    ImportRow,
    ImportStatus,
    ImportTemplate,
    OwnerMode,
    RowAction,
)
from .sql import MATCHED, bulk_write_settings, reserve_ids

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 7301  # first key of pg_advisory_lock(int, int): "import jobs"
PREVIEW_ROWS = 20
PROGRESS_EVERY = 5_000
# Checked rows go to the COPY this many at a time: each write of psycopg's is a round through libpq (100,000 of
# them cost the check 0.5 s), while PostgreSQL still gets the rows soon enough to store them as they come.
COPY_EVERY = 200
HEADER_SEARCH_ROWS = 30
MAX_ATTEMPTS = 3
STALLED_AFTER = timedelta(minutes=2)


def _enqueue(task_name: str, job_id: int) -> None:
    from . import tasks

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.delay(job_id))


@contextlib.contextmanager
def worker_lock(job_id: int):
    """True while this connection holds the job's advisory lock; False when another worker has it.
    Session-level: it outlives the transactions inside, and dies with the connection of a killed worker."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, job_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, job_id])


def _set_phase(job_id: int, text: str) -> None:
    # Inside the commit's transaction the job row cannot show progress to others; Redis can.
    cache.set(f"imports:{job_id}:phase", text, timeout=3600)


def phase(job: ImportJob) -> str:
    return cache.get(f"imports:{job.pk}:phase") or ""


def _set_progress(job_id: int, processed: int) -> None:
    # The rows are checked inside one COPY, which keeps the worker's connection busy until the end: the count
    # of checked rows reaches the progress bar through Redis.
    cache.set(f"imports:{job_id}:processed", processed, timeout=3600)


def live_progress(job: ImportJob) -> ImportJob:
    """The job with the count of rows checked so far, while a worker is checking them."""
    if job.status == ImportStatus.VALIDATING:
        job.processed_rows = cache.get(f"imports:{job.pk}:processed", job.processed_rows)
    return job


# ------------------------------------------------------------------------------------------- upload


@transaction.atomic
def import_job_create(*, actor, resource_key: str, upload) -> ImportJob:
    """Store the uploaded file and queue its reading. Refuses what is not a spreadsheet, by content."""
    resource = resources.get(resource_key)
    if not actor.has_perm(resource.permission):
        raise PermissionDenied
    limit = files.limits().max_bytes
    if upload.size > limit:
        raise ValidationError(_("The file is %(size)s MB; the limit is %(limit)s MB.")
                              % {"size": f"{upload.size / 1_048_576:.1f}", "limit": f"{limit / 1_048_576:g}"})
    if upload.size == 0:
        raise ValidationError(_("The file is empty."))
    upload.seek(0)
    head = upload.read(8192)
    try:
        file_type = files.sniff_type(head)
    except files.FileProblem as problem:
        raise ValidationError(str(problem)) from None
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    job = ImportJob(
        resource=resource_key, created_by=actor, language=translation.get_language() or "zh-hans",
        file_name=upload.name[:255], file_size=upload.size, file_sha256=digest.hexdigest(), file_type=file_type,
    )
    job.file.save(f"{digest.hexdigest()[:16]}.{file_type}", upload, save=False)
    job.save()
    _enqueue("parse_import", job.pk)
    return job


def earlier_import_of_same_file(job: ImportJob) -> ImportJob | None:
    return (
        ImportJob.objects.filter(file_sha256=job.file_sha256, resource=job.resource, status=ImportStatus.COMMITTED)
        .exclude(pk=job.pk).order_by("-committed_at").first()
    )


# -------------------------------------------------------------------------------------------- parse


def import_job_parse(job_id: int) -> None:
    """Worker: check the file, find the sheet's header row, propose a column mapping."""
    with worker_lock(job_id) as mine:
        if not mine:
            return
        job = ImportJob.objects.get(pk=job_id)
        if job.status != ImportStatus.UPLOADED:
            return
        with translation.override(job.language), _failing_on_surprise(job):
            try:
                head, sheet = _parse(job)
            except files.FileProblem as problem:
                _fail(job, str(problem))
                return
            # The rows are checked now, with the proposed mapping, while the admin reads the mapping page:
            # when he keeps it, the check step only has to sort the rows (new, duplicate, invalid).
            _precheck(job, head, sheet)
    _hand_over(job_id)


def _parse(job: ImportJob) -> tuple[list, files.Sheet]:
    """Find the header row and propose a mapping; returns the rows read so far and the sheet, for the rest."""
    resource = resources.get(job.resource)
    path = job.file.path
    files.check_file(path, job.file_type)
    job.sheets = files.sheet_names(path, job.file_type)
    if job.sheets and job.sheet not in job.sheets:
        job.sheet = job.sheets[0]
    sheet = files.open_sheet(path, job.file_type, job.sheet)
    rows = list(itertools.islice(sheet, HEADER_SEARCH_ROWS))
    total = sheet.total_rows()
    fields = resource.fields()
    if job.header_row:
        index = next((i for i, (number, _c) in enumerate(rows) if number == job.header_row), None)
    else:
        index = resources.find_header_row(rows, fields)
    if index is None:
        raise files.FileProblem(_("The sheet %(sheet)s is empty.") % {"sheet": job.sheet or job.file_name})
    header_number, header_cells = rows[index]
    job.header_row = header_number
    job.headers = [_header_text(cell, i) for i, cell in enumerate(header_cells)]
    job.sample = [
        [cell_text(cell) for cell in cells] for _n, cells in rows[index + 1 : index + 6]
    ]
    remembered = remembered_mapping(job.resource)
    if not job.mapping:
        job.mapping = resources.propose_mapping(job.headers, fields, remembered)
    job.total_rows = max(0, total - header_number)
    job.status = ImportStatus.PARSED
    job.error = ""
    job.save()
    return rows, sheet


def _discard_rows_if_cancelled(job_id: int) -> None:
    if ImportJob.objects.filter(pk=job_id, status=ImportStatus.CANCELLED).exists():
        ImportRow.objects.filter(job_id=job_id).delete()


def _precheck(job: ImportJob, head: list, sheet: files.Sheet) -> None:
    """Check the rows with the proposed choices. Never fails the job: whatever goes wrong here, the check
    step meets again and reports."""
    resource = resources.get(job.resource)
    inputs = check_inputs(job, resource)
    digest = _digest(inputs)
    rows = files.read_rows(job.file.path, job.file_type, job.sheet) if sheet.walked else itertools.chain(head, sheet)
    rows, helper_rows = _shared_out(sheet, rows)
    try:
        _check_rows(job, resource, resource.prepare(job), rows, inputs,
                    superseded=lambda: cache.get(_chosen_key(job.pk), digest) != digest, helper_rows=helper_rows)
    except _Superseded:
        _discard_rows_if_cancelled(job.pk)
    except files.FileProblem:
        pass
    except Exception:
        log.warning("import %s: checking the rows ahead failed; the check step will do it", job.pk, exc_info=True)


def _shared_out(sheet: files.Sheet, rows) -> tuple:
    """(the rows this worker checks, the rows a helper process checks meanwhile, or None): a helper for the sheets
    read row by row in pieces (crm.imports.files.Sheet.shares), when CRM_IMPORT_CHECK_HELPER allows it."""
    if sheet.shares is None or not settings.CRM_IMPORT_CHECK_HELPER:
        return rows, None
    own, helper = sheet.shares(2)
    sheet.close()  # the shares read the part from its start: the stream the first rows were read from goes
    return own, helper


def _hand_over(job_id: int) -> None:
    """A step the admin asked for while this worker held the job's lock found the lock taken and left the
    job alone: send it again."""
    from . import tasks

    status = ImportJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    if status in (ImportStatus.UPLOADED, ImportStatus.VALIDATING):
        getattr(tasks, _TASK_FOR_STATUS[status]).delay(job_id)


def check_inputs(job: ImportJob, resource) -> dict:
    """Everything the checked rows depend on besides the file: equal inputs give equal rows."""
    fields = json.dumps([(f.name, str(f.label), f.required) for f in resource.fields()], ensure_ascii=False,
                        default=str) + resource.check_signature(job)
    return {"sheet": job.sheet, "header_row": job.header_row, "mapping": job.mapping, "owner_mode": job.owner_mode,
            "owner": job.owner_id, "language": job.language,
            "fields": hashlib.sha256(fields.encode()).hexdigest()}


def _digest(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _chosen_key(job_id: int) -> str:
    # The admin's latest choices, so that a check running with other ones stops early (see _precheck).
    return f"imports:{job_id}:chosen"


class _Superseded(Exception):
    """The rows being checked will not be used: the admin chose otherwise, or the job was cancelled."""


def _header_text(cell, index: int) -> str:
    text = cell_text(cell)
    return text or _("(column %(number)s)") % {"number": index + 1}


def remembered_mapping(resource_key: str) -> dict[str, str]:
    """Header → field from every saved template of this kind of record, newer templates winning."""
    mapping = {}
    for template in ImportTemplate.objects.filter(resource=resource_key).order_by("created_at"):
        mapping.update(template.mapping)
    return mapping


# ---------------------------------------------------------------------------------------- configure


@transaction.atomic
def import_job_configure(*, actor, job: ImportJob, sheet: str, header_row: int | None, mapping: dict,
                         duplicate_mode: str, owner_mode: str, owner, skip_invalid: bool,
                         template_name: str = "") -> ImportJob:
    """Record the admin's choices. A new sheet or header row means reading the file again; otherwise the
    rows are checked next."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status not in (ImportStatus.PARSED, ImportStatus.VALIDATED, ImportStatus.FAILED):
        raise ValidationError(_("This import can no longer be changed."))
    if owner_mode in (OwnerMode.USER, OwnerMode.COLUMN) and not actor.has_perm("customers.assign_customer"):
        raise ValidationError(_("You may not assign records to other users."))
    if owner_mode == OwnerMode.USER:
        if owner is None or not assignable_users(user=actor).filter(pk=owner.pk).exists():
            raise ValidationError(_("Choose a user you may assign records to."))
    resource = resources.get(job.resource)
    names = {f.name for f in resource.fields()}
    mapping = {str(col): name for col, name in mapping.items() if name in names}
    if len(set(mapping.values())) != len(mapping):
        raise ValidationError(_("Each field can be taken from one column only."))
    if owner_mode == OwnerMode.COLUMN and "owner" not in mapping.values():
        raise ValidationError(_("Choose which column holds the owner."))
    if not mapping:
        raise ValidationError(_("Choose at least one column to import."))

    new_sheet = bool(sheet) and sheet != job.sheet
    new_header_row = bool(header_row) and header_row != job.header_row
    job.duplicate_mode, job.owner_mode, job.skip_invalid = duplicate_mode, owner_mode, skip_invalid
    job.owner = owner if owner_mode == OwnerMode.USER else None
    if template_name:
        ImportTemplate.objects.update_or_create(
            resource=job.resource, name=template_name,
            defaults={"created_by": actor, "mapping": {
                resources.normalize_header(job.headers[int(col)]): name
                for col, name in mapping.items() if int(col) < len(job.headers)
            }},
        )
    if new_sheet or new_header_row:
        job.sheet = sheet or job.sheet
        job.header_row = None if new_sheet else header_row  # a new sheet: find its header row again
        job.mapping = {}
        job.status = ImportStatus.UPLOADED
        job.save()
        cache.delete(_chosen_key(job.pk))
        _enqueue("parse_import", job.pk)
        return job
    job.mapping = mapping
    cache.set(_chosen_key(job.pk), _digest(check_inputs(job, resource)), timeout=3600)
    job.status = ImportStatus.VALIDATING
    job.processed_rows = 0
    _set_progress(job.pk, 0)  # not the count of an earlier check of this job
    job.counts = {}
    job.error = ""
    job.save()
    _enqueue("validate_import", job.pk)
    return job


# --------------------------------------------------------------------------------------------- validate


def import_job_validate(job_id: int) -> None:
    """Worker: clean every row, store it in ImportRow, classify new / update / duplicate / invalid."""
    with worker_lock(job_id) as mine:
        if not mine:
            return
        job = ImportJob.objects.select_related("created_by", "owner").get(pk=job_id)
        if job.status != ImportStatus.VALIDATING:
            return
        with translation.override(job.language), _failing_on_surprise(job):
            try:
                _validate(job)
            except files.FileProblem as problem:
                _fail(job, str(problem))


def _validate(job: ImportJob) -> None:
    resource = resources.get(job.resource)
    inputs = check_inputs(job, resource)
    if job.checked_with == inputs:
        # Checked ahead with these very choices (see _precheck), or by an earlier run of this step: only the
        # sorting of the rows, which depends on the duplicate choice, is done again.
        processed = _unsort_rows(job)
    else:
        sheet = files.open_sheet(job.file.path, job.file_type, job.sheet)
        rows, helper_rows = _shared_out(sheet, iter(sheet))
        try:
            processed = _check_rows(job, resource, resource.prepare(job), rows, inputs, helper_rows=helper_rows)
        except _Superseded:
            _discard_rows_if_cancelled(job.pk)
            return  # cancelled meanwhile
    with connection.cursor() as cursor:
        # Fresh statistics, or the planner takes 100,000 new rows for a handful and matches them by nested
        # loops (20 s instead of 0.8 s at 100,000 rows).
        # Only the columns the matching reads: the JSON columns would double the time of it.
        cursor.execute("ANALYZE imports_importrow (job_id, action, row_number, key_mobile, key_email, key_name, "
                       "object_id)")

    with transaction.atomic(), connection.cursor() as cursor:
        _classify(cursor, job, resource)
        counts = dict(ImportRow.objects.filter(job=job).values_list("action").annotate(n=Count("id")).order_by())
    job.counts = {action: counts.get(action, 0) for action in RowAction.values}
    job.total_rows = job.processed_rows = processed
    job.status = ImportStatus.VALIDATED
    job.validated_at = timezone.now()
    job.save()


def _check_rows(job: ImportJob, resource, context: dict, rows, inputs: dict, superseded=None,
                helper_rows=None) -> int:
    """Clean every data row of ``rows`` into ImportRow, replacing the job's earlier rows; returns how many
    rows were checked. ``superseded()``, asked now and then, tells that the rows will not be used. With
    ``helper_rows``, a forked process (crm.imports.helper) cleans those rows meanwhile.

    One COPY for the whole file, fed a few hundred rows at a time: PostgreSQL stores the rows on the other core
    while this process cleans the next ones (batches of COPY made the two wait for each other). One transaction
    too: a worker killed on the way leaves no row behind, and the next attempt starts from the file again."""
    processed = 0
    copy_sql = ("COPY imports_importrow (job_id, row_number, action, data, raw, errors, key_mobile, key_email, "
                "key_name, object_id, reserved_id) FROM STDIN")
    helper, layout = None, _layout(job, resource)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM imports_importrow WHERE job_id = %s", [job.pk])
        # As many ids as the sheet has rows; rows that find none (past the sheet's announced size, or past its
        # half of them for a process sharing the rows with a helper) are given theirs by the commit.
        reserved = reserve_ids(cursor, resource.table, job.total_rows)
        with connection.execute_wrapper(_no_query_during_copy):
            try:
                if helper_rows is not None:
                    half = len(reserved) // 2
                    ids, reserved = iter(reserved[half:]), reserved[:half]
                    helper = Helper(lambda: _checked_lines(job, resource, context, layout, helper_rows, ids))
                with cursor.copy(copy_sql) as copy:
                    own = _checked_lines(job, resource, context, layout, rows, iter(reserved))
                    for text, count in itertools.chain(own, helper.rest() if helper else ()):
                        copy.write(text)
                        for more, counted in helper.ready() if helper else ():
                            copy.write(more)
                            count += counted
                        if (processed + count) // PROGRESS_EVERY > processed // PROGRESS_EVERY:
                            _set_progress(job.pk, processed + count)
                            if superseded and superseded():
                                raise _Superseded
                        processed += count
            finally:
                if helper:
                    helper.stop()
        status = ImportJob.objects.select_for_update().filter(pk=job.pk).values_list("status", flat=True).first()
        if status not in (ImportStatus.PARSED, ImportStatus.VALIDATING):
            raise _Superseded  # cancelled, or sent back to reading the file, while the rows were checked
        ImportJob.objects.filter(pk=job.pk).update(checked_with=inputs)
    return processed


def _layout(job: ImportJob, resource) -> tuple[list, dict, set]:
    """(column, field) of the mapped columns, the header each field is named by in messages, and the columns whose
    cells are kept sealed: read before the COPY starts (resource.fields() queries the custom fields)."""
    fields = {f.name: f for f in resource.fields()}
    columns = [(int(col), fields[name]) for col, name in job.mapping.items() if name in fields]
    header_of = {name: job.headers[int(col)] for col, name in job.mapping.items() if int(col) < len(job.headers)}
    header_of.setdefault("name", str(fields["name"].label) if "name" in fields else "")
    return columns, header_of, {col for col, f in columns if f.sensitive}


def _checked_lines(job: ImportJob, resource, context: dict, layout, rows, reserved) -> Iterator[tuple[str, int]]:
    """The COPY text of the data rows of ``rows``, cleaned, COPY_EVERY rows at a time: (text, rows in it). Valid
    rows take their record's id from ``reserved``."""
    columns, header_of, sealed = layout
    lines = []
    for row_number, cells in rows:
        if row_number <= job.header_row:
            continue
        values = {f.name: (cells[col] if col < len(cells) else "", f.clean) for col, f in columns}
        if all(cell is None or (type(cell) is str and not cell.strip()) for cell, _c in values.values()):
            continue  # a blank row (spaces count as blank: Excel keeps them)
        data, problems = resource.clean_row(values, job, context)
        errors = [{"column": header_of.get(name, name), "message": message} for name, message in problems]
        raw = [_kept_cell(c, i in sealed) for i, c in enumerate(cells)] if errors else []
        mobile, email, name = resource.keys(data) if not errors else ("", "", "")
        action = RowAction.INVALID if errors else RowAction.CREATE
        record_id = "\\N" if errors else next(reserved, "\\N")
        lines.append(_copy_line(job.pk, row_number, action, data, raw, errors, mobile, email, name[:420], record_id))
        if len(lines) == COPY_EVERY:
            yield "".join(lines), len(lines)
            lines.clear()
    if lines:
        yield "".join(lines), len(lines)


def _unsort_rows(job: ImportJob) -> int:
    """Undo an earlier sorting of the checked rows into duplicates, skips and updates; returns their count."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE imports_importrow
               SET action = CASE WHEN errors = '[]'::jsonb THEN 'create' ELSE 'invalid' END,
                   duplicate_of_row = NULL, object_id = reserved_id
               WHERE job_id = %s AND (action NOT IN ('create', 'invalid') OR {MATCHED})""",
            [job.pk],
        )
    return ImportRow.objects.filter(job=job).count()


def _kept_cell(cell, sensitive: bool):
    """A rejected row's cell as kept for the error report: sealed when its column holds a sensitive field."""
    text = cell_text(cell)
    return fieldcrypto.seal(text) if sensitive and text else text


def _no_query_during_copy(execute, sql, params, many, context):
    # A query on the connection that is feeding a COPY would wait for the COPY to end, forever.
    raise RuntimeError(f"no query while rows are copied (Resource.clean_row must not query): {sql[:200]}")


def _json(value) -> str:
    try:
        return orjson.dumps(value).decode()  # the json module's output at a fifth of its cost
    except TypeError:  # a whole number beyond 64 bits (a custom number field of 1E+30)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _copy_line(job_id, row_number, action, data, raw, errors, mobile, email, name, record_id) -> str:
    """One line of COPY's text format; written by hand, it costs a third of psycopg's write_row per row.

    Only backslashes need escaping: JSON writes tabs and line breaks as \\t and \\n, and cleaned cells (the
    keys) have none (crm.imports.cells.text turns them into spaces). ``record_id`` (an id, or \\N for none)
    goes in as both object_id and reserved_id."""
    fields = [_json(data), _json(raw) if raw else "[]", _json(errors) if errors else "[]", mobile, email, name]
    return (f"{job_id}\t{row_number}\t{action}\t" + "\t".join(f.replace("\\", "\\\\") for f in fields)
            + f"\t{record_id}\t{record_id}\n")


def _classify(cursor, job: ImportJob, resource) -> None:
    # Repeated in the file: a row is a repeat when an earlier row has its mobile, email or name + company.
    cursor.execute(
        """
        WITH firsts AS (
            SELECT id, row_number, LEAST(
                CASE WHEN key_mobile <> '' THEN min(row_number) OVER (PARTITION BY key_mobile) END,
                CASE WHEN key_email <> '' THEN min(row_number) OVER (PARTITION BY key_email) END,
                CASE WHEN key_name <> '' THEN min(row_number) OVER (PARTITION BY key_name) END) AS first_row
            FROM imports_importrow WHERE job_id = %s AND action = 'create'
        )
        UPDATE imports_importrow r SET action = 'file_duplicate', duplicate_of_row = f.first_row
        FROM firsts f WHERE r.id = f.id AND f.first_row < f.row_number
        """,
        [job.pk],
    )
    resource.match_existing(cursor, job)
    matched = f"job_id = %s AND action = 'create' AND {MATCHED}"
    if job.duplicate_mode == DuplicateMode.SKIP:
        cursor.execute(f"UPDATE imports_importrow SET action = 'skip' WHERE {matched}", [job.pk])
    elif job.duplicate_mode == DuplicateMode.CREATE:
        cursor.execute(f"UPDATE imports_importrow SET object_id = reserved_id WHERE {matched}", [job.pk])
    else:
        cursor.execute(f"UPDATE imports_importrow SET action = 'update' WHERE {matched}", [job.pk])
        # Records the importer may not change are left alone.
        scope_sql, scope_params = resource.changeable_sql(job.created_by)
        cursor.execute(
            f"""UPDATE imports_importrow SET action = 'skip'
                WHERE job_id = %s AND action = 'update' AND object_id NOT IN ({scope_sql})""",
            [job.pk, *scope_params],
        )
        # Two rows that find the same record by different keys: the first one updates it.
        cursor.execute(
            """
            WITH firsts AS (
                SELECT id, row_number, min(row_number) OVER (PARTITION BY object_id) AS first_row
                FROM imports_importrow WHERE job_id = %s AND action = 'update'
            )
            UPDATE imports_importrow r SET action = 'file_duplicate', duplicate_of_row = f.first_row
            FROM firsts f WHERE r.id = f.id AND f.first_row < f.row_number
            """,
            [job.pk],
        )


# ---------------------------------------------------------------------------------------------- commit


@transaction.atomic
def import_job_request_commit(*, actor, job: ImportJob) -> ImportJob:
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.VALIDATED:
        raise ValidationError(_("This import is not ready to be committed."))
    if job.counts.get(RowAction.INVALID) and not job.skip_invalid:
        raise ValidationError(_("%(count)s rows are invalid. Fix them and upload the file again, or choose to "
                                "skip invalid rows.") % {"count": job.counts[RowAction.INVALID]})
    job.status = ImportStatus.COMMITTING
    job.save(update_fields=["status", "updated_at"])
    _set_phase(job.pk, _("Waiting for a worker"))
    _enqueue("commit_import", job.pk)
    return job


def import_job_skip_invalid(*, actor, job: ImportJob) -> None:
    """The admin chose, on the preview, to import the valid rows and leave the invalid ones out."""
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.VALIDATED).update(skip_invalid=True)


def import_job_commit(job_id: int) -> None:
    """Worker: write every valid row in one transaction, or nothing."""
    with worker_lock(job_id) as mine:
        if not mine:
            return
        job = ImportJob.objects.select_related("created_by").get(pk=job_id)
        if job.status != ImportStatus.COMMITTING:
            return
        resource = resources.get(job.resource)
        with translation.override(job.language), _failing_on_surprise(job):
            parts.settle(job.pk, committed=False)  # left prepared by an attempt killed before its decision
            _set_phase(job.pk, _("Writing %(count)s records") % {"count": job.counts.get("create", 0)
                                                                  + job.counts.get("update", 0)})
            audit = {"user": job.created_by_id, "reason": "import", "file": job.file_name, "import_job": job.pk}
            if split := parts.plan(job, resource):
                _commit_in_parts(job, resource, split, audit)
                return
            with _bulk_write() as cursor:
                with pghistory.context(**audit):
                    resource.commit(cursor, job)
                _mark_committed(job)
            _set_phase(job.pk, "")


def _commit_in_parts(job: ImportJob, resource, split: list, audit: dict) -> None:
    parts.prepare(job, resource, split, audit)
    try:
        with transaction.atomic():
            _mark_committed(job)  # the decision: from here on the parts are to be committed
    except BaseException:
        # Rolled back, unless the decision reached the database after all (its answer lost): then, or if the
        # job cannot be read, the parts wait for the watchdog, which decides by the job's status.
        with contextlib.suppress(Exception):
            if ImportJob.objects.filter(pk=job.pk).values_list("status", flat=True).first() != ImportStatus.COMMITTED:
                parts.settle(job.pk, committed=False)
        raise
    try:
        parts.settle(job.pk, committed=True)
        _set_phase(job.pk, "")
    except Exception:  # the job is committed: the parts this could not commit are the watchdog's to commit
        log.exception("import %s: committing its prepared parts failed; the watchdog will", job.pk)


def _mark_committed(job: ImportJob) -> None:
    job.status = ImportStatus.COMMITTED
    job.committed_at = timezone.now()
    job.sample = []  # the file's first rows as typed were for the mapping page only
    job.save(update_fields=["status", "committed_at", "sample", "updated_at"])


@contextlib.contextmanager
def _bulk_write():
    """A transaction for a job's bulk writes (commit, undo), yielding its cursor.

    The search indexes (GIN) take the new entries in their usual 4 MB rounds. Leaving them all pending until after
    the commit was tried: the commit was 0.7 s faster per 100,000 rows, but a colleague saving a customer meanwhile
    had his save merge the whole pending list, 1.8 s (bench/RESULTS.md, "Import")."""
    with transaction.atomic(), connection.cursor() as cursor:
        bulk_write_settings(cursor)
        yield cursor


# ------------------------------------------------------------------------------------------------ undo


@transaction.atomic
def import_job_request_undo(*, actor, job: ImportJob) -> ImportJob:
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.COMMITTED:
        raise ValidationError(_("Only a finished import can be undone."))
    job.status = ImportStatus.UNDOING
    job.undone_by = actor
    job.save(update_fields=["status", "undone_by", "updated_at"])
    _enqueue("undo_import", job.pk)
    return job


def import_job_undo(job_id: int) -> None:
    with worker_lock(job_id) as mine:
        if not mine:
            return
        job = ImportJob.objects.select_related("created_by", "undone_by").get(pk=job_id)
        if job.status != ImportStatus.UNDOING:
            return
        resource = resources.get(job.resource)
        actor = job.undone_by or job.created_by
        parts.settle(job.pk, committed=True)  # a commit whose worker died after its decision
        with _bulk_write() as cursor:
            with pghistory.context(user=actor.pk, reason="import_undo", file=job.file_name, import_job=job.pk):
                outcome = resource.undo(cursor, job, actor)
            job.status = ImportStatus.UNDONE
            job.undone_at = timezone.now()
            job.counts = {**job.counts, "undo": outcome}
            job.save(update_fields=["status", "undone_at", "counts", "updated_at"])


@transaction.atomic
def import_job_cancel(*, actor, job: ImportJob) -> ImportJob:
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status not in (ImportStatus.PARSED, ImportStatus.VALIDATED, ImportStatus.FAILED):
        raise ValidationError(_("This import can no longer be cancelled."))
    job.status = ImportStatus.CANCELLED
    job.sample = []
    job.save(update_fields=["status", "sample", "updated_at"])
    cache.set(_chosen_key(job.pk), "cancelled", timeout=3600)  # a check running with the proposed choices stops early
    with worker_lock(job.pk) as idle:
        # A worker checking the rows meanwhile holds them: deleting them here would wait for it while it waits for
        # this job row (a deadlock). It sees the job cancelled when it is done, and throws its rows away itself.
        if idle:
            ImportRow.objects.filter(job=job).delete()
    return job


# ------------------------------------------------------------------------------------------- watchdog

_TASK_FOR_STATUS = {
    ImportStatus.UPLOADED: "parse_import",
    ImportStatus.VALIDATING: "validate_import",
    ImportStatus.COMMITTING: "commit_import",
    ImportStatus.UNDOING: "undo_import",
}


def import_jobs_resume_stalled(*, now=None) -> list[int]:
    """Beat, every minute: a job in a working state whose lock nobody holds has lost its worker (killed,
    restarted, machine gone). Hand it to a worker again, or fail it after MAX_ATTEMPTS."""
    from . import tasks

    now = now or timezone.now()
    resumed = []
    for job in ImportJob.objects.filter(status__in=RUNNING_STATES, updated_at__lt=now - STALLED_AFTER):
        with worker_lock(job.pk) as free:
            if not free:
                continue  # a worker is on it
            with transaction.atomic():
                job = ImportJob.objects.select_for_update().get(pk=job.pk)
                if job.status not in RUNNING_STATES:
                    continue
                job.attempts += 1
                if job.attempts > MAX_ATTEMPTS:
                    with translation.override(job.language):
                        job.error = _("The import stopped %(count)s times without finishing; nothing was written. "
                                      "Start it again or contact your administrator.") % {"count": MAX_ATTEMPTS}
                    job.status = ImportStatus.FAILED
                    job.save(update_fields=["attempts", "error", "status", "updated_at"])
                    continue
                job.save(update_fields=["attempts", "updated_at"])
                resumed.append((job.pk, _TASK_FOR_STATUS[job.status]))
    _settle_parts_left_waiting()
    # Sent once the lock is released, or the task could find it still taken and leave the job alone.
    for job_id, task_name in resumed:
        getattr(tasks, task_name).delay(job_id)
    return [job_id for job_id, _name in resumed]


def _settle_parts_left_waiting() -> None:
    """Prepared parts of a commit (crm.imports.parts) whose worker is gone: committed if their job was, else
    rolled back. Each waiting part holds its locks, so this does not wait for the job's next attempt."""
    for job_id in parts.waiting_jobs():
        with worker_lock(job_id) as free:
            if free:
                status = ImportJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
                parts.settle(job_id, committed=status in (ImportStatus.COMMITTED, ImportStatus.UNDOING,
                                                          ImportStatus.UNDONE))


@contextlib.contextmanager
def _failing_on_surprise(job: ImportJob):
    """An error nobody foresaw ends the job at once (its transaction, if any, rolled back: nothing written)
    with a message the user can act on, instead of leaving it "running" for the watchdog to give up on."""
    try:
        yield
    except Exception:
        log.exception("import %s failed", job.pk)
        _fail(job, _("Something unexpected went wrong while reading or importing the file; nothing was written. "
                     "The error has been logged for your administrator."))


def _fail(job: ImportJob, message: str) -> None:
    # Only a job still at work: a committed one (its rows written, perhaps parts still to commit) stays committed.
    ImportJob.objects.filter(pk=job.pk, status__in=RUNNING_STATES).update(
        status=ImportStatus.FAILED, error=message, updated_at=timezone.now())


# --------------------------------------------------------------------------------------- error report


def error_report(job: ImportJob) -> bytes:
    """The rejected rows as an .xlsx: the file's own columns plus a reason column, ready to fix and
    import again (the reason column is not mapped to anything)."""
    from openpyxl import Workbook

    from crm.web.spreadsheets import safe_cell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Rejected rows"))
    with translation.override(job.language):
        sheet.append([safe_cell(h) for h in job.headers] + [_("Reason"), _("Row in the original file")])
    rows = ImportRow.objects.filter(job=job, action=RowAction.INVALID).order_by("row_number")
    for row in rows.iterator(chunk_size=2000):
        reasons = "; ".join(f"{e['column']}: {e['message']}" for e in row.errors)
        cells = [fieldcrypto.reveal(c) for c in row.raw]
        cells += [""] * (len(job.headers) - len(cells))
        sheet.append([safe_cell(c) for c in cells[: len(job.headers)]] + [safe_cell(reasons), row.row_number])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


# -------------------------------------------------------------------------------------------- display


def preview_columns(job: ImportJob) -> list[tuple[str, str]]:
    """(field name, label) of the mapped fields, in the file's column order."""
    labels = {f.name: str(f.label) for f in resources.get(job.resource).fields()}
    ordered = sorted(job.mapping.items(), key=lambda item: int(item[0]))
    return [(name, labels.get(name, name)) for _col, name in ordered if name != "owner"]


def preview_cells(row: ImportRow, columns: list[tuple[str, str]], resource) -> list[str]:
    """A row's cleaned values as the preview table shows them."""
    result = []
    for name, _label in columns:
        if "." in name:
            value = (row.data.get("custom") or {}).get(name.split(".", 1)[1], "")
        else:
            value = row.data.get(name, "")
        result.append(resource.display(name, value))
    return result


def changed_since(job: ImportJob) -> int:
    """How many of the job's records someone changed after the import (undo leaves changed updates alone)."""
    if job.status != ImportStatus.COMMITTED:
        return 0
    with connection.cursor() as cursor:
        return resources.get(job.resource).changed_since(cursor, job)
