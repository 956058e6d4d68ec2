"""The filter panels of the board and the opportunity list. Each receives the policy-scoped queryset and only
narrows it; owner and team choices are scoped like records (a rep is offered himself, a manager his subtree)."""

from datetime import timedelta

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.accounts.selectors import assignable_users, team_subtree_ids, visible_teams
from customers.models import Customer
from customers.search import search_condition

from .models import Opportunity, Pipeline, Stage, StageHistory, StageKind
from .pipeline_forms import CURRENCIES
from .pipeline_furthest import REACHING_KINDS  # noqa: F401 - the reports import it from here

DATE_RANGE = django_filters.widgets.DateRangeWidget(attrs={"type": "date", "class": "form-control"})

# How far back the won and lost columns reach. Open deals are always shown; closed ones pile up for years, and a
# board is about what is moving now.
CLOSED_WINDOWS = {"30": 30, "90": 90, "365": 365, "all": None}
DEFAULT_CLOSED_WINDOW = "90"


class _OpportunityFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("search"), method="search",
        widget=forms.TextInput(attrs={"placeholder": _("Opportunity or customer"), "type": "search",
                                      "data-live-search": ""}),
    )
    owner = django_filters.ModelChoiceFilter(label=_("owner"), queryset=None)
    team = django_filters.ModelChoiceFilter(label=_("team"), queryset=None)
    expected_close = django_filters.DateFromToRangeFilter(label=_("expected close"), widget=DATE_RANGE)

    class Meta:
        model = Opportunity
        fields = []

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.filters["owner"].queryset = assignable_users(user=user).order_by("username")
        self.filters["team"].queryset = visible_teams(user=user)

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # The customer side uses the customer search's own indexes (names, bigrams, phones).
        customers = Customer.objects.filter(search_condition(value)).values("pk")
        return queryset.filter(Q(name__icontains=value) | Q(customer__in=customers))

    @property
    def active(self) -> bool:
        """Whether any filter narrows the set (the page says so, and offers to clear them)."""
        data = self.form.cleaned_data if self.is_bound and self.form.is_valid() else {}
        return any(value not in (None, "", [], slice(None)) and name not in ("sort", "closed", "subteams")
                   for name, value in data.items())


class BoardFilter(_OpportunityFilter):
    closed = django_filters.ChoiceFilter(
        label=_("won and lost"), method="filter_closed", empty_label=None,
        choices=[("30", _("closed in the last 30 days")), ("90", _("closed in the last 90 days")),
                 ("365", _("closed in the last year")), ("all", _("closed any time"))],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.fields["closed"].initial = DEFAULT_CLOSED_WINDOW

    def filter_closed(self, queryset, name, value):
        return queryset  # applied in filter_queryset, also when the field is missing from the query

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        value = self.form.cleaned_data.get("closed") if self.is_bound and self.form.is_valid() else None
        days = CLOSED_WINDOWS.get(value or DEFAULT_CLOSED_WINDOW)
        if days is not None:
            queryset = queryset.filter(Q(closed_at__isnull=True) | Q(closed_at__gte=timezone.now() - timedelta(days)))
        return queryset


STATUS_OPEN, STATUS_WON, STATUS_LOST = "open", "won", "lost"


def reached_condition(stage: Stage) -> Q:
    """Deals of the stage's pipeline that reached the stage: were in it, or in an open or won stage after it (a won
    deal passed every open stage), which is what their furthest position says (sales.pipeline_furthest); a lost stage
    is reached only by being in it, which the stage history says. The funnel report (reports/sales_reports.py) counts
    the same way."""
    if stage.kind == StageKind.LOST:
        been = StageHistory.objects.filter(stage=stage, opportunity_id=OuterRef("pk"))
        return Q(pipeline_id=stage.pipeline_id) & (Exists(been) | Q(stage=stage))
    return Q(pipeline_id=stage.pipeline_id, furthest_position__gte=stage.position)


class OpportunityListFilter(_OpportunityFilter):
    status = django_filters.ChoiceFilter(
        label=_("status"), method="filter_status", empty_label=_("Open, won and lost"),
        choices=[(STATUS_OPEN, pgettext_lazy("deal", "Open")), (STATUS_WON, pgettext_lazy("deal", "Won")),
                 (STATUS_LOST, pgettext_lazy("deal", "Lost"))],
    )
    pipeline = django_filters.ModelChoiceFilter(label=_("pipeline"), queryset=Pipeline.objects.all())
    stage = django_filters.ModelChoiceFilter(label=_("stage"), queryset=Stage.objects.select_related("pipeline"))
    customer = django_filters.NumberFilter(field_name="customer_id", widget=forms.HiddenInput)
    # For the reports' drill-downs (reports/performance_reports.py): deals closed between two days, in one currency,
    # of a team with its sub-teams.
    team = django_filters.ModelChoiceFilter(label=_("team"), queryset=None, method="filter_team")
    subteams = django_filters.BooleanFilter(label=_("with its sub-teams"), method="filter_subteams",
                                            widget=forms.CheckboxInput)
    closed_at = django_filters.DateFromToRangeFilter(label=_("closed"), widget=DATE_RANGE)
    currency = django_filters.ChoiceFilter(label=_("currency"), choices=CURRENCIES, empty_label=_("Any currency"))
    # For the funnel and forecast drill-downs (reports/sales_reports.py): deals created between two days, deals that
    # reached a stage (reached_condition), deals without an expected close.
    created = django_filters.DateFromToRangeFilter(label=_("created"), field_name="created_at", widget=DATE_RANGE)
    reached = django_filters.ModelChoiceFilter(label=_("reached stage"), queryset=Stage.objects.all(),
                                               method="filter_reached")
    no_close_date = django_filters.BooleanFilter(label=_("no expected close"), field_name="expected_close",
                                                 lookup_expr="isnull")
    sort = django_filters.OrderingFilter(
        label=_("sort"), empty_label=_("Recently updated"),
        fields=[("updated_at", "updated"), ("created_at", "created"), ("amount", "amount"),
                ("expected_close", "expected_close"), ("name", "name")],
        field_labels={"updated_at": _("updated"), "created_at": _("created"), "amount": _("amount"),
                      "expected_close": _("expected close"), "name": _("name")},
    )

    def filter_status(self, queryset, name, value):
        kinds = {STATUS_OPEN: StageKind.OPEN, STATUS_WON: StageKind.WON, STATUS_LOST: StageKind.LOST}
        return queryset.filter(stage__kind=kinds[value]) if value in kinds else queryset

    def filter_reached(self, queryset, name, stage):
        return queryset.filter(reached_condition(stage))

    def filter_team(self, queryset, name, value):
        if self.form.cleaned_data.get("subteams"):
            return queryset.filter(team_id__in=team_subtree_ids([value.pk]))
        return queryset.filter(team=value)

    def filter_subteams(self, queryset, name, value):
        return queryset  # read by filter_team

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not (self.is_bound and self.form.is_valid() and self.form.cleaned_data.get("sort")):
            return queryset.order_by("-updated_at", "-pk")
        return queryset.order_by(*queryset.query.order_by, "-pk")  # equal amounts or dates: a stable page order
