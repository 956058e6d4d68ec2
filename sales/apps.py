from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "sales"
    verbose_name = _("Sales")

    def ready(self):
        # Each part of sales registers what it shows on other modules' pages (the customer page, the timeline,
        # exports, imports); those modules never import sales.
        from . import commerce_setup, lead_setup, pipeline_setup

        lead_setup.register()
        pipeline_setup.register()
        commerce_setup.register()
