"""Reads on customers. Every read starts from the policy's scoped queryset."""

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet

from . import permissions as policy
from .models import Contact, Customer, CustomerTeamShare, CustomerUserShare, Tag
from .search import phone_digits

User = get_user_model()


def customer_list(*, user, base: QuerySet | None = None) -> QuerySet[Customer]:
    """Customers the user may see, with what a list row shows, in a bounded number of queries."""
    qs = base if base is not None else policy.customers_for(user)
    return qs.select_related("owner", "team").prefetch_related(
        Prefetch("tags", queryset=Tag.objects.only("id", "name", "color"))
    )


def customer_detail(*, user, pk) -> Customer:
    customer = policy.get_customer_or_404(user, pk)
    return (
        Customer.objects.select_related("owner", "team", "created_by")
        .prefetch_related("tags", Prefetch("contacts", queryset=Contact.objects.order_by("-is_primary", "name")))
        .get(pk=customer.pk)
    )


def find_duplicates(*, numbers=(), email="", exclude_pk=None) -> list[Customer]:
    """Live customers with one of these phone numbers (in their mobile or phone field: people put a mobile
    in either) or this email, whoever owns them (the caller decides what to reveal)."""
    condition = Q()
    digits = [phone_digits(str(number)) for number in numbers if number]
    if digits:
        condition |= Q(mobile_digits__in=digits) | Q(phone_digits__in=digits)
    if email:
        condition |= Q(email__iexact=email)
    if not condition:
        return []
    qs = Customer.objects.alive().filter(condition).select_related("owner")
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return list(qs[:5])


def customer_shares(*, customer: Customer) -> dict:
    return {
        "users": list(
            CustomerUserShare.objects.filter(content_object=customer).select_related("user", "permission")
        ),
        "teams": list(
            CustomerTeamShare.objects.filter(content_object=customer).select_related("group__team", "permission")
        ),
    }


def recycle_bin() -> QuerySet[Customer]:
    return Customer.objects.in_recycle_bin().select_related("owner", "deleted_by").order_by("-deleted_at")

