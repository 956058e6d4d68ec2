"""The reports' fast path (reports.filters.own_work): when the filters' people are the viewer's own work (a rep
himself, a manager his teams' subtree), the reports count Opportunity / Order rows of those people directly instead of
going through the sales policy's customer branch (which scanned the customer table: bench/RESULTS.md, reports).

The figures must be exactly those of the policy-scoped records narrowed to the same people, and records the policy
shows only through a customer (shared with the viewer, or another team's deal on the viewer's customer) must never be
counted."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.services import customer_share
from reports.filters import ReportFilterForm
from reports.performance_reports import Figures, closed_figures
from reports.rfm import orders_per_customer
from reports.sales_reports import forecast_figures, funnel_figures
from reports.summaries import closed_by_month
from sales.models import Opportunity, Order
from sales.permissions import opportunities_for, orders_for
from tests.factories import CustomerFactory
from tests.factories.sales_pipeline import OpportunityFactory, stages_fixture  # noqa: F401 - fixture


def filters_of(user, **data):
    return ReportFilterForm({"period": "this_month", **data}, user=user).filters()


def order(customer, owner, total, number):
    return Order.objects.create(number=number, customer=customer, owner=owner, ordered_on=timezone.localdate(),
                                total=Decimal(total), status="confirmed", currency="CNY")


@pytest.fixture
def world(admin_user, sales_manager, sales_rep, other_rep, south_rep, stages):
    now = timezone.now()
    today = timezone.localdate()
    rep_customer = CustomerFactory(owner=sales_rep)
    shared_with_manager = CustomerFactory(owner=south_rep)
    customer_share(actor=admin_user, customer=shared_with_manager, level="view_customer", user=sales_manager)
    shared_with_rep = CustomerFactory(owner=other_rep)
    customer_share(actor=admin_user, customer=shared_with_rep, level="view_customer", user=sales_rep)

    def won(owner, amount, **kwargs):
        return OpportunityFactory(owner=owner, stage=stages.won, amount=Decimal(amount), closed_at=now, **kwargs)

    made = {
        "rep_open": OpportunityFactory(owner=sales_rep, stage=stages.second, amount=Decimal("1000"),
                                       expected_close=today + timedelta(days=1)),
        "rep_won": won(sales_rep, 2000, customer=rep_customer),
        "rep_lost": OpportunityFactory(owner=sales_rep, stage=stages.lost, amount=Decimal("3000"), closed_at=now),
        "other_won": won(other_rep, 4000),
        # Outsiders: the policy shows them through their customer only.
        "south_on_shared": won(south_rep, 50000, customer=shared_with_manager),
        "south_on_rep_customer": won(south_rep, 60000, customer=rep_customer),
        "other_on_shared_with_rep": won(other_rep, 70000, customer=shared_with_rep),
    }
    orders = {
        "rep": order(rep_customer, sales_rep, 100, "FP1"),
        "other": order(CustomerFactory(owner=other_rep), other_rep, 200, "FP2"),
        "south_on_shared": order(shared_with_manager, south_rep, 9000, "FP3"),
        "south_on_rep_customer": order(rep_customer, south_rep, 8000, "FP4"),
    }
    return {"deals": made, "orders": orders}


def pks(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


@pytest.mark.parametrize(("who", "outsiders", "insiders"), [
    ("sales_manager", {"south_on_shared", "south_on_rep_customer"}, {"rep_open", "rep_won", "rep_lost", "other_won",
                                                                      "other_on_shared_with_rep"}),
    ("sales_rep", {"south_on_rep_customer", "other_on_shared_with_rep"}, {"rep_open", "rep_won", "rep_lost"}),
])
def test_the_fast_path_counts_exactly_the_policys_records_of_the_filters_people(request, world, who, outsiders,
                                                                                  insiders):
    user = request.getfixturevalue(who)
    filters = filters_of(user)
    deals = world["deals"]
    policy = opportunities_for(user)
    # The policy does show the outsiders (through their customer): the test could fail.
    assert {deals[k].pk for k in outsiders} <= pks(policy)
    fast = filters.records(policy)
    assert "customers_customer" not in str(fast.query)  # the customer branch is gone
    assert pks(fast) == pks(policy.filter(**filters.people_filter())) == {deals[k].pk for k in insiders}

    scoped = policy.filter(**filters.people_filter())
    stages = list(deals["rep_won"].pipeline.stages.exclude(kind="lost").order_by("position"))
    assert funnel_figures(fast, deals["rep_won"].pipeline, stages) == funnel_figures(
        scoped, deals["rep_won"].pipeline, stages)
    today = timezone.localdate()
    assert forecast_figures(fast, today=today, months=3) == forecast_figures(scoped, today=today, months=3)
    closed, _other, _summed_at = closed_figures(user, filters)
    reference = {}
    for row in closed_by_month(scoped.filter(closed_at__gte=filters.start_at, closed_at__lt=filters.end_at,
                                             currency="CNY")):
        reference[(row["owner"], row["team"], timezone.localtime(row["month"]).date())] = Figures(
            row["won_count"], row["lost_count"], row["won_amount"] or 0, row["won_cycle"] or timedelta(0))
    assert closed == reference
    assert {owner for owner, _team, _month in closed} == {deals[k].owner_id for k in insiders if k != "rep_open"}


@pytest.mark.parametrize("who", ["sales_manager", "sales_rep"])
def test_rfm_orders_of_the_fast_path_equal_the_policys(request, world, who):
    user = request.getfixturevalue(who)
    filters = filters_of(user)
    per_customer = {row["customer_id"]: row for row in orders_per_customer(user, filters)}
    scoped = orders_for(user).filter(owner_id__in=[user.pk] if filters.owner_id else
                                     list(type(user).objects.filter(team_id__in=filters.team_ids)
                                          .values_list("pk", flat=True)))
    assert orders_for(user).filter(pk=world["orders"]["south_on_rep_customer"].pk).exists()  # the policy shows it
    expected = {}
    for each in scoped:
        row = expected.setdefault(each.customer_id, Decimal("0"))
        expected[each.customer_id] = row + each.total
    assert {pk: row["monetary"] for pk, row in per_customer.items()} == expected
    assert per_customer[world["orders"]["rep"].customer_id]["monetary"] == Decimal("100")  # not + 8,000 of rep3


def test_the_managers_pages_never_count_a_deal_shared_with_him_or_of_another_team(client_as, world, sales_manager):
    client = client_as(sales_manager)
    response = client.get(reverse("reports:report", args=["performance"]), {"period": "this_month"})
    ranking = response.context["tables"][0]
    # His reps' deals (2,000 + 4,000 + 70,000), not south's on a customer shared with him or on his rep's customer.
    assert ranking.totals[3:5] == [3, Decimal("76000.00")]
    home = client.get("/")
    assert sum(row.won for row in home.context["ranking"]) == Decimal("76000.00")
    # The deal shared with him is his to open, all the same.
    assert client.get(reverse("sales:opportunity_detail",
                              args=[world["deals"]["south_on_shared"].pk])).status_code == 200


def test_a_rep_choosing_his_colleague_still_gets_only_his_own_figures(client_as, world, sales_rep, other_rep):
    response = client_as(sales_rep).get(reverse("reports:report", args=["performance"]),
                                        {"period": "this_month", "owner": other_rep.pk})
    ranking = response.context["tables"][0]
    assert ranking.totals[3:5] == [1, Decimal("2000.00")]
    assert Opportunity.objects.filter(owner=other_rep).count() == 2  # which he does not see counted
