"""Each record's page shows its part of the audit trail: who changed what, old → new."""

import pghistory
from django.urls import reverse

from tests.factories.sales_leads import LeadFactory
from tests.factories.sales_pipeline import OpportunityFactory


def test_the_lead_page_shows_who_changed_what(client_as, admin_user, sales_rep):
    lead = LeadFactory(owner=sales_rep, company="杭州云杉科技", mobile="13900001111")
    with pghistory.context(user=admin_user.pk):
        lead.company = "杭州云杉信息技术有限公司"
        lead.save()
    page = client_as(sales_rep).get(reverse("sales:lead_detail", args=[lead.pk])).content.decode()
    card = page[page.index("data-history-card"):]
    assert "杭州云杉科技" in card and "杭州云杉信息技术有限公司" in card
    assert str(admin_user) in card and "2 changes" in card


def test_a_mobile_in_the_history_is_masked_for_roles_without_the_sensitive_permission(client_as, sales_rep,
                                                                                       marketing_user):
    lead = LeadFactory(owner=sales_rep, mobile="13900001111")
    lead.mobile = "13900002222"
    lead.save()
    page = client_as(sales_rep).get(reverse("sales:lead_detail", args=[lead.pk])).content.decode()
    card = page[page.index("data-history-card"):]
    assert ("13900002222" in card) == sales_rep.has_perm("customers.view_sensitive_customer")


def test_the_opportunity_page_shows_its_history_in_chinese(client_as, sales_rep):
    opportunity = OpportunityFactory(owner=sales_rep, name="年度框架采购")
    opportunity.name = "年度框架采购（二期）"
    opportunity.save()
    page = client_as(sales_rep, language="zh-hans").get(
        reverse("sales:opportunity_detail", args=[opportunity.pk])).content.decode()
    card = page[page.index("data-history-card"):]
    assert "变更记录" in card and "年度框架采购（二期）" in card and "修改" in card


def test_an_encrypted_custom_value_never_shows_in_a_history_card(client_as, sales_rep):
    from customers.custom_fields import stored_value
    from customers.models import CustomFieldDefinition

    id_no = CustomFieldDefinition.objects.create(key="id_no", label="身份证号", field_type="text", encrypted=True)
    lead = LeadFactory(owner=sales_rep)
    lead.custom = {"id_no": stored_value(id_no, "330106199001011234")}
    lead.save()
    page = client_as(sales_rep).get(reverse("sales:lead_detail", args=[lead.pk])).content.decode()
    card = page[page.index("data-history-card"):]
    assert "(encrypted)" in card
    assert "gAAAA" not in card and lead.custom["id_no"]["b"] not in card and "330106199001011234" not in card
