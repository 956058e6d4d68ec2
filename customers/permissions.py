"""Who may see and touch which customers: the one policy every customer view, search, form and export uses.

Scope is one SQL condition over indexed integer keys (owner_id, team_id, the guardian share tables):
- an admin sees every customer;
- a manager sees customers whose team is in the subtree of the teams he manages;
- everyone sees what he owns, what was shared with him or his team, and the public pool.
Contacts and other child records follow their customer.
"""

from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.http import Http404

from crm.accounts.roles import is_admin
from crm.accounts.selectors import managed_team_ids

from .models import Customer, CustomerTeamShare, CustomerUserShare

VIEW = "view"
CHANGE = "change"
DELETE = "delete"
SHARE = "share"
CLAIM = "claim"
RELEASE = "release"
ACTIONS = (VIEW, CHANGE, DELETE, SHARE, CLAIM, RELEASE)

# The module permission each action needs on top of record scope.
_MODEL_PERMISSION = {
    VIEW: "customers.view_customer",
    CHANGE: "customers.change_customer",
    DELETE: "customers.delete_customer",
    SHARE: "customers.share_customer",
    CLAIM: "customers.claim_customer",
    RELEASE: "customers.change_customer",
}

SHARE_VIEW = "view_customer"
SHARE_CHANGE = "change_customer"


def _shared_with(user, codenames) -> Q:
    user_shares = CustomerUserShare.objects.filter(user=user, permission__codename__in=codenames)
    team_shares = CustomerTeamShare.objects.filter(group__user=user, permission__codename__in=codenames)
    return Q(pk__in=user_shares.values("content_object_id")) | Q(pk__in=team_shares.values("content_object_id"))


def _managed(user) -> Q:
    team_ids = managed_team_ids(user)
    return Q(team_id__in=team_ids) if team_ids else Q(pk__in=[])


def scope_condition(user, action: str = VIEW) -> Q | None:
    """The condition a customer must meet for ``user`` to do ``action``; None means any customer."""
    if action not in ACTIONS:
        raise ValueError(action)
    if not user.is_authenticated or not user.is_active or not user.has_perm(_MODEL_PERMISSION[action]):
        return Q(pk__in=[])
    if is_admin(user):
        return Q(owner__isnull=True) if action == CLAIM else None
    own = Q(owner=user)
    pool = Q(owner__isnull=True)
    if action == VIEW:
        return own | pool | _managed(user) | _shared_with(user, [SHARE_VIEW, SHARE_CHANGE])
    if action == CHANGE:
        return own | _managed(user) | _shared_with(user, [SHARE_CHANGE])
    if action in (DELETE, SHARE, RELEASE):
        return own | _managed(user)
    return pool  # CLAIM


def customers_for(user, action: str = VIEW, *, include_deleted: bool = False) -> QuerySet[Customer]:
    """Customers ``user`` may do ``action`` to, as a queryset to narrow further."""
    qs = Customer.objects.all() if include_deleted else Customer.objects.alive()
    condition = scope_condition(user, action)
    return qs if condition is None else qs.filter(condition)


def get_customer_or_404(user, pk, action: str = VIEW) -> Customer:
    """The customer if ``user`` may do ``action`` to it; 404 otherwise, so nobody learns it exists."""
    try:
        return customers_for(user, action).get(pk=pk)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def can(user, action: str, customer: Customer) -> bool:
    if customer.is_deleted:
        return False
    return customers_for(user, action).filter(pk=customer.pk).exists()


def allowed_actions(user, customer: Customer) -> set[str]:
    """The actions the detail page may offer, answered in one query."""
    if customer.is_deleted:
        return set()
    annotations = {}
    for action in ACTIONS:
        condition = scope_condition(user, action)
        annotations[f"may_{action}"] = (
            Value(True)
            if condition is None
            else Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())
        )
    row = Customer.objects.filter(pk=customer.pk).values(**annotations).first() or {}
    return {action for action in ACTIONS if row.get(f"may_{action}")}
