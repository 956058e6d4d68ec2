"""Leads a rule assigned and nobody handled in time (CRM_LEAD_REASSIGN_AFTER_HOURS) go to the next rep of the same
rule; the old owner's manager is told; leads handled, assigned by hand or too fresh stay where they are."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.notifications.models import Notification
from sales import assignment, lead_services
from sales.models import Lead, LeadAssignment, LeadStatus
from tests.factories import TeamFactory
from tests.factories.sales_leads import AssignmentRuleFactory, LeadFactory, reps_in


@pytest.fixture(autouse=True)
def four_hours(settings):
    settings.CRM_LEAD_REASSIGN_AFTER_HOURS = 4


@pytest.fixture(autouse=True)
def english_manager(sales_manager):
    """The manager reads his notifications in English (the tests compare their words)."""
    sales_manager.language = "en"
    sales_manager.save(update_fields=["language"])


@pytest.fixture
def team(db, sales_manager):
    """A team managed by the sales manager, with three reps (who read English) and a round-robin rule."""
    team = TeamFactory(name="跟进组", manager=sales_manager)
    team.reps = reps_in(team, 3, language="en")
    team.rule = AssignmentRuleFactory(name="轮询", team=team)
    return team


def routed(**values) -> Lead:
    lead = LeadFactory(**values)
    assignment.lead_route(lead.pk)
    lead.refresh_from_db()
    return lead


def age(lead, hours: float) -> Lead:
    Lead.objects.filter(pk=lead.pk).update(assigned_at=timezone.now() - timedelta(hours=hours))
    lead.refresh_from_db()
    return lead


def test_an_untouched_lead_goes_to_the_next_rep_of_its_rule_and_the_manager_is_told(team, sales_manager):
    first, second, _third = team.reps
    lead = age(routed(name="沉睡线索"), 5)
    assert lead.owner == first
    # when the scan runs
    moved = assignment.leads_reassign_untouched()
    # then the lead is the next rep's, recorded with the same rule and the reason
    lead.refresh_from_db()
    assert moved == 1
    assert (lead.owner, lead.team, lead.touched_at) == (second, team, None)
    assert timezone.now() - lead.assigned_at < timedelta(minutes=1)
    latest = LeadAssignment.objects.filter(lead=lead).first()
    assert (latest.user, latest.rule, latest.reason) == (second, team.rule, "reassigned_untouched")
    # and the manager, the old owner and the new owner hear of it
    told = Notification.objects.get(user=sales_manager)
    assert told.title == (f"{first} did not handle the lead 沉睡线索（{lead.company}） within 4 hours; "
                          f"it went to {second}.")
    assert told.url == lead.get_absolute_url()
    assert Notification.objects.filter(user=first, title__contains="was taken from you").exists()
    assert Notification.objects.filter(user=second, title__startswith="New lead for you").exists()


def test_the_same_person_never_gets_it_back_even_when_it_is_his_turn(team):
    first, second, third = team.reps
    leads = [routed() for _ in range(3)]  # first, second, third: the turn is back at first
    victim = age(leads[0], 5)  # first's lead, and it is first's turn
    assignment.leads_reassign_untouched()
    victim.refresh_from_db()
    assert victim.owner == second


def test_handled_fresh_or_hand_assigned_leads_stay(team, sales_manager):
    first, second, _third = team.reps
    handled = age(routed(), 5)
    lead_services.lead_set_status(actor=handled.owner, lead=handled, status=LeadStatus.CONTACTED)
    fresh = age(routed(), 3)
    by_hand = age(LeadFactory(owner=first), 5)
    LeadAssignment.objects.create(lead=by_hand, user=first, assigned_by=sales_manager, reason="manual")
    assert assignment.leads_reassign_untouched() == 0
    owners = dict(Lead.objects.values_list("pk", "owner_id"))
    assert owners == {handled.pk: handled.owner_id, fresh.pk: fresh.owner_id, by_hand.pk: first.pk}


def test_a_lead_reassigned_once_is_reassigned_again_if_the_next_rep_sits_on_it_too(team):
    first, second, third = team.reps
    lead = age(routed(), 5)
    assignment.leads_reassign_untouched()
    age(lead, 5)
    assignment.leads_reassign_untouched()
    lead.refresh_from_db()
    assert lead.owner == third
    assert [a.reason for a in LeadAssignment.objects.filter(lead=lead)] == [
        "reassigned_untouched", "reassigned_untouched", "rule"]


def test_nobody_else_available_sends_it_to_the_lead_pool(db, sales_manager):
    team = TeamFactory(name="独苗组", manager=sales_manager)
    (only,) = reps_in(team, 1)
    AssignmentRuleFactory(team=team)
    lead = age(routed(), 6)
    assert assignment.leads_reassign_untouched() == 1
    lead.refresh_from_db()
    assert (lead.owner, lead.team, lead.status, lead.assigned_at) == (None, None, LeadStatus.NEW, None)
    assert "went to the lead pool" in Notification.objects.get(user=sales_manager).title


def test_the_return_to_the_pool_is_in_the_leads_assignment_history(db, client_as, sales_manager):
    team = TeamFactory(name="独苗组", manager=sales_manager)
    (only,) = reps_in(team, 1)
    rule = AssignmentRuleFactory(name="独苗规则", team=team)
    lead = age(routed(), 6)
    # when nobody else of the rule is free and the lead goes back to the pool
    assignment.leads_reassign_untouched()
    # then its history records it, with no assignee, the rule and the reason, newest first
    assert list(LeadAssignment.objects.filter(lead=lead).values_list("user", "rule", "reason")) == [
        (None, rule.pk, "returned_untouched"), (only.pk, rule.pk, "rule")]
    # and the lead's page shows it
    page = client_as(sales_manager).get(lead.get_absolute_url()).content.decode()
    history = page[page.index('id="assignment-history"'):].split("</ul>")[0]
    assert history.index("Lead pool") < history.index(str(only))
    assert "back to the lead pool: not handled in time, and nobody else of its rule was free" in history
    # and the scan leaves it there, as before
    assert assignment.leads_reassign_untouched() == 0


def test_running_the_scan_twice_moves_a_lead_once(team, sales_manager):
    age(routed(), 5)
    assert assignment.leads_reassign_untouched() == 1
    assert assignment.leads_reassign_untouched() == 0
    assert Notification.objects.filter(user=sales_manager).count() == 1


def test_the_delay_comes_from_the_settings(team, settings):
    settings.CRM_LEAD_REASSIGN_AFTER_HOURS = 8
    age(routed(), 5)
    assert assignment.leads_reassign_untouched() == 0
