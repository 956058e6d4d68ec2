"""The history card of a record's page: the changes the audit trail holds for that one record.

Every tracked model (``@pghistory.track``) has its events under ``<record>.events``; crm.audit.history turns them
into who / when / field: old → new. The customer page has a fuller tab of its own (customers/history.py: its
contacts and tags too); other records' pages show this card.
"""

from django.conf import settings

from .history import HistoryEntry, entries

# Never worth a line in a history: bookkeeping the user did not change.
SKIPPED = ("created_at", "updated_at", "last_contacted_at")
# Shown masked to roles without customers.view_sensitive_customer, as on the rest of the page.
SENSITIVE = ("mobile", "phone", "email")


def record_history(record, *, limit: int | None = None) -> list[HistoryEntry]:
    """The record's changes, newest first (all of them, or the newest ``limit``)."""
    events = getattr(record, "events", None)
    if events is None:
        return []
    rows = list(events.select_related("pgh_context").order_by("pgh_id"))
    result = entries(events.model, rows, subject=str(record._meta.verbose_name), skip_fields=SKIPPED,
                     sensitive_fields=SENSITIVE)
    # An update of bookkeeping only (a time stamp the page does not show) says nothing to the reader.
    result = [entry for entry in reversed(result) if entry.action != "update" or entry.changes or entry.reason]
    return result[:limit] if limit else result


def history_limit() -> int:
    return getattr(settings, "CRM_RECORD_HISTORY_LIMIT", 50)
