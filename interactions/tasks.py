from celery import shared_task

from . import reminders


@shared_task(acks_late=True)
def scan_reminders() -> dict:
    """Every minute (CELERY_BEAT_SCHEDULE): due reminders, then follow-ups overdue long enough to escalate."""
    return {"reminded": reminders.reminders_send_due(), "escalated": reminders.followups_escalate_overdue()}
