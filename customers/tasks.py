from celery import shared_task

from . import services


@shared_task(acks_late=True)
def return_stale_customers_to_pool() -> int:
    """Hourly: owned customers nobody contacted for the configured days go back to the public pool."""
    return services.pool_return_stale()


@shared_task(acks_late=True)
def sync_custom_field_encryption(definition_id: int) -> None:
    """After an admin marked a custom field sensitive (or no longer): encrypt (decrypt) its stored values. Safe to
    run twice: values already as wanted are left alone."""
    from .field_encryption import custom_values_sync
    from .models import CustomFieldDefinition

    definition = CustomFieldDefinition.objects.filter(pk=definition_id).first()
    if definition is not None:
        custom_values_sync(definitions=[definition])
