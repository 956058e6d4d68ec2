"""Reads on users and teams."""

from django.db.models import QuerySet

from .models import Team, User
from .roles import SALES_MANAGER, is_admin, user_roles


def team_subtree_ids(root_ids) -> set[int]:
    """Ids of the given teams and all teams below them.

    The team table is small (departments, not records), so one query for every edge and a walk in
    Python is cheaper and simpler than a recursive CTE or a maintained path column.
    """
    children: dict[int | None, list[int]] = {}
    for team_id, parent_id in Team.objects.values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(team_id)
    found, todo = set(), list(root_ids)
    while todo:
        team_id = todo.pop()
        if team_id in found:
            continue
        found.add(team_id)
        todo.extend(children.get(team_id, []))
    return found


def managed_team_ids(user: User) -> set[int]:
    """Teams whose records a user may oversee: teams he manages, and for a sales manager his own team,
    each with its subtree. Empty for everyone else. Cached on the user object for the request."""
    if not hasattr(user, "_crm_managed_team_ids"):
        roots = set(Team.objects.filter(manager=user).values_list("id", flat=True))
        if SALES_MANAGER in user_roles(user) and user.team_id:
            roots.add(user.team_id)
        user._crm_managed_team_ids = team_subtree_ids(roots) if roots else set()
    return user._crm_managed_team_ids


def assignable_users(*, user: User) -> QuerySet[User]:
    """Users to whom ``user`` may hand records: anyone for an admin, his subtree for a manager, himself otherwise."""
    active = User.objects.filter(is_active=True)
    if is_admin(user):
        return active
    team_ids = managed_team_ids(user)
    if team_ids:
        return active.filter(team_id__in=team_ids) | active.filter(pk=user.pk)
    return active.filter(pk=user.pk)


def visible_teams(*, user: User) -> QuerySet[Team]:
    if is_admin(user):
        return Team.objects.all()
    ids = managed_team_ids(user) | ({user.team_id} if user.team_id else set())
    return Team.objects.filter(pk__in=ids)
