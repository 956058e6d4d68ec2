from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self):
        # The customer list can be exported: the exports platform learns it here, never by importing customers.
        from crm.exports import registry

        from .exports import CustomerExporter

        registry.register(CustomerExporter())

        # Likewise the imports platform learns how to import customers.
        from crm.imports import resources

        from .contact_resource import ContactResource
        from .resources import CustomerResource

        resources.register(CustomerResource())
        resources.register(ContactResource())

        # The customer timeline shows the audit trail's changes; other modules register their own kinds.
        from . import timeline
        from .history import history_timeline

        timeline.register_kind("history", _("Changes"), history_timeline, order=90)

        # Where values of sensitive custom fields are stored, for their encryption and key rotation: customers,
        # their audit copies, and import staging rows (the cleaned cells, and the values an import overwrote).
        from .field_encryption import register_location

        register_location("customers.Customer", "custom")
        register_location("customers.CustomerEvent", "custom", audit=True)
        register_location("imports.ImportRow", "data", ["custom"])
        register_location("imports.ImportRow", "before", ["custom"])
