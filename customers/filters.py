import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from crm.accounts.selectors import assignable_users, team_subtree_ids, visible_teams

from . import custom_fields
from .choices import PROVINCES, Industry, Level, Source, Status
from .models import Customer, Tag
from .search import search_condition

User = get_user_model()

SCOPE_MINE, SCOPE_POOL = "mine", "pool"
CHECKBOXES = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})
# The choice of records whose field was left empty (imports leave many without source, industry or province); the
# customer reports (reports/customer_reports.py) link their "(not set)" rows to it.
NOT_SET = "none"


class ChoiceOrNotSetFilter(django_filters.ChoiceFilter):
    """A choice filter that also offers "(not set)": the records whose (text) field is empty."""

    def __init__(self, *args, **kwargs):
        kwargs["choices"] = [*kwargs["choices"], (NOT_SET, _("(not set)"))]
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        return qs.filter(**{self.field_name: ""}) if value == NOT_SET else super().filter(qs, value)


class CustomerFilter(django_filters.FilterSet):
    """The customer list's filter panel. It receives the policy-scoped queryset and only narrows it."""

    q = django_filters.CharFilter(
        label=_("search"), method="search",
        widget=forms.TextInput(
            attrs={"placeholder": _("Name, company, phone or email"), "type": "search", "data-live-search": ""}
        ),
    )
    view = django_filters.ChoiceFilter(
        label=_("show"), method="filter_view", empty_label=_("All I can see"),
        choices=[(SCOPE_MINE, _("My customers")), (SCOPE_POOL, _("Public pool"))],
    )
    owner = django_filters.ModelChoiceFilter(label=_("owner"), queryset=User.objects.none())
    team = django_filters.ModelChoiceFilter(label=_("team"), queryset=None, method="filter_team")
    # For the reports' drill-downs: a team with its sub-teams (a manager's subtree).
    subteams = django_filters.BooleanFilter(label=_("with its sub-teams"), method="filter_subteams",
                                            widget=forms.CheckboxInput)
    # distinct=False: plain columns cannot repeat a row, and DISTINCT over every selected column would stop
    # PostgreSQL from reading the newest rows off an index and stopping after one page (1M rows: 0.3 s).
    level = django_filters.MultipleChoiceFilter(
        label=_("level"), choices=Level.choices, widget=CHECKBOXES, distinct=False
    )
    status = django_filters.MultipleChoiceFilter(
        label=_("lifecycle status"), choices=Status.choices, widget=CHECKBOXES, distinct=False
    )
    source = ChoiceOrNotSetFilter(label=_("source"), choices=Source.choices)
    industry = ChoiceOrNotSetFilter(label=_("industry"), choices=Industry.choices)
    province = ChoiceOrNotSetFilter(label=_("province"), choices=[(p, p) for p in PROVINCES])
    city = django_filters.CharFilter(label=_("city"), lookup_expr="startswith")
    tag = django_filters.ModelChoiceFilter(label=_("tag"), field_name="tags", queryset=Tag.objects.all())
    created = django_filters.DateFromToRangeFilter(
        label=_("created"), field_name="created_at",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    sort = django_filters.OrderingFilter(
        label=_("sort"), empty_label=_("Recently updated"),
        fields=[
            ("updated_at", "updated"), ("created_at", "created"), ("name", "name"), ("level", "level"),
            ("last_contacted_at", "last_contacted"),
        ],
        field_labels={
            "updated_at": _("updated"), "created_at": _("created"), "name": _("customer name"),
            "level": _("level"), "last_contacted_at": _("last contacted"),
        },
    )

    class Meta:
        model = Customer
        fields = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        # Choices are scoped like records: a rep is offered himself, a manager his subtree.
        self.filters["owner"].queryset = assignable_users(user=user).order_by("username")
        self.filters["team"].queryset = visible_teams(user=user)
        # The province is typed freely (the list above is a suggestion): a value outside it is still a filter.
        province = self.data.get("province") if self.data else None
        # Not with a NUL, which PostgreSQL cannot compare (a 500): such a value is left an invalid choice, ignored.
        if province and province not in PROVINCES and province != NOT_SET and "\x00" not in province:
            extra = self.filters["province"].extra
            extra["choices"] = [*extra["choices"], (province, province)]
        self.custom_definitions = custom_fields.active_definitions()
        for name, custom_filter in custom_fields.filters_for(self.custom_definitions).items():
            custom_filter.parent = self
            custom_filter.model = Customer
            self.filters[name] = custom_filter

    def search(self, queryset, name, value):
        condition = search_condition(value)
        # An ID or account number typed into the search box finds its customer through the sensitive fields'
        # blind index (exact value only: their text is encrypted).
        for definition in self.custom_definitions:
            if definition.encrypted:
                condition |= custom_fields.encrypted_match(definition.key, value)
        return queryset.filter(condition)

    def filter_team(self, queryset, name, value):
        if self.form.cleaned_data.get("subteams"):
            return queryset.filter(team_id__in=team_subtree_ids([value.pk]))
        return queryset.filter(team=value)

    def filter_subteams(self, queryset, name, value):
        return queryset  # read by filter_team

    def filter_view(self, queryset, name, value):
        if value == SCOPE_MINE:
            return queryset.filter(owner=self.user)
        if value == SCOPE_POOL:
            return queryset.filter(owner__isnull=True)
        return queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("sort"):
            queryset = queryset.order_by("-updated_at", "-pk")
        return queryset
