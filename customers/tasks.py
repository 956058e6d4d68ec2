from celery import shared_task

from . import services


@shared_task(acks_late=True)
def return_stale_customers_to_pool() -> int:
    """Hourly: owned customers nobody contacted for the configured days go back to the public pool."""
    return services.pool_return_stale()
