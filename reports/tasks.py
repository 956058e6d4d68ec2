from celery import shared_task

from . import subscriptions


@shared_task(acks_late=True)
def send_scheduled_reports() -> int:
    """Each morning: mail the due report subscriptions (reports.subscriptions.send_due). Safe to run twice: each
    subscription is sent once per period, under a row lock."""
    return subscriptions.send_due()
