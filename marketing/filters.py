import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.accounts.models import Team

from .models import Campaign, CampaignStatus, Channel

User = get_user_model()
CHECKBOXES = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})


class CampaignFilter(django_filters.FilterSet):
    """The campaign list's filter panel. It receives the policy-scoped queryset and only narrows it."""

    q = django_filters.CharFilter(
        label=_("search"), method="search",
        widget=forms.TextInput(attrs={"placeholder": _("Name or campaign code"), "type": "search",
                                      "data-live-search": ""}),
    )
    channel = django_filters.ChoiceFilter(label=_("channel"), choices=Channel.choices)
    status = django_filters.MultipleChoiceFilter(label=_("status"), choices=CampaignStatus.choices, widget=CHECKBOXES,
                                                 distinct=False)
    owner = django_filters.ModelChoiceFilter(label=_("owner"), queryset=None)
    team = django_filters.ModelChoiceFilter(label=_("team"), queryset=None)
    started = django_filters.DateFromToRangeFilter(
        label=_("start date"), field_name="start_date",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    sort = django_filters.OrderingFilter(
        label=_("sort"), empty_label=_("Latest start first"),
        fields=[("start_date", "start"), ("actual_cost", "cost"), ("name", "name")],
        field_labels={"start_date": _("start date"), "actual_cost": _("actual cost"), "name": _("name")},
    )

    class Meta:
        model = Campaign
        fields = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Campaigns are seen company-wide (marketing.permissions), so are the people and teams that run them: only
        # those that own one are offered.
        queryset = self.queryset
        self.filters["owner"].queryset = User.objects.filter(pk__in=queryset.values("owner")).order_by("username")
        self.filters["team"].queryset = Team.objects.filter(pk__in=queryset.values("team")).order_by("name")

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(name__icontains=value) | Q(code__icontains=value)) if value else queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("sort"):
            queryset = queryset.order_by("-start_date", "-pk")
        return queryset
