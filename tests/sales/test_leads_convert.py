"""Converting a lead (线索转化): customer + contact + opportunity in one step, reusing the live customer that has the
lead's phone or email instead of creating a duplicate; the confirmation page says which customer it will be."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from customers import services as customer_services
from customers.models import Contact, Customer, PoolSettings
from sales import lead_services
from sales.models import Lead, LeadStatus, Opportunity, Pipeline, StageHistory
from tests.factories import ContactFactory, CustomerFactory
from tests.factories.sales_leads import LeadFactory

OPPORTUNITY = {"name": "", "amount": None, "expected_close": None}


def convert(actor, lead, opportunity=OPPORTUNITY) -> Lead:
    return lead_services.lead_convert(actor=actor, lead=lead, opportunity=opportunity)


def test_a_new_lead_becomes_customer_contact_and_opportunity(sales_rep, teams):
    lead = LeadFactory(owner=sales_rep, name="吴磊", company="磊石科技有限公司", title="CTO", mobile="+8613911112222",
                       email="wu@leishi.cn", province="上海市", city="上海市", source="exhibition", industry="it",
                       message="需要 50 个账号")
    # when the rep converts it with an opportunity
    converted = convert(sales_rep, lead, {"name": "磊石 CRM 项目", "amount": Decimal("120000"),
                                          "expected_close": date(2026, 9, 30)})
    # then a company customer of his, with the lead's details
    customer = converted.customer
    assert (customer.name, customer.kind, customer.company, customer.owner, customer.team) == (
        "磊石科技有限公司", "company", "磊石科技有限公司", sales_rep, teams.shanghai)
    assert (str(customer.mobile), customer.email, customer.source, customer.industry, customer.province) == (
        "+8613911112222", "wu@leishi.cn", "exhibition", "it", "上海市")
    # and the person as its primary contact
    contact = Contact.objects.get(customer=customer)
    assert (contact.name, contact.title, str(contact.mobile), contact.email, contact.is_primary) == (
        "吴磊", "CTO", "+8613911112222", "wu@leishi.cn", True)
    # and an opportunity in the default pipeline's first stage, with its stage history, for the owner's team
    opportunity = converted.opportunity
    assert (opportunity.name, opportunity.amount, opportunity.expected_close) == (
        "磊石 CRM 项目", Decimal("120000.00"), date(2026, 9, 30))
    stage = opportunity.stage
    assert (opportunity.pipeline.is_default, stage.name, stage.position) == (True, "初步接洽", 0)
    assert (opportunity.owner, opportunity.team, opportunity.customer, opportunity.lead) == (
        sales_rep, teams.shanghai, customer, converted)
    assert timezone.now() - opportunity.stage_entered_at < timedelta(minutes=1)
    history = StageHistory.objects.get(opportunity=opportunity)
    assert (history.stage, history.moved_by, history.left_at) == (opportunity.stage, sales_rep, None)
    # and the lead is closed as converted, handled
    assert (converted.status, converted.customer, converted.touched_at is not None) == (
        LeadStatus.CONVERTED, customer, True)
    assert converted.converted_at is not None


def test_an_individual_without_company_becomes_an_individual_customer(sales_rep):
    converted = convert(sales_rep, LeadFactory(owner=sales_rep, name="王小明", company=""), None)
    assert (converted.customer.name, converted.customer.kind) == ("王小明", "individual")
    assert converted.opportunity is None
    assert not Opportunity.objects.exists()


@pytest.mark.parametrize(
    ("customer_values", "lead_values"),
    [
        ({"mobile": "+8613800001111"}, {"mobile": "+8613800001111", "email": "other@x.cn"}),
        ({"phone": "+8613800001111", "mobile": ""}, {"mobile": "+8613800001111", "email": "other@x.cn"}),
        ({"email": "Boss@Example.com"}, {"email": "boss@example.com", "mobile": "+8613999999999"}),
    ],
    ids=["mobile", "mobile-in-the-phone-field", "email-any-case"],
)
def test_an_existing_customer_with_the_phone_or_email_is_reused(sales_rep, customer_values, lead_values):
    existing = CustomerFactory(owner=sales_rep, name="老客户", **customer_values)
    before = Customer.objects.count()
    converted = convert(sales_rep, LeadFactory(owner=sales_rep, name="新联系人", **lead_values))
    assert converted.customer == existing
    assert Customer.objects.count() == before
    assert Contact.objects.filter(customer=existing, name="新联系人").count() == 1
    assert converted.opportunity.customer == existing


def test_a_customer_found_through_one_of_its_contacts_is_reused_and_the_contact_not_repeated(sales_rep):
    customer = CustomerFactory(owner=sales_rep, mobile="+8613000000000", email="a@b.cn")
    known = ContactFactory(customer=customer, name="老联系人", mobile="+8613700007777")
    converted = convert(sales_rep, LeadFactory(owner=sales_rep, mobile="+8613700007777", email="new@x.cn"))
    assert converted.customer == customer
    assert list(Contact.objects.filter(customer=customer)) == [known]


def test_customers_in_the_recycle_bin_are_not_reused(sales_rep):
    binned = CustomerFactory(owner=sales_rep, mobile="+8613800002222", deleted_at=timezone.now())
    converted = convert(sales_rep, LeadFactory(owner=sales_rep, mobile="+8613800002222"))
    assert converted.customer != binned
    assert converted.customer.deleted_at is None


def test_a_pool_customer_becomes_the_lead_owners(sales_rep, teams):
    pooled = CustomerFactory(owner=None, mobile="+8613800003333")
    convert(sales_rep, LeadFactory(owner=sales_rep, mobile="+8613800003333"))
    pooled.refresh_from_db()
    assert (pooled.owner, pooled.team) == (sales_rep, teams.shanghai)


def test_a_pool_customer_is_not_taken_past_the_owners_claim_limit(sales_rep, sales_manager):
    limits = PoolSettings.current()
    limits.claim_limit = 1
    limits.save()
    CustomerFactory(owner=sales_rep)  # he holds the limit already
    pooled = CustomerFactory(owner=None, mobile="+8613800003333")
    lead = LeadFactory(owner=sales_rep, mobile="+8613800003333")
    # converting is refused with the words a claim gets
    with pytest.raises(ValidationError) as refused:
        convert(sales_rep, lead)
    with pytest.raises(customer_services.ClaimError) as claim_refused:
        customer_services.customer_claim(actor=sales_rep, customer_id=pooled.pk)
    assert refused.value.messages == claim_refused.value.messages
    assert "1" in refused.value.messages[0]
    # and nothing changed: the customer is still in the pool, the lead open, no opportunity
    pooled.refresh_from_db()
    lead.refresh_from_db()
    assert (pooled.owner, lead.status, lead.customer) == (None, LeadStatus.ASSIGNED, None)
    assert not Opportunity.objects.exists() and not Contact.objects.filter(customer=pooled).exists()
    # a manager converting it for him is told whose limit it is
    with translation.override("en"), pytest.raises(ValidationError, match=f"{sales_rep} already holds 1 customers"):
        convert(sales_manager, lead)


def test_a_customer_held_by_another_rep_the_converting_rep_may_not_change_is_refused_without_naming_it(
        sales_rep, south_rep):
    theirs = CustomerFactory(owner=south_rep, name="华南机密客户", mobile="+8613800004444")
    lead = LeadFactory(owner=sales_rep, name="某人", mobile="+8613800004444")
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        convert(sales_rep, lead)
    (message,) = refused.value.messages
    assert "already exists and is held by another rep" in message and str(south_rep) in message
    assert "华南机密客户" not in message
    # nothing was written into that customer, and the lead is still open
    lead.refresh_from_db()
    assert (lead.status, lead.customer, lead.opportunity) == (LeadStatus.ASSIGNED, None, None)
    assert not Contact.objects.filter(customer=theirs).exists() and not Opportunity.objects.exists()
    # a customer only shared with him to view is no different
    customer_services.customer_share(actor=south_rep, customer=theirs, level="view_customer", user=sales_rep)
    with translation.override("en"), pytest.raises(ValidationError, match="held by another rep"):
        convert(sales_rep, lead)


@pytest.mark.parametrize("who", ["admin", "manager"])
def test_who_may_change_a_customer_held_by_someone_else_converts_onto_it_and_it_keeps_its_owner(
        who, admin_user, sales_manager, sales_rep, other_rep):
    actor = {"admin": admin_user, "manager": sales_manager}[who]
    theirs = CustomerFactory(owner=other_rep, mobile="+8613800004444")  # 杭州组, in the manager's subtree
    converted = convert(actor, LeadFactory(owner=sales_rep, name="新联系人", mobile="+8613800004444"))
    theirs.refresh_from_db()
    assert (converted.customer, theirs.owner) == (theirs, other_rep)
    assert converted.opportunity.owner == sales_rep
    assert Contact.objects.filter(customer=theirs, name="新联系人").exists()


def test_a_manager_converting_his_reps_lead_makes_the_rep_owner(sales_manager, other_rep, teams):
    converted = convert(sales_manager, LeadFactory(owner=other_rep))
    assert (converted.customer.owner, converted.opportunity.owner, converted.opportunity.team) == (
        other_rep, other_rep, teams.hangzhou)
    assert converted.touched_at is None  # the manager's action is not the owner's


def test_a_closed_lead_cannot_be_converted_again(sales_rep):
    lead = convert(sales_rep, LeadFactory(owner=sales_rep))
    with pytest.raises(ValidationError):
        convert(sales_rep, lead)
    with pytest.raises(ValidationError):
        convert(sales_rep, LeadFactory(owner=sales_rep, status=LeadStatus.DISQUALIFIED))


def test_nobody_converts_a_lead_outside_his_scope(sales_rep, other_rep):
    with pytest.raises(ValidationError):
        convert(sales_rep, LeadFactory(owner=other_rep))


# ------------------------------------------------------------------------------------------------ the page


def test_the_confirmation_page_shows_the_customer_it_will_reuse(client_as, sales_rep):
    existing = CustomerFactory(owner=sales_rep, name="老客户甲", mobile="+8613800005555")
    lead = LeadFactory(owner=sales_rep, mobile="+8613800005555")
    page = client_as(sales_rep).get(reverse("sales:lead_convert", args=[lead.pk])).content.decode()
    assert "joins it instead of making a duplicate" in page
    assert existing.get_absolute_url() in page and "老客户甲" in page
    # without a match it announces a new customer
    fresh = LeadFactory(owner=sales_rep, company="新公司")
    page = client_as(sales_rep).get(reverse("sales:lead_convert", args=[fresh.pk])).content.decode()
    assert "A new customer 新公司" in page


def test_the_confirmation_page_does_not_reveal_a_customer_the_user_cannot_see(client_as, sales_rep, south_rep):
    CustomerFactory(owner=south_rep, name="华南机密客户", mobile="+8613800006666")
    lead = LeadFactory(owner=sales_rep, mobile="+8613800006666")
    page = client_as(sales_rep).get(reverse("sales:lead_convert", args=[lead.pk])).content.decode()
    assert "华南机密客户" not in page
    assert f"a customer held by {south_rep}" in page


def test_converting_from_the_page_goes_to_the_customer(client_as, sales_rep):
    lead = LeadFactory(owner=sales_rep, company="页面公司")
    response = client_as(sales_rep).post(reverse("sales:lead_convert", args=[lead.pk]), {
        "create_opportunity": "on", "opportunity_name": "页面商机", "amount": "5000", "expected_close": "2026-12-31"})
    lead.refresh_from_db()
    assert response.status_code == 302 and response.url == lead.customer.get_absolute_url()
    assert lead.opportunity.name == "页面商机" and lead.opportunity.amount == Decimal("5000")
    # and the customer's timeline shows the lead it came from
    timeline = client_as(sales_rep).get(lead.customer.get_absolute_url() + "?tab=timeline").content.decode()
    assert f'id="lead-{lead.pk}"' in timeline


def test_the_page_says_a_customer_held_by_another_rep_cannot_be_joined_and_posting_changes_nothing(
        client_as, sales_rep, south_rep):
    theirs = CustomerFactory(owner=south_rep, name="华南机密客户", mobile="+8613800006666")
    lead = LeadFactory(owner=sales_rep, mobile="+8613800006666")
    rep = client_as(sales_rep)
    page = rep.get(reverse("sales:lead_convert", args=[lead.pk])).content.decode()
    assert 'id="convert-refused"' in page and f"held by another rep ({south_rep})" in page
    assert "华南机密客户" not in page
    # a post anyway (a stale page) shows why, on the form, without the customer's name
    response = rep.post(reverse("sales:lead_convert", args=[lead.pk]),
                        {"create_opportunity": "on", "opportunity_name": "机会", "amount": "100"})
    page = response.content.decode()
    assert response.status_code == 200 and "alert-danger" in page and "already exists and is held by" in page
    assert "华南机密客户" not in page
    lead.refresh_from_db()
    assert lead.status == LeadStatus.ASSIGNED and not Contact.objects.filter(customer=theirs).exists()


def test_a_missing_pipeline_is_said_on_the_form(client_as, sales_rep):
    Pipeline.objects.update(active=False)
    lead = LeadFactory(owner=sales_rep)
    response = client_as(sales_rep).post(reverse("sales:lead_convert", args=[lead.pk]), {
        "create_opportunity": "on", "opportunity_name": "x"})
    assert response.status_code == 200 and "Choose an active pipeline." in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == LeadStatus.ASSIGNED and lead.customer is None


def test_converting_without_an_opportunity_from_the_page(client_as, sales_rep):
    lead = LeadFactory(owner=sales_rep)
    client_as(sales_rep).post(reverse("sales:lead_convert", args=[lead.pk]), {"opportunity_name": "x"})
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED and lead.opportunity is None
