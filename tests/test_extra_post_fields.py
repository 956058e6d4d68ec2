"""Fields a form does not list are ignored: a sales rep posts each main create and update form, valid, plus fields
that would hand the record to someone else, hide it, backdate its authorship or make him staff (owner, team,
is_staff, is_superuser, created_by, deleted_at, in_pool, and the record's own status or stage where those are set
by their own actions). The record is saved with what the rep typed, and owned, filed and authored as the rep's own;
the rep stays an ordinary user.
"""

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from crm.accounts.models import User
from customers.models import Contact, Customer
from interactions.models import FollowUp, Interaction
from sales.models import Contract, Lead, Opportunity, Order, Pipeline, Quote, Stage, StageKind
from tests.factories import ContactFactory, CustomerFactory
from tests.factories.sales_commerce import ProductFactory, make_contract, make_quote
from tests.factories.sales_leads import LeadFactory
from tests.factories.sales_pipeline import OpportunityFactory


@pytest.fixture
def world(sales_rep, other_rep, admin_user, teams):
    """The rep's own records to update, and someone else's (another rep's customer) for the extra fields to name."""
    customer = CustomerFactory(owner=sales_rep, name="恒通物流")
    opportunity = OpportunityFactory(owner=sales_rep, customer=customer)
    elsewhere = CustomerFactory(owner=other_rep, name="杭州组的客户")
    won = Stage.objects.filter(pipeline=opportunity.stage.pipeline, kind=StageKind.WON).first()
    return SimpleNamespace(
        rep=sales_rep, other_rep=other_rep, admin=admin_user, other_team=teams.hangzhou, customer=customer,
        elsewhere=elsewhere, contact=ContactFactory(customer=customer, name="王五"), lead=LeadFactory(owner=sales_rep),
        opportunity=opportunity, won_stage=won, product=ProductFactory(code="EX-001", name="货架"),
        quote=make_quote(actor=sales_rep, customer=customer, opportunity=opportunity),
        contract=make_contract(actor=sales_rep, customer=customer),
        pipeline=Pipeline.objects.get(is_default=True), today=timezone.localdate().isoformat(),
    )


def _extra(w) -> dict:
    """Everything a forger would add: someone else as owner and author, another team, a deletion, the pool, staff."""
    return {
        "owner": w.other_rep.pk, "owner_id": w.other_rep.pk, "team": w.other_team.pk, "team_id": w.other_team.pk,
        "created_by": w.admin.pk, "author": w.admin.pk, "assignee": w.other_rep.pk,
        "deleted_at": "2020-01-01 08:00", "deleted_by": w.admin.pk, "in_pool": "on",
        "is_staff": "on", "is_superuser": "on", "customer": w.elsewhere.pk,
    }


def _lines(w, *, discount=True) -> dict:
    line = {"product": w.product.pk, "description": "货架", "quantity": "2", "unit_price": "100",
            "priced_for": w.product.pk}
    if discount:
        line["discount_percent"] = "0"
    data = {"lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "200"}
    data.update({f"lines-0-{name}": value for name, value in line.items()})
    return data


@dataclass
class Case:
    id: str
    url: Callable  # world -> the form's URL
    data: Callable  # world -> valid data, as the rep fills the form in
    saved: Callable  # world -> the record the form saved
    typed: tuple[str, object]  # a field the rep set and the value it must have (the form did save)
    extra: Callable = lambda w: {}  # world -> more fields that are not the rep's to set on this form
    kept: Callable = lambda w: {}  # world -> further values the record must keep


def _newest(model):
    return lambda w: model.objects.order_by("-pk").first()


def _refreshed(attribute):
    return lambda w: type(getattr(w, attribute)).objects.get(pk=getattr(w, attribute).pk)


CUSTOMER = {"kind": "company", "level": "B", "status": "potential", "confirm_duplicate": "on"}

CASES = [
    Case("customer-create", lambda w: reverse("customers:create"),
         lambda w: {**CUSTOMER, "name": "新客户", "mobile": "13812345678"}, _newest(Customer), ("name", "新客户")),
    Case("customer-update", lambda w: reverse("customers:update", args=[w.customer.pk]),
         lambda w: {**CUSTOMER, "name": "恒通物流（改）", "mobile": "13812345678"}, _refreshed("customer"),
         ("name", "恒通物流（改）")),
    Case("contact-create", lambda w: reverse("customers:contact_create", args=[w.customer.pk]),
         lambda w: {"name": "联系人甲", "mobile": "13912345678"}, _newest(Contact), ("name", "联系人甲"),
         kept=lambda w: {"customer_id": w.customer.pk}),
    Case("contact-update", lambda w: reverse("customers:contact_update", args=[w.customer.pk, w.contact.pk]),
         lambda w: {"name": "王五（改）"}, _refreshed("contact"), ("name", "王五（改）"),
         kept=lambda w: {"customer_id": w.customer.pk}),
    Case("lead-create", lambda w: reverse("sales:lead_create"),
         lambda w: {"name": "新线索", "mobile": "13812345670", "source": "website"}, _newest(Lead),
         ("name", "新线索"), extra=lambda w: {"status": "converted", "customer": w.elsewhere.pk},
         kept=lambda w: {"status": "assigned", "customer_id": None}),  # assigned: to him, who entered it
    Case("lead-update", lambda w: reverse("sales:lead_update", args=[w.lead.pk]),
         lambda w: {"name": "线索（改）", "mobile": "13812345670", "source": "website"}, _refreshed("lead"),
         ("name", "线索（改）"), extra=lambda w: {"status": "converted"}, kept=lambda w: {"status": w.lead.status}),
    Case("opportunity-create", lambda w: reverse("sales:opportunity_create") + f"?customer={w.customer.pk}",
         # the customer is the form's own (hidden) field: one the rep may not see is 404 (customers' own tests)
         lambda w: {"name": "新商机", "amount": "1000", "currency": "CNY", "pipeline": w.pipeline.pk,
                    "customer": w.customer.pk},
         _newest(Opportunity), ("name", "新商机"), extra=lambda w: {"stage": w.won_stage.pk},
         kept=lambda w: {"customer_id": w.customer.pk}),
    Case("opportunity-update", lambda w: reverse("sales:opportunity_update", args=[w.opportunity.pk]),
         lambda w: {"name": "商机（改）", "amount": "2000", "currency": "CNY"}, _refreshed("opportunity"),
         ("name", "商机（改）"), extra=lambda w: {"stage": w.won_stage.pk},
         kept=lambda w: {"stage_id": w.opportunity.stage_id, "customer_id": w.customer.pk}),
    Case("quote-create", lambda w: reverse("sales:quote_create") + f"?customer={w.customer.pk}",
         lambda w: {"valid_until": w.today, "discount": "0", "tax_rate": "13", "notes": "新报价", **_lines(w)},
         _newest(Quote), ("notes", "新报价"), extra=lambda w: {"status": "accepted", "number": "Q-FORGED"},
         kept=lambda w: {"status": "draft", "customer_id": w.customer.pk}),
    Case("quote-update", lambda w: reverse("sales:quote_update", args=[w.quote.pk]),
         lambda w: {"valid_until": w.today, "discount": "0", "tax_rate": "13", "notes": "报价（改）", **_lines(w)},
         _refreshed("quote"), ("notes", "报价（改）"), extra=lambda w: {"status": "accepted", "number": "Q-FORGED"},
         kept=lambda w: {"status": w.quote.status, "number": w.quote.number, "customer_id": w.customer.pk}),
    Case("contract-create", lambda w: reverse("sales:contract_create") + f"?customer={w.customer.pk}",
         lambda w: {"title": "新合同", "amount": "1000", "currency": "CNY", "status": "draft"}, _newest(Contract),
         ("title", "新合同"), extra=lambda w: {"number": "C-FORGED"},
         kept=lambda w: {"customer_id": w.customer.pk}),
    Case("contract-update", lambda w: reverse("sales:contract_update", args=[w.contract.pk]),
         lambda w: {"title": "合同（改）", "amount": "1000", "currency": "CNY", "status": "draft"},
         _refreshed("contract"), ("title", "合同（改）"), extra=lambda w: {"number": "C-FORGED"},
         kept=lambda w: {"number": w.contract.number, "customer_id": w.customer.pk}),
    Case("order-create", lambda w: reverse("sales:order_create") + f"?customer={w.customer.pk}",
         lambda w: {"ordered_on": w.today, **_lines(w, discount=False)}, _newest(Order),
         ("ordered_on", timezone.localdate()), extra=lambda w: {"status": "completed", "number": "O-FORGED"},
         kept=lambda w: {"customer_id": w.customer.pk, "status": Order._meta.get_field("status").default}),
    Case("interaction", lambda w: reverse("interactions:log", args=[w.customer.pk]),
         lambda w: {"channel": "call", "direction": "out", "subject": "电话回访", "next_priority": "normal"},
         _newest(Interaction), ("subject", "电话回访"), kept=lambda w: {"customer_id": w.customer.pk}),
    Case("follow-up", lambda w: reverse("interactions:log", args=[w.customer.pk]),
         lambda w: {"channel": "call", "direction": "out", "subject": "电话", "next_priority": "normal",
                    "next_step": "送报价", "next_due": "2030-01-01T10:00"},
         _newest(FollowUp), ("title", "送报价"), extra=lambda w: {"status": "done"},
         kept=lambda w: {"customer_id": w.customer.pk, "status": "open"}),
]

# Who a record belongs to and who made it: a new record is the rep's own, in his team, made by him and not deleted;
# an updated one keeps what it had.
OWNERSHIP = {
    "owner_id": lambda w: w.rep.pk, "team_id": lambda w: w.rep.team_id, "created_by_id": lambda w: w.rep.pk,
    "author_id": lambda w: w.rep.pk, "assignee_id": lambda w: w.rep.pk, "deleted_at": lambda w: None,
    "deleted_by_id": lambda w: None,
}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fields_a_form_does_not_list_are_ignored(client_as, world, case):
    client = client_as(world.rep)
    creates = not case.id.endswith("update")
    before = case.saved(world)
    # when the rep posts the form, valid, with the fields he may not set
    response = client.post(case.url(world), {**_extra(world), **case.extra(world), **case.data(world)})
    # then the form was taken (a redirect to the saved record) ...
    errors = response.context["form"].errors if response.status_code == 200 and response.context else None
    assert response.status_code == 302, f"{case.id}: {response.status_code} {errors}"
    record = case.saved(world)
    if creates:
        assert record is not None and record.pk != getattr(before, "pk", None), "nothing new was saved"
    field, value = case.typed
    assert getattr(record, field) == value
    # ... and the record is the rep's, as far as it records whose it is, and keeps what only its actions change
    for attribute, expected in OWNERSHIP.items():
        if hasattr(record, attribute):
            wanted = expected(world) if creates else getattr(before, attribute)
            assert getattr(record, attribute) == wanted, attribute
    if hasattr(record, "owner_id"):
        assert record.owner_id == world.rep.pk
    for attribute, expected in case.kept(world).items():
        assert getattr(record, attribute) == expected, attribute
    if isinstance(record, Customer):
        assert not record.in_pool
    # ... and the rep is what he was
    rep = User.objects.get(pk=world.rep.pk)
    assert not rep.is_staff and not rep.is_superuser
    assert rep.team_id == world.rep.team_id


def test_the_settings_page_changes_only_the_users_preferences(client_as, world):
    rep = world.rep
    groups = set(rep.groups.values_list("pk", flat=True))
    admins = Group.objects.exclude(pk__in=groups).values_list("pk", flat=True)
    response = client_as(rep).post(reverse("account_settings"), {
        "language": "en", "notify_by_email": "on",
        # a forger's additions: staff, another team, every other role, another name, someone else's account
        **_extra(world), "groups": list(admins), "username": "boss", "is_active": "", "email": "boss@example.com",
        "id": world.admin.pk, "pk": world.admin.pk, "password": "x",
    })
    assert response.status_code == 302
    saved = User.objects.get(pk=rep.pk)
    assert (saved.language, saved.notify_by_email) == ("en", True)  # what the page offers is saved
    assert not saved.is_staff and not saved.is_superuser and saved.is_active
    assert saved.team_id == rep.team_id and saved.username == rep.username and saved.email == rep.email
    assert set(saved.groups.values_list("pk", flat=True)) == groups
    assert saved.password == rep.password
    admin = User.objects.get(pk=world.admin.pk)
    assert admin.language == world.admin.language and admin.username == "admin"
