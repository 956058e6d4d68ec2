"""The bell (unread count on every page, refreshed by htmx, a menu of the latest five), the notifications page
(unread first, paginated) and marking read."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.notifications.models import Notification, NotificationKind
from tests.factories.interactions_pages import NotificationFactory

LIST = reverse("notifications:list")
HTMX = {"HX-Request": "true"}


def bell_count(page: str) -> str:
    return re.search(r'<span id="bell-count"[^>]*data-count="(\d+)"', page).group(1)


def listed(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-notification="(\d+)"', page)]


def aged(notification, minutes: int):
    """The notification as if written ``minutes`` ago (created_at is set on insert)."""
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))
    return notification


# ------------------------------------------------------------------------------------------------ the bell


def test_every_page_shows_the_bell_with_the_unread_count(client_as, sales_rep, other_rep):
    # given two unread notifications, one read, and another user's
    NotificationFactory.create_batch(2, user=sales_rep)
    NotificationFactory(user=sales_rep, read_at=timezone.now())
    NotificationFactory(user=other_rep)
    page = client_as(sales_rep).get(reverse("customers:list")).content.decode()
    # then the bell says 2, and asks again every minute without reloading the page
    assert bell_count(page) == "2"
    bell = re.search(r'<span id="bell-count"[^>]*>', page).group(0)
    assert 'hx-trigger="every 60s"' in bell and f'hx-get="{reverse("notifications:bell")}"' in bell
    # and the sidebar links to the notifications page
    assert f'href="{LIST}"' in page


def test_the_bell_is_hidden_at_zero_and_caps_its_count(client_as, sales_rep):
    client = client_as(sales_rep)
    bell = client.get(reverse("notifications:bell")).content.decode()
    assert bell_count(bell) == "0" and "d-none" in bell
    NotificationFactory.create_batch(101, user=sales_rep)
    bell = client.get(reverse("notifications:bell")).content.decode()
    assert ">99+<" in bell


def test_the_bell_polls_a_fragment_that_follows_new_notifications(client_as, sales_rep):
    client = client_as(sales_rep)
    NotificationFactory(user=sales_rep)
    response = client.get(reverse("notifications:bell"), headers=HTMX)
    assert response.content.decode().lstrip().startswith('<span id="bell-count"')
    assert bell_count(response.content.decode()) == "1"


def test_the_counts_of_the_layout_cost_one_query(client_as, sales_rep, django_assert_num_queries):
    from crm.web.context_processors import badge_counts
    from tests.factories.interactions_pages import register_page_contributions

    register_page_contributions()  # the overdue badge joins the same query
    NotificationFactory(user=sales_rep)
    sales_rep.has_perm("interactions.view_followup")  # a page reads the user's permissions anyway, once
    with django_assert_num_queries(1):
        counts = badge_counts(sales_rep)
    assert counts["unread_notifications"] == 1 and counts["overdue_tasks"] == 0


def test_the_bell_menu_lists_the_latest_five(client_as, sales_rep, other_rep):
    items = [aged(NotificationFactory(user=sales_rep, title=f"通知{i}"), minutes=10 - i) for i in range(7)]
    NotificationFactory(user=other_rep, title="别人的通知")
    page = client_as(sales_rep).get(reverse("notifications:menu"), headers=HTMX).content.decode()
    shown = re.findall(r"通知\d", page)
    assert shown == ["通知6", "通知5", "通知4", "通知3", "通知2"]
    assert "别人的通知" not in page
    # each item marks itself read on the way to its page; the count comes along for the bell
    assert reverse("notifications:read", args=[items[6].pk]) in page
    assert 'id="bell-count" hx-swap-oob="true"' in page
    assert f'href="{LIST}"' in page


# ---------------------------------------------------------------------------------------------- the list


def test_the_list_shows_unread_first_then_newest(client_as, sales_rep, other_rep):
    old_unread = aged(NotificationFactory(user=sales_rep, title="旧的未读"), minutes=60)
    new_read = aged(NotificationFactory(user=sales_rep, title="新的已读", read_at=timezone.now()), minutes=1)
    new_unread = aged(NotificationFactory(user=sales_rep, title="新的未读"), minutes=5)
    older_read = aged(NotificationFactory(user=sales_rep, title="更旧已读", read_at=timezone.now()), minutes=90)
    NotificationFactory(user=other_rep, title="别人的通知")
    page = client_as(sales_rep).get(LIST).content.decode()
    assert listed(page) == [new_unread.pk, old_unread.pk, new_read.pk, older_read.pk]
    assert "别人的通知" not in page


def test_the_list_can_show_unread_only(client_as, sales_rep):
    unread = NotificationFactory(user=sales_rep)
    NotificationFactory(user=sales_rep, read_at=timezone.now())
    assert listed(client_as(sales_rep).get(LIST, {"unread": "1"}).content.decode()) == [unread.pk]


def test_the_list_is_paginated_and_bounded_in_queries(client_as, sales_rep, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_as(sales_rep)
    NotificationFactory.create_batch(3, user=sales_rep)
    with CaptureQueriesContext(connection) as few:
        client.get(LIST)
    NotificationFactory.create_batch(60, user=sales_rep)
    with django_assert_max_num_queries(len(few)):
        page = client.get(LIST).content.decode()
    assert len(listed(page)) == 25 and "of 63" in page
    second = client.get(LIST, {"page": 3}, headers=HTMX).content.decode()
    assert len(listed(second)) == 13 and "<html" not in second


# ------------------------------------------------------------------------------------------ marking read


def test_opening_a_notification_marks_it_read_and_goes_to_its_link(client_as, sales_rep):
    notification = NotificationFactory(user=sales_rep, url="/customers/1/?tab=timeline",
                                       kind=NotificationKind.ASSIGNMENT)
    response = client_as(sales_rep).post(reverse("notifications:read", args=[notification.pk]))
    assert response.status_code == 302 and response.url == "/customers/1/?tab=timeline"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_mark_read_from_the_list_stays_on_the_list_and_lowers_the_bell(client_as, sales_rep):
    first, second = NotificationFactory.create_batch(2, user=sales_rep, url="/customers/")
    client = client_as(sales_rep)
    response = client.post(reverse("notifications:read", args=[first.pk]), {"next": LIST}, headers=HTMX, follow=True)
    page = response.content.decode()
    assert "<html" not in page and set(listed(page)) == {first.pk, second.pk}
    assert bell_count(page) == "1"  # the bell's count comes along, out of band
    assert re.search(rf'data-notification="{second.pk}"[^>]*data-unread', page)
    assert not re.search(rf'data-notification="{first.pk}"[^>]*data-unread', page)


def test_a_link_to_another_site_is_not_followed(client_as, sales_rep):
    notification = NotificationFactory(user=sales_rep, url="https://evil.example.com/")
    response = client_as(sales_rep).post(reverse("notifications:read", args=[notification.pk]))
    assert response.url == LIST


def test_mark_all_read(client_as, sales_rep, other_rep):
    NotificationFactory.create_batch(3, user=sales_rep)
    theirs = NotificationFactory(user=other_rep)
    client = client_as(sales_rep)
    response = client.post(reverse("notifications:read_all"))
    assert response.status_code == 302 and response.url == LIST
    assert not Notification.objects.filter(user=sales_rep, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert bell_count(client.get(LIST).content.decode()) == "0"


def test_another_users_notification_is_404_even_for_an_admin(client_as, admin_user, sales_rep):
    notification = NotificationFactory(user=sales_rep)
    response = client_as(admin_user).post(reverse("notifications:read", args=[notification.pk]))
    assert response.status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


@pytest.mark.parametrize("name", ["notifications:read", "notifications:read_all"])
def test_marking_read_needs_a_post_with_a_csrf_token(sales_rep, name):
    notification = NotificationFactory(user=sales_rep)
    client = Client(enforce_csrf_checks=True)
    client.force_login(sales_rep)
    url = reverse(name, args=[notification.pk]) if name == "notifications:read" else reverse(name)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    notification.refresh_from_db()
    assert notification.read_at is None


def test_anonymous_visitors_are_sent_to_login(db):
    for name in ("notifications:list", "notifications:bell", "notifications:menu"):
        response = Client().get(reverse(name))
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
