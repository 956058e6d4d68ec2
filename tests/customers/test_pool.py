"""The public pool (公海): claiming, its limit, races between claimers, release, and the return of
customers nobody contacted."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from customers import services
from customers.models import Customer
from customers.services import ClaimError
from tests.customers.pages import listed_ids, messages_of
from tests.factories import CustomerFactory, UserFactory, pool_settings


def test_claim_makes_the_rep_owner_within_his_team(client_as, sales_rep, teams):
    customer = CustomerFactory(owner=None, name="公海客户")
    # when the rep claims it from its page
    response = client_as(sales_rep).post(reverse("customers:claim", args=[customer.pk]))
    # then he owns it, for his team, from now on
    assert response.status_code == 302
    assert messages_of(response) == ["You now own 公海客户."]
    customer.refresh_from_db()
    assert (customer.owner, customer.team, customer.in_pool) == (sales_rep, teams.shanghai, False)
    assert timezone.now() - customer.owned_since < timedelta(minutes=1)


def test_claim_button_shows_only_on_pool_customers(client_as, sales_rep):
    pool_customer, mine = CustomerFactory(owner=None), CustomerFactory(owner=sales_rep)
    client = client_as(sales_rep)
    pool_page = client.get(pool_customer.get_absolute_url()).content.decode()
    own_page = client.get(mine.get_absolute_url()).content.decode()
    assert reverse("customers:claim", args=[pool_customer.pk]) in pool_page
    assert reverse("customers:claim", args=[mine.pk]) not in own_page


def test_claim_limit_is_enforced_with_a_clear_message(client_as, sales_rep):
    # given a limit of 2 customers per rep, and a rep holding 2
    pool_settings(claim_limit=2)
    CustomerFactory.create_batch(2, owner=sales_rep)
    customer = CustomerFactory(owner=None)
    # when he claims a third
    response = client_as(sales_rep).post(reverse("customers:claim", args=[customer.pk]))
    # then he is told why not, and the customer stays in the pool
    assert messages_of(response) == [
        "You already hold 2 customers; the limit is 2. Release some before claiming more."
    ]
    customer.refresh_from_db()
    assert customer.in_pool


def test_deleted_customers_do_not_count_toward_the_claim_limit(sales_rep):
    pool_settings(claim_limit=1)
    CustomerFactory(owner=sales_rep, deleted_at=timezone.now())
    customer = CustomerFactory(owner=None)
    assert services.customer_claim(actor=sales_rep, customer_id=customer.pk).owner == sales_rep


def test_claiming_a_customer_someone_just_claimed_fails(client_as, sales_rep, other_rep, sales_manager):
    # given a customer the manager (who sees both reps' customers) had open while rep B claimed it
    customer = CustomerFactory(owner=None)
    services.customer_claim(actor=other_rep, customer_id=customer.pk)
    # when the manager claims it too
    with pytest.raises(ClaimError):
        services.customer_claim(actor=sales_manager, customer_id=customer.pk)
    customer.refresh_from_db()
    assert customer.owner == other_rep


@pytest.mark.django_db(transaction=True)
def test_two_reps_claiming_at_once_get_one_owner():
    # given two reps and pool customers, claimed from two threads with their own connections
    first, second = UserFactory(), UserFactory()
    for _round in range(5):
        customer = CustomerFactory(owner=None)
        barrier = threading.Barrier(2)
        outcomes = {}

        def claim(user, customer_id=customer.pk, barrier=barrier, outcomes=outcomes):
            try:
                barrier.wait(timeout=10)
                services.customer_claim(actor=user, customer_id=customer_id)
                outcomes[user.pk] = "won"
            except ClaimError:
                outcomes[user.pk] = "lost"
            finally:
                connection.close()

        threads = [threading.Thread(target=claim, args=(user,)) for user in (first, second)]
        # when both claim at the same moment
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        # then exactly one owns it and the other was told it is gone
        assert sorted(outcomes.values()) == ["lost", "won"]
        customer.refresh_from_db()
        winner = next(pk for pk, outcome in outcomes.items() if outcome == "won")
        assert customer.owner_id == winner


@pytest.mark.django_db(transaction=True)
def test_one_rep_claiming_two_customers_at_once_cannot_pass_the_limit():
    # given a rep one customer short of the limit, and two pool customers
    pool_settings(claim_limit=3)
    rep = UserFactory()
    CustomerFactory.create_batch(2, owner=rep)
    wanted = CustomerFactory.create_batch(2, owner=None)
    barrier = threading.Barrier(2)
    outcomes = []

    def claim(customer_id):
        try:
            barrier.wait(timeout=10)
            services.customer_claim(actor=rep, customer_id=customer_id)
            outcomes.append("won")
        except ClaimError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(c.pk,)) for c in wanted]
    # when he claims both at the same moment (two browser tabs)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then he gets one and holds exactly the limit
    assert sorted(outcomes) == ["refused", "won"]
    assert Customer.objects.filter(owner=rep).count() == 3


def test_release_puts_the_customer_back_in_the_pool(client_as, sales_rep, other_rep):
    customer = CustomerFactory(owner=sales_rep)
    response = client_as(sales_rep).post(reverse("customers:release", args=[customer.pk]))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.owner, customer.team, customer.owned_since) == (None, None, None)
    # and any other rep may now claim it
    assert services.customer_claim(actor=other_rep, customer_id=customer.pk).owner == other_rep


def test_pool_view_lists_only_pool_customers(client_as, sales_rep):
    pool_customer, mine = CustomerFactory(owner=None), CustomerFactory(owner=sales_rep)
    response = client_as(sales_rep).get(reverse("customers:list"), {"view": "pool"})
    assert listed_ids(response) == [pool_customer.pk]
    assert mine.pk not in listed_ids(response)


# ------------------------------------------------------------------------ return of stale customers


def _aged(customer: Customer, *, days_owned: int, days_since_contact: int | None, now) -> Customer:
    Customer.objects.filter(pk=customer.pk).update(
        created_at=now - timedelta(days=400),
        owned_since=now - timedelta(days=days_owned),
        last_contacted_at=None if days_since_contact is None else now - timedelta(days=days_since_contact),
    )
    return customer


def test_stale_customers_return_to_the_pool_and_fresh_ones_stay(sales_rep):
    # given the pool rule "no contact for 10 days" and four customers of one rep
    pool_settings(return_after_days=10)
    now = timezone.now()
    stale = _aged(CustomerFactory(owner=sales_rep), days_owned=60, days_since_contact=11, now=now)
    never_contacted = _aged(CustomerFactory(owner=sales_rep), days_owned=30, days_since_contact=None, now=now)
    contacted = _aged(CustomerFactory(owner=sales_rep), days_owned=60, days_since_contact=3, now=now)
    just_claimed = _aged(CustomerFactory(owner=sales_rep), days_owned=1, days_since_contact=90, now=now)
    # when the sweep runs
    returned = services.pool_return_stale(now=now)
    # then only the customers quiet for more than 10 days since the rep took them went back
    assert returned == 2
    for customer in (stale, never_contacted, contacted, just_claimed):
        customer.refresh_from_db()
    assert (stale.in_pool, never_contacted.in_pool) == (True, True)
    assert (contacted.owner, just_claimed.owner) == (sales_rep, sales_rep)
    assert stale.team is None


def test_stale_sweep_follows_the_configured_days(sales_rep):
    now = timezone.now()
    customer = _aged(CustomerFactory(owner=sales_rep), days_owned=60, days_since_contact=20, now=now)
    pool_settings(return_after_days=30)
    assert services.pool_return_stale(now=now) == 0
    pool_settings(return_after_days=15)
    assert services.pool_return_stale(now=now) == 1
    customer.refresh_from_db()
    assert customer.in_pool


def test_stale_sweep_leaves_deleted_and_pool_customers_alone(sales_rep):
    pool_settings(return_after_days=5)
    now = timezone.now()
    deleted = _aged(CustomerFactory(owner=sales_rep, deleted_at=now), days_owned=60, days_since_contact=60, now=now)
    assert services.pool_return_stale(now=now) == 0
    deleted.refresh_from_db()
    assert deleted.owner == sales_rep


def test_history_tab_says_why_a_customer_returned_to_the_pool(client_as, sales_rep, admin_user):
    # given a customer nobody contacted for 7 days under a 7-day rule
    pool_settings(return_after_days=7)
    now = timezone.now()
    customer = _aged(CustomerFactory(owner=sales_rep), days_owned=30, days_since_contact=8, now=now)
    services.pool_return_stale(now=now)
    # when someone opens its history
    page = client_as(admin_user).get(customer.get_absolute_url(), {"tab": "history"}).content.decode()
    # then the system's change gives the reason and shows the owner removed
    assert "returned to the public pool: no contact for 7 days" in page
    assert f"<del>{sales_rep}</del>" in page
