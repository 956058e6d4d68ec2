"""The filter panels of the task and activity pages. Each FilterSet receives a policy-scoped queryset and only
narrows it; the choices it offers (authors) are scoped by the user too."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from crm.accounts.selectors import assignable_users
from customers.models import Customer
from customers.search import search_condition

from .models import Channel, Direction, FollowUp, FollowUpStatus, Interaction, Priority
from .selectors import activity_list, may_see_team_activity

CHECKBOXES = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})


class TaskFilter(django_filters.FilterSet):
    """My tasks and the week: by status and priority."""

    status = django_filters.ChoiceFilter(label=_("status"), choices=FollowUpStatus.choices,
                                         empty_label=_("Any status"))
    priority = django_filters.MultipleChoiceFilter(label=_("priority"), choices=Priority.choices, widget=CHECKBOXES,
                                                   distinct=False)

    class Meta:
        model = FollowUp
        fields = []


class ActivityFilter(django_filters.FilterSet):
    """The activity lists: by customer, channel, direction, author and date."""

    q = django_filters.CharFilter(
        label=_("customer"), method="filter_customer",
        widget=forms.TextInput(attrs={"placeholder": _("Name, company, phone or email"), "type": "search",
                                      "data-live-search": ""}),
    )
    channel = django_filters.ChoiceFilter(label=_("kind"), choices=Channel.choices, empty_label=_("All kinds"))
    direction = django_filters.ChoiceFilter(label=_("direction"), choices=[c for c in Direction.choices if c[0]],
                                            empty_label=_("Both directions"))
    author = django_filters.ModelChoiceFilter(label=_("by"), queryset=None, empty_label=_("Anyone"))
    date = django_filters.DateFromToRangeFilter(
        label=_("date"), field_name="occurred_at",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    # "My activity": the interactions the user logged himself. Set by that page (and its exports), never shown.
    mine = django_filters.BooleanFilter(method="filter_mine", widget=forms.HiddenInput)

    class Meta:
        model = Interaction
        fields = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        # A rep is offered himself, a manager his subtree, an administrator everyone.
        self.filters["author"].queryset = assignable_users(user=user).order_by("username")

    def filter_customer(self, queryset, name, value):
        condition = search_condition(value)
        if not condition:
            return queryset
        return queryset.filter(customer__in=Customer.objects.filter(condition).values("pk"))

    def filter_mine(self, queryset, name, value):
        return queryset.filter(author=self.user) if value else queryset


def activity_filterset(*, user, data, mine: bool) -> ActivityFilter:
    """The activity list as a page (and its export) builds it: the user's scope, narrowed by ``data``; "mine"
    keeps what he logged himself, and is forced for those who may not see their teams' activity."""
    data = data.copy()
    if mine or not may_see_team_activity(user):
        data["mine"] = "1"
    return ActivityFilter(data, queryset=activity_list(user=user, team_only=not mine), user=user)
