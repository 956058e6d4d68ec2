import re

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.accounts.selectors import team_subtree_ids, visible_teams
from customers.choices import PROVINCES, Source
from customers.filters import ChoiceOrNotSetFilter
from customers.search import phone_digits

from . import lead_campaigns
from .lead_selectors import lead_owner_choices
from .models import Lead, LeadStatus

VIEW_MINE, VIEW_POOL = "mine", "pool"
CHECKBOXES = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})
_PHONE_LIKE = re.compile(r"^[\d\s\-+().（）]+$")


def lead_search_condition(text: str) -> Q:
    """Name, company, phone or email. Phones are stored in E.164: a whole Chinese mobile is found by equality (the
    lead_mobile index), a part of a number by substring."""
    text = text.strip()
    if not text:
        return Q()
    if _PHONE_LIKE.match(text) and sum(c.isdigit() for c in text) >= 3:
        digits = phone_digits(text)
        if len(digits) == 11 and digits.startswith("1"):
            return Q(mobile=f"+86{digits}") | Q(phone=f"+86{digits}")
        return Q(mobile__contains=digits) | Q(phone__contains=digits)
    if "@" in text:
        return Q(email__icontains=text)
    return Q(name__icontains=text) | Q(company__icontains=text)


class LeadFilter(django_filters.FilterSet):
    """The lead list's filter panel. It receives the policy-scoped queryset and only narrows it."""

    q = django_filters.CharFilter(
        label=_("search"), method="search",
        widget=forms.TextInput(
            attrs={"placeholder": pgettext_lazy("lead", "Name, company, phone or email"), "type": "search",
                   "data-live-search": ""}
        ),
    )
    view = django_filters.ChoiceFilter(
        label=_("show"), method="filter_view", empty_label=pgettext_lazy("leads", "All I can see"),
        choices=[(VIEW_MINE, _("My leads")), (VIEW_POOL, _("Lead pool"))],
    )
    status = django_filters.MultipleChoiceFilter(label=_("status"), choices=LeadStatus.choices, widget=CHECKBOXES,
                                                 distinct=False)
    source = ChoiceOrNotSetFilter(label=pgettext_lazy("lead", "source"), choices=Source.choices)
    owner = django_filters.ModelChoiceFilter(label=_("owner"), queryset=None)
    team = django_filters.ModelChoiceFilter(label=_("team"), queryset=None, method="filter_team")
    # For the reports' drill-downs (reports/customer_reports.py): a team with its sub-teams (a manager's subtree).
    subteams = django_filters.BooleanFilter(label=_("with its sub-teams"), method="filter_subteams",
                                            widget=forms.CheckboxInput)
    province = django_filters.ChoiceFilter(label=_("province"), choices=[(p, p) for p in PROVINCES])
    # Also the acquisition cost report's drill-down (reports/acquisition_cost.py): a campaign's leads.
    campaign = django_filters.ModelChoiceFilter(label=_("campaign"), field_name="marketing_campaign", queryset=None)
    created = django_filters.DateFromToRangeFilter(
        label=_("created"), field_name="created_at",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    sort = django_filters.OrderingFilter(
        label=_("sort"), empty_label=_("Newest first"),
        fields=[("created_at", "created"), ("assigned_at", "assigned"), ("name", "name")],
        field_labels={"created_at": _("created"), "assigned_at": _("assigned"), "name": _("name")},
    )

    class Meta:
        model = Lead
        fields = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        # Choices are scoped like records: a rep is offered himself, a manager his subtree.
        self.filters["owner"].queryset = lead_owner_choices(user=user)
        self.filters["team"].queryset = visible_teams(user=user)
        campaigns = lead_campaigns.hooks()
        self.filters["campaign"].queryset = (
            campaigns.filter_choices(user) if campaigns is not None
            else Lead._meta.get_field("marketing_campaign").related_model.objects.none())
        if not user.has_perm("sales.claim_lead") and not user.has_perm("sales.assign_lead"):
            self.filters["view"].extra["choices"] = [(VIEW_MINE, _("My leads"))]

    def search(self, queryset, name, value):
        return queryset.filter(lead_search_condition(value))

    def filter_team(self, queryset, name, value):
        if self.form.cleaned_data.get("subteams"):
            return queryset.filter(team_id__in=team_subtree_ids([value.pk]))
        return queryset.filter(team=value)

    def filter_subteams(self, queryset, name, value):
        return queryset  # read by filter_team

    def filter_view(self, queryset, name, value):
        if value == VIEW_MINE:
            return queryset.filter(owner=self.user)
        if value == VIEW_POOL:
            return queryset.filter(owner__isnull=True)
        return queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("sort"):
            queryset = queryset.order_by("-created_at", "-pk")
        return queryset
