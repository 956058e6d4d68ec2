"""The record-scope policy (customers/permissions.py): who sees which customers, and 404 outside scope."""

from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from customers import permissions as policy
from customers import services
from customers.models import Customer
from tests.factories import ContactFactory, CustomerFactory


@pytest.fixture
def book(sales_rep, other_rep, south_rep, teams):
    """One customer of each kind the policy tells apart."""
    south_shared_with_rep = CustomerFactory(owner=south_rep, name="华南共享给张伟")
    south_shared_with_team = CustomerFactory(owner=south_rep, name="华南共享给上海组")
    services.customer_share(actor=south_rep, customer=south_shared_with_rep, level=policy.SHARE_VIEW, user=sales_rep)
    services.customer_share(
        actor=south_rep, customer=south_shared_with_team, level=policy.SHARE_VIEW, team=teams.shanghai
    )
    return SimpleNamespace(
        rep=CustomerFactory(owner=sales_rep, name="上海张伟的客户"),
        other=CustomerFactory(owner=other_rep, name="杭州李芳的客户"),
        south=CustomerFactory(owner=south_rep, name="华南陈强的客户"),
        pool=CustomerFactory(owner=None, name="公海客户"),
        deleted=CustomerFactory(owner=sales_rep, name="已删除客户", deleted_at=timezone.now()),
        shared_with_rep=south_shared_with_rep,
        shared_with_team=south_shared_with_team,
    )


def visible(user) -> set[str]:
    return set(policy.customers_for(user).values_list("name", flat=True))


def test_admin_sees_every_live_customer(admin_user, book):
    assert visible(admin_user) == {
        "上海张伟的客户", "杭州李芳的客户", "华南陈强的客户", "公海客户", "华南共享给张伟", "华南共享给上海组",
    }


def test_manager_sees_his_subtree_and_the_pool_but_not_a_sibling_department(sales_manager, book):
    # 华东销售部's manager: 上海组 and 杭州组 are below him, 华南销售部 is beside him
    assert visible(sales_manager) == {"上海张伟的客户", "杭州李芳的客户", "公海客户"}


def test_rep_sees_his_own_what_is_shared_with_him_or_his_team_and_the_pool(sales_rep, book):
    assert visible(sales_rep) == {"上海张伟的客户", "公海客户", "华南共享给张伟", "华南共享给上海组"}


def test_team_share_reaches_every_member_of_the_team(user_factory, teams, book):
    # given a second rep who joins 上海组 after the customer was shared with the team
    newcomer = user_factory(team=teams.shanghai)
    # then he sees the team's share too, but not the share made to one colleague
    assert visible(newcomer) == {"公海客户", "华南共享给上海组"}


def test_deleted_customers_are_invisible_even_to_admin_and_owner(admin_user, sales_rep, book):
    assert "已删除客户" not in visible(admin_user)
    assert "已删除客户" not in visible(sales_rep)
    assert not policy.can(sales_rep, policy.VIEW, book.deleted)


def test_marketing_and_support_see_only_the_pool(marketing_user, support_agent, book):
    assert visible(marketing_user) == {"公海客户"}
    assert visible(support_agent) == {"公海客户"}


def test_inactive_user_sees_nothing(sales_rep, book):
    sales_rep.is_active = False
    sales_rep.save()
    assert visible(sales_rep) == set()


def test_actions_offered_on_own_customer_and_on_pool_customer(sales_rep, book):
    assert policy.allowed_actions(sales_rep, book.rep) == {"view", "change", "delete", "share", "release"}
    assert policy.allowed_actions(sales_rep, book.pool) == {"view", "claim"}
    assert policy.allowed_actions(sales_rep, book.shared_with_rep) == {"view"}


def test_scope_is_one_query_whatever_the_shares(sales_rep, book, django_assert_num_queries):
    # the roles and managed teams are read once per request; after that the scope is a single query
    policy.customers_for(sales_rep).count()
    with django_assert_num_queries(1):
        policy.customers_for(sales_rep).count()


# ------------------------------------------------------- over HTTP: another rep's customer is a 404


def _steal_attempts(customer: Customer, contact, *, thief, owner) -> list[tuple[str, str, dict]]:
    pk = customer.pk
    return [
        ("get", reverse("customers:detail", args=[pk]), {}),
        ("get", reverse("customers:detail", args=[pk]) + "?tab=history", {}),
        ("get", reverse("customers:update", args=[pk]), {}),
        ("post", reverse("customers:update", args=[pk]), {"name": "改名", "mobile": "13900000000", "level": "A"}),
        ("get", reverse("customers:delete", args=[pk]), {}),
        ("post", reverse("customers:delete", args=[pk]), {}),
        # share and unshare name a real user, so that only the scope can refuse
        ("post", reverse("customers:share", args=[pk]), {"user": thief.pk, "level": "change_customer"}),
        ("post", reverse("customers:unshare", args=[pk]), {"user": owner.pk}),
        ("post", reverse("customers:release", args=[pk]), {}),
        ("post", reverse("customers:claim", args=[pk]), {}),
        ("get", reverse("customers:contact_create", args=[pk]), {}),
        ("post", reverse("customers:contact_create", args=[pk]), {"name": "混入的联系人"}),
        ("get", reverse("customers:contact_update", args=[pk, contact.pk]), {}),
        ("post", reverse("customers:contact_update", args=[pk, contact.pk]), {"name": "改掉"}),
        ("post", reverse("customers:contact_delete", args=[pk, contact.pk]), {}),
    ]


def test_a_rep_cannot_touch_another_reps_customer(client_as, sales_rep, other_rep):
    # given rep B's customer with a contact
    theirs = CustomerFactory(owner=other_rep, name="李芳的大客户", level="B")
    contact = ContactFactory(customer=theirs, name="王经理")
    client = client_as(sales_rep)
    for method, url, data in _steal_attempts(theirs, contact, thief=sales_rep, owner=other_rep):
        # when rep A tries it
        response = getattr(client, method)(url, data)
        # then the customer does not exist for him
        assert response.status_code == 404, (method, url, response.status_code)
    # and nothing changed
    theirs.refresh_from_db()
    assert (theirs.name, theirs.owner, theirs.deleted_at, theirs.level) == ("李芳的大客户", other_rep, None, "B")
    assert list(theirs.contacts.values_list("name", flat=True)) == ["王经理"]
    assert not policy.can(sales_rep, policy.VIEW, theirs)


def test_a_manager_cannot_touch_a_sibling_departments_customer(client_as, sales_manager, south_rep):
    theirs = CustomerFactory(owner=south_rep)
    client = client_as(sales_manager)
    assert client.get(reverse("customers:detail", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("customers:update", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("customers:delete", args=[theirs.pk])).status_code == 404


def test_a_manager_opens_and_edits_customers_of_his_subtree(client_as, sales_manager, other_rep):
    # given a customer of 杭州组, below the manager's 华东销售部
    theirs = CustomerFactory(owner=other_rep)
    client = client_as(sales_manager)
    # then he may open it and its edit form
    assert client.get(reverse("customers:detail", args=[theirs.pk])).status_code == 200
    assert client.get(reverse("customers:update", args=[theirs.pk])).status_code == 200


def test_a_deleted_customer_is_404_for_its_owner(client_as, sales_rep):
    mine = CustomerFactory(owner=sales_rep, deleted_at=timezone.now())
    assert client_as(sales_rep).get(reverse("customers:detail", args=[mine.pk])).status_code == 404


def test_a_rep_may_not_restore_his_own_deleted_customer(client_as, sales_rep):
    mine = CustomerFactory(owner=sales_rep, deleted_at=timezone.now())
    response = client_as(sales_rep).post(reverse("customers:restore", args=[mine.pk]))
    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.is_deleted


def test_a_non_numeric_or_unknown_id_is_404(client_as, sales_rep):
    assert client_as(sales_rep).get("/customers/999999/").status_code == 404
