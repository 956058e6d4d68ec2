"""Each user's own settings: the language of his mails, and whether notifications are mailed to him too."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from crm.notifications import services
from crm.notifications.models import NotificationKind

SETTINGS = reverse("account_settings")


def test_the_user_menu_links_to_the_settings_page(client_as, sales_rep):
    page = client_as(sales_rep).get(reverse("customers:list")).content.decode()
    assert f'href="{SETTINGS}"' in page


@pytest.mark.parametrize("who", ["admin_user", "sales_manager", "sales_rep", "marketing_user", "support_agent"])
def test_every_user_has_a_settings_page(request, client_as, who):
    user = request.getfixturevalue(who)
    response = client_as(user).get(SETTINGS)
    assert response.status_code == 200
    assert response.context["form"].instance == user


def test_the_settings_page_saves(client_as, sales_rep):
    # given a rep who wants mail, in the site's language
    assert sales_rep.notify_by_email and sales_rep.language == ""
    client = client_as(sales_rep)
    # when he asks for English mails and no more mail
    response = client.post(SETTINGS, {"language": "en"})
    # then he is told so and both are kept
    assert response.status_code == 302 and response.url == SETTINGS
    sales_rep.refresh_from_db()
    assert sales_rep.language == "en" and sales_rep.notify_by_email is False
    page = client.get(SETTINGS).content.decode()
    assert "Your settings are saved." in page
    # and when he ticks the box again
    client.post(SETTINGS, {"language": "", "notify_by_email": "on"})
    sales_rep.refresh_from_db()
    assert sales_rep.language == "" and sales_rep.notify_by_email is True


def test_an_unknown_language_is_refused(client_as, sales_rep):
    response = client_as(sales_rep).post(SETTINGS, {"language": "fr", "notify_by_email": "on"})
    assert response.status_code == 200 and response.context["form"].errors["language"]
    sales_rep.refresh_from_db()
    assert sales_rep.language == ""


def test_the_setting_decides_whether_notifications_are_mailed(client_as, sales_rep):
    # given the rep switched mail off
    client_as(sales_rep).post(SETTINGS, {"language": "en"})
    # when a notification is written and the worker mails what it should
    services.notifications_email([services.notify(user=sales_rep, kind=NotificationKind.SYSTEM, title="不发邮件")])
    # then nothing is mailed; once he switches it on again, the next one is
    assert mail.outbox == []
    client_as(sales_rep).post(SETTINGS, {"language": "en", "notify_by_email": "on"})
    services.notifications_email([services.notify(user=sales_rep, kind=NotificationKind.SYSTEM, title="发邮件")])
    assert [m.subject for m in mail.outbox] == ["[CRM] 发邮件"]


def test_the_settings_change_only_with_a_csrf_token(sales_rep):
    client = Client(enforce_csrf_checks=True)
    client.force_login(sales_rep)
    assert client.post(SETTINGS, {"language": "en"}).status_code == 403
    sales_rep.refresh_from_db()
    assert sales_rep.language == "" and sales_rep.notify_by_email is True
