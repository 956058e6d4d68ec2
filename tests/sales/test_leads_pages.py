"""The lead pages: list (mine / all I can see / pool, filters, search, htmx partial, bounded queries, bulk assign),
detail (scope, history, actions), create / edit, status changes, claim and assign."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.notifications.models import Notification
from sales.models import Lead, LeadAssignment, LeadStatus
from tests.factories.sales_leads import LeadFactory

LIST = reverse("sales:lead_list")


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {int(pk) for pk in re.findall(r'data-lead="(\d+)"', response.content.decode())}


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def book(sales_rep, other_rep, south_rep):
    now = timezone.now()
    book = {
        "mine": LeadFactory(owner=sales_rep, name="Alpha 上海", source="website", province="上海市",
                            mobile="+8613811110001", email="alpha@example.com"),
        "mine_closed": LeadFactory(owner=sales_rep, name="Bravo 关闭", status=LeadStatus.DISQUALIFIED,
                                   source="referral", province="江苏省"),
        "hangzhou": LeadFactory(owner=other_rep, name="Charlie 杭州", source="referral", province="浙江省"),
        "pool": LeadFactory(owner=None, name="Delta 线索池", source="exhibition", province="广东省"),
        "south": LeadFactory(owner=south_rep, name="Echo 华南", province="广东省"),
    }
    for days, key in enumerate(book):
        Lead.objects.filter(pk=book[key].pk).update(created_at=now - timedelta(days=10 * days))
    return book


def keys(book, *names) -> set[int]:
    return {book[n].pk for n in names}


# ------------------------------------------------------------------------------------------------- scope


def test_a_rep_sees_his_leads_and_the_pool_never_another_reps(client_as, sales_rep, book):
    client = client_as(sales_rep)
    assert listed(client.get(LIST)) == keys(book, "mine", "mine_closed", "pool")
    assert client.get(book["hangzhou"].get_absolute_url()).status_code == 404
    assert client.get(reverse("sales:lead_update", args=[book["hangzhou"].pk])).status_code == 404
    assert client.get(book["pool"].get_absolute_url()).status_code == 200


def test_a_manager_sees_his_subtree_and_the_pool(client_as, sales_manager, book):
    assert listed(client_as(sales_manager).get(LIST)) == keys(book, "mine", "mine_closed", "hangzhou", "pool")


def test_an_admin_sees_everything(client_as, admin_user, book):
    assert listed(client_as(admin_user).get(LIST)) == set(keys(book, *book))


def test_marketing_sees_no_pool_and_support_no_leads_at_all(client_as, marketing_user, support_agent, book):
    assert listed(client_as(marketing_user).get(LIST)) == set()
    assert client_as(marketing_user).get(book["pool"].get_absolute_url()).status_code == 404
    assert client_as(support_agent).get(LIST).status_code == 403


# -------------------------------------------------------------------------------------------- list page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"view": "mine"}, set()),  # he holds none himself; his teams' leads are not "mine"
        ({"view": "pool"}, {"pool"}),
        ({"status": "disqualified"}, {"mine_closed"}),
        ({"status": ["new", "assigned"]}, {"mine", "hangzhou", "pool"}),
        ({"source": "referral"}, {"mine_closed", "hangzhou"}),
        ({"province": "广东省"}, {"pool"}),
        ({"q": "charlie"}, {"hangzhou"}),
        ({"q": "138 1111 0001"}, {"mine"}),
        ({"q": "1111000"}, {"mine"}),
        ({"q": "alpha@"}, {"mine"}),
        ({"sort": "name"}, {"mine", "mine_closed", "hangzhou", "pool"}),
    ],
)
def test_filters_narrow_the_managers_list(client_as, sales_manager, book, params, expected):
    assert listed(client_as(sales_manager).get(LIST, params)) == keys(book, *expected)


def test_filter_by_owner_team_and_created(client_as, sales_manager, other_rep, teams, book):
    client = client_as(sales_manager)
    assert listed(client.get(LIST, {"owner": other_rep.pk})) == keys(book, "hangzhou")
    assert listed(client.get(LIST, {"team": teams.shanghai.pk})) == keys(book, "mine", "mine_closed")
    since = (timezone.localdate() - timedelta(days=15)).isoformat()
    assert listed(client.get(LIST, {"created_after": since})) == keys(book, "mine", "mine_closed")


def test_my_leads_and_scoped_owner_choices(client_as, sales_rep, south_rep, book):
    client = client_as(sales_rep)
    assert listed(client.get(LIST, {"view": "mine"})) == keys(book, "mine", "mine_closed")
    form = client.get(LIST).context["filter"].form
    assert list(form.fields["owner"].queryset) == [sales_rep]
    # asking for another rep's leads by his id is an invalid choice: the rep's own scope, nothing of the other's
    assert book["south"].pk not in listed(client.get(LIST, {"owner": south_rep.pk}))


def test_htmx_gets_only_the_results(client_as, sales_rep, book):
    response = client_as(sales_rep).get(LIST, {"view": "mine"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="listing-results">')
    assert "filter-form" not in body


def test_the_list_runs_a_bounded_number_of_queries(client_as, sales_manager, sales_rep, other_rep):
    client = client_as(sales_manager)
    LeadFactory.create_batch(3, owner=sales_rep)
    with CaptureQueriesContext(connection) as few:
        client.get(LIST)
    LeadFactory.create_batch(20, owner=other_rep)
    LeadFactory.create_batch(10)
    with CaptureQueriesContext(connection) as many:
        client.get(LIST)
    assert len(many) == len(few) <= 20


def test_the_manager_assigns_leads_in_bulk(client_as, sales_manager, sales_rep, book):
    sales_rep.language = "en"  # the language of his notifications
    sales_rep.save(update_fields=["language"])
    ids = [book["pool"].pk, book["hangzhou"].pk, book["mine_closed"].pk]
    response = client_as(sales_manager).post(reverse("sales:lead_bulk"), {"ids": ids, "owner": sales_rep.pk,
                                                                          "next": LIST + "?view=pool"})
    assert response.status_code == 302 and response.url == LIST + "?view=pool"
    assert messages_of(response) == ["2 leads assigned. 1 left as it was: closed, or already that person's."]
    assert set(Lead.objects.filter(owner=sales_rep, status=LeadStatus.ASSIGNED).values_list("pk", flat=True)) >= {
        book["pool"].pk, book["hangzhou"].pk}
    assert LeadAssignment.objects.filter(user=sales_rep, reason="manual", assigned_by=sales_manager).count() == 2
    assert Notification.objects.get(user=sales_rep).title == f"{sales_manager} assigned you 2 leads."


def test_bulk_assign_ignores_leads_outside_scope_and_owners_outside_reach(client_as, sales_manager, south_rep,
                                                                          sales_rep, book):
    client = client_as(sales_manager)
    response = client.post(reverse("sales:lead_bulk"), {"ids": [book["south"].pk], "owner": sales_rep.pk})
    assert Lead.objects.get(pk=book["south"].pk).owner == south_rep
    assert messages_of(response)  # "Select a valid choice"
    client.post(reverse("sales:lead_bulk"), {"ids": [book["pool"].pk], "owner": south_rep.pk})
    assert Lead.objects.get(pk=book["pool"].pk).owner is None


def test_reps_may_not_assign(client_as, sales_rep, other_rep, book):
    client = client_as(sales_rep)
    assert client.post(reverse("sales:lead_bulk"), {"ids": [book["pool"].pk], "owner": sales_rep.pk}).status_code == 403
    assert client.post(reverse("sales:lead_assign", args=[book["pool"].pk]),
                       {"owner": other_rep.pk}).status_code == 403
    assert "sales:lead_bulk" not in client.get(LIST).content.decode()


# -------------------------------------------------------------------------------------------- create, edit


def test_a_rep_owns_the_lead_he_enters(client_as, sales_rep, teams):
    response = client_as(sales_rep).post(reverse("sales:lead_create"), {
        "name": "自拓客户", "company": "自拓公司", "mobile": "13700001111", "source": "phone", "province": "上海"})
    lead = Lead.objects.get()
    assert response.status_code == 302 and response.url == lead.get_absolute_url()
    assert (lead.owner, lead.team, lead.status, lead.province, lead.created_by) == (
        sales_rep, teams.shanghai, LeadStatus.ASSIGNED, "上海市", sales_rep)
    assert lead.touched_at is not None  # his own: nothing to re-assign
    assert "owner" not in client_as(sales_rep).get(reverse("sales:lead_create")).context["form"].fields


def test_a_manager_chooses_the_owner_who_is_told(client_as, sales_manager, other_rep):
    other_rep.language = "en"  # the language of his notifications
    other_rep.save(update_fields=["language"])
    client_as(sales_manager).post(reverse("sales:lead_create"), {"name": "派给李芳", "email": "x@y.cn",
                                                                  "owner": other_rep.pk})
    lead = Lead.objects.get()
    assert (lead.owner, lead.touched_at) == (other_rep, None)
    assert LeadAssignment.objects.get(lead=lead).assigned_by == sales_manager
    assert Notification.objects.get(user=other_rep).title == f"{sales_manager} assigned you a lead: 派给李芳"


def test_a_manager_may_leave_the_owner_to_the_rules(client_as, sales_manager):
    client_as(sales_manager).post(reverse("sales:lead_create"), {"name": "交给规则", "email": "r@y.cn", "owner": ""})
    assert Lead.objects.get().owner is None


def test_marketing_hands_its_leads_to_the_rules(client_as, marketing_user):
    response = client_as(marketing_user).post(reverse("sales:lead_create"),
                                              {"name": "展会名片", "mobile": "13700002222"})
    assert response.status_code == 302 and response.url == reverse("sales:lead_create")
    assert "the assignment rules will pass it to a sales rep" in messages_of(response)[0]
    assert Lead.objects.get().owner is None


def test_a_lead_needs_a_way_to_reach_it(client_as, sales_rep):
    response = client_as(sales_rep).post(reverse("sales:lead_create"), {"name": "无联系方式"})
    assert response.status_code == 200 and response.context["form"].errors["mobile"]
    assert not Lead.objects.exists()


def test_editing_his_lead_counts_as_handling_it(client_as, sales_rep):
    lead = LeadFactory(owner=sales_rep)
    assert lead.touched_at is None
    response = client_as(sales_rep).post(reverse("sales:lead_update", args=[lead.pk]), {
        "name": lead.name, "company": "改过的公司", "mobile": str(lead.mobile), "email": lead.email})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.company, lead.touched_at is not None) == ("改过的公司", True)


# --------------------------------------------------------------------------------------- detail, actions


def test_the_detail_shows_the_history_with_the_rule_and_the_actions(client_as, sales_manager, other_rep):
    from tests.factories.sales_leads import AssignmentRuleFactory

    rule = AssignmentRuleFactory(name="杭州规则", user=other_rep)
    lead = LeadFactory(owner=other_rep)
    LeadAssignment.objects.create(lead=lead, user=other_rep, rule=rule, reason="rule")
    page = client_as(sales_manager).get(lead.get_absolute_url()).content.decode()
    history = page[page.index('id="assignment-history"'):]
    assert "杭州规则" in history and "by rule" in history
    for url in ("lead_convert", "lead_status", "lead_assign", "lead_update"):
        assert reverse(f"sales:{url}", args=[lead.pk]) in page
    assert reverse("sales:lead_claim", args=[lead.pk]) not in page


def test_status_changes_and_the_first_one_marks_the_lead_handled(client_as, sales_rep):
    lead = LeadFactory(owner=sales_rep)
    client = client_as(sales_rep)
    url = reverse("sales:lead_status", args=[lead.pk])
    client.post(url, {"status": "contacted"})
    lead.refresh_from_db()
    assert (lead.status, lead.touched_at is not None) == (LeadStatus.CONTACTED, True)
    # disqualifying needs a reason
    response = client.post(url, {"status": "disqualified", "reason": ""})
    assert messages_of(response)[-1] == "Say why the lead is disqualified."
    client.post(url, {"status": "disqualified", "reason": "没有预算"})
    lead.refresh_from_db()
    assert (lead.status, lead.disqualified_reason) == (LeadStatus.DISQUALIFIED, "没有预算")
    # a closed lead changes no more, until reopened
    response = client.post(url, {"status": "qualified"})
    assert "closed" in messages_of(response)[-1]
    client.post(url, {"status": "reopen"})
    lead.refresh_from_db()
    assert (lead.status, lead.disqualified_reason) == (LeadStatus.ASSIGNED, "")


def test_a_managers_status_change_is_not_the_owners_first_action(client_as, sales_manager, other_rep):
    lead = LeadFactory(owner=other_rep)
    client_as(sales_manager).post(reverse("sales:lead_status", args=[lead.pk]), {"status": "qualified"})
    lead.refresh_from_db()
    assert (lead.status, lead.touched_at) == (LeadStatus.QUALIFIED, None)


def test_claiming_a_pool_lead(client_as, sales_rep, other_rep, teams):
    lead = LeadFactory(owner=None)
    response = client_as(sales_rep).post(reverse("sales:lead_claim", args=[lead.pk]))
    assert messages_of(response) == [f"The lead {lead.name} is yours now."]
    lead.refresh_from_db()
    assert (lead.owner, lead.team, lead.status, lead.touched_at is not None) == (
        sales_rep, teams.shanghai, LeadStatus.ASSIGNED, True)
    assert LeadAssignment.objects.get(lead=lead).reason == "claimed"
    # gone from the pool: another rep no longer sees it at all
    assert client_as(other_rep).post(reverse("sales:lead_claim", args=[lead.pk])).status_code == 404


def test_a_manager_assigns_one_lead_within_his_subtree_only(client_as, sales_manager, sales_rep, south_rep):
    lead = LeadFactory(owner=None)
    client = client_as(sales_manager)
    response = client.post(reverse("sales:lead_assign", args=[lead.pk]), {"owner": south_rep.pk})
    assert "Select a valid choice" in messages_of(response)[0]
    client.post(reverse("sales:lead_assign", args=[lead.pk]), {"owner": sales_rep.pk})
    lead.refresh_from_db()
    assert lead.owner == sales_rep
    assert Notification.objects.filter(user=sales_rep).count() == 1
