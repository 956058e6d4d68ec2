from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "marketing"
    verbose_name = _("Marketing")

    def ready(self):
        from .lead_link import contribute

        contribute()  # campaigns on the lead pages (sales.lead_campaigns): sales never imports marketing
