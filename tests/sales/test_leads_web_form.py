"""The public web-to-lead form: no login, embeddable (iframe), no CSRF cookie needed; honeypot, signed time-limited
single-use token and a rate limit per client address against robots; source "website", campaign from the address;
the thank-you page in the visitor's language; the lead routed by the rules once committed."""

import ipaddress
import time
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from sales import lead_web
from sales.models import Lead, LeadStatus
from tests.factories import TeamFactory
from tests.factories.sales_leads import AssignmentRuleFactory, eager_celery, reps_in

FORM = reverse("sales:lead_web_form")
THANKS = reverse("sales:lead_web_form_thanks")


def unique_address() -> str:
    """An address no other test has used, in this run or an earlier one: the rate limit's counts live in the shared
    Redis for ten minutes (an IPv6 address of the documentation prefix 2001:db8::/32 with 96 random bits)."""
    return str(ipaddress.IPv6Address((0x20010DB8 << 96) | (uuid.uuid4().int >> 32)))


def visitor() -> Client:
    """An anonymous browser from an address of its own."""
    return Client(REMOTE_ADDR=unique_address(), enforce_csrf_checks=True)


def token(seconds_ago: float = 30) -> str:
    return lead_web.form_token(issued_at=time.time() - seconds_ago)


def details(**overrides) -> dict:
    return {"name": "孙丽", "company": "丽人服饰", "mobile": "139 1234 5678", "email": "", "province": "浙江省",
            "message": "想了解会员系统", "website": "", "token": token()} | overrides


def test_anyone_sees_the_form_without_logging_in_and_it_may_be_framed(db):
    response = visitor().get(FORM)
    assert response.status_code == 200
    assert "X-Frame-Options" not in response  # other pages are DENY (below)
    page = response.content.decode()
    assert 'name="website"' in page and 'name="token"' in page
    assert "csrfmiddlewaretoken" not in page
    assert 'href="/sales/leads/"' not in page  # none of the CRM's navigation


def test_crm_pages_still_refuse_to_be_framed(client_as, sales_rep):
    assert client_as(sales_rep).get(reverse("sales:lead_list"))["X-Frame-Options"] == "DENY"


def test_a_visitor_leaves_a_lead_that_the_rules_route_once_committed(db, django_capture_on_commit_callbacks):
    team = TeamFactory(name="官网组")
    (rep,) = reps_in(team, 1)
    AssignmentRuleFactory(sources=["website"], provinces=["浙江省"], user=rep)
    browser = visitor()
    # when a visitor sends the form of a campaign page (without any CSRF cookie)
    with eager_celery(), django_capture_on_commit_callbacks(execute=True):
        response = browser.post(FORM + "?campaign=spring-expo", details())
    # then he is thanked, and the lead is stored as from the website and that campaign, and routed to the rep
    assert response.status_code == 302 and response.url == THANKS
    lead = Lead.objects.get()
    assert (lead.name, lead.company, str(lead.mobile), lead.province, lead.message) == (
        "孙丽", "丽人服饰", "+8613912345678", "浙江省", "想了解会员系统")
    assert (lead.source, lead.campaign, lead.created_by) == ("website", "spring-expo", None)
    assert (lead.owner, lead.status) == (rep, LeadStatus.ASSIGNED)


def test_the_thank_you_page_speaks_the_visitors_language(db):
    assert 'lang="zh-hans"' in visitor().get(THANKS).content.decode()  # the default
    english = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").get(THANKS).content.decode()
    assert 'lang="en"' in english and "Thank you!" in english
    # the embedding site may fix the language, and it is kept from the form to the thank-you page
    response = visitor().post(FORM + "?lang=en", details())
    assert response.url == THANKS + "?lang=en"
    assert "X-Frame-Options" not in visitor().get(response.url)


def test_the_honeypot_is_thanked_and_forgotten(db):
    response = visitor().post(FORM, details(website="http://spam.example"))
    assert response.status_code == 302 and response.url == THANKS
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    "bad_token",
    [lambda: "not-a-token", lambda: token(seconds_ago=0), lambda: lead_web.form_token()[:-2] + "xx"],
    ids=["forged", "too-fast", "tampered"],
)
def test_robots_without_a_proper_token_are_thanked_and_forgotten(db, bad_token):
    response = visitor().post(FORM, details(token=bad_token()))
    assert response.status_code == 302 and response.url == THANKS
    assert not Lead.objects.exists()


def test_a_token_serves_once(db):
    browser, used = visitor(), token()
    browser.post(FORM, details(token=used))
    browser.post(FORM, details(token=used, name="第二次"))
    assert list(Lead.objects.values_list("name", flat=True)) == ["孙丽"]


def test_a_form_left_open_too_long_comes_back_with_a_fresh_token(db):
    response = visitor().post(FORM + "?lang=en", details(token=token(seconds_ago=lead_web.MAX_AGE + 60)))
    assert response.status_code == 200
    assert "The form was open for a long time" in response.content.decode()
    assert not Lead.objects.exists()
    fresh = response.context["form"].data["token"]
    assert lead_web.check_token(fresh, now=time.time() + 10) == lead_web.VALID


def test_errors_are_shown_and_the_form_keeps_its_first_time(db):
    first_seen = time.time() - 40
    response = visitor().post(FORM + "?lang=en",
                              details(mobile="", email="", token=lead_web.form_token(issued_at=first_seen)))
    assert response.status_code == 200
    assert "Leave a mobile number or an email address" in response.content.decode()
    again = response.context["form"].data["token"]
    assert lead_web.token_issued_at(again) == int(first_seen)
    assert not Lead.objects.exists()


def test_a_missing_token_is_an_error_not_a_lead(db):
    response = visitor().post(FORM, details(token=""))
    assert response.status_code == 200 and not Lead.objects.exists()


def test_at_most_five_leads_per_address_in_ten_minutes(db):
    browser, neighbour = visitor(), visitor()
    statuses = [browser.post(FORM, details(name=f"访客{i}", token=token())).status_code for i in range(6)]
    assert statuses == [302] * 5 + [429]
    assert Lead.objects.count() == 5
    # another address is not affected
    assert neighbour.post(FORM, details(token=token())).status_code == 302


def test_behind_a_proxy_the_address_the_proxy_saw_counts_not_what_the_client_wrote(db, settings):
    settings.CRM_TRUSTED_PROXY_COUNT = 1
    settings.CRM_LEAD_FORM_RATE_LIMIT = 2
    proxy = Client(REMOTE_ADDR="127.0.0.1")
    real = unique_address()
    statuses = [
        proxy.post(FORM, details(token=token()), HTTP_X_FORWARDED_FOR=f"198.51.100.{i}, {real}").status_code
        for i in range(3)
    ]
    # the forged first entries change every time; the proxy's own entry (the last) does not
    assert statuses == [302, 302, 429]


def test_without_trusted_proxies_forwarded_for_is_ignored(db, rf, settings):
    settings.CRM_TRUSTED_PROXY_COUNT = 0
    request = rf.post(FORM, REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert lead_web.client_address(request) == "192.0.2.7"
    settings.CRM_TRUSTED_PROXY_COUNT = 2
    request = rf.post(FORM, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.9, 10.0.0.1")
    assert lead_web.client_address(request) == "192.0.2.9"
