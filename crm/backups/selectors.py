from django.apps import apps
from django.db.models import QuerySet

from .models import Backup, BackupStatus


def backup_list() -> QuerySet[Backup]:
    return Backup.objects.select_related("started_by").order_by("-started_at", "-pk")


def backup_running() -> bool:
    return Backup.objects.filter(status=BackupStatus.RUNNING).exists()


def last_backup() -> Backup | None:
    """The newest backup that finished."""
    return Backup.objects.filter(status=BackupStatus.DONE).order_by("-started_at", "-pk").first()


def labelled_counts(backup: Backup) -> list[tuple[str, int]]:
    """The row counts by the tables' names in the user's language ("客户 1,234")."""
    shown = []
    for label, count in (backup.row_counts or {}).items():
        try:
            name = str(apps.get_model(label)._meta.verbose_name_plural)
        except LookupError:
            name = label
        shown.append((name, count))
    return shown
