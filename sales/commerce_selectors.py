"""Reads on what is sold. Every read starts from the policy's scoped queryset (sales.permissions); lists carry
what their rows show (received amounts, the overdue flag) as SQL annotations, so a page costs the same few queries
whatever its length."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers import permissions as customer_policy
from customers.models import Customer
from customers.search import search_condition

from . import permissions as policy
from .commerce_payments import amount_of, overdue_condition
from .commerce_totals import ZERO
from .models import (
    Contract,
    ContractStatus,
    Opportunity,
    Order,
    OrderStatus,
    Payment,
    PaymentPlan,
    PriceList,
    Product,
    Quote,
)

MONEY_FIELD = DecimalField(max_digits=16, decimal_places=2)


def _received(parent_field: str):
    """The sum of payments of the outer contract or order (0 without any)."""
    sums = (Payment.objects.filter(**{parent_field: OuterRef("pk")}).order_by().values(parent_field)
            .annotate(s=Sum("amount")).values("s"))
    return Coalesce(Subquery(sums, output_field=MONEY_FIELD), Value(ZERO), output_field=MONEY_FIELD)


def _overdue(parent_field: str, today):
    return Exists(PaymentPlan.objects.filter(overdue_condition(today), **{parent_field: OuterRef("pk")}))


def customer_search(*, user, text: str, limit: int = 20) -> list:
    """Customers the user may write quotes, contracts and orders for, matching the customer search box's text."""
    qs = customer_policy.customers_for(user, customer_policy.CHANGE).select_related("owner")
    if text.strip():
        qs = qs.filter(search_condition(text))
    return list(qs.order_by("-updated_at", "-pk")[:limit])


def customer_for_writing(*, user, pk):
    """The customer a new quote, contract or order is for; None if the user may not write for it."""
    try:
        return customer_policy.customers_for(user, customer_policy.CHANGE).get(pk=pk)
    except (ValueError, TypeError, Customer.DoesNotExist):
        return None


def opportunities_of(*, user, customer) -> QuerySet[Opportunity]:
    return policy.opportunities_for(user).filter(customer=customer).order_by("-created_at")


# ---------------------------------------------------------------------------------------------- catalogue


def product_list(*, user) -> QuerySet[Product]:
    return Product.objects.all() if user.has_perm("sales.view_product") else Product.objects.none()


def price_list_list(*, user) -> QuerySet[PriceList]:
    if not user.has_perm("sales.view_pricelist"):
        return PriceList.objects.none()
    return PriceList.objects.annotate(item_count=Count("items"))


def active_price_lists(*, keep=None) -> QuerySet[PriceList]:
    """Price lists offered on a new quote or order; ``keep``: one the record already uses, retired or not."""
    condition = Q(active=True) | (Q(pk=keep.pk) if keep else Q(pk__in=[]))
    return PriceList.objects.filter(condition)


# ------------------------------------------------------------------------------------------------ quotes


def quote_list(*, user) -> QuerySet[Quote]:
    return policy.quotes_for(user).select_related("customer", "owner")


def quote_detail(*, user, pk, action: str = policy.VIEW) -> Quote:
    quote = policy.get_or_404(policy.quotes_for(user, action), pk)
    return (Quote.objects.select_related("customer", "owner", "opportunity", "price_list")
            .prefetch_related("lines__product").get(pk=quote.pk))


def quote_outcome(*, user, quote: Quote) -> dict:
    """What an accepted quote became, as far as the user may see."""
    return {
        "contracts": list(policy.contracts_for(user).filter(quote=quote)),
        "orders": list(policy.orders_for(user).filter(quote=quote)),
    }


# --------------------------------------------------------------------------------------------- contracts


def contract_list(*, user, today=None) -> QuerySet[Contract]:
    today = today or timezone.localdate()
    return (policy.contracts_for(user).select_related("customer", "owner")
            .annotate(received=_received("contract"), overdue=_overdue("contract", today)))


def contract_detail(*, user, pk, action: str = policy.VIEW) -> Contract:
    contract = policy.get_or_404(policy.contracts_for(user, action), pk)
    return (Contract.objects.select_related("customer", "owner", "opportunity", "quote")
            .prefetch_related("attachments").get(pk=contract.pk))


# ------------------------------------------------------------------------------------------------ orders


def order_list(*, user, today=None) -> QuerySet[Order]:
    today = today or timezone.localdate()
    return (policy.orders_for(user).select_related("customer", "owner")
            .annotate(received=_received("order"), overdue=_overdue("order", today)))


def order_detail(*, user, pk, action: str = policy.VIEW) -> Order:
    order = policy.get_or_404(policy.orders_for(user, action), pk)
    return (Order.objects.select_related("customer", "owner", "opportunity", "quote", "contract")
            .prefetch_related("lines__product").get(pk=order.pk))


# --------------------------------------------------------------------------------------- payments (回款)


@dataclass
class MoneyState:
    """A contract's or order's instalments and payments, and what they add up to."""

    amount: Decimal
    plans: list = field(default_factory=list)  # PaymentPlan, each with ``overdue``
    payments: list = field(default_factory=list)
    planned: Decimal = ZERO
    received: Decimal = ZERO

    @property
    def outstanding(self) -> Decimal:
        return max(self.amount - self.received, ZERO)

    @property
    def unplanned(self) -> Decimal:
        return max(self.amount - self.planned, ZERO)

    @property
    def overdue(self) -> bool:
        return any(plan.overdue for plan in self.plans)

    @property
    def open_plans(self) -> list:
        return [plan for plan in self.plans if plan.outstanding > 0]


def money_state(*, parent: Contract | Order, today=None) -> MoneyState:
    today = today or timezone.localdate()
    of = {"contract": parent} if isinstance(parent, Contract) else {"order": parent}
    plans = list(PaymentPlan.objects.filter(**of).annotate(
        overdue=Exists(PaymentPlan.objects.filter(overdue_condition(today), pk=OuterRef("pk")))))
    payments = list(Payment.objects.filter(**of).select_related("plan", "recorded_by"))
    return MoneyState(amount=amount_of(parent), plans=plans, payments=payments,
                      planned=sum((p.amount for p in plans), ZERO), received=sum((p.amount for p in payments), ZERO))


# ----------------------------------------------------------------------------------------- customer page


def customer_summary(*, user, customer, today=None) -> dict | None:
    """The customer page's purchase panel: lifetime value (non-cancelled orders' totals), last purchase, the latest
    orders and the open contracts with what is outstanding on them. None when the user may see no orders."""
    if not user.has_perm("sales.view_order"):
        return None
    today = today or timezone.localdate()
    orders = policy.orders_for(user).filter(customer=customer)
    kept = ~Q(status=OrderStatus.CANCELLED)
    totals = orders.aggregate(
        # Amounts in other currencies are not added to yuan: they are listed beside it, one sum per currency.
        lifetime_value=Coalesce(Sum("total", filter=kept & Q(currency="CNY")), Value(ZERO), output_field=MONEY_FIELD),
        last_purchase=Max("ordered_on", filter=kept),
        order_count=Count("pk", filter=kept),
    )
    per_currency = orders.filter(kept).exclude(currency="CNY").values("currency").annotate(total=Sum("total"))
    totals["other_currencies"] = list(per_currency.order_by("currency").values_list("currency", "total"))
    latest = list(orders.select_related("owner").order_by("-ordered_on", "-pk")[:5])
    contracts = []
    if user.has_perm("sales.view_contract"):
        contracts = list(
            policy.contracts_for(user).filter(customer=customer, status__in=[ContractStatus.DRAFT,
                                                                             ContractStatus.ACTIVE])
            .annotate(received=_received("contract"), overdue=_overdue("contract", today))
            .order_by("-created_at", "-pk")[:10]
        )
        for contract in contracts:
            contract.outstanding = max(contract.amount - contract.received, ZERO)
    return {**totals, "latest_orders": latest, "open_contracts": contracts, "customer": customer,
            "may_add_quote": user.has_perm("sales.add_quote"), "may_add_order": user.has_perm("sales.add_order")}


def timeline_orders(*, user, customer) -> QuerySet[Order]:
    return policy.orders_for(user).filter(customer=customer).select_related("owner")


def timeline_payments(*, user, customer) -> QuerySet[Payment]:
    if not user.has_perm("sales.view_payment"):
        return Payment.objects.none()
    return (policy.payments_for(user).filter(Q(contract__customer=customer) | Q(order__customer=customer))
            .select_related("contract", "order", "recorded_by"))
