"""The assignment rules page: administrators only; an ordered list; create / edit with conditions; delete after a
confirmation; move up / down."""

import pytest
from django.urls import reverse

from sales.models import AssignmentRule, LeadAssignment
from tests.factories import TeamFactory
from tests.factories.sales_leads import AssignmentRuleFactory, LeadFactory, reps_in

LIST = reverse("sales:assignment_rule_list")


def order() -> list[str]:
    return list(AssignmentRule.objects.order_by("position", "pk").values_list("name", flat=True))


@pytest.mark.parametrize("role", ["sales_manager", "sales_rep", "marketing_user", "support_agent"])
def test_only_administrators_edit_rules(request, client_as, role):
    rule = AssignmentRuleFactory(team=TeamFactory())
    client = client_as(request.getfixturevalue(role))
    assert client.get(LIST).status_code == 403
    assert client.post(reverse("sales:assignment_rule_move", args=[rule.pk]), {"direction": "up"}).status_code == 403
    assert client.post(reverse("sales:assignment_rule_delete", args=[rule.pk])).status_code == 403
    assert AssignmentRule.objects.filter(pk=rule.pk).exists()


def test_the_list_shows_rules_in_order_with_conditions_in_words_and_the_embed_code(client_as, admin_user):
    team = TeamFactory(name="官网组")
    AssignmentRuleFactory(name="第一条", team=team, sources=["website"], provinces=["浙江省"])
    AssignmentRuleFactory(name="第二条", team=team)
    page = client_as(admin_user).get(LIST).content.decode()
    assert page.index("第一条") < page.index("第二条")
    assert "Website" in page and "浙江省" in page and "any lead" in page
    assert "&lt;iframe src=" in page and reverse("sales:lead_web_form") in page


def test_an_admin_creates_a_rule_at_the_end_of_the_list(client_as, admin_user):
    team = TeamFactory(name="华北组")
    AssignmentRuleFactory(name="已有")
    response = client_as(admin_user).post(reverse("sales:assignment_rule_create"), {
        "name": "华北官网", "active": "on", "provinces": ["北京市", "天津市"], "sources": ["website"],
        "campaigns": "spring，autumn", "custom": "size=500人以上\nproducts=CRM, ERP", "team": team.pk,
        "method": "least_loaded", "capacity": "30",
    })
    assert response.status_code == 302 and response.url == LIST
    rule = AssignmentRule.objects.get(name="华北官网")
    assert (rule.provinces, rule.sources, rule.campaigns, rule.custom) == (
        ["北京市", "天津市"], ["website"], ["spring", "autumn"], {"size": "500人以上", "products": ["CRM", "ERP"]})
    assert (rule.team, rule.user, rule.method, rule.capacity) == (team, None, "least_loaded", 30)
    assert order() == ["已有", "华北官网"]


def test_a_rule_goes_to_a_user_or_a_team_not_both_nor_neither(client_as, admin_user):
    team = TeamFactory()
    (rep,) = reps_in(team, 1)
    client = client_as(admin_user)
    for target in ({}, {"team": team.pk, "user": rep.pk}):
        response = client.post(reverse("sales:assignment_rule_create"), {"name": "x", "method": "round_robin",
                                                                         **target})
        assert response.status_code == 200
        assert "either to one user or to one team" in response.content.decode()
    response = client.post(reverse("sales:assignment_rule_create"), {"name": "x", "method": "round_robin",
                                                                     "user": rep.pk, "custom": "no equals sign"})
    assert "Line 1 is not key=value." in response.content.decode()
    assert not AssignmentRule.objects.exists()


def test_editing_keeps_the_position_and_shows_the_conditions_as_written(client_as, admin_user):
    team = TeamFactory()
    AssignmentRuleFactory(name="甲", team=team)
    rule = AssignmentRuleFactory(name="乙", team=team, campaigns=["a", "b"], custom={"size": ["1", "2"]})
    client = client_as(admin_user)
    form = client.get(reverse("sales:assignment_rule_update", args=[rule.pk])).context["form"]
    assert (form.initial["campaigns"], form.initial["custom"]) == ("a, b", "size=1, 2")
    client.post(reverse("sales:assignment_rule_update", args=[rule.pk]), {
        "name": "乙改", "team": team.pk, "method": "round_robin", "campaigns": "c", "custom": ""})
    rule.refresh_from_db()
    assert (rule.name, rule.campaigns, rule.custom, rule.active) == ("乙改", ["c"], {}, False)
    assert order() == ["甲", "乙改"]


def test_moving_rules_up_and_down(client_as, admin_user):
    team = TeamFactory()
    a, b, c = (AssignmentRuleFactory(name=n, team=team) for n in "ABC")
    client = client_as(admin_user)

    def move(rule, direction):
        client.post(reverse("sales:assignment_rule_move", args=[rule.pk]), {"direction": direction})

    move(c, "up")
    assert order() == ["A", "C", "B"]
    move(a, "up")  # already first: nothing moves
    move(a, "down")
    assert order() == ["C", "A", "B"]
    move(b, "down")
    assert order() == ["C", "A", "B"]
    assert list(AssignmentRule.objects.order_by("position").values_list("position", flat=True)) == [0, 1, 2]


def test_deleting_asks_first_and_keeps_the_history(client_as, admin_user):
    team = TeamFactory()
    (rep,) = reps_in(team, 1)
    rule = AssignmentRuleFactory(name="将删除", team=team)
    AssignmentRuleFactory(name="留下", team=team)
    lead = LeadFactory(owner=rep)
    LeadAssignment.objects.create(lead=lead, user=rep, rule=rule, reason="rule")
    client = client_as(admin_user)
    url = reverse("sales:assignment_rule_delete", args=[rule.pk])
    assert "Delete the rule 将删除?" in client.get(url).content.decode()
    assert AssignmentRule.objects.filter(pk=rule.pk).exists()
    assert client.post(url).status_code == 302
    assert order() == ["留下"]
    assert AssignmentRule.objects.get().position == 0
    record = LeadAssignment.objects.get(lead=lead)
    assert (record.user, record.rule, record.reason) == (rep, None, "rule")
    assert "rule deleted since" in client.get(lead.get_absolute_url()).content.decode()
