"""Campaign pages as each role uses them: marketing and admins create, edit and delete (marketing only its own and
its team's: 404 otherwise), sales managers and reps read; the form's checks in both languages; the audit trail."""

from datetime import timedelta

import pytest
from django.urls import reverse

from crm.accounts import roles
from marketing.models import Campaign, CampaignEvent
from tests.factories import UserFactory
from tests.factories.sales_leads import LeadFactory


def form_data(**overrides) -> dict:
    return {"name": "2026秋季展会", "code": "autumn-expo", "channel": "exhibition", "status": "planned",
            "start_date": "2026-09-01", "end_date": "2026-09-03", "budget": "50000", "actual_cost": "42000.50",
            "notes": "上海新国际博览中心"} | overrides


@pytest.fixture
def other_marketer(teams):
    """Marketing, but in another team than marketing_user (总公司): no business with 市场部's campaigns."""
    return UserFactory(username="marketing2", role=roles.MARKETING, team=teams.hq, last_name="陈", first_name="晨")


def test_marketing_creates_a_campaign_that_is_its_own(client_as, marketing_user):
    client = client_as(marketing_user)
    # when marketing fills in the form, naming someone else as owner and author on the side
    response = client.post(reverse("marketing:campaign_create"),
                           form_data(team=marketing_user.team_id, created_by=999, created_at="2020-01-01"))
    # then the campaign is saved as typed, owned and made by the marketer, in his team
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response.url == campaign.get_absolute_url()
    assert (campaign.name, campaign.code, str(campaign.actual_cost), str(campaign.end_date)) == (
        "2026秋季展会", "autumn-expo", "42000.50", "2026-09-03")
    assert (campaign.owner, campaign.created_by, campaign.team) == (marketing_user, marketing_user,
                                                                   marketing_user.team)
    # and its page shows it, with the cost not yet spread over any lead
    page = client.get(campaign.get_absolute_url()).content.decode()
    assert "2026秋季展会" in page and "42,000.50" in page and "no leads yet" in page
    # and the audit trail holds the creation, by him
    event = CampaignEvent.objects.get(pgh_obj_id=campaign.pk)
    assert event.pgh_label == "insert" and event.pgh_context.metadata["user"] == marketing_user.pk


def test_a_marketer_cannot_hand_a_campaign_to_a_rep(client_as, marketing_user, sales_rep):
    response = client_as(marketing_user).post(reverse("marketing:campaign_create"), form_data(owner=sales_rep.pk))
    assert response.status_code == 200
    assert "owner" in response.context["form"].errors
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(("language", "negative", "before_start"), [
    ("en", "An amount cannot be negative.", "The end date cannot be before the start date."),
    ("zh-hans", "金额不能为负数。", "结束日期不能早于开始日期。"),
])
def test_the_form_refuses_a_negative_cost_and_an_end_before_the_start(client_as, marketing_user, language, negative,
                                                                      before_start):
    client = client_as(marketing_user, language=language)
    response = client.post(reverse("marketing:campaign_create"),
                           form_data(actual_cost="-1", budget="-5", start_date="2026-09-03", end_date="2026-09-01"))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["actual_cost"] == [negative] and errors["budget"] == [negative]
    assert errors["end_date"] == [before_start]
    assert negative in response.content.decode() and before_start in response.content.decode()
    assert not Campaign.objects.exists()


def test_marketing_edits_its_teams_campaigns_and_nobody_elses(client_as, marketing_user, other_marketer,
                                                               make_campaign):
    mine = make_campaign(marketing_user)
    theirs = make_campaign(other_marketer, name="总部活动")
    client = client_as(marketing_user)
    response = client.post(reverse("marketing:campaign_update", args=[mine.pk]),
                           form_data(name="改名的展会", actual_cost="", owner=marketing_user.pk,
                                     team=marketing_user.team_id))
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.name, mine.actual_cost) == ("改名的展会", None)
    # another team's campaign: seen, but not his to change (404, as if it did not exist for changing)
    assert client.get(theirs.get_absolute_url()).status_code == 200
    assert client.get(reverse("marketing:campaign_update", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("marketing:campaign_update", args=[theirs.pk]), form_data()).status_code == 404
    assert client.post(reverse("marketing:campaign_delete", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "总部活动"


def test_an_admin_changes_any_campaign(client_as, admin_user, marketing_user, make_campaign):
    campaign = make_campaign(marketing_user)
    response = client_as(admin_user).post(reverse("marketing:campaign_update", args=[campaign.pk]),
                                          form_data(name="管理员改的", owner=marketing_user.pk))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "管理员改的" and campaign.owner == marketing_user


@pytest.mark.parametrize("role", ["sales_manager", "sales_rep"])
def test_sales_reads_campaigns_and_changes_none(request, client_as, marketing_user, make_campaign, role):
    campaign = make_campaign(marketing_user, code="spring")
    client = client_as(request.getfixturevalue(role))
    listing = client.get(reverse("marketing:campaign_list"))
    assert listing.status_code == 200 and "2026春季展会" in listing.content.decode()
    assert "New campaign" not in listing.content.decode()
    page = client.get(campaign.get_absolute_url())
    assert page.status_code == 200 and reverse("marketing:campaign_update", args=[campaign.pk]) not in (
        page.content.decode())
    assert client.get(reverse("marketing:campaign_create")).status_code == 403
    assert client.get(reverse("marketing:campaign_update", args=[campaign.pk])).status_code == 403
    assert client.post(reverse("marketing:campaign_delete", args=[campaign.pk])).status_code == 403
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_support_has_no_campaign_module(client_as, support_agent, marketing_user, make_campaign):
    campaign = make_campaign(marketing_user)
    client = client_as(support_agent)
    assert client.get(reverse("marketing:campaign_list")).status_code == 403
    assert client.get(campaign.get_absolute_url()).status_code == 403


def test_the_list_filters_searches_and_pages(client_as, sales_rep, marketing_user, make_campaign, long_ago):
    make_campaign(marketing_user, name="百度推广", channel="search_ads", code="baidu-crm")
    make_campaign(marketing_user, name="去年的沙龙", channel="event", start_date=long_ago)
    for n in range(25):
        make_campaign(marketing_user, name=f"短信群发{n:02d}", channel="sms")
    client = client_as(sales_rep)

    def names(query: dict) -> str:
        return client.get(reverse("marketing:campaign_list"), query).content.decode()

    assert "百度推广" in names({"q": "BAIDU"}) and "短信群发" not in names({"q": "BAIDU"})
    by_channel = names({"channel": "event"})
    assert "去年的沙龙" in by_channel and "百度推广" not in by_channel
    old = names({"started_before": long_ago.isoformat()})
    assert "去年的沙龙" in old and "百度推广" not in old
    assert "去年的沙龙" not in names({"started_after": (long_ago + timedelta(days=1)).isoformat(), "q": "沙龙"})
    # 27 campaigns: 25 on the first page, the newest first; the rest on the second
    first, second = names({}), names({"page": 2})
    assert (first.count('data-campaign="'), second.count('data-campaign="')) == (25, 2)
    assert "of 27" in first and "去年的沙龙" in second


def test_the_list_runs_a_bounded_number_of_queries(client_as, sales_rep, marketing_user, make_campaign,
                                                   django_assert_max_num_queries):
    for n in range(30):
        make_campaign(marketing_user, name=f"活动{n}")
    client = client_as(sales_rep)
    client.get(reverse("marketing:campaign_list"))
    with django_assert_max_num_queries(15):
        assert client.get(reverse("marketing:campaign_list")).status_code == 200


def test_deleting_asks_first_and_keeps_the_leads(client_as, marketing_user, sales_rep, make_campaign):
    campaign = make_campaign(marketing_user)
    lead = LeadFactory(owner=sales_rep, marketing_campaign=campaign)
    client = client_as(marketing_user)
    # the confirmation says what happens to its leads, and deletes nothing
    confirm = client.get(reverse("marketing:campaign_delete", args=[campaign.pk]))
    assert confirm.status_code == 200 and "1 lead names this campaign" in confirm.content.decode()
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    # confirmed: the campaign is gone, the lead stays without it, and the audit trail keeps the campaign
    response = client.post(reverse("marketing:campaign_delete", args=[campaign.pk]))
    assert response.status_code == 302 and response.url == reverse("marketing:campaign_list")
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    lead.refresh_from_db()
    assert lead.marketing_campaign is None
    deleted = CampaignEvent.objects.get(pgh_obj_id=campaign.pk, pgh_label="delete")
    assert deleted.name == "2026春季展会"


def test_a_reps_campaign_page_counts_his_leads_not_the_pools(client_as, sales_rep, marketing_user, make_campaign):
    campaign = make_campaign(marketing_user)
    LeadFactory(owner=sales_rep, team=sales_rep.team, marketing_campaign=campaign)
    LeadFactory(owner=None, team=None, marketing_campaign=campaign)  # in the lead pool: he may claim it, it is not his
    response = client_as(sales_rep).get(reverse("marketing:campaign_detail", args=[campaign.pk]))
    figures = response.context["figures"]
    assert (figures.all_leads, figures.leads) == (2, 1)
    # the cost his lead stands for: half the campaign's
    assert figures.share == campaign.actual_cost / 2
