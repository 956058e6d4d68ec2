"""The order list's exporter ("sales.order"), registered with crm.exports by sales/commerce_setup.py.

Rows are the order list's rows for the same query string: the policy's scope narrowed by OrderFilter, in the same
order, with what was received on each order summed in SQL.
"""

from django.contrib.auth import get_user_model
from django.http import QueryDict
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from crm.exports.registry import Column, Exporter

from . import commerce_selectors as selectors
from .commerce_filters import OrderFilter
from .models import Order, OrderStatus

User = get_user_model()

MODEL_KEY = "sales.order"
# Exports need a permission of their own (ARCHITECTURE.md); the Order model has to declare it (see the note in
# commerce_setup.register) before anyone but a superuser holds it.
EXPORT_PERMISSION = "sales.export_order"


def _label(name: str) -> str:
    return capfirst(str(Order._meta.get_field(name).verbose_name))


class OrderExporter(Exporter):
    model_key = MODEL_KEY
    permission = EXPORT_PERMISSION
    verbose_name_plural = Order._meta.verbose_name_plural
    list_url_name = "sales:order_list"
    fields = ("number", "ordered_on", "customer__name", "status", "currency", "total", "received", "owner_id",
              "contract__number", "quote__number")

    def queryset(self, user, query: QueryDict):
        filterset = OrderFilter(query or None, queryset=selectors.order_list(user=user), user=user)
        return filterset.qs if filterset.is_bound else filterset.queryset.order_by(*OrderFilter.default_order)

    def prepare_chunk(self, records, cache):
        owners = cache.setdefault("owners", {})
        wanted = {r["owner_id"] for r in records} - owners.keys()
        if wanted:
            owners.update((u.pk, str(u)) for u in User.objects.filter(pk__in=wanted))
        for record in records:
            record["owner_name"] = owners.get(record["owner_id"], "")

    def columns(self, user) -> list[Column]:
        statuses = {value: str(label) for value, label in OrderStatus.choices}
        return [
            Column(_label("number"), lambda r: r["number"]),
            Column(_label("ordered_on"), lambda r: r["ordered_on"]),
            Column(_label("customer"), lambda r: r["customer__name"]),
            Column(_label("status"), lambda r: statuses.get(r["status"], r["status"])),
            Column(_label("currency"), lambda r: r["currency"]),
            Column(_label("total"), lambda r: r["total"]),
            Column(str(capfirst(_("received"))), lambda r: r["received"]),
            Column(_label("owner"), lambda r: r["owner_name"]),
            Column(_label("contract"), lambda r: r["contract__number"] or ""),
            Column(str(capfirst(_("quote"))), lambda r: r["quote__number"] or ""),
        ]
