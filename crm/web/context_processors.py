"""What the layout (base.html) needs on every page: role flags for the sidebar and the numbers of its badges.

Everything that costs a query is lazy: a partial swapped in by htmx shows no sidebar and no bell, so it runs
none of these queries. The badges are read together in one statement when the layout first shows one.
"""

from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils.functional import SimpleLazyObject

from crm.accounts.roles import is_admin, user_roles
from crm.accounts.selectors import managed_team_ids
from crm.imports.permissions import may_import
from crm.notifications.models import Notification

# A badge counts this far and shows "99+" beyond: counting stops there, however many rows there are.
BADGE_CAP = 99

# Badge counts contributed by modules (registered in their AppConfig.ready(); the platform never imports them):
# name -> a function from the user to the queryset of rows to count.
_badges: dict[str, Callable[..., QuerySet]] = {}


def register_badge(name: str, rows_for: Callable[..., QuerySet]) -> None:
    """Show ``rows_for(user).count()`` (capped) as ``nav_counts.<name>`` in the layout."""
    _badges[name] = rows_for


def _unread_notifications(user) -> QuerySet:
    return Notification.objects.filter(user=user, read_at__isnull=True)  # the partial index notification_unread


def badge_counts(user) -> dict[str, int]:
    """Every badge's count for ``user``, each capped at BADGE_CAP + 1, in one query."""
    queries = {"unread_notifications": _unread_notifications(user)}
    queries.update((name, rows_for(user)) for name, rows_for in _badges.items())
    columns, params = [], []
    for qs in queries.values():
        if qs.query.is_empty():  # .none(): no SQL to count
            columns.append("0")
            continue
        sql, sql_params = qs.order_by().values("pk")[: BADGE_CAP + 1].query.sql_with_params()
        columns.append(f"(SELECT COUNT(*) FROM ({sql}) AS rows)")
        params.extend(sql_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(columns), params)
        row = cursor.fetchone()
    return dict(zip(queries, row, strict=True))


def oversees_teams(user) -> bool:
    """Whether the user looks after other people's work: an administrator, or a manager of some team."""
    return is_admin(user) or bool(managed_team_ids(user))


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "is_crm_admin": is_admin(user),
        "may_import": may_import(user),
        "role_labels": [str(settings.ROLE_LABELS[r]) for r in sorted(user_roles(user))],
        # Lazy: read only when the layout shows them.
        "nav_counts": SimpleLazyObject(lambda: badge_counts(user)),
        "oversees_teams": lambda: oversees_teams(user),
    }
