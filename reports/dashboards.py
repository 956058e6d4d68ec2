"""The figures of the home page's dashboards, one small GROUP BY each, over what the viewer may see.

- A rep: his open opportunities by stage (count, CNY amount), his follow-ups overdue and due today, his target for
  this month against what he has won in it.
- A manager: his teams' open opportunities per stage of the default pipeline, the ranking of his reps by the amount
  won this month (with their targets), and the forecast of the next three months (weighted amount by month of
  expected close).
- An administrator: the same over the whole company, and the system's health (reports.dashboard_health).
Everyone with follow-ups sees his tasks; whoever has no sales module gets those and the reports he may open.

Opportunities come from sales.permissions.opportunities_for; a manager's are narrowed to his teams' subtree (the
deal's team, as the reports' filters narrow them). Amounts are CNY, the currency targets are set in: the won and
forecast figures count CNY deals only (their links say currency=CNY); the stage figures count every deal and sum the
CNY ones, and say how many are in other currencies. Each figure links to the list that holds exactly what it counts.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, DecimalField, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from crm.accounts import roles
from crm.accounts.models import Team
from crm.accounts.roles import is_admin
from crm.accounts.selectors import managed_team_ids
from interactions import selectors as task_selectors
from interactions.models import FollowUpStatus
from sales import permissions as sales_policy
from sales.commerce_totals import money
from sales.models import Pipeline, Stage, StageKind
from sales.models.pipeline import OPEN_OPPORTUNITY

from .filters import add_months, month_start, own_work
from .models import SalesTarget

User = get_user_model()
CURRENCY = "CNY"
IN_CURRENCY = Q(currency=CURRENCY)
ZERO = Decimal("0")
FORECAST_MONTHS = 3
RANKING_LIMIT = 10  # an administrator's ranking shows the top reps; the performance report has everyone
# Open deals: in an open stage, which the stage-move service keeps the same as "not closed" (closed_at is set on
# entering a won or lost stage, cleared on leaving it, and a stage's kind changes only while it is empty). Saying
# both lets PostgreSQL read the partial index opportunity_open_deals (closed_at IS NULL) instead of the whole table.
OPEN_DEALS = Q(stage__kind=StageKind.OPEN) & OPEN_OPPORTUNITY

ADMIN, MANAGER, REP, OTHER = "admin", "manager", "rep", "other"


def dashboard_kind(user) -> str:
    """Which dashboard ``user`` gets: the company's, his teams', his own pipeline's, or the simple one."""
    if is_admin(user):
        return ADMIN
    if not user.has_perm("sales.view_opportunity"):
        return OTHER
    return MANAGER if managed_team_ids(user) else REP


def _list_url(name: str, **query) -> str:
    query = {key: value for key, value in query.items() if value is not None}
    return reverse(name) + ("?" + urlencode(query) if query else "")


def _day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The first moment of ``first`` and the first moment after ``last``, in the current time zone."""
    return (timezone.make_aware(datetime.combine(first, time.min)),
            timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min)))


# --------------------------------------------------------------------------------------------- whose figures


@dataclass(frozen=True)
class Scope:
    """Whose opportunities a dashboard counts, and the opportunity list's parameters that show the same ones."""

    owner_id: int | None = None  # a rep: his own
    team_ids: frozenset | None = None  # a manager: his teams' subtree (None: everything the viewer sees)
    root_team_id: int | None = None  # the subtree's top team (the list's team=…&subteams=on)

    def query(self) -> dict:
        if self.owner_id is not None:
            return {"owner": self.owner_id}
        if self.root_team_id is not None:
            return {"team": self.root_team_id, "subteams": "on"}
        return {}


def scope_for(user, kind: str) -> Scope:
    if kind == REP:
        return Scope(owner_id=user.pk)
    if kind == MANAGER:
        teams = frozenset(managed_team_ids(user))
        roots = list(Team.objects.filter(pk__in=teams).exclude(parent_id__in=teams).values_list("pk", flat=True))
        # Someone who oversees several unrelated teams has no one team the list could name: his figures are then
        # everything he may see, as his list shows it.
        if len(roots) == 1:
            return Scope(team_ids=teams, root_team_id=roots[0])
    return Scope()


def _opportunities(user, scope: Scope):
    return own_work(user, sales_policy.opportunities_for(user), owner_id=scope.owner_id,
                    team_ids=scope.team_ids).order_by()


# --------------------------------------------------------------------------------------------- open deals by stage


@dataclass
class StageRow:
    stage: Stage
    label: str
    count: int = 0
    amount: Decimal = ZERO  # CNY deals only
    link: str = ""


@dataclass
class StageFigures:
    rows: list[StageRow] = field(default_factory=list)
    other_currencies: int = 0  # deals counted whose amount is not in the sums

    @property
    def count(self) -> int:
        return sum(row.count for row in self.rows)

    @property
    def amount(self) -> Decimal:
        return sum((row.amount for row in self.rows), ZERO)


def open_by_stage(user, scope: Scope, *, pipeline: Pipeline | None = None) -> StageFigures:
    """Open opportunities per stage (one GROUP BY): every open stage of ``pipeline`` (zeros included), or of the
    default pipeline and any other in which there are deals."""
    deals = _opportunities(user, scope).filter(OPEN_DEALS)
    if pipeline is not None:
        deals = deals.filter(pipeline=pipeline)
    found = {row["stage"]: row for row in deals.values("stage").annotate(
        n=Count("pk"), amount=Sum("amount", filter=IN_CURRENCY), other=Count("pk", filter=~IN_CURRENCY))}
    stages = Stage.objects.filter(kind=StageKind.OPEN).select_related("pipeline")
    if pipeline is not None:
        stages = stages.filter(pipeline=pipeline)
    else:
        stages = stages.filter(Q(pipeline__is_default=True) | Q(pk__in=list(found)))
    stages = list(stages.order_by("pipeline__position", "pipeline_id", "position", "pk"))
    several = len({stage.pipeline_id for stage in stages}) > 1
    figures = StageFigures()
    for stage in stages:
        row = found.get(stage.pk, {})
        figures.rows.append(StageRow(
            stage=stage, label=f"{stage.pipeline.name} · {stage.name}" if several else stage.name,
            count=row.get("n", 0), amount=money(row.get("amount") or 0),
            link=_list_url("sales:opportunity_list", status="open", stage=stage.pk, **scope.query())))
        figures.other_currencies += row.get("other", 0)
    return figures


def default_pipeline() -> Pipeline | None:
    return Pipeline.objects.filter(is_default=True).first() or Pipeline.objects.filter(active=True).first()


# ------------------------------------------------------------------------------------------------------ tasks


@dataclass
class Tasks:
    overdue: int
    today: int
    overdue_link: str
    today_link: str


def my_tasks(user, *, now: datetime | None = None) -> Tasks | None:
    """The user's open follow-ups overdue and due later today (one aggregate), as the tasks page counts them."""
    if not user.has_perm("interactions.view_followup"):
        return None
    conditions = task_selectors.section_conditions(now=now or timezone.now())
    counts = (task_selectors.task_list(user=user).filter(status=FollowUpStatus.OPEN).order_by()
              .aggregate(**{key: Count("pk", filter=conditions[key])
                            for key in (task_selectors.OVERDUE, task_selectors.TODAY)}))
    return Tasks(overdue=counts[task_selectors.OVERDUE], today=counts[task_selectors.TODAY],
                 overdue_link=_list_url("interactions:my_tasks", section=task_selectors.OVERDUE),
                 today_link=_list_url("interactions:my_tasks", section=task_selectors.TODAY))


# --------------------------------------------------------------------------------------------- won this month


def _won_in(user, scope: Scope, first: date, last: date):
    since, until = _day_bounds(first, last)
    return _opportunities(user, scope).filter(stage__kind=StageKind.WON, closed_at__gte=since, closed_at__lt=until,
                                              currency=CURRENCY)


def _won_link(scope: Scope, first: date, last: date, **extra) -> str:
    return _list_url("sales:opportunity_list", status="won", closed_at_after=first.isoformat(),
                     closed_at_before=last.isoformat(), currency=CURRENCY, **{**scope.query(), **extra})


def _month(today: date) -> tuple[date, date]:
    first = month_start(today)
    return first, add_months(first, 1) - timedelta(days=1)


def _attainment(won: Decimal, target: Decimal | None) -> float | None:
    return float(won / target) if target else None


@dataclass
class Target:
    month: date
    target: Decimal | None
    won_count: int
    won: Decimal
    link: str

    @property
    def attainment(self) -> float | None:
        return _attainment(self.won, self.target)

    @property
    def percent(self) -> int | None:
        return round(self.attainment * 100) if self.attainment is not None else None


def my_target(user, *, today: date) -> Target:
    """The user's target for this month and the CNY amount of his deals won in it so far."""
    first, last = _month(today)
    scope = Scope(owner_id=user.pk)
    won = _won_in(user, scope, first, last).aggregate(n=Count("pk"), amount=Sum("amount"))
    target = SalesTarget.objects.filter(user=user, month=first).values_list("amount", flat=True).first()
    return Target(month=first, target=target, won_count=won["n"], won=money(won["amount"] or 0),
                  link=_won_link(scope, first, last))


@dataclass
class RankRow:
    rank: int
    person: object
    won_count: int
    won: Decimal
    target: Decimal | None
    link: str

    @property
    def attainment(self) -> float | None:
        return _attainment(self.won, self.target)

    @property
    def attainment_percent(self) -> float | None:
        return self.attainment * 100 if self.attainment is not None else None


def _sellers(scope: Scope):
    sellers = User.objects.filter(is_active=True, groups__name__in=[roles.SALES_REP, roles.SALES_MANAGER])
    if scope.team_ids is not None:
        sellers = sellers.filter(team_id__in=scope.team_ids)
    return sellers.distinct()


def ranking(user, scope: Scope, *, today: date, limit: int | None = None) -> list[RankRow]:
    """The reps (and managers) of the scope by the CNY amount won this month, with this month's targets: one
    GROUP BY over the won deals, the sellers with nothing won yet, and their targets."""
    first, last = _month(today)
    won = {row["owner"]: row for row in _won_in(user, scope, first, last).values("owner").annotate(
        n=Count("pk"), amount=Sum("amount"))}
    people = {person.pk: person for person in _sellers(scope).select_related("team")}
    people |= User.objects.select_related("team").in_bulk(set(won) - set(people))
    targets = dict(SalesTarget.objects.filter(user_id__in=list(people), month=first).values_list("user_id", "amount"))

    def order(person):
        return (-(won.get(person.pk, {}).get("amount") or ZERO), person.last_name, person.first_name, person.username)

    rows, rank, previous = [], 0, None
    for index, person in enumerate(sorted(people.values(), key=order), start=1):
        amount = money(won.get(person.pk, {}).get("amount") or 0)
        rank = rank if amount == previous else index  # equal amounts share a rank
        previous = amount
        rows.append(RankRow(rank=rank, person=person, won_count=won.get(person.pk, {}).get("n", 0), won=amount,
                            target=targets.get(person.pk), link=_won_link(scope, first, last, owner=person.pk)))
    return rows[:limit] if limit else rows


# ------------------------------------------------------------------------------------------------- the forecast


@dataclass
class ForecastRow:
    month: date
    count: int
    amount: Decimal
    weighted: Decimal  # amount × stage probability
    link: str


def forecast(user, scope: Scope, *, today: date, months: int = FORECAST_MONTHS) -> list[ForecastRow]:
    """Open CNY deals expected to close from today to the end of the ``months``-th month (this one first), per month
    of expected close: count, amount and weighted amount (one GROUP BY)."""
    first = month_start(today)
    end = add_months(first, months) - timedelta(days=1)
    weighted = F("amount") * F("stage__probability")
    found = {row["month"]: row for row in (
        _opportunities(user, scope).filter(OPEN_DEALS, currency=CURRENCY, expected_close__gte=today,
                                           expected_close__lte=end)
        .annotate(month=TruncMonth("expected_close")).values("month")
        .annotate(n=Count("pk"), total=Sum("amount"), weighted=Sum(weighted, output_field=DecimalField())))}
    rows = []
    for month in (add_months(first, i) for i in range(months)):
        row = found.get(month, {})
        month_end = add_months(month, 1) - timedelta(days=1)
        rows.append(ForecastRow(
            month=month, count=row.get("n", 0), amount=money(row.get("total") or 0),
            weighted=money((row.get("weighted") or 0) / 100),
            link=_list_url("sales:opportunity_list", status="open", currency=CURRENCY,
                           expected_close_after=max(month, today).isoformat(),
                           expected_close_before=month_end.isoformat(), **scope.query())))
    return rows
