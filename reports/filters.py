"""The filters every report shares: a period (a preset or from/to dates), a team and a rep, all from the query
string, so that a report's URL can be shared. Choices are limited to what the viewer may see: a rep's reports are
his own records, a manager's his teams' subtree, an admin's everything (the records themselves are scoped by each
model's policy; these filters only narrow them further)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.accounts.roles import is_admin
from crm.accounts.selectors import managed_team_ids, team_subtree_ids, visible_teams

User = get_user_model()

THIS_MONTH, LAST_MONTH, THIS_QUARTER, THIS_YEAR, LAST_12_MONTHS, CUSTOM = (
    "this_month", "last_month", "this_quarter", "this_year", "last_12_months", "custom")
PERIODS = [
    (THIS_MONTH, _("This month")),
    (LAST_MONTH, _("Last month")),
    (THIS_QUARTER, _("This quarter")),
    (THIS_YEAR, _("This year")),
    (LAST_12_MONTHS, _("Last 12 months")),
    (CUSTOM, _("Dates below")),
]


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_dates(period: str, today: date) -> tuple[date, date]:
    """First and last day (inclusive) of a preset period."""
    if period == LAST_MONTH:
        start = add_months(month_start(today), -1)
        return start, month_start(today) - timedelta(days=1)
    if period == THIS_QUARTER:
        start = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        return start, add_months(start, 3) - timedelta(days=1)
    if period == THIS_YEAR:
        return date(today.year, 1, 1), date(today.year, 12, 31)
    if period == LAST_12_MONTHS:
        return add_months(month_start(today), -11), add_months(month_start(today), 1) - timedelta(days=1)
    return month_start(today), add_months(month_start(today), 1) - timedelta(days=1)  # this month


@dataclass(frozen=True)
class ReportFilters:
    """The cleaned filters: the period's first and last day, and the people whose records count (None: everyone
    the viewer may see)."""

    user: object
    start: date
    end: date
    period: str
    team_ids: frozenset | None  # the chosen team with its sub-teams
    owner_id: int | None
    team_id: int | None = None  # the team chosen in the form (for links that keep the filters)

    @property
    def start_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def end_at(self) -> datetime:
        """The first moment after the period (exclusive bound)."""
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    def people_filter(self, *, owner_field: str = "owner", team_field: str = "team") -> dict:
        """Keyword filters narrowing a queryset to the chosen team and rep."""
        lookups = {}
        if self.owner_id is not None:
            lookups[f"{owner_field}_id"] = self.owner_id
        if self.team_ids is not None:
            lookups[f"{team_field}_id__in"] = self.team_ids
        return lookups

    @property
    def own_work(self) -> bool:
        """Whether every record of the filters' people is the viewer's to see through its owner or team (see
        own_work): then figures kept per owner and team (reports.summaries) may be read without the policy."""
        return is_own_work(self.user, owner_id=self.owner_id, team_ids=self.team_ids)

    def records(self, policy_queryset, *, owner_field: str = "owner", team_field: str = "team"):
        """The policy's records of the filters' people (see own_work)."""
        return own_work(self.user, policy_queryset, owner_id=self.owner_id, team_ids=self.team_ids,
                        owner_field=owner_field, team_field=team_field)

    def query(self) -> dict:
        """The filters as query-string values (for drill-down links that keep them)."""
        values = {"period": self.period}
        if self.period == CUSTOM:
            values |= {"date_from": self.start.isoformat(), "date_to": self.end.isoformat()}
        if self.team_id is not None:
            values["team"] = self.team_id
        if self.owner_id is not None and self.owner_id != self.user.pk:
            values["owner"] = self.owner_id
        return values


def own_work(user, policy_queryset, *, owner_id=None, team_ids=None, owner_field="owner", team_field="team"):
    """``policy_queryset`` (a sales policy's scope, e.g. opportunities_for(user)) narrowed to an owner and teams.

    When the narrowing keeps only the viewer's own records or his managed teams' (which the report filters always
    do for everyone but an admin), every row left is in the policy's own-work branch (sales.permissions: owner is
    the user, or the team is in his subtree), so the policy's customer branch (shares, visible customers) is
    dropped: it adds no row here and made PostgreSQL scan the customer table, about 1 s a manager's report at
    1,000,000 customers (bench/RESULTS.md, reports)."""
    queryset = (policy_queryset.model.objects.all() if is_own_work(user, owner_id=owner_id, team_ids=team_ids)
                else policy_queryset)
    if owner_id is not None:
        queryset = queryset.filter(**{f"{owner_field}_id": owner_id})
    if team_ids is not None:
        queryset = queryset.filter(**{f"{team_field}_id__in": team_ids})
    return queryset


def is_own_work(user, *, owner_id=None, team_ids=None) -> bool:
    """An administrator's, the viewer's own records, or his managed teams' (see own_work)."""
    mine = owner_id is not None and owner_id == user.pk
    managed = team_ids is not None and set(team_ids) <= managed_team_ids(user)
    return is_admin(user) or mine or managed


class ReportFilterForm(forms.Form):
    period = forms.ChoiceField(label=pgettext_lazy("report", "period"), choices=PERIODS, required=False)
    date_from = forms.DateField(label=pgettext_lazy("report", "from"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=pgettext_lazy("report", "to"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    team = forms.ModelChoiceField(label=_("team"), queryset=None, required=False, empty_label=_("All teams"))
    owner = forms.ModelChoiceField(label=_("rep"), queryset=None, required=False, empty_label=_("Everyone"))

    def __init__(self, data=None, *, user, default_period: str = THIS_MONTH, **kwargs):
        super().__init__(data, **kwargs)
        self.user = user
        self.default_period = default_period
        self.fields["team"].queryset = visible_teams(user=user).order_by("name")
        self.fields["owner"].queryset = self.people().order_by("last_name", "first_name", "username")

    def people(self):
        """Whose records the viewer may report on: everyone (admin), his teams' people and himself (manager),
        himself (everyone else)."""
        active = User.objects.filter(is_active=True)
        if is_admin(self.user):
            return active
        teams = managed_team_ids(self.user)
        if teams:
            return active.filter(team_id__in=teams) | active.filter(pk=self.user.pk)
        return active.filter(pk=self.user.pk)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end comes before the start."))
        if start and end and (end - start).days > 366 * 5:
            self.add_error("date_to", _("Choose at most five years."))
        return cleaned

    def filters(self, today: date | None = None) -> ReportFilters:
        """The filters to apply; invalid or missing values fall back to the defaults (the page shows the errors)."""
        today = today or timezone.localdate()
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        period = data.get("period") or self.default_period
        if period == CUSTOM and data.get("date_from") and data.get("date_to"):
            start, end = data["date_from"], data["date_to"]
        else:
            period = period if period != CUSTOM else self.default_period
            start, end = period_dates(period, today)
        team, owner = data.get("team"), data.get("owner")
        team_ids = frozenset(team_subtree_ids([team.pk])) if team else None
        owner_id = owner.pk if owner else None
        if not is_admin(self.user):
            # A manager's reports cover his teams' subtree, a rep's his own records, whatever the URL says.
            managed = frozenset(managed_team_ids(self.user))
            if not managed:
                team_ids, owner_id = None, self.user.pk
            else:
                team_ids = (team_ids & managed) if team_ids is not None else managed
        return ReportFilters(user=self.user, start=start, end=end, period=period, team_ids=team_ids,
                             owner_id=owner_id, team_id=team.pk if team else None)
