from celery import shared_task

from . import subscriptions


@shared_task(acks_late=True)
def send_scheduled_reports() -> int:
    """Each morning: mail the due report subscriptions (reports.subscriptions.send_due). Safe to run twice: each
    subscription is sent once per period, under a row lock."""
    return subscriptions.send_due()


@shared_task(acks_late=True)
def refresh_sales_months(everything: bool = False) -> int:
    """Every 10 minutes the recent months, each night all of them (CELERY_BEAT_SCHEDULE "reports-sales-months*"): the
    monthly sums of won and lost deals the performance report reads (reports.summaries). Idempotent."""
    from .summaries import sales_months_refresh

    state = sales_months_refresh(everything=everything)
    return state.pk if state else 0


@shared_task(acks_late=True)
def refresh_customer_months() -> int:
    """Every 10 minutes (CELERY_BEAT_SCHEDULE "reports-customer-months"): the customers of every month before this
    one, summed again for the new customers and customer base reports (reports.customer_summaries). Idempotent."""
    from .customer_summaries import customer_months_refresh

    return customer_months_refresh().pk
