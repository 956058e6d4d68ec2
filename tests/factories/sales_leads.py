"""Leads and assignment rules, written straight to their tables (the services are what the tests exercise)."""

import contextlib

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from sales.models import AssignmentMethod, AssignmentRule, Lead, LeadStatus


class LeadFactory(DjangoModelFactory):
    """A lead. Without ``owner`` it waits in the lead pool; with one it is assigned to him (his team), just now."""

    class Meta:
        model = Lead

    name = factory.Sequence(lambda n: f"线索{n:05d}")
    company = factory.Sequence(lambda n: f"线索公司{n:05d}有限公司")
    mobile = factory.Sequence(lambda n: f"+86136{n:08d}")
    email = factory.Sequence(lambda n: f"lead{n:05d}@example.com")
    province = "浙江省"
    source = "website"
    owner = None
    team = factory.LazyAttribute(lambda o: o.owner.team if o.owner else None)
    status = factory.LazyAttribute(lambda o: LeadStatus.ASSIGNED if o.owner else LeadStatus.NEW)
    assigned_at = factory.LazyAttribute(lambda o: timezone.now() if o.owner else None)


class AssignmentRuleFactory(DjangoModelFactory):
    """A rule that matches every lead unless given conditions; give it a ``team`` or a ``user``."""

    class Meta:
        model = AssignmentRule

    name = factory.Sequence(lambda n: f"规则{n}")
    position = factory.Sequence(lambda n: n)
    active = True
    user = None
    team = None
    method = AssignmentMethod.ROUND_ROBIN
    capacity = None


def reps_in(team, count: int, *, prefix: str = "rr", **extra) -> list:
    """``count`` sales reps in ``team`` (usernames prefix1, prefix2 …, in id order)."""
    from crm.accounts import roles

    from .accounts import UserFactory

    users = [UserFactory(username=f"{prefix}{i}", role=roles.SALES_REP, team=team) for i in range(1, count + 1)]
    for user in users:  # is_away, language …: fields the account service does not take
        for name, value in extra.items():
            setattr(user, name, value)
        if extra:
            user.save(update_fields=list(extra))
    return users


@contextlib.contextmanager
def eager_celery():
    """Tasks sent with ``.delay()`` run at once, in the test's own process and transaction (route_lead on the
    commit of a new lead, the mail of a notification); use with django_capture_on_commit_callbacks(execute=True)."""
    from crm.celery import app

    previous = {key: app.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    try:
        yield
    finally:
        app.conf.update(previous)
