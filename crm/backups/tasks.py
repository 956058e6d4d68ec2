from celery import shared_task
from django.contrib.auth import get_user_model

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_backup(actor_id: int | None = None) -> int | None:
    """Take one backup (the daily schedule, or an admin's "Back up now"). Another backup running meanwhile makes this
    one return quietly; run twice, it takes two backups, which retention trims."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    try:
        return services.backup_create(actor=actor).pk
    except services.BackupBusy:
        return None


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_restore_drill() -> int | None:
    """Weekly: restore the newest backup into a scratch database and check it (admins are told of a failure)."""
    backup = services.backup_restore_drill()
    return backup.pk if backup else None
