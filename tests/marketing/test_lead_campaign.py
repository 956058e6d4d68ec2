"""A lead names the campaign that brought it: chosen on the lead form, filtered on in the lead list, set by the
website form from the campaign code in its address; the demo links its leads to demo campaigns."""

from django.core.management import call_command
from django.urls import reverse

from customers import demo
from marketing.models import Campaign
from sales.models import Lead
from tests.factories.sales_leads import LeadFactory
from tests.sales.test_leads_web_form import FORM, details, visitor


def test_a_rep_names_the_campaign_on_the_lead_form_and_finds_its_leads(client_as, sales_rep, marketing_user,
                                                                       make_campaign):
    expo = make_campaign(marketing_user, name="春季展会")
    make_campaign(marketing_user, name="取消的活动", status="cancelled")
    client = client_as(sales_rep)
    form = client.get(reverse("sales:lead_create")).content.decode()
    # open campaigns are offered, cancelled ones not
    assert "春季展会" in form and "取消的活动" not in form
    response = client.post(reverse("sales:lead_create"), {"name": "展会来客", "mobile": "13812345670",
                                                          "source": "exhibition", "marketing_campaign": expo.pk})
    assert response.status_code == 302
    lead = Lead.objects.get(name="展会来客")
    assert lead.marketing_campaign == expo
    LeadFactory(owner=sales_rep, name="别的线索")
    listing = client.get(reverse("sales:lead_list"), {"campaign": expo.pk}).content.decode()
    assert "展会来客" in listing and "别的线索" not in listing
    # the lead page names the campaign and opens it
    assert expo.get_absolute_url() in client.get(lead.get_absolute_url()).content.decode()


def test_editing_a_lead_keeps_its_cancelled_campaign(client_as, sales_rep, marketing_user, make_campaign):
    cancelled = make_campaign(marketing_user, name="取消的活动", status="cancelled")
    lead = LeadFactory(owner=sales_rep, marketing_campaign=cancelled)
    response = client_as(sales_rep).post(reverse("sales:lead_update", args=[lead.pk]), {
        "name": "改了名字", "mobile": "13812345670", "marketing_campaign": cancelled.pk})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.name, lead.marketing_campaign) == ("改了名字", cancelled)


def test_the_website_form_links_the_lead_to_the_campaign_of_its_code(db, marketing_user, make_campaign):
    expo = make_campaign(marketing_user, code="spring-expo")
    browser = visitor()
    assert browser.post(FORM + "?campaign=spring-expo", details()).status_code == 302
    assert browser.post(FORM + "?campaign=unknown-code", details(name="路人")).status_code == 302
    linked, unknown = Lead.objects.get(name="孙丽"), Lead.objects.get(name="路人")
    assert (linked.campaign, linked.marketing_campaign) == ("spring-expo", expo)
    # a code no campaign has is kept as it came, and counts for none
    assert (unknown.campaign, unknown.marketing_campaign) == ("unknown-code", None)


def test_the_demo_gives_its_leads_campaigns_with_costs(db):
    demo.ensure_organisation()
    lead = LeadFactory(campaign="2026上海CRM展")
    call_command("seed_marketing_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("seed_marketing_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115 - twice: idempotent
    lead.refresh_from_db()
    assert lead.marketing_campaign.code == "2026上海CRM展"
    assert Campaign.objects.count() == 5
    assert Campaign.objects.filter(actual_cost__isnull=True).count() == 1  # one says its cost is missing


def test_imported_leads_count_for_the_campaign_their_code_names(client_as, admin_user, marketing_user, sales_rep,
                                                               make_campaign):
    from tests.imports.conftest import commit
    from tests.sales.test_leads_import import preview, sheet

    campaign = make_campaign(marketing_user, code="2026上海CRM展")
    content = sheet(["王先生", "13800000001", "2026上海CRM展"], ["李女士", "13800000002", "没有这个活动"],
                    headers=["姓名", "手机", "市场活动"])
    commit(admin_user, preview(admin_user, content, owner_mode="user", owner=sales_rep))
    assert Lead.objects.get(name="王先生").marketing_campaign == campaign
    unknown = Lead.objects.get(name="李女士")  # a code no campaign has stays a code
    assert unknown.campaign == "没有这个活动" and unknown.marketing_campaign is None
    # what the rep sees: the campaign's row in the acquisition cost report counts his imported lead
    response = client_as(sales_rep).get(reverse("reports:report", args=["acquisition_cost"]))
    campaigns = next(t for t in response.context["tables"] if t.key == "campaigns")
    assert [(row[0], row[4]) for row in campaigns.rows] == [("2026春季展会", 1)]
