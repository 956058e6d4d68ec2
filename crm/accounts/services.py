"""Writes on users and teams. Team membership and the team's auth group move together here."""

import uuid

from django.contrib.auth.models import Group
from django.db import transaction

from .models import Team, User
from .roles import ADMIN, ALL_ROLES


@transaction.atomic
def team_save(team: Team) -> Team:
    """Save a new or edited team, giving a new one the auth group that carries its shares."""
    if team.group_id is None:
        team.group = Group.objects.create(name=f"team:{uuid.uuid4().hex}")
    team.full_clean(exclude=["group"])
    team.save()
    if team.group.name != f"team:{team.pk}":
        team.group.name = f"team:{team.pk}"
        team.group.save(update_fields=["name"])
    if team.manager is not None and team.manager.team_id is None:
        user_set_team(user=team.manager, team=team)
    return team


def team_create(*, name: str, parent: Team | None = None, manager: User | None = None) -> Team:
    return team_save(Team(name=name, parent=parent, manager=manager))


def user_sync_team_group(user: User) -> None:
    """Put the user in his team's auth group and in no other team's."""
    current = user.groups.filter(team__isnull=False)
    wanted = Group.objects.filter(team=user.team_id) if user.team_id else Group.objects.none()
    user.groups.remove(*current.exclude(pk__in=wanted))
    user.groups.add(*wanted)


@transaction.atomic
def user_set_team(*, user: User, team: Team | None) -> User:
    user.team = team
    user.save(update_fields=["team"])
    user_sync_team_group(user)
    return user


@transaction.atomic
def user_create(
    *, username: str, password: str, role: str, team: Team | None = None, first_name: str = "",
    last_name: str = "", email: str = "",
) -> User:
    if role not in ALL_ROLES:
        raise ValueError(f"unknown role {role!r}")
    user = User(
        username=username, first_name=first_name, last_name=last_name, email=email,
        is_staff=role == ADMIN, is_superuser=role == ADMIN,
    )
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    user.groups.add(Group.objects.get(name=role))
    if team is not None:
        user_set_team(user=user, team=team)
    return user
