"""Users and teams, created through crm.accounts.services so that team groups (which carry team
shares) and role groups stay exactly as the application keeps them."""

import factory
from django.contrib.auth import get_user_model

from crm.accounts import roles
from crm.accounts.models import Team
from crm.accounts.services import team_create, user_create

User = get_user_model()

# Every factory user logs in with this password (the browser tests type it into the login form).
PASSWORD = "Test-pass-2026!"


class TeamFactory(factory.Factory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"团队{n}")
    parent = None
    manager = None

    @classmethod
    def _create(cls, model_class, **kwargs):
        return team_create(**kwargs)


class UserFactory(factory.Factory):
    """``UserFactory(role=roles.SALES_MANAGER, team=east)``; the role must exist (roles are synced
    on post_migrate, also after a transactional test's flush)."""

    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    password = PASSWORD
    role = roles.SALES_REP
    team = None
    first_name = ""
    last_name = ""
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")

    @classmethod
    def _create(cls, model_class, **kwargs):
        return user_create(**kwargs)
