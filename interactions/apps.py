from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InteractionsConfig(AppConfig):
    name = "interactions"
    verbose_name = _("Interactions")

    def ready(self):
        # The customer page learns about interactions here; customers never imports this app.
        from customers import timeline

        from .timeline import followup_entries, interaction_entries, open_followups_panel, quick_log_panel

        timeline.register_kind("interaction", _("Interactions"), interaction_entries, order=10)
        timeline.register_kind("followup", _("Follow-ups"), followup_entries, order=20)
        timeline.register_panel("open_followups", "interactions/_open_followups.html", open_followups_panel, order=5)
        timeline.register_panel("quick_log", "interactions/_quick_log.html", quick_log_panel, order=10)

        # Mail: a "write an email" box on the customer page, below the quick log.
        from .mail_views import compose_panel

        timeline.register_panel("mail_compose", "interactions/mail_compose_panel.html", compose_panel, order=20)

        # The pages of one's own work: the activity lists' exporter, the sidebar's overdue badge.
        from . import exports, selectors

        exports.register()
        selectors.register_navigation()
