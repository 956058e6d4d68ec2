# The nightly backup's schedule moves out of CELERY_BEAT_SCHEDULE into a database-only PeriodicTask, which an
# administrator edits on the backups page (beat rewrites configured entries from settings at every start, which
# would undo his change). An installation whose beat already created the row from settings keeps it as it is.

from django.conf import settings
from django.db import migrations


def create_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    if PeriodicTask.objects.filter(name="backups-daily").exists():
        return
    crontab, _created = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.create(name="backups-daily", task="crm.backups.tasks.run_backup", crontab=crontab)


class Migration(migrations.Migration):
    dependencies = [
        ("backups", "0002_restore_drill"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, migrations.RunPython.noop)]
