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


@signals.task_failure.connect
def _record_failed_task(sender=None, task_id=None, exception=None, **kwargs):
    # Every failed run, also one that used up its retries (Celery re-raises the last error then), for the
    # administrator's health panel. Imported here, not at the top: the app is loaded before Django's apps are.
    from reports.failed_tasks import failure_record

    request = getattr(sender, "request", None)
    failure_record(task_name=getattr(sender, "name", str(sender)), task_id=task_id, exception=exception,
                   retries=getattr(request, "retries", 0) or 0)
