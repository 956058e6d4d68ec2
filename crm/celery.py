import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.beat_init.connect
def _install_database_schedules(sender=None, **kwargs):
    # Schedules an administrator edits live in the database only (CELERY_BEAT_SCHEDULE would overwrite them).
    from crm.backups.schedule import ensure_backup_schedule

    ensure_backup_schedule()
