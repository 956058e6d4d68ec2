"""Each reason the customer policy gives for seeing a customer opens that customer's opportunities, in both shapes
sales.permissions builds the scope in (small "customer IN (...)" sets for a rep, a join on the customer for a
manager), and nothing else does: another rep's customer, the recycle bin, the public pool."""

from django.utils import timezone

from customers import services as customer_services
from customers.models import Customer
from sales import permissions as policy
from tests.factories import CustomerFactory
from tests.factories.sales_pipeline import OpportunityFactory


def visible(user, action=policy.VIEW) -> set[int]:
    return set(policy.opportunities_for(user, action).values_list("pk", flat=True))


def test_a_rep_sees_deals_of_others_on_his_own_and_shared_customers_only(sales_rep, other_rep, south_rep):
    # given deals of other reps on sales_rep's customer, on customers shared with him (to read, to change), on
    # another rep's customer, on a customer in the recycle bin and on a customer in the public pool
    on_mine = OpportunityFactory(owner=south_rep, customer=CustomerFactory(owner=sales_rep))
    read = OpportunityFactory(owner=south_rep)
    customer_services.customer_share(actor=south_rep, customer=read.customer, level="view_customer", user=sales_rep)
    change = OpportunityFactory(owner=other_rep)
    customer_services.customer_share(actor=other_rep, customer=change.customer, level="change_customer",
                                     user=sales_rep)
    theirs = OpportunityFactory(owner=south_rep)
    binned = OpportunityFactory(owner=south_rep, customer=CustomerFactory(owner=sales_rep))
    Customer.objects.filter(pk=binned.customer_id).update(deleted_at=timezone.now())  # in the recycle bin
    pooled = OpportunityFactory(owner=south_rep, customer=CustomerFactory(owner=None))
    own = OpportunityFactory(owner=sales_rep, customer=CustomerFactory(owner=None))

    # then he sees his own deal wherever it is, and the others' through his and his shared customers only
    assert visible(sales_rep) == {on_mine.pk, read.pk, change.pk, own.pk}
    assert visible(sales_rep, policy.CHANGE) == {on_mine.pk, change.pk, own.pk}
    assert not {theirs.pk, binned.pk, pooled.pk} & visible(sales_rep)


def test_a_manager_sees_outsiders_deals_on_his_teams_customers(sales_manager, sales_rep, south_rep):
    # given a deal of a rep outside his subtree on a customer of his subtree, and the reverse
    inside = OpportunityFactory(owner=south_rep, customer=CustomerFactory(owner=sales_rep))
    outside = OpportunityFactory(owner=south_rep)
    shared = OpportunityFactory(owner=south_rep)
    customer_services.customer_share(actor=south_rep, customer=shared.customer, level="view_customer",
                                     user=sales_manager)
    pooled = OpportunityFactory(owner=south_rep, customer=CustomerFactory(owner=None))
    his_team = OpportunityFactory(owner=sales_rep, customer=CustomerFactory(owner=south_rep))

    # then the customer's team, his share and his subtree's own deals open them; the pool does not
    assert visible(sales_manager) == {inside.pk, shared.pk, his_team.pk}
    assert visible(sales_manager, policy.CHANGE) == {inside.pk, his_team.pk}
    assert not {outside.pk, pooled.pk} & visible(sales_manager)
