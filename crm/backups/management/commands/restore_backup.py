"""Restore a backup into a new database and prove it complete.

    python manage.py restore_backup 42 --database-name crm_restored
    python manage.py restore_backup /srv/backups/crm-20260101-023000-42.dump --database-name crm_restored

A backup is named by its id, or by the path of its dump (whose .json manifest beside it records the checksums and
row counts, for a machine whose own database is lost). The command checks the SHA-256 checksums, creates the new
database (it refuses one that exists), runs pg_restore into it, counts the main tables there and compares them with
the counts recorded at dump time. It exits with status 1 on any difference or error.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from crm.backups import services
from crm.backups.models import Backup


class Command(BaseCommand):
    help = "Restore a backup into a new database and compare its row counts with those recorded at dump time."

    def add_arguments(self, parser):
        parser.add_argument("backup", help="the backup's id, or the path of its .dump file")
        parser.add_argument("--database-name", required=True, help="the new database to restore into")
        parser.add_argument("--media-dir", help="also unpack the uploaded files into this (new or empty) folder")

    def handle(self, *args, backup, database_name, media_dir=None, **options):
        target = self._backup(backup)
        try:
            report = services.backup_verify_restore(
                target, database_name=database_name, media_dir=Path(media_dir) if media_dir else None)
        except services.BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(_("Checksums match. Restored into the database %(name)s.") % {"name": report["database"]})
        width = max((len(label) for label in report["expected"] | report["actual"]), default=10)
        self.stdout.write(f"{_('table'):<{width}}  {_('recorded'):>10}  {_('restored'):>10}")
        for label in sorted(report["expected"] | report["actual"]):
            expected, actual = report["expected"].get(label), report["actual"].get(label)
            mark = "" if expected == actual else "  <-- " + _("differs")
            self.stdout.write(f"{label:<{width}}  {expected if expected is not None else '-':>10}  "
                              f"{actual if actual is not None else '-':>10}{mark}")
        if media_dir:
            self.stdout.write(_("Uploaded files unpacked into %(folder)s.") % {"folder": media_dir})
        if not report["ok"]:
            raise CommandError(_("The restored database differs from the backup in %(count)s tables.")
                               % {"count": len(report["differences"])})
        self.stdout.write(self.style.SUCCESS(_("The restore is complete: every table has the recorded row count.")))

    def _backup(self, given: str) -> Backup:
        if given.isdigit():
            backup = Backup.objects.filter(pk=int(given)).first()
            if backup is None:
                raise CommandError(_("There is no backup %(id)s.") % {"id": given})
            return backup
        path = Path(given)
        if not path.is_absolute() and not path.exists():
            path = services.backup_dir() / path
        path = path.resolve()
        if not path.is_file():
            raise CommandError(_("The file %(file)s does not exist.") % {"file": given})
        recorded = Backup.objects.filter(file=path.name).first()
        if recorded is not None and path.parent == services.backup_dir().resolve():
            return recorded
        manifest = path.with_name(path.name.removesuffix(".dump") + ".json")
        if not manifest.is_file():
            raise CommandError(_("Neither this database nor a manifest %(file)s records this backup's checksum.")
                               % {"file": manifest})
        # The manifest names its files relative to its own folder.
        backup = services.backup_from_manifest(manifest)
        backup.file = str(path)
        if backup.media_file:
            backup.media_file = str(path.parent / backup.media_file)
        return backup
