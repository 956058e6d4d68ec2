"""Sessions end after 30 minutes without a request and 12 hours after login; disabling a user ends his sessions;
changing a password ends his other sessions. The clock is the one thing moved (django.utils.timezone.now)."""

import contextlib
import datetime
from unittest import mock

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.accounts.session_timeouts import LAST_ACTIVITY
from tests.factories import PASSWORD

PAGE = reverse("account_settings")
LOGIN = reverse("login")
T0 = timezone.now()


@contextlib.contextmanager
def clock(minutes: float = 0):
    with mock.patch("django.utils.timezone.now", return_value=T0 + datetime.timedelta(minutes=minutes)):
        yield


def get_at(client: Client, minutes: float, url: str = PAGE, **headers):
    with clock(minutes):
        return client.get(url, headers=headers)


def signed_in_at(client_as, user, language="en") -> Client:
    with clock(0):
        return client_as(user, language=language)


def test_idle_for_31_minutes_signs_the_user_out_with_a_message(client_as, sales_rep):
    client = signed_in_at(client_as, sales_rep)
    assert get_at(client, 29).status_code == 200
    # when he comes back 31 minutes after his last request
    response = get_at(client, 29 + 31)
    # then he is on the login page (brought back afterwards), told why, and signed out
    assert response.status_code == 302
    assert response.url == f"{LOGIN}?next={PAGE}"
    with clock(61):
        login_page = client.get(response.url).content.decode()
    assert "You were signed out after 30 minutes without activity." in login_page
    assert get_at(client, 62).status_code == 302


def test_the_idle_message_is_in_chinese_for_a_chinese_page(client_as, sales_rep):
    client = signed_in_at(client_as, sales_rep, language="zh-hans")
    response = get_at(client, 31)
    with clock(31):
        login_page = client.get(response.url).content.decode()
    assert "您已 30 分钟没有操作，已自动退出。" in login_page


def test_activity_every_10_minutes_keeps_the_session_until_12_hours_after_login(client_as, sales_rep):
    client = signed_in_at(client_as, sales_rep)
    # when the rep makes a request every 10 minutes
    for minutes in range(10, 12 * 60, 10):
        # then he stays signed in: the idle limit never comes
        assert get_at(client, minutes).status_code == 200, minutes
    # but 12 hours after login the session ends anyway
    response = get_at(client, 12 * 60)
    assert response.status_code == 302 and response.url.startswith(LOGIN)
    with clock(12 * 60):
        login_page = client.get(response.url).content.decode()
    assert "You were signed out 12 hours after signing in; please sign in again." in login_page
    chinese = signed_in_at(client_as, sales_rep, language="zh-hans")
    with clock(12 * 60):
        response = chinese.get(PAGE)
        assert "您已登录满 12 小时，已自动退出，请重新登录。" in chinese.get(response.url).content.decode()


def test_an_htmx_request_after_the_timeout_sends_the_browser_to_the_login_page(client_as, sales_rep):
    client = signed_in_at(client_as, sales_rep)
    response = get_at(client, 31, reverse("notifications:menu"), **{"HX-Request": "true"})
    # then no partial comes back, but a redirect that htmx performs in the browser itself
    assert response.status_code == 200
    assert response["HX-Redirect"] == LOGIN
    with clock(31):
        assert "You were signed out after 30 minutes" in client.get(LOGIN).content.decode()


def test_the_session_is_written_at_most_once_a_minute(client_as, sales_rep):
    client = signed_in_at(client_as, sales_rep)
    get_at(client, 5)
    written = client.session[LAST_ACTIVITY]
    assert written == (T0 + datetime.timedelta(minutes=5)).timestamp()
    # when two more requests come within the same minute
    get_at(client, 5.5)
    get_at(client, 5.9)
    # then the stored time is unchanged, and only a request a minute later moves it
    assert client.session[LAST_ACTIVITY] == written
    get_at(client, 6)
    assert client.session[LAST_ACTIVITY] == (T0 + datetime.timedelta(minutes=6)).timestamp()


def test_disabling_a_user_ends_his_sessions(client_as, sales_rep):
    client = client_as(sales_rep)
    assert client.get(PAGE).status_code == 200
    # when an administrator disables him
    sales_rep.is_active = False
    sales_rep.save(update_fields=["is_active"])
    # then his next request goes to the login page
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.url == f"{LOGIN}?next={PAGE}"


def test_changing_the_password_ends_the_other_sessions_only(client_as, sales_rep):
    laptop, phone = client_as(sales_rep), client_as(sales_rep)
    assert phone.get(PAGE).status_code == 200
    # when he changes his password on the laptop
    new = "another-Long-passw0rd"
    response = laptop.post(reverse("password_change"),
                           {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert response.status_code == 302 and response.url == reverse("password_change_done")
    # then the laptop stays signed in and the phone is signed out
    assert laptop.get(PAGE).status_code == 200
    response = phone.get(PAGE)
    assert response.status_code == 302 and response.url.startswith(LOGIN)
