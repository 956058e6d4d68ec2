"""The customer's history tab: its own field changes, its tags and its contacts, newest first."""

from django.apps import apps
from django.utils.translation import gettext as _

from crm.audit.history import HistoryEntry, entries

from .custom_fields import label_of
from .models import CustomFieldDefinition, Tag

# Masked in the history for roles without customers.view_sensitive_customer, as on the rest of the page.
SENSITIVE_FIELDS = ("mobile", "phone", "email")


def history_timeline(*, customer, user, before, limit):
    """The audit trail's changes as timeline entries (customers' own kind on the customer timeline)."""
    from .timeline import TimelineEntry

    entries = [
        TimelineEntry(when=h.when, kind="history", id=h.event_id, title=h.subject,
                      template="customers/_timeline_history.html", obj=h)
        for h in customer_history(customer)
    ]
    if before is not None:
        entries = [e for e in entries if e.cursor < before]
    return entries[:limit]


def customer_history(customer) -> list[HistoryEntry]:
    customer_events = apps.get_model("customers", "CustomerEvent")
    contact_events = apps.get_model("customers", "ContactEvent")
    tag_events = apps.get_model("customers", "CustomerTagEvent")
    custom_labels = {d.key: label_of(d) for d in CustomFieldDefinition.objects.all()}

    result = entries(
        customer_events,
        customer_events.objects.filter(pgh_obj_id=customer.pk).select_related("pgh_context").order_by("pgh_id"),
        subject=_("Customer"),
        skip_fields=("created_at",),
        json_labels={"custom": custom_labels},
        sensitive_fields=SENSITIVE_FIELDS,
    )
    contacts = list(
        contact_events.objects.filter(customer_id=customer.pk).select_related("pgh_context").order_by("pgh_id")
    )
    for entry, event in zip(
        entries(contact_events, contacts, skip_fields=("customer", "created_at"), sensitive_fields=SENSITIVE_FIELDS),
        contacts, strict=True
    ):
        entry.subject = _("Contact %(name)s") % {"name": event.name}
        result.append(entry)

    tag_rows = list(tag_events.objects.filter(customer_id=customer.pk).select_related("pgh_context").order_by("pgh_id"))
    tag_names = dict(Tag.objects.filter(pk__in={e.tag_id for e in tag_rows}).values_list("pk", "name"))
    for entry, event in zip(entries(tag_events, tag_rows, skip_fields=("customer", "tag")), tag_rows, strict=True):
        entry.verb = _("added tag") if event.pgh_label == "insert" else _("removed tag")
        entry.subject = tag_names.get(event.tag_id, "?")
        result.append(entry)

    result.sort(key=lambda e: (e.when, e.event_id), reverse=True)
    return result
