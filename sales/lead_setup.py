"""What the lead part of sales contributes to other modules (customer page panels, timeline kinds, exporters,
import resources, demo data). Called from SalesConfig.ready()."""

from django.utils.translation import gettext_lazy as _


def register() -> None:
    # Imports: leads from Excel / CSV lists, through the same machinery as customers.
    from crm.imports import resources

    from .lead_resource import LeadResource

    resources.register(LeadResource())

    # The customer page's timeline: the leads the customer was converted from.
    from customers import timeline

    from .lead_selectors import lead_timeline_entries, untouched_leads

    timeline.register_kind("lead", _("Leads"), lead_timeline_entries, order=30)

    # The layout's badge of new leads not yet handled (``nav_counts.new_leads``, for the sidebar's "My leads").
    from crm.web.context_processors import register_badge

    register_badge("new_leads", untouched_leads)

    # Leads hold the customers' custom fields too: sensitive ones are encrypted, decrypted and rotated there as well.
    from customers.field_encryption import register_location

    register_location("sales.Lead", "custom")
    register_location("sales.LeadEvent", "custom", audit=True)
