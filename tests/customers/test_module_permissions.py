"""Module permissions: what a role may do at all, whatever the record (403, hidden links)."""

import pytest
from django.urls import reverse

from customers.models import Customer
from tests.factories import CustomerFactory

ADMIN_LINKS = [
    reverse("customers:recycle_bin"),
    reverse("admin:index"),
    reverse("admin:accounts_user_changelist"),
    reverse("admin:accounts_team_changelist"),
    reverse("admin:customers_poolsettings_changelist"),
]


@pytest.fixture(params=["marketing_user", "support_agent"])
def viewer(request):
    """A role that reads customers but does not work them."""
    return request.getfixturevalue(request.param)


def test_viewer_roles_cannot_open_the_create_form(client_as, viewer):
    assert client_as(viewer).get(reverse("customers:create")).status_code == 403


def test_viewer_roles_cannot_create_by_posting(client_as, viewer):
    response = client_as(viewer).post(reverse("customers:create"), {"name": "偷偷建的", "mobile": "13812345678"})
    assert response.status_code == 403
    assert not Customer.objects.filter(name="偷偷建的").exists()


def test_viewer_roles_cannot_edit_even_a_customer_they_see(client_as, viewer):
    # given a pool customer, which every role sees
    pool_customer = CustomerFactory(owner=None, name="公海里的客户")
    client = client_as(viewer)
    assert client.get(pool_customer.get_absolute_url()).status_code == 200
    # then editing it is forbidden by the module permission
    assert client.get(reverse("customers:update", args=[pool_customer.pk])).status_code == 403
    assert client.post(reverse("customers:update", args=[pool_customer.pk]), {"name": "x"}).status_code == 403
    assert client.post(reverse("customers:claim", args=[pool_customer.pk])).status_code == 403
    pool_customer.refresh_from_db()
    assert (pool_customer.name, pool_customer.owner) == ("公海里的客户", None)


def test_viewer_roles_see_no_new_customer_link_and_no_claim_button(client_as, viewer):
    pool_customer = CustomerFactory(owner=None)
    client = client_as(viewer)
    list_page = client.get(reverse("customers:list")).content.decode()
    detail_page = client.get(pool_customer.get_absolute_url()).content.decode()
    assert reverse("customers:create") not in list_page
    assert reverse("customers:claim", args=[pool_customer.pk]) not in detail_page
    assert reverse("customers:update", args=[pool_customer.pk]) not in detail_page


def test_rep_sees_the_new_customer_link(client_as, sales_rep):
    page = client_as(sales_rep).get(reverse("customers:list")).content.decode()
    assert f'href="{reverse("customers:create")}"' in page


def test_rep_sidebar_has_no_administration_links(client_as, sales_rep):
    page = client_as(sales_rep).get(reverse("customers:list")).content.decode()
    for link in ADMIN_LINKS:
        assert link not in page
    assert ">Administration<" not in page


def test_admin_sidebar_has_the_administration_links(client_as, admin_user):
    page = client_as(admin_user).get(reverse("customers:list")).content.decode()
    for link in ADMIN_LINKS:
        assert link in page


def test_recycle_bin_is_forbidden_to_everyone_but_admin(client_as, sales_manager, sales_rep, admin_user):
    assert client_as(sales_manager).get(reverse("customers:recycle_bin")).status_code == 403
    assert client_as(sales_rep).get(reverse("customers:recycle_bin")).status_code == 403
    assert client_as(admin_user).get(reverse("customers:recycle_bin")).status_code == 200


def test_sensitive_fields_are_masked_for_marketing(client_as, marketing_user, sales_rep):
    # given a pool customer with a mobile and email
    pool_customer = CustomerFactory(owner=None, mobile="+8613812345678", email="boss@example.com")
    # then marketing (no view_sensitive) sees them masked, a rep sees them whole
    masked = client_as(marketing_user).get(pool_customer.get_absolute_url()).content.decode()
    full = client_as(sales_rep).get(pool_customer.get_absolute_url()).content.decode()
    assert "138 1234 5678" not in masked and "boss@example.com" not in masked
    assert "b***@example.com" in masked
    assert "138 1234 5678" in full and "boss@example.com" in full
