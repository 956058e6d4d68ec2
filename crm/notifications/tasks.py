from celery import shared_task

from . import services


@shared_task(acks_late=True)
def email_notifications(ids: list[int]) -> int:
    return services.notifications_email(ids)
