"""What the pipeline part of sales contributes to other modules (customer page panels, timeline kinds, exporters,
import resources, demo data). Called from SalesConfig.ready()."""

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from crm.exports import registry as exports
    from customers import timeline

    from .pipeline_exports import OpportunityExporter
    from .pipeline_timeline import KIND, customer_panel, opportunity_entries

    # The customer page: its opportunities in a panel above the timeline, and their moves on the timeline.
    timeline.register_kind(KIND, _("Opportunities"), opportunity_entries, order=30)
    timeline.register_panel("opportunities", "sales/pipeline/_customer_panel.html", customer_panel, order=30)
    # The opportunity list can be exported with the list's filters.
    exports.register(OpportunityExporter())
