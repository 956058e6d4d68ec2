import datetime
import re

from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import PASSWORD, CustomerFactory


def logs_in(username: str, password: str) -> bool:
    """Whether the login page lets ``username`` in with ``password`` (Client.login() bypasses django-axes)."""
    response = Client().post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302 and response.url == reverse("home")


def test_anonymous_visitor_is_sent_to_login(db):
    # when an anonymous visitor opens the customer list
    response = Client().get(reverse("customers:list"))
    # then he is redirected to the login page, which brings him back afterwards
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse('customers:list')}"


def test_login_with_the_right_password_opens_the_dashboard(sales_rep):
    client = Client()
    # when the rep logs in
    response = client.post(reverse("login"), {"username": "rep", "password": PASSWORD})
    # then he lands on his dashboard, logged in
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get(reverse("home")).status_code == 200
    assert client.get(reverse("customers:list")).status_code == 200


def test_login_with_a_wrong_password_is_refused(sales_rep):
    client = Client()
    # when the password is wrong
    response = client.post(reverse("login"), {"username": "rep", "password": "wrong-password"})
    # then the form comes back and nothing behind the login opens
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert client.get(reverse("customers:list")).status_code == 302


def test_logout_ends_the_session(client_as, sales_rep):
    client = client_as(sales_rep)
    # when the rep logs out
    response = client.post(reverse("logout"))
    # then he is on the login page and the customer list asks for a login again
    assert response.status_code == 302
    assert response.url == reverse("login")
    assert client.get(reverse("customers:list")).status_code == 302


def test_password_change_takes_effect(client_as, sales_rep):
    client = client_as(sales_rep)
    new_password = "Another-pass-2027!"
    # when the rep changes his password
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    # then he is told so, and only the new password logs him in from then on
    assert response.status_code == 302
    assert response.url == reverse("password_change_done")
    assert logs_in("rep", new_password)
    assert not logs_in("rep", PASSWORD)


def test_password_change_needs_the_old_password(client_as, sales_rep):
    client = client_as(sales_rep)
    response = client.post(
        reverse("password_change"),
        {"old_password": "not-it", "new_password1": "Another-pass-2027!", "new_password2": "Another-pass-2027!"},
    )
    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    assert logs_in("rep", PASSWORD)


def test_password_change_refuses_short_and_common_passwords(client_as, sales_rep):
    client = client_as(sales_rep)
    # when the rep picks a password shorter than 10 characters, then one from the common-password list
    for new_password, message in [
        ("Sh0rt-pw!", "This password is too short. It must contain at least 10 characters."),
        ("basketball", "This password is too common."),
    ]:
        response = client.post(
            reverse("password_change"),
            {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
        )
        # then the form comes back saying why, and the old password still works
        assert response.status_code == 200
        assert message in response.context["form"].errors["new_password2"]
        assert message in response.content.decode()
    assert logs_in("rep", PASSWORD)


def test_pages_are_chinese_by_default(client_as, sales_rep):
    # given a browser that states no language preference
    client = client_as(sales_rep, language=None)
    # when the rep opens the password page
    response = client.get(reverse("password_change"))
    # then it is in Chinese
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page
    assert "旧密码" in page


def test_language_switch_to_english_and_back(client_as, sales_rep):
    client = client_as(sales_rep, language=None)
    page_url = reverse("password_change")
    # when the rep switches to English
    response = client.post(reverse("set_language"), {"language": "en", "next": page_url})
    # then he is back on his page, in English
    assert response.status_code == 302
    assert response.url == page_url
    page = client.get(page_url).content.decode()
    assert '<html lang="en">' in page
    assert "Old password" in page and "旧密码" not in page
    # when he switches back to Chinese
    client.post(reverse("set_language"), {"language": "zh-hans", "next": page_url})
    # then the page is Chinese again
    page = client.get(page_url).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "旧密码" in page and "Old password" not in page


def test_language_switch_is_on_the_login_page(db):
    # when an anonymous visitor opens the login page
    page = Client().get(reverse("login")).content.decode()
    # then it offers both languages
    assert f'action="{reverse("set_language")}"' in page
    assert 'value="en"' in page and 'value="zh-hans"' in page


def test_times_are_shown_in_china_time_by_default(client_as, sales_rep):
    # given a customer created at 00:30 UTC
    assert settings.TIME_ZONE == "Asia/Shanghai"
    customer = CustomerFactory(owner=sales_rep)
    created = datetime.datetime(2026, 1, 5, 0, 30, tzinfo=datetime.UTC)
    type(customer).objects.filter(pk=customer.pk).update(created_at=created)
    # when the rep opens it
    page = client_as(sales_rep).get(customer.get_absolute_url()).content.decode()
    # then the creation time reads 08:30, Beijing time
    assert re.search(r"2026-01-05 08:30\b", page)
    assert timezone.localtime(created).strftime("%H:%M") == "08:30"
