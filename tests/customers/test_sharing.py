import pytest
from django.http import Http404
from django.urls import reverse

from customers import permissions as policy
from customers import services
from customers.models import CustomerTeamShare, CustomerUserShare
from tests.customers.pages import form_data
from tests.factories import CustomerFactory


def test_view_share_lets_the_colleague_open_but_not_edit(client_as, sales_rep, other_rep):
    # given rep B shares his customer with rep A, view only
    theirs = CustomerFactory(owner=other_rep, name="只读共享客户")
    services.customer_share(actor=other_rep, customer=theirs, level=policy.SHARE_VIEW, user=sales_rep)
    client = client_as(sales_rep)
    # then rep A opens it, without an edit button
    detail = client.get(theirs.get_absolute_url())
    assert detail.status_code == 200
    assert reverse("customers:update", args=[theirs.pk]) not in detail.content.decode()
    # and the edit form and its submission are 404
    assert client.get(reverse("customers:update", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("customers:update", args=[theirs.pk]), {"name": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "只读共享客户"


def test_change_share_lets_the_colleague_edit_but_not_delete_or_reshare(client_as, sales_rep, other_rep):
    # given rep B shares his customer with rep A, view and edit
    theirs = CustomerFactory(owner=other_rep, name="可编辑共享客户")
    services.customer_share(actor=other_rep, customer=theirs, level=policy.SHARE_CHANGE, user=sales_rep)
    client = client_as(sales_rep)
    # when rep A edits it
    form = client.get(reverse("customers:update", args=[theirs.pk])).context["form"]
    response = client.post(reverse("customers:update", args=[theirs.pk]), {**form_data(form), "name": "改过的名字"})
    # then the change is saved and the owner stays rep B
    assert response.status_code == 302
    theirs.refresh_from_db()
    assert (theirs.name, theirs.owner) == ("改过的名字", other_rep)
    # but deleting, sharing on and releasing remain the owner's
    assert client.post(reverse("customers:delete", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("customers:release", args=[theirs.pk])).status_code == 404
    share = {"user": other_rep.pk, "level": policy.SHARE_VIEW}
    assert client.post(reverse("customers:share", args=[theirs.pk]), share).status_code == 404


def test_owner_shares_with_a_user_over_http_and_removes_it(client_as, sales_rep, other_rep):
    mine = CustomerFactory(owner=sales_rep)
    client = client_as(sales_rep)
    # when the owner shares with rep B from the sharing tab
    response = client.post(
        reverse("customers:share", args=[mine.pk]), {"user": other_rep.pk, "level": policy.SHARE_VIEW}
    )
    # then rep B sees it, and the sharing tab lists him
    assert response.status_code == 302
    assert policy.can(other_rep, policy.VIEW, mine)
    assert str(other_rep) in client.get(mine.get_absolute_url() + "?tab=sharing").content.decode()
    # when the owner removes the share
    client.post(reverse("customers:unshare", args=[mine.pk]), {"user": other_rep.pk})
    # then rep B no longer sees it
    assert not policy.can(other_rep, policy.VIEW, mine)
    assert client_as(other_rep).get(mine.get_absolute_url()).status_code == 404


def test_sharing_again_replaces_the_level(sales_rep, other_rep):
    mine = CustomerFactory(owner=sales_rep)
    services.customer_share(actor=sales_rep, customer=mine, level=policy.SHARE_CHANGE, user=other_rep)
    # when the owner lowers the share to view only
    services.customer_share(actor=sales_rep, customer=mine, level=policy.SHARE_VIEW, user=other_rep)
    # then one share remains, view only
    shares = CustomerUserShare.objects.filter(content_object=mine)
    assert list(shares.values_list("permission__codename", flat=True)) == ["view_customer"]
    assert not policy.can(other_rep, policy.CHANGE, mine)


def test_team_share_and_unshare(sales_rep, other_rep, south_rep, teams):
    # given the south rep shares with 杭州组 with edit rights
    theirs = CustomerFactory(owner=south_rep)
    services.customer_share(actor=south_rep, customer=theirs, level=policy.SHARE_CHANGE, team=teams.hangzhou)
    # then 杭州组's rep may view and edit it, 上海组's rep may not see it
    assert policy.can(other_rep, policy.CHANGE, theirs)
    assert not policy.can(sales_rep, policy.VIEW, theirs)
    assert CustomerTeamShare.objects.filter(content_object=theirs, group=teams.hangzhou.group).exists()
    # when the share is removed
    services.customer_unshare(actor=south_rep, customer=theirs, team=teams.hangzhou)
    # then 杭州组 loses it
    assert not policy.can(other_rep, policy.VIEW, theirs)


def test_share_form_needs_exactly_one_target(client_as, sales_rep, other_rep, teams):
    mine = CustomerFactory(owner=sales_rep)
    client = client_as(sales_rep)
    # when both a user and a team are chosen
    response = client.post(
        reverse("customers:share", args=[mine.pk]),
        {"user": other_rep.pk, "team": teams.hangzhou.pk, "level": policy.SHARE_VIEW},
        follow=True,
    )
    # then nothing is shared and the user is told why
    assert "Choose either a user or a team to share with." in response.content.decode()
    assert not CustomerUserShare.objects.filter(content_object=mine).exists()
    assert not CustomerTeamShare.objects.filter(content_object=mine).exists()


def test_a_rep_cannot_share_a_customer_he_only_sees(sales_rep, other_rep):
    pool_customer = CustomerFactory(owner=None)
    with pytest.raises(Http404):
        services.customer_share(actor=sales_rep, customer=pool_customer, level=policy.SHARE_CHANGE, user=other_rep)
