"""Login lockout (django-axes): per user name and client address, through the real login page."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD

LOCKED_EN = "This account is locked from your address after too many wrong passwords. Try again in 15 minutes"
LOCKED_ZH = "密码错误次数过多，该账号已在您的地址上被锁定。请在 15 分钟后再试"


@pytest.fixture(autouse=True)
def lockout_settings(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.CRM_TRUSTED_PROXY_COUNT = 0


def login(username, password, address="10.0.0.1", language="en", **headers):
    client = Client(REMOTE_ADDR=address)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client.post(reverse("login"), {"username": username, "password": password}, **headers)


def logged_in(response) -> bool:
    return response.status_code == 302 and response.url == reverse("home")


def fail(times, username="rep", address="10.0.0.1", **headers):
    """``times`` wrong passwords; the fifth is itself answered with the lockout page."""
    for attempt in range(1, times + 1):
        response = login(username, "wrong-password", address, **headers)
        assert response.status_code == (429 if attempt >= settings.AXES_FAILURE_LIMIT else 200)


def test_five_wrong_passwords_lock_the_user_from_that_address(sales_rep):
    # when someone at 10.0.0.1 gets rep's password wrong five times
    fail(5)
    # then even the right password is refused there, with a page saying how long to wait, in English and Chinese
    response = login("rep", PASSWORD)
    assert response.status_code == 429
    assert LOCKED_EN in response.content.decode()
    response = login("rep", PASSWORD, language="zh-hans")
    assert response.status_code == 429
    assert LOCKED_ZH in response.content.decode()


def test_the_locked_user_still_logs_in_from_another_address(sales_rep):
    fail(5)
    # when rep logs in from his own address
    # then the attacker's failures do not keep him out
    assert logged_in(login("rep", PASSWORD, address="10.0.0.2"))


def test_another_user_still_logs_in_from_the_locked_address(sales_rep, other_rep):
    fail(5)
    assert logged_in(login("rep2", PASSWORD))


def test_a_successful_login_resets_the_count(sales_rep):
    # given four failures, then the right password
    fail(4)
    assert logged_in(login("rep", PASSWORD))
    # when four more failures follow
    fail(4)
    # then rep is not locked: the count started again
    assert logged_in(login("rep", PASSWORD))


def test_forwarded_address_is_ignored_without_trusted_proxies(sales_rep):
    # given no trusted proxy, the failures come from 127.0.0.1 whatever X-Forwarded-For says
    fail(5, address="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
    # then a forged X-Forwarded-For does not get round the lockout
    assert login("rep", PASSWORD, address="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 429


def test_forwarded_address_is_used_behind_a_trusted_proxy(settings, sales_rep):
    # given one trusted proxy at 127.0.0.1
    settings.CRM_TRUSTED_PROXY_COUNT = 1
    # when a client at 198.51.100.1 (behind the proxy) fails five times, with a forged entry in front
    fail(5, address="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1")
    # then he is locked out even with another forged entry
    assert login("rep", PASSWORD, address="127.0.0.1", HTTP_X_FORWARDED_FOR="7.7.7.7, 198.51.100.1").status_code == 429
    # and rep, behind the same proxy from his own address, still gets in
    assert logged_in(login("rep", PASSWORD, address="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.2"))
