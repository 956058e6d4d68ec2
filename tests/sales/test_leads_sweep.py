"""New leads whose routing never happened (its task was lost, or failed each time on a deadlock): the routing task
retries, and a sweep every five minutes routes what is still waiting, once. A lead the rules ran on and could not
place stays in the lead pool for the reps; the sweep does not try it again."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from crm.celery import app
from crm.notifications.models import Notification
from sales import assignment, lead_services, tasks
from sales.models import Lead, LeadAssignment
from tests.factories import TeamFactory
from tests.factories.sales_leads import AssignmentRuleFactory, LeadFactory, reps_in


@pytest.fixture
def rep(db):
    return reps_in(TeamFactory(name="补漏组"), 1, prefix="sweep")[0]


def made_ago(lead, delta: timedelta) -> Lead:
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - delta)
    lead.refresh_from_db()
    return lead


def web_lead(django_capture_on_commit_callbacks) -> Lead:
    """A lead from the web form whose routing task was lost: its on-commit callback never runs."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        lead = lead_services.web_lead_create(data={"name": "失联访客", "mobile": "+8613755550000"})
    assert len(callbacks) == 1  # the task it would have queued
    return lead


def test_a_lead_whose_routing_task_never_ran_reaches_a_rep_on_the_next_sweep(rep, django_capture_on_commit_callbacks):
    AssignmentRuleFactory(user=rep)
    lead = web_lead(django_capture_on_commit_callbacks)
    # a sweep within the first minutes leaves it to its task, which may still be on its way
    assert tasks.route_waiting_leads() == 0
    assert Lead.objects.get(pk=lead.pk).owner is None
    # a sweep once it has waited a few minutes gives it to the rule's rep, who is told
    made_ago(lead, timedelta(minutes=5))
    assert tasks.route_waiting_leads() == 1
    lead.refresh_from_db()
    assert lead.owner == rep and lead.routed_at is not None
    assert Notification.objects.filter(user=rep, title__contains="失联访客").count() == 1
    # and the next sweep does not touch it again
    assert tasks.route_waiting_leads() == 0
    assert LeadAssignment.objects.filter(lead=lead).count() == 1


def test_a_lead_the_rules_could_not_place_stays_in_the_pool_and_the_sweep_does_not_retry_it(
        rep, django_assert_num_queries):
    # a lead no rule matched when its task ran
    lead = made_ago(LeadFactory(), timedelta(minutes=10))
    assert assignment.lead_route(lead.pk) is None
    # a rule added later does not pull it out of the pool behind the reps' backs, and the sweep costs one query
    AssignmentRuleFactory(user=rep)
    with django_assert_num_queries(1):
        assert tasks.route_waiting_leads() == 0
    lead.refresh_from_db()
    assert lead.owner is None and lead.routed_at is not None


def test_the_sweep_leaves_old_leads_and_leads_returned_to_the_pool_alone(rep, sales_rep):
    AssignmentRuleFactory(user=rep)
    too_old = made_ago(LeadFactory(), timedelta(days=2))
    released = made_ago(LeadFactory(), timedelta(minutes=10))
    LeadAssignment.objects.create(lead=released, user=sales_rep, reason=assignment.MANUAL)  # had an owner once
    closed = made_ago(LeadFactory(status="disqualified"), timedelta(minutes=10))
    assert tasks.route_waiting_leads() == 0
    assert not Lead.objects.filter(pk__in=[too_old.pk, released.pk, closed.pk], owner__isnull=False).exists()


def test_a_routing_task_that_meets_a_deadlock_tries_again_and_the_lead_reaches_its_rep(rep, monkeypatch):
    AssignmentRuleFactory(user=rep)
    lead = LeadFactory()
    real_route, failures = assignment.lead_route, []

    def deadlocked_once(lead_id, **kwargs):
        if not failures:
            failures.append(lead_id)
            raise OperationalError("deadlock detected")
        return real_route(lead_id, **kwargs)

    monkeypatch.setattr(assignment, "lead_route", deadlocked_once)
    # (apply: run here as a worker would, retries included, at once)
    assert tasks.route_lead.apply(args=[lead.pk]).get() == rep.pk
    assert failures == [lead.pk]
    assert Lead.objects.get(pk=lead.pk).owner == rep


def test_a_lead_whose_routing_failed_every_time_is_routed_by_the_sweep(rep, monkeypatch):
    AssignmentRuleFactory(user=rep)
    lead = LeadFactory()
    real_route, attempts = assignment.lead_route, []

    def always_deadlocked(lead_id, **kwargs):
        attempts.append(lead_id)
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(assignment, "lead_route", always_deadlocked)
    with pytest.raises(OperationalError):
        tasks.route_lead.apply(args=[lead.pk]).get()
    assert len(attempts) == 4  # the first try and three more
    assert Lead.objects.get(pk=lead.pk).owner is None
    # later the deadlock is gone, and the sweep finds the lead still waiting
    monkeypatch.setattr(assignment, "lead_route", real_route)
    made_ago(lead, timedelta(minutes=5))
    assert tasks.route_waiting_leads() == 1
    assert Lead.objects.get(pk=lead.pk).owner == rep


def test_the_sweep_runs_every_five_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["sales-route-waiting-leads"]
    assert entry["task"] == tasks.route_waiting_leads.name and entry["task"] in app.tasks
    assert entry["schedule"].minute == set(range(0, 60, 5))
