"""Writes on customers: one function per business action, the acting user passed explicitly.

Every write lands in the audit trail through pghistory's triggers; the request middleware (or
``pghistory.context`` in tasks) says who and why.
"""

from datetime import timedelta

import pghistory
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from crm.accounts.roles import is_admin
from crm.accounts.selectors import assignable_users

from . import permissions as policy
from .choices import Status
from .models import Contact, Customer, CustomerTag, PoolSettings, Tag

User = get_user_model()

CUSTOMER_FIELDS = [
    "kind", "name", "company", "title", "email", "mobile", "phone", "province", "city", "district",
    "address", "level", "status", "source", "industry", "notes", "custom",
]


@transaction.atomic
def customer_create(*, actor, data: dict, tags=(), owner=None) -> Customer:
    """Create a customer owned by ``owner`` (default: the actor); ``owner=None`` with ``to_pool`` puts it in
    the pool."""
    customer = Customer(**{k: v for k, v in data.items() if k in CUSTOMER_FIELDS}, created_by=actor)
    owner = owner if owner is not None else actor
    if owner.pk != actor.pk:
        _check_assignable(actor, owner)
    customer.owner = owner
    customer.team_id = owner.team_id
    customer.owned_since = timezone.now()
    customer.full_clean()
    customer.save()
    if tags:
        customer.tags.set(tags)
    return customer


@transaction.atomic
def customer_update(*, actor, customer: Customer, data: dict, tags=None, owner=None) -> Customer:
    locked = policy.customers_for(actor, policy.CHANGE).select_for_update(of=("self",)).get(pk=customer.pk)
    for field in CUSTOMER_FIELDS:
        if field in data:
            setattr(locked, field, data[field])
    if owner is not None and owner.pk != locked.owner_id:
        _check_assignable(actor, owner)
        _set_owner(locked, owner)
    locked.full_clean()
    locked.save()
    if tags is not None:
        locked.tags.set(tags)
    return locked


def _set_owner(customer: Customer, owner) -> None:
    customer.owner = owner
    customer.team_id = owner.team_id if owner else None
    customer.owned_since = timezone.now() if owner else None


def _check_assignable(actor, owner) -> None:
    if not actor.has_perm("customers.assign_customer") or not assignable_users(user=actor).filter(pk=owner.pk).exists():
        raise ValidationError(_("You may not assign customers to %(user)s.") % {"user": owner})


@transaction.atomic
def customer_delete(*, actor, customer: Customer) -> None:
    """Move to the recycle bin. Nothing is erased; an admin can restore it."""
    updated = policy.customers_for(actor, policy.DELETE).filter(pk=customer.pk).update(
        deleted_at=timezone.now(), deleted_by=actor
    )
    if not updated:
        raise ValidationError(_("You may not delete this customer."))


@transaction.atomic
def customer_restore(*, actor, customer_id: int) -> Customer:
    if not is_admin(actor):
        raise ValidationError(_("Only an administrator can restore customers."))
    customer = Customer.objects.in_recycle_bin().select_for_update().get(pk=customer_id)
    customer.deleted_at = None
    customer.deleted_by = None
    customer.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    return customer


class ClaimError(ValidationError):
    pass


def check_claim_limit(user, *, actor=None) -> None:
    """Refuse (ClaimError) to give ``user`` one more customer from the public pool when he holds the claim limit
    already. Call inside the transaction that takes the customer: it locks the user's row until then, which
    serialises his parallel claims (and conversions onto pool customers), so the limit holds. ``actor``: who takes
    it for him, when someone else (the message then names him)."""
    User.objects.select_for_update().filter(pk=user.pk).first()
    limit = PoolSettings.current().claim_limit
    held = Customer.objects.alive().filter(owner=user).count()
    if held < limit:
        return
    values = {"held": held, "limit": limit, "user": user}
    if actor is None or actor.pk == user.pk:
        message = _("You already hold %(held)s customers; the limit is %(limit)s. Release some before claiming more.")
    else:
        message = _("%(user)s already holds %(held)s customers; the limit is %(limit)s. He must release some before "
                    "taking more.")
    raise ClaimError(message % values)


@transaction.atomic
def customer_claim(*, actor, customer_id: int) -> Customer:
    """Take a customer from the public pool. Of two reps claiming at once, exactly one wins."""
    check_claim_limit(actor)
    # Under READ COMMITTED the loser of a race re-checks "owner IS NULL" after the winner commits,
    # finds no row, and is told the customer is gone.
    customer = policy.customers_for(actor, policy.CLAIM).select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise ClaimError(_("This customer is no longer in the public pool; someone else has claimed it."))
    _set_owner(customer, actor)
    customer.save(update_fields=["owner", "team", "owned_since", "updated_at"])
    return customer


@transaction.atomic
def customer_mark_deal(*, customer_id: int) -> bool:
    """A customer who has bought (a won opportunity, an order) is a closed deal (成交): from potential, new or lost;
    a customer marked high-value stays so. Called by sales; whether it changed."""
    movable = [Status.POTENTIAL, Status.NEW, Status.LOST]
    return Customer.objects.filter(pk=customer_id, status__in=movable).update(
        status=Status.DEAL, updated_at=timezone.now()) > 0


def customer_release(*, actor, customer: Customer) -> Customer:
    locked = policy.customers_for(actor, policy.RELEASE).select_for_update(of=("self",)).filter(pk=customer.pk).first()
    if locked is None:
        raise ValidationError(_("You may not release this customer to the pool."))
    _set_owner(locked, None)
    locked.save(update_fields=["owner", "team", "owned_since", "updated_at"])
    return locked


@transaction.atomic
def customers_assign(*, actor, customer_ids, owner) -> int:
    """Hand the chosen customers to ``owner``; ids outside the actor's scope are ignored."""
    _check_assignable(actor, owner)
    return policy.customers_for(actor, policy.RELEASE).filter(pk__in=customer_ids).update(
        owner=owner, team_id=owner.team_id, owned_since=timezone.now(), updated_at=timezone.now()
    )


@transaction.atomic
def customers_add_tag(*, actor, customer_ids, tag: Tag) -> int:
    ids = list(policy.customers_for(actor, policy.CHANGE).filter(pk__in=customer_ids).values_list("pk", flat=True))
    CustomerTag.objects.bulk_create([CustomerTag(customer_id=pk, tag=tag) for pk in ids], ignore_conflicts=True)
    return len(ids)


@transaction.atomic
def customers_move_to_pool(*, actor, customer_ids) -> int:
    return policy.customers_for(actor, policy.RELEASE).filter(pk__in=customer_ids, owner__isnull=False).update(
        owner=None, team=None, owned_since=None, updated_at=timezone.now()
    )


def _share_codename(level: str) -> str:
    if level not in (policy.SHARE_VIEW, policy.SHARE_CHANGE):
        raise ValidationError(_("Unknown share level."))
    return level


@transaction.atomic
def customer_share(*, actor, customer: Customer, level: str, user=None, team=None) -> None:
    """Share with one user or one team; the higher level replaces the lower."""
    policy.get_customer_or_404(actor, customer.pk, policy.SHARE)
    if (user is None) == (team is None):
        raise ValidationError(_("Choose either a user or a team to share with."))
    target = user if user is not None else team.group
    for codename in (policy.SHARE_VIEW, policy.SHARE_CHANGE):
        remove_perm(f"customers.{codename}", target, customer)
    assign_perm(f"customers.{_share_codename(level)}", target, customer)


@transaction.atomic
def customer_unshare(*, actor, customer: Customer, user=None, team=None) -> None:
    policy.get_customer_or_404(actor, customer.pk, policy.SHARE)
    target = user if user is not None else team.group
    for codename in (policy.SHARE_VIEW, policy.SHARE_CHANGE):
        remove_perm(f"customers.{codename}", target, customer)


def pool_return_stale(*, now=None, batch_size: int = 1000) -> int:
    """Return to the pool every owned customer nobody has contacted for the configured number of days.

    The clock starts at the later of the last contact and the moment the owner took the customer, so
    a freshly claimed customer is not swept back at once. Runs in batches so that reps editing other
    customers are never blocked for long; rows locked by a rep right now are left for the next run.
    """
    now = now or timezone.now()
    days = PoolSettings.current().return_after_days
    cutoff = now - timedelta(days=days)
    quiet_since = Greatest(
        Coalesce("last_contacted_at", "created_at"), Coalesce("owned_since", "created_at")
    )
    returned = 0
    with pghistory.context(reason="pool_return", days=days):
        while True:
            with transaction.atomic():
                ids = list(
                    Customer.objects.alive()
                    .filter(owner__isnull=False)
                    .alias(quiet_since=quiet_since)
                    .filter(quiet_since__lt=cutoff)
                    .select_for_update(skip_locked=True)
                    .values_list("pk", flat=True)[:batch_size]
                )
                if not ids:
                    return returned
                returned += Customer.objects.filter(pk__in=ids).update(
                    owner=None, team=None, owned_since=None, updated_at=now
                )


@transaction.atomic
def contact_save(*, actor, contact: Contact) -> Contact:
    """Create or edit a contact; marking it primary unmarks the customer's other primary contact."""
    policy.get_customer_or_404(actor, contact.customer_id, policy.CHANGE)
    # Unmark the old primary first: full_clean() checks the one-primary constraint against the table.
    if contact.is_primary:
        Contact.objects.filter(customer_id=contact.customer_id, is_primary=True).exclude(pk=contact.pk).update(
            is_primary=False
        )
    contact.full_clean()
    contact.save()
    return contact


@transaction.atomic
def contact_delete(*, actor, contact: Contact) -> None:
    policy.get_customer_or_404(actor, contact.customer_id, policy.CHANGE)
    contact.delete()

