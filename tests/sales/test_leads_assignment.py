"""The assignment engine (sales.assignment): which rule a lead meets, whom the rule picks (round-robin, least-loaded,
capacity, away), the lead pool when nobody fits, the record of each assignment and the assignee's notification."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.accounts import roles
from crm.notifications.models import Notification
from sales import assignment, lead_services
from sales.models import AssignmentMethod, AssignmentRule, Lead, LeadAssignment, LeadStatus
from tests.factories import TeamFactory, UserFactory
from tests.factories.sales_leads import AssignmentRuleFactory, LeadFactory, eager_celery, reps_in


@pytest.fixture
def team(db):
    return TeamFactory(name="线索组")


def route(lead) -> Lead:
    assignment.lead_route(lead.pk)
    lead.refresh_from_db()
    return lead


def route_new(n: int, **lead_values) -> list[Lead]:
    return [route(LeadFactory(**lead_values)) for _ in range(n)]


# --------------------------------------------------------------------------------------------- matching


def test_the_first_active_rule_in_order_that_matches_decides(team):
    # given a rule for Zhejiang and a catch-all below it, and an inactive rule above both
    zhejiang_rep, everyone_rep, inactive_rep = reps_in(team, 3)
    AssignmentRuleFactory(name="停用", position=0, active=False, user=inactive_rep)
    AssignmentRuleFactory(name="浙江", position=1, provinces=["浙江省"], user=zhejiang_rep)
    AssignmentRuleFactory(name="其他", position=2, user=everyone_rep)
    # when a lead from Zhejiang (written without 省) and one from Guangdong arrive
    from_zhejiang = route(LeadFactory(province="浙江"))
    from_guangdong = route(LeadFactory(province="广东省"))
    # then the Zhejiang rule takes the first, the catch-all the second, and the inactive rule nothing
    assert from_zhejiang.owner == zhejiang_rep
    assert from_guangdong.owner == everyone_rep


def test_moving_a_rule_up_changes_which_one_decides(team, admin_user):
    first, second = reps_in(team, 2)
    AssignmentRuleFactory(user=first)
    lower = AssignmentRuleFactory(user=second)
    from sales.lead_rules import UP, rule_move

    rule_move(actor=admin_user, rule=lower, direction=UP)
    assert route(LeadFactory()).owner == second
    assert list(AssignmentRule.objects.values_list("position", flat=True)) == [0, 1]


@pytest.mark.parametrize(
    ("conditions", "lead_values", "matches"),
    [
        ({}, {}, True),
        ({"sources": ["website", "exhibition"]}, {"source": "exhibition"}, True),
        ({"sources": ["website"]}, {"source": "referral"}, False),
        ({"industries": ["it"]}, {"industry": "it"}, True),
        ({"industries": ["it"]}, {"industry": ""}, False),
        ({"campaigns": ["Spring-2026"]}, {"campaign": "spring-2026"}, True),
        ({"campaigns": ["spring-2026"]}, {"campaign": ""}, False),
        ({"provinces": ["广西壮族自治区"]}, {"province": "广西"}, True),
        ({"custom": {"size": "500人以上"}}, {"custom": {"size": "500人以上"}}, True),
        ({"custom": {"size": ["100-500人", "500人以上"]}}, {"custom": {"size": "100-500人"}}, True),
        ({"custom": {"size": "500人以上"}}, {"custom": {}}, False),
        ({"custom": {"products": "CRM"}}, {"custom": {"products": ["ERP", "CRM"]}}, True),
        ({"custom": {"seats": 50}}, {"custom": {"seats": "50"}}, True),
        ({"sources": ["website"], "provinces": ["浙江省"]}, {"source": "website", "province": "江苏省"}, False),
    ],
)
def test_rule_conditions(conditions, lead_values, matches):
    rule = AssignmentRule(name="r", **conditions)
    lead = Lead(name="x", **({"province": "浙江省", "source": "website"} | lead_values))
    assert assignment.rule_matches(rule, lead) is matches


def test_no_matching_rule_leaves_the_lead_in_the_pool(team):
    AssignmentRuleFactory(provinces=["北京市"], user=reps_in(team, 1)[0])
    lead = route(LeadFactory(province="上海市"))
    assert (lead.owner, lead.status) == (None, LeadStatus.NEW)
    assert not LeadAssignment.objects.exists()


# -------------------------------------------------------------------------------------------- round-robin


def test_round_robin_takes_the_team_members_in_turn(team):
    a, b, c = reps_in(team, 3)
    rule = AssignmentRuleFactory(team=team)
    owners = [lead.owner for lead in route_new(7)]
    assert owners == [a, b, c, a, b, c, a]
    rule.refresh_from_db()
    assert rule.last_user == a


def test_round_robin_continues_after_a_rep_leaves_the_rotation(team):
    a, b, c = reps_in(team, 3)
    AssignmentRuleFactory(team=team)
    assert [lead.owner for lead in route_new(2)] == [a, b]
    # when b is marked away (or deactivated) mid-rotation
    b.is_away = True
    b.save(update_fields=["is_away"])
    # then the turn passes him by and wraps around
    assert [lead.owner for lead in route_new(3)] == [c, a, c]


def test_only_members_of_the_team_itself_get_its_leads_not_of_its_sub_teams(teams, sales_manager, sales_rep,
                                                                            other_rep):
    # given a rule for 华东销售部, whose own member is its manager; the reps sit in 上海组 and 杭州组 below it
    AssignmentRuleFactory(team=teams.east)
    # then every lead goes to the manager, never to the sub-teams' reps
    assert {lead.owner for lead in route_new(3)} == {sales_manager}


def test_away_inactive_and_non_sales_members_are_passed_over(team):
    active, away, gone = reps_in(team, 3)
    away.is_away, gone.is_active = True, False
    away.save(update_fields=["is_away"])
    gone.save(update_fields=["is_active"])
    UserFactory(username="support-in-team", role=roles.SUPPORT_AGENT, team=team)
    UserFactory(username="marketing-in-team", role=roles.MARKETING, team=team)
    AssignmentRuleFactory(team=team)
    assert {lead.owner for lead in route_new(4)} == {active}


def test_everyone_away_sends_the_lead_to_the_pool(team):
    for rep in reps_in(team, 2, is_away=True):
        assert rep.is_away
    AssignmentRuleFactory(team=team)
    lead = route(LeadFactory())
    assert lead.owner is None and not LeadAssignment.objects.exists()


def test_a_rule_for_one_user_gives_him_every_lead_unless_he_is_away(team):
    rep = reps_in(team, 1)[0]
    AssignmentRuleFactory(user=rep)
    assert route(LeadFactory()).owner == rep
    rep.is_away = True
    rep.save(update_fields=["is_away"])
    assert route(LeadFactory()).owner is None


# --------------------------------------------------------------------------------------------- capacity


def test_capacity_counts_open_leads_only_and_passes_full_reps_over(team):
    a, b = reps_in(team, 2)
    AssignmentRuleFactory(team=team, capacity=2)
    # given a holding 2 open leads, b holding 1 open and 5 closed ones
    LeadFactory.create_batch(2, owner=a)
    LeadFactory(owner=b)
    for status in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED):
        LeadFactory.create_batch(2, owner=b, status=status)
    LeadFactory(owner=b, status=LeadStatus.DISQUALIFIED)
    # when three leads come in
    owners = [lead.owner for lead in route_new(3)]
    # then b gets one (up to his cap of 2) and then nobody has room: the pool
    assert owners == [b, None, None]


def test_capacity_applies_to_a_single_user_rule_too(team):
    rep = reps_in(team, 1)[0]
    AssignmentRuleFactory(user=rep, capacity=1)
    assert [lead.owner for lead in route_new(2)] == [rep, None]


# ------------------------------------------------------------------------------------------ least-loaded


def test_least_loaded_gives_the_lead_to_the_rep_with_fewest_open_leads(team):
    a, b, c = reps_in(team, 3)
    AssignmentRuleFactory(team=team, method=AssignmentMethod.LEAST_LOADED)
    LeadFactory.create_batch(3, owner=a)
    LeadFactory.create_batch(1, owner=b)
    LeadFactory.create_batch(2, owner=c)
    owners = [lead.owner for lead in route_new(4)]
    # b has fewest; then b and c tie at 2 and c, never assigned by anyone, has waited longest; then b again; then all
    # hold 3 and a, never assigned, takes it
    assert owners == [b, c, b, a]
    counts = Counter(Lead.objects.filter(owner__isnull=False).values_list("owner", flat=True))
    assert counts == {a.pk: 4, b.pk: 3, c.pk: 3}


def test_least_loaded_ties_go_to_whoever_waited_longest_since_his_last_lead(team):
    a, b, c = reps_in(team, 3)
    AssignmentRuleFactory(team=team, method=AssignmentMethod.LEAST_LOADED)
    now = timezone.now()
    # given equal loads; a was assigned a lead an hour ago, b a day ago, c ten minutes ago
    for rep, ago in ((a, timedelta(hours=1)), (b, timedelta(days=1)), (c, timedelta(minutes=10))):
        lead = LeadFactory(owner=rep)
        made = LeadAssignment.objects.create(lead=lead, user=rep, reason="manual")
        LeadAssignment.objects.filter(pk=made.pk).update(created_at=now - ago)
    # then the next leads go to b, then a, then c
    assert [lead.owner for lead in route_new(3)] == [b, a, c]


def test_least_loaded_someone_never_assigned_wins_a_tie(team):
    veteran, newcomer = reps_in(team, 2)
    AssignmentRuleFactory(team=team, method=AssignmentMethod.LEAST_LOADED)
    LeadAssignment.objects.create(lead=LeadFactory(owner=veteran, status=LeadStatus.CONVERTED), user=veteran,
                                  reason="manual")
    assert route(LeadFactory()).owner == newcomer


# ------------------------------------------------------------------------------- record and notification


def test_each_assignment_is_recorded_with_its_rule_and_the_assignee_is_told_in_his_language(team):
    rep = reps_in(team, 1)[0]
    rep.language = "en"
    rep.save(update_fields=["language"])
    rule = AssignmentRuleFactory(name="浙江官网", user=rep, provinces=["浙江省"])
    lead = route(LeadFactory(name="周杰", company="杰出科技", source="website", province="浙江省",
                             message="想了解报价"))
    # then the lead is his, for his team, assigned now and not yet handled
    assert (lead.owner, lead.team, lead.status, lead.touched_at) == (rep, team, LeadStatus.ASSIGNED, None)
    assert timezone.now() - lead.assigned_at < timedelta(minutes=1)
    record = LeadAssignment.objects.get(lead=lead)
    assert (record.user, record.rule, record.reason, record.assigned_by) == (rep, rule, "rule", None)
    note = Notification.objects.get(user=rep)
    assert note.title == "New lead for you: 周杰（杰出科技）"
    assert note.body == "浙江省 · Website\n想了解报价"
    assert note.url == lead.get_absolute_url()
    assert note.dedupe_key == f"lead-assigned:{lead.pk}:{record.pk}"


def test_routing_twice_assigns_once(team):
    rep = reps_in(team, 1)[0]
    AssignmentRuleFactory(user=rep)
    lead = LeadFactory()
    first = assignment.lead_route(lead.pk)
    second = assignment.lead_route(lead.pk)
    assert first is not None and second is None
    assert LeadAssignment.objects.filter(lead=lead).count() == 1
    assert Notification.objects.filter(user=rep).count() == 1


def test_closed_or_missing_leads_are_left_alone(team):
    AssignmentRuleFactory(user=reps_in(team, 1)[0])
    closed = LeadFactory(status=LeadStatus.DISQUALIFIED)
    assert assignment.lead_route(closed.pk) is None
    assert assignment.lead_route(10**9) is None


def test_a_lead_entered_without_owner_is_routed_once_committed(team, sales_manager,
                                                              django_capture_on_commit_callbacks):
    rep = reps_in(team, 1)[0]
    AssignmentRuleFactory(user=rep)
    # when a manager enters a lead and leaves the owner to the rules
    with eager_celery(), django_capture_on_commit_callbacks(execute=True):
        lead = lead_services.lead_create(actor=sales_manager, data={"name": "新线索", "mobile": "+8613700000001"})
        # then nothing is assigned inside the transaction
        assert Lead.objects.get(pk=lead.pk).owner is None
    # and the worker's task, run on commit, gives it to the rule's rep
    lead.refresh_from_db()
    assert lead.owner == rep
