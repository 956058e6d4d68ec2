from celery import shared_task

from . import services


@shared_task(acks_late=True)
def email_notifications(ids: list[int]) -> int:
    return services.notifications_email(ids)


@shared_task(acks_late=True)
def email_unmailed_notifications() -> int:
    """Every five minutes: mail what should have been mailed and was not (see notifications_unmailed)."""
    return services.notifications_email(services.notifications_unmailed())
