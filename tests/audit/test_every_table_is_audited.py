"""Every create, update and delete on a business table is in the audit trail: each model of the CRM's apps has a
pghistory event model (its triggers write bulk and raw-SQL changes too), unless it is listed here with the reason."""

from django.apps import apps

CRM_APPS = {"accounts", "audit", "backups", "customers", "exports", "imports", "interactions", "marketing",
            "notifications", "reports", "sales", "support"}

NOT_TRACKED = {
    "audit.LoginEvent": "is itself the audit trail of sign-ins",
    "imports.ImportRow": "staging rows of an import job; the job and every record it writes are tracked",
    "notifications.Notification": "a message to a user about a change that is itself tracked",
    "sales.LeadAssignment": "is itself the history of a lead's assignments",
    "sales.StageHistory": "is itself the history of an opportunity's stages",
    "reports.ReportExport": "is itself the record of report tables exported",
    "reports.SalesMonth": "a summary a worker recomputes from tracked opportunities",
    "reports.CustomerMonth": "a summary a worker recomputes from tracked customers",
    "reports.CustomerStanding": "a summary a worker recomputes from tracked customers",
    "reports.SummaryState": "when the summaries were last recomputed",
}


def test_every_model_of_the_crm_has_an_audit_trail():
    tracked = {m.pgh_tracked_model._meta.label for m in apps.get_models() if hasattr(m, "pgh_tracked_model")}
    # A proxy tracked in crm.audit (users, roles, permissions) stands for its concrete model.
    tracked |= {apps.get_model(label)._meta.concrete_model._meta.label for label in tracked}
    missing = sorted(
        m._meta.label for m in apps.get_models()
        if m._meta.app_label in CRM_APPS and not m._meta.proxy and not hasattr(m, "pgh_tracked_model")
        and m._meta.label not in tracked and m._meta.label not in NOT_TRACKED
    )
    assert missing == [], f"models without an audit trail (add @pghistory.track, or a reason above): {missing}"
