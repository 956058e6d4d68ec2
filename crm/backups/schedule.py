"""The nightly backup's schedule, which an administrator edits on the backups page.

It is a django-celery-beat PeriodicTask kept in the database only. Entries of CELERY_BEAT_SCHEDULE are written
back over the database by beat each time it starts (DatabaseScheduler.update_from_dict), so an administrator's
change there would be lost at the next restart. This one is created with the default schedule by migration 0003,
and again by beat at start if it is missing (a database emptied since), and otherwise left alone.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.text import get_text_list
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django_celery_beat.models import CrontabSchedule, PeriodicTask

TASK_NAME = "backups-daily"
TASK = "crm.backups.tasks.run_backup"
EVERY_DAY = list(range(7))  # crontab's day_of_week: 0 is Sunday
# Monday first, as calendars in China and most of Europe show the week; values are crontab's (0 = Sunday).
WEEKDAYS = [(1, gettext_lazy("Monday")), (2, gettext_lazy("Tuesday")), (3, gettext_lazy("Wednesday")),
            (4, gettext_lazy("Thursday")), (5, gettext_lazy("Friday")), (6, gettext_lazy("Saturday")),
            (0, gettext_lazy("Sunday"))]


@dataclass
class BackupSchedule:
    enabled: bool
    hour: int
    minute: int
    days: list[int]  # crontab days of week, 0 = Sunday
    crontab: str = ""  # a schedule the form cannot show (set in the admin site), as crontab text; else ""

    @property
    def every_day(self) -> bool:
        return sorted(self.days) == EVERY_DAY


DEFAULT = BackupSchedule(enabled=True, hour=2, minute=30, days=EVERY_DAY)


def _days(text: str) -> list[int]:
    """Crontab's day_of_week as a list; ValueError for what the form cannot show (ranges, steps, names)."""
    if text.strip() == "*":
        return EVERY_DAY
    return sorted({int(part) % 7 for part in text.split(",")})


def describe(schedule: BackupSchedule) -> str:
    """The schedule in a sentence of the user's language."""
    if not schedule.enabled:
        return _("Scheduled backups are off: backups are only taken with “Back up now”.")
    if schedule.crontab:
        return _("A backup is taken on the schedule %(crontab)s, set in the admin site; saving the form below "
                 "replaces it.") % {"crontab": schedule.crontab}
    time = f"{schedule.hour:02d}:{schedule.minute:02d}"
    if schedule.every_day:
        return _("A backup is taken every day at %(time)s (%(zone)s).") % {"time": time, "zone": settings.TIME_ZONE}
    labels = [str(label) for value, label in WEEKDAYS if value in schedule.days]
    # Chinese lists days with 、 (星期一、星期四), not with a conjunction.
    days = "、".join(labels) if (get_language() or "").startswith("zh") else get_text_list(labels, _("and"))
    return _("A backup is taken every %(days)s at %(time)s (%(zone)s).") % {
        "days": days, "time": time, "zone": settings.TIME_ZONE}


def backup_schedule() -> BackupSchedule:
    """The schedule as it stands; the default one, which beat installs at start, if the task row is missing."""
    task = PeriodicTask.objects.select_related("crontab").filter(name=TASK_NAME).first()
    if task is None or task.crontab is None:
        return DEFAULT
    crontab = task.crontab
    try:
        days = _days(crontab.day_of_week)
        schedule = BackupSchedule(enabled=task.enabled, hour=int(crontab.hour), minute=int(crontab.minute), days=days)
    except ValueError:
        # Edited in the admin site beyond what the page's form says ("*/6", "1-5"): shown as it is.
        return BackupSchedule(enabled=task.enabled, hour=DEFAULT.hour, minute=DEFAULT.minute, days=DEFAULT.days,
                              crontab=str(crontab))
    return schedule


@transaction.atomic
def backup_schedule_set(schedule: BackupSchedule) -> PeriodicTask:
    """Save the schedule; beat notices the change within its sync interval, without a restart."""
    days = "*" if schedule.every_day else ",".join(str(d) for d in sorted(schedule.days))
    crontab, _created = CrontabSchedule.objects.get_or_create(
        minute=str(schedule.minute), hour=str(schedule.hour), day_of_week=days, day_of_month="*",
        month_of_year="*", timezone=settings.TIME_ZONE,
    )
    task, _created = PeriodicTask.objects.update_or_create(
        name=TASK_NAME, defaults={"task": TASK, "crontab": crontab, "interval": None, "enabled": schedule.enabled},
    )
    return task


def ensure_backup_schedule() -> None:
    """Install the default schedule unless there is one (beat calls this as it starts)."""
    if not PeriodicTask.objects.filter(name=TASK_NAME).exists():
        backup_schedule_set(DEFAULT)
