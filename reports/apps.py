from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        # Each report module registers its reports (reports.registry); the list below grows with them.
        from importlib import import_module

        for name in ("activity_reports", "performance_reports", "sales_reports", "customer_reports",
                     "acquisition_cost"):
            import_module(f"reports.{name}")
