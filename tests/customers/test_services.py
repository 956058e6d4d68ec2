import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from customers import permissions as policy
from customers import services
from customers.models import Contact, Customer
from tests.customers.pages import messages_of
from tests.factories import ContactFactory, CustomerFactory, TagFactory

DATA = {"name": "上海华信科技有限公司", "mobile": "+8613812345678", "level": "B", "status": "potential"}


# ------------------------------------------------------------------------------------- create


def test_create_makes_the_actor_owner_within_his_team(sales_rep, teams):
    customer = services.customer_create(actor=sales_rep, data=DATA)
    assert (customer.owner, customer.team, customer.created_by) == (sales_rep, teams.shanghai, sales_rep)
    assert customer.owned_since is not None
    assert not customer.in_pool


def test_manager_creates_for_a_rep_of_his_subtree_in_the_reps_team(sales_manager, other_rep, teams):
    customer = services.customer_create(actor=sales_manager, data=DATA, owner=other_rep)
    assert (customer.owner, customer.team, customer.created_by) == (other_rep, teams.hangzhou, sales_manager)


def test_manager_cannot_create_for_a_rep_outside_his_subtree(sales_manager, south_rep):
    with pytest.raises(ValidationError):
        services.customer_create(actor=sales_manager, data=DATA, owner=south_rep)
    assert not Customer.objects.filter(name=DATA["name"]).exists()


def test_rep_cannot_create_a_customer_owned_by_someone_else(sales_rep, other_rep):
    with pytest.raises(ValidationError):
        services.customer_create(actor=sales_rep, data=DATA, owner=other_rep)


def test_create_keeps_tags(sales_rep):
    vip = TagFactory(name="VIP")
    customer = services.customer_create(actor=sales_rep, data=DATA, tags=[vip])
    assert list(customer.tags.all()) == [vip]


# ------------------------------------------------------------------------------------- update


def test_manager_hands_a_customer_to_another_rep_of_his_subtree(sales_manager, sales_rep, other_rep, teams):
    customer = CustomerFactory(owner=sales_rep)
    updated = services.customer_update(actor=sales_manager, customer=customer, data={}, owner=other_rep)
    customer.refresh_from_db()
    assert (customer.owner, customer.team) == (other_rep, teams.hangzhou)
    assert updated.owned_since >= customer.created_at


def test_manager_cannot_hand_a_customer_outside_his_subtree(sales_manager, sales_rep, south_rep, teams):
    customer = CustomerFactory(owner=sales_rep)
    with pytest.raises(ValidationError):
        services.customer_update(actor=sales_manager, customer=customer, data={}, owner=south_rep)
    customer.refresh_from_db()
    assert (customer.owner, customer.team) == (sales_rep, teams.shanghai)


def test_manager_changing_owner_outside_subtree_over_http_gets_a_field_error(
    client_as, sales_manager, sales_rep, south_rep
):
    customer = CustomerFactory(owner=sales_rep)
    client = client_as(sales_manager)
    data = {"kind": "company", "name": customer.name, "mobile": str(customer.mobile), "level": "B",
            "status": "potential", "owner": south_rep.pk}
    response = client.post(reverse("customers:update", args=[customer.pk]), data)
    assert response.status_code == 200
    assert "owner" in response.context["form"].errors
    customer.refresh_from_db()
    assert customer.owner == sales_rep


def test_rep_cannot_update_outside_his_change_scope(sales_rep, other_rep):
    theirs = CustomerFactory(owner=other_rep, name="别人的")
    with pytest.raises(Customer.DoesNotExist):
        services.customer_update(actor=sales_rep, customer=theirs, data={"name": "我的了"})
    theirs.refresh_from_db()
    assert theirs.name == "别人的"


# --------------------------------------------------------------------- delete and recycle bin


def test_delete_moves_to_recycle_bin_and_admin_restores(client_as, sales_rep, admin_user):
    customer = CustomerFactory(owner=sales_rep, name="要删除的客户")
    rep_client, admin_client = client_as(sales_rep), client_as(admin_user)
    # when the owner deletes it (after the confirmation page)
    assert rep_client.get(reverse("customers:delete", args=[customer.pk])).status_code == 200
    response = rep_client.post(reverse("customers:delete", args=[customer.pk]))
    # then it is gone from his view and waits in the admin's recycle bin
    assert response.status_code == 302
    assert rep_client.get(customer.get_absolute_url()).status_code == 404
    customer.refresh_from_db()
    assert customer.deleted_by == sales_rep
    restore_url = reverse("customers:restore", args=[customer.pk])
    assert restore_url in admin_client.get(reverse("customers:recycle_bin")).content.decode()
    # when the admin restores it
    response = admin_client.post(restore_url)
    # then its owner sees it again, and the bin is empty
    assert response.status_code == 302
    assert rep_client.get(customer.get_absolute_url()).status_code == 200
    assert restore_url not in admin_client.get(reverse("customers:recycle_bin")).content.decode()


def test_only_an_admin_may_restore(sales_manager, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    services.customer_delete(actor=sales_rep, customer=customer)
    with pytest.raises(ValidationError):
        services.customer_restore(actor=sales_manager, customer_id=customer.pk)
    customer.refresh_from_db()
    assert customer.is_deleted


def test_delete_outside_scope_is_refused(sales_rep, other_rep):
    theirs = CustomerFactory(owner=other_rep)
    with pytest.raises(ValidationError):
        services.customer_delete(actor=sales_rep, customer=theirs)
    theirs.refresh_from_db()
    assert not theirs.is_deleted


# ------------------------------------------------------------------------------- bulk actions


def test_bulk_assign_skips_customers_outside_the_managers_scope(sales_manager, sales_rep, other_rep, south_rep):
    inside = [CustomerFactory(owner=sales_rep), CustomerFactory(owner=sales_rep)]
    outside = CustomerFactory(owner=south_rep)
    count = services.customers_assign(
        actor=sales_manager, customer_ids=[c.pk for c in [*inside, outside]], owner=other_rep
    )
    assert count == 2
    assert set(Customer.objects.filter(owner=other_rep)) == set(inside)
    outside.refresh_from_db()
    assert outside.owner == south_rep


def test_bulk_add_tag_counts_only_customers_the_rep_may_change(sales_rep, other_rep):
    vip = TagFactory(name="VIP")
    mine, pool, theirs = CustomerFactory(owner=sales_rep), CustomerFactory(), CustomerFactory(owner=other_rep)
    count = services.customers_add_tag(actor=sales_rep, customer_ids=[mine.pk, pool.pk, theirs.pk], tag=vip)
    assert count == 1
    assert list(vip.customers.all()) == [mine]


def test_bulk_move_to_pool_counts_only_own_customers(sales_rep, other_rep):
    mine, theirs = CustomerFactory(owner=sales_rep), CustomerFactory(owner=other_rep)
    count = services.customers_move_to_pool(actor=sales_rep, customer_ids=[mine.pk, theirs.pk])
    assert count == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.owner, mine.team, theirs.owner) == (None, None, other_rep)


def test_bulk_action_over_http_reports_skipped_customers(client_as, sales_rep, other_rep):
    # given a rep who sees a view-shared customer that he may not change
    vip = TagFactory(name="VIP")
    mine, shared = CustomerFactory(owner=sales_rep), CustomerFactory(owner=other_rep)
    services.customer_share(actor=other_rep, customer=shared, level=policy.SHARE_VIEW, user=sales_rep)
    # when he tags both from the list
    response = client_as(sales_rep).post(
        reverse("customers:bulk"), {"action": "tag", "tag": vip.pk, "ids": [mine.pk, shared.pk]}
    )
    # then one is tagged and he is told one was skipped
    assert response.status_code == 302
    assert messages_of(response) == ["1 customer updated. 1 skipped: you may not change it."]
    assert list(vip.customers.all()) == [mine]


def test_bulk_assign_to_someone_outside_scope_is_refused(sales_manager, sales_rep, south_rep):
    customer = CustomerFactory(owner=sales_rep)
    with pytest.raises(ValidationError):
        services.customers_assign(actor=sales_manager, customer_ids=[customer.pk], owner=south_rep)
    customer.refresh_from_db()
    assert customer.owner == sales_rep


# ----------------------------------------------------------------------------------- contacts


def test_a_second_primary_contact_takes_over_from_the_first(sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    first = ContactFactory(customer=customer, is_primary=True)
    # when another contact is saved as primary
    new = Contact(customer=customer, name="新联系人", is_primary=True)
    second = services.contact_save(actor=sales_rep, contact=new)
    # then it is the only primary one
    first.refresh_from_db()
    assert (first.is_primary, second.is_primary) == (False, True)
    assert customer.contacts.filter(is_primary=True).count() == 1


def test_primary_contact_over_http(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    first = ContactFactory(customer=customer, is_primary=True, name="老联系人")
    client = client_as(sales_rep)
    # when the rep adds a new primary contact through the form
    response = client.post(
        reverse("customers:contact_create", args=[customer.pk]),
        {"name": "新联系人", "mobile": "139 1111 2222", "is_primary": "on"},
    )
    # then it is saved and the old one is no longer primary
    assert response.status_code == 302
    first.refresh_from_db()
    assert not first.is_primary
    assert customer.contacts.get(is_primary=True).name == "新联系人"
    assert str(customer.contacts.get(name="新联系人").mobile) == "+8613911112222"


def test_contact_edit_and_delete_over_http(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    contact = ContactFactory(customer=customer, name="旧名字")
    client = client_as(sales_rep)
    response = client.post(
        reverse("customers:contact_update", args=[customer.pk, contact.pk]), {"name": "新名字", "title": "总经理"}
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.name, contact.title) == ("新名字", "总经理")
    response = client.post(reverse("customers:contact_delete", args=[customer.pk, contact.pk]))
    assert response.status_code == 302
    assert not customer.contacts.exists()


def test_contact_of_another_customer_cannot_be_reached_through_mine(client_as, sales_rep, other_rep):
    mine = CustomerFactory(owner=sales_rep)
    their_contact = ContactFactory(customer=CustomerFactory(owner=other_rep))
    url = reverse("customers:contact_update", args=[mine.pk, their_contact.pk])
    assert client_as(sales_rep).get(url).status_code == 404
