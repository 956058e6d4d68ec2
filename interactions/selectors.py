"""Reads for the pages of one's own work: my tasks (overdue / today / upcoming), a week's tasks by day, and the
activity lists. Days are the user's: they start at midnight in the active time zone.

Every read starts from the policies (interactions.permissions). "My tasks" uses the policy's own rule that a
follow-up is always its assignee's, directly: ORed with the customer scope in one condition (as
``followups_for`` must, to serve every other list), PostgreSQL would first gather every customer the user may
see (a manager's subtree, the whole public pool) to show him the handful of tasks assigned to him.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from crm.accounts.roles import is_admin
from crm.accounts.selectors import managed_team_ids
from crm.web.context_processors import oversees_teams

from . import permissions as policy
from .models import FollowUp, FollowUpStatus, Interaction

OVERDUE, TODAY, UPCOMING = "overdue", "today", "upcoming"
SECTIONS = (OVERDUE, TODAY, UPCOMING)
# Tasks listed per section on the tasks page (the section's own page lists them all, paginated). Each row carries
# its reassign choices, so the page grows with rows x people: 20 keeps it light even for an administrator.
SECTION_LIMIT = 20
WEEK_LIMIT = 300  # tasks shown in one week; nobody works through more, and the page stays bounded


def _midnight(day: date, tz) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), tz)


# ------------------------------------------------------------------------------------------------ tasks


def task_list(*, user) -> QuerySet[FollowUp]:
    """The follow-ups assigned to ``user`` (any status), on customers not in the recycle bin, with what a task
    row shows."""
    if not user.is_authenticated or not user.has_perm("interactions.view_followup"):
        return FollowUp.objects.none()
    return (
        FollowUp.objects.filter(assignee=user, customer__deleted_at__isnull=True)
        .select_related("customer", "assignee")
        .order_by("due_at", "pk")
    )


def section_conditions(*, now: datetime, tz=None) -> dict[str, Q]:
    """Overdue: due before now. Today: due from now until midnight. Upcoming: due after midnight."""
    tz = tz or timezone.get_current_timezone()
    tomorrow = _midnight(timezone.localtime(now, tz).date() + timedelta(days=1), tz)
    return {
        OVERDUE: Q(due_at__lt=now),
        TODAY: Q(due_at__gte=now, due_at__lt=tomorrow),
        UPCOMING: Q(due_at__gte=tomorrow),
    }


@dataclass
class Section:
    key: str
    count: int
    tasks: list = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.tasks)


def task_sections(*, tasks: QuerySet[FollowUp], now: datetime | None = None, tz=None,
                  limit: int | None = None) -> list[Section]:
    """The open ``tasks`` in three sections, each with its exact count and its first ``limit`` (SECTION_LIMIT)
    tasks by due time: one query for the counts and one per section that has tasks."""
    limit = limit or SECTION_LIMIT
    conditions = section_conditions(now=now or timezone.now(), tz=tz)
    open_tasks = tasks.filter(status=FollowUpStatus.OPEN)
    counts = open_tasks.order_by().aggregate(**{key: Count("pk", filter=q) for key, q in conditions.items()})
    sections = []
    for key in SECTIONS:
        rows = list(open_tasks.filter(conditions[key])[:limit]) if counts[key] else []
        sections.append(Section(key=key, count=counts[key], tasks=rows))
    return sections


def section_tasks(*, tasks: QuerySet[FollowUp], key: str, now: datetime | None = None, tz=None) -> QuerySet:
    """Every open task of one section, for its own (paginated) page."""
    conditions = section_conditions(now=now or timezone.now(), tz=tz)
    return tasks.filter(conditions[key], status=FollowUpStatus.OPEN)


def overdue_tasks(user) -> QuerySet[FollowUp]:
    """The open tasks of ``user`` past their due time (the sidebar's badge)."""
    return task_list(user=user).filter(status=FollowUpStatus.OPEN, due_at__lt=timezone.now())


def register_navigation() -> None:
    """The sidebar's overdue badge: called from InteractionsConfig.ready()."""
    from crm.web.context_processors import register_badge

    register_badge("overdue_tasks", overdue_tasks)


# ------------------------------------------------------------------------------------------------- week


def week_monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass
class Day:
    day: date
    is_today: bool
    tasks: list = field(default_factory=list)


@dataclass
class Week:
    monday: date
    days: list[Day]
    truncated: bool  # more than WEEK_LIMIT tasks: only the first are shown

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def previous(self) -> date:
        return self.monday - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.monday + timedelta(days=7)

    @property
    def count(self) -> int:
        return sum(len(d.tasks) for d in self.days)


def week_tasks(*, tasks: QuerySet[FollowUp], monday: date, tz=None, limit: int | None = None) -> Week:
    """The ``tasks`` due in the week from ``monday`` (Monday to Sunday, in the user's time zone), by day and due
    time, in one query (at most ``limit``, WEEK_LIMIT, of them)."""
    limit = limit or WEEK_LIMIT
    tz = tz or timezone.get_current_timezone()
    today = timezone.localtime(timezone.now(), tz).date()
    rows = list(tasks.filter(due_at__gte=_midnight(monday, tz), due_at__lt=_midnight(monday + timedelta(days=7), tz))
                .order_by("due_at", "pk")[: limit + 1])
    days = [Day(day=monday + timedelta(days=i), is_today=monday + timedelta(days=i) == today) for i in range(7)]
    for task in rows[:limit]:
        days[(timezone.localtime(task.due_at, tz).date() - monday).days].tasks.append(task)
    return Week(monday=monday, days=days, truncated=len(rows) > limit)


# --------------------------------------------------------------------------------------------- activity


def may_see_team_activity(user) -> bool:
    """The team activity list is for those who look after others' work: administrators and team managers."""
    return user.is_authenticated and user.has_perm("interactions.view_interaction") and oversees_teams(user)


def activity_list(*, user, team_only: bool = False) -> QuerySet[Interaction]:
    """Interactions on customers ``user`` may see, newest first, with what a list row shows. ``team_only``:
    team activity: what the people of the teams he oversees logged, and anything logged on those teams'
    customers (not everyone's calls to pool customers or to customers shared with him)."""
    rows = policy.interactions_for(user)
    if team_only and not is_admin(user):
        teams = managed_team_ids(user)
        rows = rows.filter(Q(author__team_id__in=teams) | Q(customer__team_id__in=teams) | Q(author=user))
    return rows.select_related("customer", "contact", "author").order_by("-occurred_at", "-pk")
