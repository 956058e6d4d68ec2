"""The commerce lists' filter panels. Each receives the policy-scoped queryset and only narrows it; owner choices
are scoped like records (a rep is offered himself, a manager his subtree)."""

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.accounts.selectors import assignable_users
from customers.models import Customer
from customers.search import search_condition

from .models import Contract, ContractStatus, Order, OrderStatus, Product, Quote, QuoteStatus

CHECKBOXES = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})
DATE_RANGE = django_filters.widgets.DateRangeWidget(attrs={"type": "date"})


def _number_or_customer(queryset, value: str):
    """A number (Q-2026-000123, or its tail) or the customer's name, company, phone or email."""
    value = value.strip()
    if not value:
        return queryset
    customers = Customer.objects.filter(search_condition(value)).values("pk")
    return queryset.filter(Q(number__iendswith=value) | Q(number__iexact=value) | Q(customer__in=customers))


class _RecordFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("search"), method="search",
        widget=forms.TextInput(attrs={"placeholder": _("Number or customer"), "type": "search",
                                      "data-live-search": ""}),
    )
    mine = django_filters.BooleanFilter(label=_("only mine"), method="filter_mine",
                                        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}))
    owner = django_filters.ModelChoiceFilter(label=_("owner"), queryset=None)
    customer = django_filters.NumberFilter(field_name="customer_id", widget=forms.HiddenInput)

    default_order: tuple = ("-created_at", "-pk")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.filters["owner"].queryset = assignable_users(user=user).order_by("username")

    def search(self, queryset, name, value):
        return _number_or_customer(queryset, value)

    def filter_mine(self, queryset, name, value):
        return queryset.filter(owner=self.user) if value else queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("sort"):
            queryset = queryset.order_by(*self.default_order)
        return queryset


class QuoteFilter(_RecordFilter):
    status = django_filters.MultipleChoiceFilter(label=_("status"), choices=QuoteStatus.choices, widget=CHECKBOXES,
                                                 distinct=False)
    created = django_filters.DateFromToRangeFilter(label=_("created"), field_name="created_at", widget=DATE_RANGE)
    sort = django_filters.OrderingFilter(
        label=_("sort"), empty_label=_("Newest first"),
        fields=[("created_at", "created"), ("total", "total"), ("valid_until", "valid_until")],
        field_labels={"created_at": _("created"), "total": _("total"), "valid_until": _("valid until")},
    )

    class Meta:
        model = Quote
        fields = []


class ContractFilter(_RecordFilter):
    status = django_filters.MultipleChoiceFilter(label=_("status"), choices=ContractStatus.choices,
                                                 widget=CHECKBOXES, distinct=False)
    overdue = django_filters.BooleanFilter(label=_("with overdue payments"), method="filter_overdue",
                                           widget=forms.CheckboxInput(attrs={"class": "form-check-input"}))
    ends = django_filters.DateFromToRangeFilter(label=_("ends"), field_name="ends_on", widget=DATE_RANGE)
    signed = django_filters.DateFromToRangeFilter(label=_("signed"), field_name="signed_on", widget=DATE_RANGE)
    sort = django_filters.OrderingFilter(
        label=_("sort"), empty_label=_("Newest first"),
        fields=[("created_at", "created"), ("amount", "amount"), ("ends_on", "ends"), ("signed_on", "signed")],
        field_labels={"created_at": _("created"), "amount": _("amount"), "ends_on": _("ends"),
                      "signed_on": _("signed")},
    )

    class Meta:
        model = Contract
        fields = []

    def filter_overdue(self, queryset, name, value):
        return queryset.filter(overdue=True) if value else queryset


class OrderFilter(_RecordFilter):
    status = django_filters.MultipleChoiceFilter(label=_("status"), choices=OrderStatus.choices, widget=CHECKBOXES,
                                                 distinct=False)
    overdue = django_filters.BooleanFilter(label=_("with overdue payments"), method="filter_overdue",
                                           widget=forms.CheckboxInput(attrs={"class": "form-check-input"}))
    ordered = django_filters.DateFromToRangeFilter(label=_("ordered on"), field_name="ordered_on",
                                                   widget=DATE_RANGE)
    sort = django_filters.OrderingFilter(
        label=_("sort"), empty_label=_("Latest purchase first"),
        fields=[("ordered_on", "ordered"), ("total", "total")],
        field_labels={"ordered_on": _("ordered on"), "total": _("total")},
    )
    default_order = ("-ordered_on", "-pk")

    class Meta:
        model = Order
        fields = []

    def filter_overdue(self, queryset, name, value):
        return queryset.filter(overdue=True) if value else queryset


class ProductFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("search"), method="search",
        widget=forms.TextInput(attrs={"placeholder": _("Code or name"), "type": "search", "data-live-search": ""}),
    )
    active = django_filters.BooleanFilter(label=_("on sale"))

    class Meta:
        model = Product
        fields = []

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value)) if value else queryset
