"""The demo's sales data (``seed_sales_demo``, run by ``./scripts/dev.sh run`` after ``seed_demo``): what someone
trying the demo notices (a board with deals in several stages, leads in the pool and with reps, routed by the rules
in turn, quotes in every state, customers with a purchase history, overdue instalments), the leads' beat having
nothing to re-assign at once, and a second run adding nothing."""

import io
import re
from collections import Counter
from decimal import Decimal
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, Q, Sum
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import timezone, translation

from crm.notifications.models import Notification
from customers.models import Contact, Customer
from sales.assignment import leads_reassign_untouched
from sales.commerce_payments import overdue_condition
from sales.models import (
    AssignmentRule,
    Contract,
    ContractStatus,
    Lead,
    LeadAssignment,
    LeadStatus,
    Opportunity,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentPlan,
    Pipeline,
    PriceList,
    Product,
    Quote,
    QuoteLine,
    QuoteStatus,
    StageHistory,
    StageKind,
)
from sales.models import Order as SalesOrder

pytestmark = pytest.mark.django_db

User = get_user_model()
SIZES = {"opportunities": 60, "leads": 40, "quotes": 12, "contracts": 8, "orders": 24}
COUNTED = [Lead, LeadAssignment, AssignmentRule, Opportunity, StageHistory, Product, PriceList, Quote, QuoteLine,
           Contract, PaymentPlan, Payment, SalesOrder, OrderLine, Customer, Contact, User, Notification]


def seed_sales() -> str:
    out = io.StringIO()
    call_command("seed_sales_demo", stdout=out, **SIZES)
    return out.getvalue()


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in COUNTED}


@pytest.fixture
def demo(db):
    """seed_demo's organisation and a few customers, then the sales demo once."""
    call_command("seed_demo", customers=80, stdout=io.StringIO())
    if not Pipeline.objects.filter(is_default=True).exists():  # a transactional test's flush took the migration's
        import_module("sales.migrations.0003_default_pipeline").create(apps, None)
    return seed_sales()


def board_counts(client) -> dict[str, int]:
    """Each column's count as the board shows it, by stage name."""
    html = client.get(reverse("sales:board")).content.decode()
    heads = re.findall(r'<header class="kanban-head[^"]*" id="column-head-\d+"[^>]*>(.*?)</header>', html, re.S)
    shown = {}
    for head in heads:
        name = re.search(r'<h2[^>]*>(?:\s*<i[^>]*></i>)?\s*(.*?)\s*</h2>', head, re.S).group(1)
        shown[name] = int(re.search(r"data-count[^>]*>(\d+)<", head).group(1))
    return shown


def test_the_demo_has_a_board_leads_quotes_contracts_and_purchase_histories(demo, client_as):
    admin, rep, rep4 = (User.objects.get(username=name) for name in ("admin", "rep", "rep4"))
    today = timezone.localdate()

    # the board: deals in most stages, some won
    shown = board_counts(client_as(admin))
    stages = {s.name: s for s in Pipeline.objects.get(is_default=True).stages.all()}
    assert set(shown) == set(stages)
    assert sum(1 for n in shown.values() if n) >= 5, shown
    assert shown[next(name for name, s in stages.items() if s.kind == StageKind.WON)] > 0

    # leads: the asked number, in every status, in the pool and with reps; every owner's assignment recorded
    assert Lead.objects.count() == SIZES["leads"]
    assert set(Lead.objects.values_list("status", flat=True)) == set(LeadStatus.values)
    assert Lead.objects.filter(owner__isnull=True).exists()
    assert not Lead.objects.filter(owner__isnull=False, assignments__isnull=True).exists()
    assert {"rule", "claimed", "manual"} <= set(LeadAssignment.objects.values_list("reason", flat=True))
    assert Lead.objects.filter(status=LeadStatus.CONVERTED, customer__isnull=False, opportunity__isnull=False).exists()
    # the 上海组 rule took turns between its two reps
    east = AssignmentRule.objects.get(provinces__contains=["浙江省"])
    turns = Counter(LeadAssignment.objects.filter(rule=east).values_list("user__username", flat=True))
    assert set(turns) == {"rep", "rep4"} and abs(turns["rep"] - turns["rep4"]) <= 1, turns
    # a rep sees his leads, and his unread notifications are only about leads he has not handled yet
    page = client_as(rep).get(reverse("sales:lead_list")).content.decode()
    assert any(lead.name in page for lead in Lead.objects.filter(owner=rep))
    unread = Notification.objects.filter(user__in=[rep, rep4], read_at__isnull=True, url__startswith="/sales/leads/")
    for notification in unread:
        lead = Lead.objects.get(pk=int(notification.url.rstrip("/").rsplit("/", 1)[1]))
        assert lead.touched_at is None, notification.title
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()  # no mail burst when the worker starts
    # no lead is old and untouched enough for the beat to take it from its rep at once
    assert leads_reassign_untouched() == 0
    # no date in the future
    assert not Lead.objects.filter(Q(created_at__gt=timezone.now()) | Q(converted_at__gt=timezone.now())).exists()

    # quotes in every state; accepted ones made orders (and contracts) and won their opportunities
    assert Quote.objects.count() == SIZES["quotes"]
    assert set(Quote.objects.values_list("status", flat=True)) == set(QuoteStatus.values)
    for quote in Quote.objects.filter(status=QuoteStatus.ACCEPTED).select_related("opportunity__stage"):
        assert quote.orders.exists() and quote.opportunity.stage.kind == StageKind.WON
    assert 0 < Contract.objects.count() <= SIZES["contracts"]
    assert Contract.objects.filter(status=ContractStatus.ACTIVE, payment_plans__isnull=False).exists()

    # instalments: what was paid adds up, and some are overdue (the owners hear of it each morning)
    for plan in PaymentPlan.objects.annotate(received=Sum("payments__amount")):
        assert plan.paid_amount == (plan.received or Decimal("0")) <= plan.amount
    overdue = PaymentPlan.objects.filter(overdue_condition(today))
    assert overdue.exists()
    contract = overdue.filter(contract__isnull=False).first().contract
    assert "data-overdue" in client_as(contract.owner).get(reverse("sales:contract_list")).content.decode()

    # orders: the asked number, for customers with several purchases; the customer page shows the history
    assert SalesOrder.objects.count() == SIZES["orders"]
    assert OrderLine.objects.filter(order__isnull=False).values("order").distinct().count() == SIZES["orders"]
    per_customer = SalesOrder.objects.values("customer").annotate(n=Count("pk")).order_by("-n")
    assert per_customer[0]["n"] >= 3
    assert {OrderStatus.CONFIRMED, OrderStatus.DELIVERED} <= set(SalesOrder.objects.values_list("status", flat=True))
    assert SalesOrder.objects.filter(payments__isnull=False).exists()
    assert SalesOrder.objects.filter(ordered_on__lt=today.replace(day=1)).exists()  # histories reach back
    customer = Customer.objects.get(pk=per_customer[0]["customer"])
    page = client_as(customer.owner).get(reverse("customers:detail", args=[customer.pk]) + "?tab=timeline")
    html = page.content.decode()
    kept = SalesOrder.objects.filter(customer=customer).exclude(status=OrderStatus.CANCELLED)
    with translation.override("en"):
        lifetime = floatformat(kept.aggregate(s=Sum("total"))["s"], "2g")
    assert re.search(rf"data-lifetime-value>{re.escape(lifetime)}<", html), lifetime
    last = max(kept.values_list("ordered_on", flat=True))
    assert f"data-last-purchase>{last:%Y-%m-%d}<" in html


def test_a_second_run_adds_nothing(demo):
    before = counts()
    output = seed_sales()
    assert counts() == before
    assert "Created" not in output
    assert "exist already" in output


def test_the_dev_run_seeds_the_sales_demo_after_the_customers():
    script = (Path(settings.BASE_DIR) / "scripts" / "dev.sh").read_text()
    customers = script.index("python manage.py seed_demo ")
    assert customers < script.index("python manage.py seed_sales_demo", customers)
