"""Writes on backups: take one (worker or shell), keep the newest N, and prove one restores.

A backup is ``pg_dump --format=custom`` of the current database plus a .tar.gz of MEDIA_ROOT (attachments, import
files). The row counts recorded with it are taken in the very snapshot pg_dump dumps: a REPEATABLE READ transaction
exports its snapshot (``pg_export_snapshot()``), counts, and stays open while ``pg_dump --snapshot`` runs, so what a
restore must find is exactly what was counted, however busy the CRM was meanwhile.
"""

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pghistory
import psycopg
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import connection
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.accounts.roles import ADMIN
from crm.notifications.models import NotificationKind
from crm.notifications.services import NewNotification, notify_many

from .models import Backup, BackupStatus

logger = logging.getLogger(__name__)

# The main tables whose exact row counts are recorded with each backup and compared after a restore, as model labels.
COUNTED_MODELS = [
    "accounts.user",
    "customers.customer",
    "customers.contact",
    "interactions.interaction",
    "interactions.followup",
    "interactions.attachment",
    "sales.lead",
    "sales.opportunity",
    "sales.quote",
    "sales.contract",
    "sales.order",
    "sales.paymentplan",
    "sales.payment",
    "sales.product",
]
# Two backups never run at once: the second one's worker returns quietly (a double click, the schedule meanwhile).
ADVISORY_LOCK_KEY = 0x43524D_4241  # "CRM" "BA"
CHUNK = 1024 * 1024
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class BackupError(Exception):
    """A backup or a restore that cannot go on; the message says why, in the user's language."""


class BackupBusy(BackupError):
    pass


# ----------------------------------------------------------------------------------------------------- helpers


def backup_dir() -> Path:
    return Path(settings.CRM_BACKUP_DIR)


def _pg_params(dbname: str | None = None) -> dict[str, str]:
    """libpq parameters of the CRM's database (or another database of the same server)."""
    db = connection.settings_dict
    params = {"dbname": dbname or db["NAME"], "user": db.get("USER") or "", "password": db.get("PASSWORD") or "",
              "host": db.get("HOST") or "", "port": str(db.get("PORT") or "")}
    return {key: value for key, value in params.items() if value}


def _pg_env(dbname: str | None = None) -> dict[str, str]:
    """The environment for pg_dump / pg_restore: the password goes through PGPASSWORD, never the command line."""
    names = {"dbname": "PGDATABASE", "user": "PGUSER", "password": "PGPASSWORD", "host": "PGHOST", "port": "PGPORT"}
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update({names[key]: value for key, value in _pg_params(dbname).items()})
    return env


def pg_binary(name: str, server_version_num: int | None = None) -> str:
    """pg_dump or pg_restore of the server's major version when Debian has it installed (a client older than the
    server refuses to dump it), else the one on PATH."""
    if server_version_num is None:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version_num")
            server_version_num = int(cursor.fetchone()[0])
    candidate = Path(f"/usr/lib/postgresql/{server_version_num // 10000}/bin/{name}")
    return str(candidate) if candidate.exists() else name


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def count_rows(cursor) -> dict[str, int]:
    """Exact row counts of COUNTED_MODELS, through a psycopg cursor (any database with the CRM's schema)."""
    counts = {}
    for label in COUNTED_MODELS:
        table = apps.get_model(label)._meta.db_table
        cursor.execute(f"SELECT COUNT(*) FROM {_quote_ident(table)}")
        counts[label] = cursor.fetchone()[0]
    return counts


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _tail(text: str, limit: int = 2000) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else "…" + text[-limit:]


# ------------------------------------------------------------------------------------------------------ backup


def backup_create(*, actor=None) -> Backup:
    """Dump the database and pack the uploaded files; record sizes, checksums and row counts; apply retention.

    Raises BackupBusy when another backup is running. A failure ends the backup as failed with the error and leaves
    no partial file; the Backup row is returned either way.
    """
    with psycopg.connect(**_pg_params(), autocommit=True) as snapshot_conn:
        with snapshot_conn.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            if not cursor.fetchone()[0]:
                raise BackupBusy(_("Another backup is running."))
            cursor.execute("SHOW server_version_num")
            server_version_num = int(cursor.fetchone()[0])
        # Holding the lock, any backup still marked running was left by a worker that died.
        Backup.objects.filter(status=BackupStatus.RUNNING).update(
            status=BackupStatus.FAILED, finished_at=timezone.now(), error=_("Interrupted: the worker stopped."))
        with pghistory.context(user=actor.pk if actor else None):
            backup = Backup.objects.create(started_by=actor)
        try:
            _write_backup(backup, snapshot_conn, server_version_num)
        except Exception as error:
            logger.exception("backup %s failed", backup.pk)
            backup.status, backup.finished_at = BackupStatus.FAILED, timezone.now()
            backup.error = _tail(str(error)) or error.__class__.__name__
            backup.file = backup.media_file = ""
            backup.save(update_fields=["status", "finished_at", "error", "file", "media_file"])
            return backup
        # Still under the lock: another backup's retention must not delete this one while it is being copied.
        backup_copy_offsite(backup)
        backup_apply_retention()
    return backup


def _write_backup(backup: Backup, snapshot_conn, server_version_num: int) -> None:
    folder = backup_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"crm-{timezone.localtime(backup.started_at):%Y%m%d-%H%M%S}-{backup.pk}"
    dump, media, manifest = folder / f"{stem}.dump", folder / f"{stem}.media.tar.gz", folder / f"{stem}.json"
    dump_part, media_part = folder / f"{stem}.dump.part", folder / f"{stem}.media.tar.gz.part"
    try:
        with snapshot_conn.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot = cursor.fetchone()[0]
                backup.row_counts = count_rows(cursor)
                # The transaction stays open while pg_dump reads the snapshot it exported.
                _run([pg_binary("pg_dump", server_version_num), "--format=custom", "--no-password",
                      f"--snapshot={snapshot}", f"--file={dump_part}"], env=_pg_env())
            finally:
                cursor.execute("COMMIT")
        _pack_media(media_part)
        backup.sha256, backup.size = file_sha256(dump_part), dump_part.stat().st_size
        backup.media_sha256, backup.media_size = file_sha256(media_part), media_part.stat().st_size
        os.replace(dump_part, dump)
        os.replace(media_part, media)
        backup.file, backup.media_file = dump.name, media.name
        backup.status, backup.finished_at = BackupStatus.DONE, timezone.now()
        _write_manifest(backup, manifest)
        backup.save()
    except BaseException:
        _remove(dump_part, media_part, dump, media, manifest)
        raise


def _run(command: list[str], *, env: dict[str, str]) -> None:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except OSError as error:
        raise BackupError(_("%(program)s could not be started: %(error)s") % {"program": command[0],
                                                                             "error": error}) from error
    if result.returncode != 0:
        raise BackupError(_("%(program)s failed (exit code %(code)s): %(error)s") % {
            "program": Path(command[0]).name, "code": result.returncode, "error": _tail(result.stderr)})


def _pack_media(target: Path) -> None:
    """MEDIA_ROOT as a .tar.gz (entries under "media/"); an empty archive when nothing was ever uploaded."""
    root = Path(settings.MEDIA_ROOT)
    with tarfile.open(target, "w:gz") as archive:
        if root.is_dir():
            archive.add(root, arcname="media")


def _write_manifest(backup: Backup, path: Path) -> None:
    manifest = {
        "id": backup.pk, "started_at": backup.started_at.isoformat(), "finished_at": backup.finished_at.isoformat(),
        "file": backup.file, "size": backup.size, "sha256": backup.sha256,
        "media_file": backup.media_file, "media_size": backup.media_size, "media_sha256": backup.media_sha256,
        "row_counts": backup.row_counts,
    }
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def backup_from_manifest(path: Path) -> Backup:
    """An unsaved Backup described by the manifest beside a dump (for restoring where the rows are lost)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    fields = ("file", "size", "sha256", "media_file", "media_size", "media_sha256", "row_counts")
    return Backup(status=BackupStatus.DONE, **{name: data.get(name) or Backup._meta.get_field(name).get_default()
                                               for name in fields})


def backup_files(backup: Backup) -> list[Path]:
    stem = backup.file.removesuffix(".dump") if backup.file else ""
    names = [backup.file, backup.media_file, f"{stem}.json" if stem else ""]
    return [backup_dir() / name for name in names if name]


# ---------------------------------------------------------------------------------------------- off-site copy


def offsite_storage():
    """The object storage backups are copied to (STORAGES["backups"], see settings), or None."""
    from django.core.files.storage import storages

    return storages["backups"] if "backups" in settings.STORAGES else None


def backup_copy_offsite(backup: Backup) -> None:
    """Copy a finished backup's files to the off-site storage, if there is one. A failure is recorded on the backup
    and shown on the page, but does not fail it: the local copy is whole."""
    storage = offsite_storage()
    if storage is None or backup.status != BackupStatus.DONE:
        return
    try:
        for path in backup_files(backup):
            if storage.exists(path.name):
                storage.delete(path.name)
            with open(path, "rb") as handle:
                stored = storage.save(path.name, File(handle, name=path.name))
            if stored != path.name:
                raise BackupError(_("The storage renamed %(file)s to %(stored)s.") % {"file": path.name,
                                                                                   "stored": stored})
        backup.offsite_at, backup.offsite_error = timezone.now(), ""
    except Exception as error:
        logger.exception("backup %s: the off-site copy failed", backup.pk)
        backup.offsite_at, backup.offsite_error = None, _tail(str(error)) or error.__class__.__name__
    backup.save(update_fields=["offsite_at", "offsite_error"])


def _fetch_from_offsite(backup: Backup) -> None:
    """Bring back from the off-site storage the files of ``backup`` missing here (the machine's disk was lost)."""
    storage = offsite_storage()
    if storage is None:
        return
    folder = backup_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for path in backup_files(backup):
        if path.is_file() or not storage.exists(path.name):
            continue
        part = path.with_name(path.name + ".part")
        with storage.open(path.name, "rb") as source, open(part, "wb") as target:
            shutil.copyfileobj(source, target, CHUNK)
        os.replace(part, path)


def _delete_offsite(backup: Backup) -> None:
    storage = offsite_storage()
    if storage is None:
        return
    for path in backup_files(backup):  # also after a copy that failed half way: what did arrive goes
        try:
            if storage.exists(path.name):
                storage.delete(path.name)
        except Exception:  # kept there is better than a retention run that stops half way
            logger.exception("backup %s: could not delete %s off-site", backup.pk, path.name)


def backup_apply_retention(*, keep: int | None = None) -> int:
    """Keep the newest ``keep`` (CRM_BACKUP_KEEP) done backups; delete the older ones, files and rows, and the
    failed ones older than the oldest kept. Returns how many rows were deleted."""
    keep = settings.CRM_BACKUP_KEEP if keep is None else keep
    kept = list(Backup.objects.filter(status=BackupStatus.DONE).order_by("-started_at", "-pk")[:keep])
    if len(kept) < keep or not kept:
        return 0
    oldest = kept[-1]
    doomed = (Backup.objects.exclude(status=BackupStatus.RUNNING).exclude(pk__in=[b.pk for b in kept])
              .filter(started_at__lte=oldest.started_at))
    deleted = 0
    for backup in doomed:
        _remove(*backup_files(backup))
        _delete_offsite(backup)
        backup.delete()
        deleted += 1
    return deleted


# ----------------------------------------------------------------------------------------------------- restore


def backup_verify_checksums(backup: Backup) -> None:
    """Raise BackupError unless the dump and the files' archive are there with the checksums recorded. Files missing
    here are fetched from the off-site storage first, when there is one."""
    _fetch_from_offsite(backup)
    pairs = [(backup.file, backup.sha256)] + ([(backup.media_file, backup.media_sha256)] if backup.media_file else [])
    for name, expected in pairs:
        path = backup_dir() / name
        if not name or not path.is_file():
            raise BackupError(_("The backup file %(file)s is missing.") % {"file": path})
        actual = file_sha256(path)
        if actual != expected:
            raise BackupError(_("The checksum of %(file)s does not match: recorded %(expected)s, found %(actual)s. "
                                "The file is damaged or was changed; it will not be restored.")
                              % {"file": path, "expected": expected, "actual": actual})


def _maintenance_connection():
    return psycopg.connect(**_pg_params("postgres"), autocommit=True)


def database_exists(name: str) -> bool:
    with _maintenance_connection() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def database_drop(name: str) -> None:
    """Drop a scratch database (restore drills, tests)."""
    if not DATABASE_NAME.match(name) or name == connection.settings_dict["NAME"]:
        raise BackupError(_("Refusing to drop the database %(name)s.") % {"name": name})
    with _maintenance_connection() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")


def backup_verify_restore(backup: Backup, *, database_name: str, media_dir: Path | None = None) -> dict:
    """Check the checksums, restore the dump into the new, empty database ``database_name`` and count the tables
    there. Returns ``{"database", "expected", "actual", "differences", "ok"}`` where differences maps each table
    whose count differs to (recorded, restored). Raises BackupError when the files are damaged, the name is
    invalid or taken, or pg_restore fails. With ``media_dir``, the uploaded files are unpacked there too."""
    if backup.status != BackupStatus.DONE:
        raise BackupError(_("Only a finished backup can be restored."))
    if not DATABASE_NAME.match(database_name):
        raise BackupError(_("%(name)s is not a valid database name (letters, digits and _, at most 63).")
                          % {"name": database_name})
    backup_verify_checksums(backup)
    with _maintenance_connection() as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database_name]).fetchone():
            raise BackupError(_("The database %(name)s already exists; restore into a new one.")
                              % {"name": database_name})
        # template0: the dump creates its extensions (pg_trgm) itself.
        conn.execute(f"CREATE DATABASE {_quote_ident(database_name)} TEMPLATE template0 ENCODING 'UTF8'")
    # --no-privileges: the dump's grants name the owner's roles (ALTER DEFAULT PRIVILEGES FOR ROLE crm), which the
    # application's role that runs the drill may not use; grant_app_role re-grants a restored database anyway.
    _run([pg_binary("pg_restore"), "--no-owner", "--no-privileges", "--no-password", "--exit-on-error",
          f"--dbname={database_name}", str(backup_dir() / backup.file)], env=_pg_env(database_name))
    with psycopg.connect(**_pg_params(database_name)) as restored, restored.cursor() as cursor:
        actual = count_rows(cursor)
    expected = {label: int(count) for label, count in (backup.row_counts or {}).items()}
    differences = {label: (expected.get(label), actual.get(label))
                   for label in sorted(set(expected) | set(actual)) if expected.get(label) != actual.get(label)}
    if media_dir is not None and backup.media_file:
        _unpack_media(backup_dir() / backup.media_file, Path(media_dir))
    return {"database": database_name, "expected": expected, "actual": actual, "differences": differences,
            "ok": not differences}


def _unpack_media(archive_path: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive_path, "r:gz") as archive:
        archive.extractall(target, filter="data")  # no absolute paths, links or devices out of the folder
    inner = target / "media"
    if inner.is_dir():  # the archive's "media/" becomes the folder itself
        for child in inner.iterdir():
            shutil.move(str(child), target / child.name)
        inner.rmdir()


# --------------------------------------------------------------------------------------------------- restore drill


def backup_restore_drill() -> Backup | None:
    """Prove the newest finished backup restores: restore it into a scratch database, compare the row counts with
    those recorded, drop the scratch database; record the outcome on the backup and tell every administrator when
    the restore failed or a count differs. None when there is no backup to drill."""
    backup = Backup.objects.filter(status=BackupStatus.DONE).order_by("-started_at", "-pk").first()
    if backup is None:
        return None
    scratch = f"crm_restore_drill_{backup.pk}_{int(time.time())}"
    try:
        outcome = backup_verify_restore(backup, database_name=scratch)
        problem = "; ".join(f"{label}: {expected} → {actual}"
                            for label, (expected, actual) in outcome["differences"].items())
    except BackupError as error:
        problem = str(error)
    finally:
        if database_exists(scratch):
            database_drop(scratch)
    backup.drilled_at, backup.drill_ok, backup.drill_report = timezone.now(), not problem, problem
    backup.save(update_fields=["drilled_at", "drill_ok", "drill_report"])
    if problem:
        _tell_admins_the_drill_failed(backup)
    return backup


def _tell_admins_the_drill_failed(backup: Backup) -> None:
    admins = get_user_model().objects.filter(Q(is_superuser=True) | Q(groups__name=ADMIN), is_active=True).distinct()
    notes = []
    for admin in admins:
        with translation.override(admin.language or settings.LANGUAGE_CODE):
            title = _("The restore drill of the backup of %(time)s failed") % {
                "time": f"{timezone.localtime(backup.started_at):%Y-%m-%d %H:%M}"}
        notes.append(NewNotification(user_id=admin.pk, kind=NotificationKind.SYSTEM, title=title,
                                     body=backup.drill_report, url=reverse("backups:list"),
                                     dedupe_key=f"backup-drill:{backup.pk}:{backup.drilled_at:%Y%m%d%H%M%S}:{admin.pk}"))
    notify_many(notes)
