"""Who may see and change sales records: one policy per model, as in customers.permissions.

- Leads carry their own owner: an admin sees all; a manager the leads of his teams' subtree; everyone his own,
  and those who may claim leads see the lead pool (leads without owner).
- Opportunities, quotes, contracts and orders carry an owner too, and belong to a customer: visible to whoever
  sees the owner's work (himself, his managers, admins) and to whoever may see the customer (the customer's
  page shows its opportunities and purchase history), except through the public pool: a customer released to
  the pool does not open his deals, contracts (with their files) and payments to every rep; whoever claims him
  sees them. Changing needs the owner's scope, or the customer's.
- Payment plans and payments follow their contract or order.
Outside the scope the answer is 404.
"""

from django.db.models import Q, QuerySet
from django.http import Http404

from crm.accounts.roles import is_admin
from crm.accounts.selectors import managed_team_ids
from customers import permissions as customer_policy
from customers.models import Customer

from .models import Contract, Lead, Opportunity, Order, Payment, PaymentPlan, Quote

VIEW, CHANGE = customer_policy.VIEW, customer_policy.CHANGE


def _owned(user) -> Q:
    teams = managed_team_ids(user)
    return Q(owner=user) | (Q(team_id__in=teams) if teams else Q(pk__in=[]))


def leads_for(user, action: str = VIEW) -> QuerySet[Lead]:
    if not user.is_authenticated or not user.has_perm(f"sales.{action}_lead"):
        return Lead.objects.none()
    if is_admin(user):
        return Lead.objects.all()
    condition = _owned(user)
    if action == VIEW and user.has_perm("sales.claim_lead"):
        condition |= Q(owner__isnull=True)
    return Lead.objects.filter(condition)


def _customer_branches(condition: Q | None) -> list:
    """The reasons the customer policy gives for seeing a customer (his own, his teams', shared ...), one by one. The
    public pool is left out: it never opens a customer's records (see above)."""
    if condition is None:
        return [Q()]
    parts = condition.children if condition.connector == Q.OR and not condition.negated else [condition]
    return [part for part in parts if part != ("owner__isnull", True)]


def _on_customer(condition):
    """A condition on customers (a Q, or one of its ``(lookup, value)`` children) tested on a record's customer."""
    if isinstance(condition, tuple):
        return (f"customer__{condition[0]}", condition[1])
    rooted = Q(*[_on_customer(child) for child in condition.children], _connector=condition.connector)
    rooted.negated = condition.negated
    return rooted


def _customer_records(model, user, action: str, *, owner_team_field: str = "owner__team_id") -> QuerySet:
    if not user.is_authenticated or not user.has_perm(f"sales.{action}_{model._meta.model_name}"):
        return model.objects.none()
    if is_admin(user):
        return model.objects.all()
    teams = managed_team_ids(user)
    condition = Q(owner=user) | (Q(**{f"{owner_team_field}__in": teams}) if teams else Q(pk__in=[]))
    branches = _customer_branches(customer_policy.scope_condition(user, action))
    # The customer policy's reasons in the form PostgreSQL reads fastest (bench/RESULTS.md, kanban). A manager's
    # teams hold most customers: each record's own customer is tested (a join on its key) rather than hashing
    # them all. Anyone else's customers are few: one small "customer IN (...)" per reason (his own, his shares),
    # each built through its index. (One IN over the OR of all reasons could use no index: PostgreSQL read the
    # whole customer table to build it, once per query, 60 ms at 200,000 customers for each column of the board.)
    if teams:
        rooted = Q(customer__deleted_at__isnull=True, customer__owner__isnull=False)
        condition |= rooted & Q(*[_on_customer(branch) for branch in branches], _connector=Q.OR)
    else:
        for branch in branches:
            condition |= Q(customer__in=Customer.objects.alive().filter(branch, owner__isnull=False).values("pk"))
    return model.objects.filter(condition)


def opportunities_for(user, action: str = VIEW) -> QuerySet[Opportunity]:
    return _customer_records(Opportunity, user, action, owner_team_field="team_id")


def quotes_for(user, action: str = VIEW) -> QuerySet[Quote]:
    return _customer_records(Quote, user, action)


def contracts_for(user, action: str = VIEW) -> QuerySet[Contract]:
    return _customer_records(Contract, user, action)


def orders_for(user, action: str = VIEW) -> QuerySet[Order]:
    return _customer_records(Order, user, action)


def payment_plans_for(user, action: str = VIEW) -> QuerySet[PaymentPlan]:
    return PaymentPlan.objects.filter(
        Q(contract__in=contracts_for(user, action).values("pk")) | Q(order__in=orders_for(user, action).values("pk"))
    )


def payments_for(user, action: str = VIEW) -> QuerySet[Payment]:
    return Payment.objects.filter(
        Q(contract__in=contracts_for(user, action).values("pk")) | Q(order__in=orders_for(user, action).values("pk"))
    )


def get_or_404(queryset: QuerySet, pk):
    """The record of ``queryset`` (a ``*_for`` result) with this key, or 404."""
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
