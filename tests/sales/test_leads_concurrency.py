"""Bursts of leads routed at the same moment, each in a thread with its own database connection (as workers
would): round-robin stays within one of even, least-loaded too, capacity caps hold, every lead is assigned once;
two reps claiming one pool lead get one owner; routers and the untouched-lead scan never deadlock."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from sales import assignment, lead_services
from sales.models import AssignmentMethod, Lead, LeadAssignment
from tests.factories import TeamFactory, UserFactory
from tests.factories.sales_leads import AssignmentRuleFactory, LeadFactory, reps_in

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()


def run_at_once(work, items) -> list:
    """``work(item)`` for every item, each in its own thread and connection, released together; their errors."""
    barrier = threading.Barrier(len(items))
    errors = []

    def run(item):
        try:
            barrier.wait(timeout=30)
            work(item)
        except Exception as error:  # noqa: BLE001 - reported to the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def burst(count: int) -> list[int]:
    leads = [LeadFactory() for _ in range(count)]
    errors = run_at_once(lambda lead: assignment.lead_route(lead.pk), leads)
    assert not errors, errors
    return [lead.pk for lead in leads]


def owners_count(ids) -> Counter:
    return Counter(Lead.objects.filter(pk__in=ids).values_list("owner_id", flat=True))


def test_a_burst_of_leads_is_shared_round_robin_within_one_of_even():
    # given a team of four reps (one away) and a round-robin rule
    team = TeamFactory(name="并发组")
    reps = reps_in(team, 4)
    reps[2].is_away = True
    reps[2].save(update_fields=["is_away"])
    AssignmentRuleFactory(team=team)
    # when 31 leads arrive at the same moment
    ids = burst(31)
    # then each lead has exactly one owner and one assignment record, and the three available reps hold 11/10/10
    counts = owners_count(ids)
    assert None not in counts
    assert sorted(counts.values()) == [10, 10, 11]
    assert reps[2].pk not in counts
    assert LeadAssignment.objects.filter(lead_id__in=ids).count() == 31


def test_a_burst_is_shared_least_loaded_within_one_of_even():
    team = TeamFactory(name="均衡组")
    a, b, c = reps_in(team, 3)
    LeadFactory.create_batch(4, owner=a)  # a starts with 4 open leads
    AssignmentRuleFactory(team=team, method=AssignmentMethod.LEAST_LOADED)
    burst(20)
    held = Counter(Lead.objects.filter(owner__isnull=False).values_list("owner_id", flat=True))
    # 24 leads in all: 8 each
    assert held == {a.pk: 8, b.pk: 8, c.pk: 8}


def test_capacity_holds_under_a_burst():
    team = TeamFactory(name="限额组")
    reps_in(team, 3)
    AssignmentRuleFactory(team=team, capacity=3)
    ids = burst(14)
    counts = owners_count(ids)
    # nine fit (three each); five wait in the pool
    assert counts[None] == 5
    assert sorted(v for k, v in counts.items() if k is not None) == [3, 3, 3]


def test_two_reps_claiming_one_pool_lead_get_one_owner():
    first, second = UserFactory(username="claimer1"), UserFactory(username="claimer2")
    for _round in range(5):
        lead = LeadFactory()
        outcomes = {}

        def claim(user, lead_id=lead.pk, outcomes=outcomes):
            try:
                lead_services.lead_claim(actor=user, lead_id=lead_id)
                outcomes[user.pk] = "won"
            except lead_services.ClaimError:
                outcomes[user.pk] = "lost"

        assert not run_at_once(claim, [first, second])
        assert sorted(outcomes.values()) == ["lost", "won"]
        winner = next(pk for pk, outcome in outcomes.items() if outcome == "won")
        assert Lead.objects.get(pk=lead.pk).owner_id == winner
        assert LeadAssignment.objects.filter(lead=lead).count() == 1


def test_a_new_lead_routed_while_the_untouched_scan_runs_both_complete_with_two_rules_into_one_team(monkeypatch):
    # given two rules into one team, each with a lead its rep left untouched for hours, and a new web lead for the
    # second rule
    team = TeamFactory(name="死锁组")
    slow_rep, _b, _c = reps_in(team, 3, prefix="dl")
    rules = [AssignmentRuleFactory(team=team, campaigns=[name], position=i) for i, name in enumerate("ab")]
    untouched = []
    for rule in rules:
        lead = LeadFactory(owner=slow_rep, campaign=rule.campaigns[0])
        LeadAssignment.objects.create(lead=lead, user=slow_rep, rule=rule, reason=assignment.RULE)
        Lead.objects.filter(pk=lead.pk).update(assigned_at=timezone.now() - timedelta(hours=10))
        untouched.append(lead.pk)
    fresh = LeadFactory(campaign="b")
    # when a worker routes the new lead just after the scan has picked a rep for its first lead
    real_pick, first_pick_done = assignment.pick, threading.Event()

    def pick_then_pause(rule, **kwargs):
        user = real_pick(rule, **kwargs)
        if not first_pick_done.is_set():
            first_pick_done.set()
            time.sleep(1)  # the router now takes its locks
        return user

    monkeypatch.setattr(assignment, "pick", pick_then_pause)

    def work(job):
        if job == "scan":
            assignment.leads_reassign_untouched()
        else:
            assert first_pick_done.wait(10)
            assignment.lead_route(fresh.pk)

    errors = run_at_once(work, ["scan", "route"])
    # then neither fails (no deadlock): the new lead has a rep, and both untouched leads went to another rep
    assert not errors, errors
    assert Lead.objects.get(pk=fresh.pk).owner.team == team
    moved = Lead.objects.filter(pk__in=untouched)
    assert slow_rep.pk not in {lead.owner_id for lead in moved} and None not in {lead.owner_id for lead in moved}


def test_routers_and_scans_of_rules_sharing_teams_never_deadlock():
    # given two teams, each fed by two rules, with untouched leads of every rule
    teams = [TeamFactory(name=f"交错组{i}") for i in range(2)]
    rules = []
    for i, team in enumerate(teams):
        reps_in(team, 3, prefix=f"x{i}r")
        rules += [AssignmentRuleFactory(team=team, campaigns=[f"{i}{k}"], position=2 * i + k) for k in range(2)]
    for rule in rules:
        for _n in range(3):
            owner = User.objects.filter(team=rule.team).order_by("pk").first()
            lead = LeadFactory(owner=owner, campaign=rule.campaigns[0])
            LeadAssignment.objects.create(lead=lead, user=owner, rule=rule, reason=assignment.RULE)
    Lead.objects.update(assigned_at=timezone.now() - timedelta(hours=10))
    fresh = [LeadFactory(campaign=rule.campaigns[0]) for rule in reversed(rules) for _n in range(3)]
    # when two scans (in batches of two leads) and a router per new lead run at once
    jobs = ["scan", "scan", *fresh]

    def work(job):
        if job == "scan":
            assignment.leads_reassign_untouched(batch=2)
        else:
            assignment.lead_route(job.pk)

    # then nothing fails, and every lead has a rep
    assert not run_at_once(work, jobs)
    assert not Lead.objects.filter(owner__isnull=True).exists()
