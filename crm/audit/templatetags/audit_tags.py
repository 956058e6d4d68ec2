from django import template

from crm.audit.record_history import history_limit, record_history

register = template.Library()


@register.inclusion_tag("components/history_card.html", takes_context=True)
def history_card(context, record):
    """``{% history_card lead %}``: the record's changes from the audit trail. The page is already scoped to the
    viewer (a record outside his scope answers 404 before this renders)."""
    limit = history_limit()
    history = record_history(record, limit=limit + 1)
    sensitive = context.get("may_view_sensitive")
    if sensitive is None:
        sensitive = context["request"].user.has_perm("customers.view_sensitive_customer")
    return {"history": history[:limit], "more": len(history) > limit, "may_view_sensitive": sensitive}
