"""What the commerce part of sales contributes to other modules (customer page panels, timeline kinds, exporters,
import resources, demo data). Called from SalesConfig.ready().

- The customer page: a panel with the lifetime value (non-cancelled orders' totals), the last purchase, the latest
  orders and the open contracts with what is outstanding; and two timeline kinds, orders and payments received.
- Exports: the order list ("sales.order").
"""

from django.utils.translation import gettext_lazy as _


def purchases_panel(request, customer):
    from . import commerce_selectors as selectors

    summary = selectors.customer_summary(user=request.user, customer=customer)
    if summary is None:
        return None
    return summary


def order_entries(*, customer, user, before, limit):
    from customers.timeline import TimelineEntry

    from . import commerce_selectors as selectors

    if not user.has_perm("sales.view_order"):
        return []
    rows = selectors.timeline_orders(user=user, customer=customer).order_by("-created_at", "-id")
    if before is not None:
        rows = rows.filter(before.older("created_at", "order"))
    return [TimelineEntry(when=o.created_at, kind="order", id=o.pk, title=o.number,
                          template="sales/commerce/_timeline_order.html", obj=o) for o in rows[:limit]]


def payment_entries(*, customer, user, before, limit):
    from customers.timeline import TimelineEntry

    from . import commerce_selectors as selectors

    rows = selectors.timeline_payments(user=user, customer=customer).order_by("-created_at", "-id")
    if before is not None:
        rows = rows.filter(before.older("created_at", "payment"))
    return [TimelineEntry(when=p.created_at, kind="payment", id=p.pk, title=str(p),
                          template="sales/commerce/_timeline_payment.html", obj=p) for p in rows[:limit]]


def register() -> None:
    from crm.exports import registry
    from customers import timeline

    from .commerce_exports import OrderExporter

    timeline.register_panel("purchases", "sales/commerce/_customer_panel.html", purchases_panel, order=30)
    timeline.register_kind("order", _("Orders"), order_entries, order=40)
    timeline.register_kind("payment", _("Payments received"), payment_entries, order=45)
    registry.register(OrderExporter())
