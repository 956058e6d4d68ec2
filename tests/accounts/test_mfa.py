"""Two-factor authentication (django-otp): enrolment through the pages with real TOTP codes computed from the key,
the code step after the password, one use per code, recovery codes, throttling and lockout, the role policy and an
administrator's reset. The clock is never mocked: a TOTP code is computed for the current time step (or the next,
which the device also accepts), and "waiting out" a throttle moves the device's failure time back in the database."""

import base64
import io
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.accounts import mfa
from crm.accounts.models import MfaPolicy, User
from crm.audit.models import LoginEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

WRONG_CODE = "That code is wrong or has already been used."


@pytest.fixture(autouse=True)
def lockout_settings(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.CRM_TRUSTED_PROXY_COUNT = 0


def code(key: bytes, step_offset: int = 0) -> str:
    """The code an authenticator app shows for ``key``, now (0) or in the next 30-second step (1)."""
    return f"{totp(key, drift=step_offset):06d}"


def wrong_code(key: bytes) -> str:
    good = {code(key, offset) for offset in (-1, 0, 1, 2)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 999999, 111111)) if c not in good)


def device_key(user) -> bytes:
    return TOTPDevice.objects.get(user=user, confirmed=True).bin_key


def wait_out_throttle(user) -> None:
    """As if the seconds the device makes one wait after a wrong code had passed."""
    for model in (TOTPDevice, StaticDevice):
        model.objects.filter(user=user).update(throttling_failure_timestamp=timezone.now() - timedelta(days=1))


def log_in(user, next_url: str = "", address: str = "10.0.0.1") -> tuple[Client, object]:
    client = Client(REMOTE_ADDR=address)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    data = {"username": user.username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client, client.post(reverse("login"), data)


def enrol_through_pages(client) -> tuple[bytes, list[str]]:
    """Set up an authenticator app as a person does: read the key shown on the page, type the app's code."""
    page = client.get(reverse("mfa_setup")).content.decode()
    assert "<svg" in page and 'class="segno"' in page  # the QR code, inline
    secret = re.search(r"data-mfa-secret>([A-Z2-7 ]+)<", page).group(1)
    key = base64.b32decode(secret.replace(" ", ""))
    response = client.post(reverse("mfa_setup"), {"code": code(key)})
    assert response.status_code == 302 and response.url.startswith(reverse("mfa_recovery_codes"))
    codes_page = client.get(response.url).content.decode()
    codes = re.findall(r'<li class="col py-1">([a-z2-7]+)</li>', codes_page)
    return key, codes


def enrolled(user) -> bytes:
    """A user who set up his app earlier (through the service, with a real code); returns the key."""
    key_hex = mfa.new_secret()
    assert mfa.enrol(user=user, key_hex=key_hex, code=code(bytes.fromhex(key_hex))) is not None
    return bytes.fromhex(key_hex)


# ------------------------------------------------------------------------------------------- enrolment


def test_admin_enrols_on_first_login_and_can_open_nothing_before(admin_user):
    # given an administrator without two-factor authentication, who signs in with his password
    client, response = log_in(admin_user, next_url=reverse("customers:list"))
    assert response.status_code == 302
    # then every page, the admin site and the policy page included, sends him to the set-up page, keeping "next"
    for name in ("home", "customers:list", "admin:index", "mfa_policy", "mfa_verify", "account_settings"):
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response.url.startswith(reverse("mfa_setup") + "?next="), (name, response.url)
    assert client.post(reverse("customers:bulk")).url == reverse("mfa_setup")
    htmx = client.get(reverse("customers:list"), headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == reverse("mfa_setup")
    # and the set-up page says why, shows no menu and a way out
    page = client.get(reverse("mfa_setup"), {"next": "/customers/"}).content.decode()
    assert "Your role requires two-factor authentication" in page
    assert 'id="sidebar"' not in page and reverse("logout") in page

    # when he types a wrong code, he is told so and stays
    response = client.post(reverse("mfa_setup"), {"code": "000000", "next": "/customers/"})
    assert response.status_code == 200 and "That code does not match" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=admin_user).exists()

    # when he scans the code and types what the app shows
    page = client.get(reverse("mfa_setup")).content.decode()
    secret = re.search(r"data-mfa-secret>([A-Z2-7 ]+)<", page).group(1)
    key = base64.b32decode(secret.replace(" ", ""))
    response = client.post(reverse("mfa_setup"), {"code": code(key), "next": "/customers/"})
    # then he sees ten recovery codes once, with a note to store them, and goes on to where he was going
    assert response.url == reverse("mfa_recovery_codes") + "?next=%2Fcustomers%2F"
    page = client.get(response.url).content.decode()
    codes = re.findall(r'<li class="col py-1">([a-z2-7]+)</li>', page)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "Store these codes somewhere safe" in page and 'href="/customers/"' in page
    assert client.get(reverse("mfa_recovery_codes")).status_code == 302  # shown only once
    assert sorted(StaticToken.objects.filter(device__user=admin_user).values_list("token", flat=True)) == sorted(codes)
    assert client.get(reverse("customers:list")).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 200
    # and the audit trail has it, under the admin, by the admin
    event = admin_user.mfa_events.get()
    assert event.pgh_label == "mfa_enrolled" and event.pgh_context.metadata["user"] == admin_user.pk


def test_the_enrolment_code_does_not_also_pass_the_login_step(admin_user):
    client, _ = log_in(admin_user)
    page = client.get(reverse("mfa_setup")).content.decode()
    key = base64.b32decode(re.search(r"data-mfa-secret>([A-Z2-7 ]+)<", page).group(1).replace(" ", ""))
    confirming = code(key)
    client.post(reverse("mfa_setup"), {"code": confirming})
    # when the same code is typed again at the next sign-in
    client, _ = log_in(admin_user)
    response = client.post(reverse("mfa_verify"), {"code": confirming})
    # then it is refused: it was spent on the enrolment
    assert response.status_code == 200 and WRONG_CODE in response.content.decode()


# ------------------------------------------------------------------------------------------- the code step


def test_login_asks_for_the_code_and_keeps_next(sales_rep):
    key = enrolled(sales_rep)
    target = reverse("customers:list") + "?view=pool"
    # when the rep signs in with his password, on his way to the public pool
    client, response = log_in(sales_rep, next_url=target)
    # then the pool does not open: the code page does, with no menu
    assert client.get(response.url).url == reverse("mfa_verify") + "?next=" + "%2Fcustomers%2F%3Fview%3Dpool"
    page = client.get(reverse("mfa_verify"), {"next": target}).content.decode()
    assert 'name="code"' in page and 'id="sidebar"' not in page
    # when he types the code his app shows
    response = client.post(reverse("mfa_verify"), {"code": code(key, 1), "next": target})
    # then he is where he was going, and everything opens
    assert response.status_code == 302 and response.url == target
    assert client.get(target).status_code == 200
    assert client.get(reverse("home")).status_code == 200


def test_a_wrong_code_is_refused_with_a_message_and_slows_the_next_try(sales_rep):
    key = enrolled(sales_rep)
    client, _ = log_in(sales_rep)
    # when he types a wrong code
    response = client.post(reverse("mfa_verify"), {"code": wrong_code(key)})
    # then he is told so, in his language, and nothing opens
    assert response.status_code == 200 and WRONG_CODE in response.content.decode()
    assert client.get(reverse("customers:list")).url.startswith(reverse("mfa_verify"))
    # and right away even the right code is refused: the device makes him wait (1, 2, 4 ... seconds)
    response = client.post(reverse("mfa_verify"), {"code": code(key, 1)})
    assert "Too many wrong codes: wait 1 second, then try again." in response.content.decode()
    assert client.get(reverse("customers:list")).status_code == 302
    # once the wait is over, the right code works
    wait_out_throttle(sales_rep)
    assert client.post(reverse("mfa_verify"), {"code": code(key, 1)}).status_code == 302
    assert client.get(reverse("customers:list")).status_code == 200
    # and the wrong code is in the audit log as a failed login
    assert LoginEvent.objects.filter(kind=LoginEvent.Kind.LOGIN_FAILED, user=sales_rep).count() == 1


def test_the_wrong_code_message_is_in_chinese_for_a_chinese_page(sales_rep):
    key = enrolled(sales_rep)
    client, _ = log_in(sales_rep)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = client.post(reverse("mfa_verify"), {"code": wrong_code(key)})
    # the form error is the gettext of the English one (the Chinese catalogue supplies the words)
    with translation.override("zh-hans"):
        expected = translation.gettext(WRONG_CODE)
    assert expected in response.content.decode()
    assert response.context["LANGUAGE_CODE"] == "zh-hans"


def test_a_code_works_only_once(sales_rep):
    key = enrolled(sales_rep)
    client, _ = log_in(sales_rep)
    used = code(key, 1)
    assert client.post(reverse("mfa_verify"), {"code": used}).status_code == 302
    client.post(reverse("logout"))
    # when someone who saw that code signs in with the password and types it again
    client, _ = log_in(sales_rep)
    response = client.post(reverse("mfa_verify"), {"code": used})
    # then it is refused
    assert response.status_code == 200 and WRONG_CODE in response.content.decode()
    assert client.get(reverse("customers:list")).status_code == 302


def test_a_recovery_code_works_once(sales_rep):
    enrolled(sales_rep)
    recovery = StaticToken.objects.filter(device__user=sales_rep).first().token
    client, _ = log_in(sales_rep)
    # when he has lost his phone and types a recovery code (as people type it: upper case, a space)
    response = client.post(reverse("mfa_verify"), {"code": f" {recovery[:4].upper()} {recovery[4:]} "}, follow=True)
    # then he is in, and told how many are left
    assert response.status_code == 200 and response.redirect_chain[-1][0] == reverse("home")
    assert "You used a recovery code; 9 are left." in response.content.decode()
    assert StaticToken.objects.filter(device__user=sales_rep).count() == 9
    client.post(reverse("logout"))
    # when the same recovery code is typed again
    client, _ = log_in(sales_rep)
    response = client.post(reverse("mfa_verify"), {"code": recovery})
    # then it is refused
    assert response.status_code == 200 and WRONG_CODE in response.content.decode()


def test_wrong_codes_count_toward_the_lockout(sales_rep):
    key = enrolled(sales_rep)
    client, _ = log_in(sales_rep)
    # when five wrong codes are typed (waiting out each pause)
    for attempt in range(1, 6):
        wait_out_throttle(sales_rep)
        response = client.post(reverse("mfa_verify"), {"code": wrong_code(key)})
        if attempt < 5:
            assert response.status_code == 200
    # then the fifth is answered with the lockout page, and the session is over
    assert response.status_code == 429
    assert "too many wrong two-factor codes" in response.content.decode()
    assert client.get(reverse("mfa_verify")).url.startswith(reverse("login"))
    assert LoginEvent.objects.filter(kind=LoginEvent.Kind.LOGIN_FAILED, user=sales_rep).count() == 5
    # and from that address even the right password is refused for now
    _, response = log_in(sales_rep)
    assert response.status_code == 429


# ------------------------------------------------------------------------------------------- without 2FA


def test_a_user_not_required_and_without_it_logs_in_as_before(sales_rep):
    client, response = log_in(sales_rep)
    assert response.status_code == 302 and response.url == reverse("home")
    assert client.get(reverse("home")).status_code == 200
    assert client.get(reverse("customers:list")).status_code == 200
    # his settings say it is off and offer to set it up
    page = client.get(reverse("account_settings")).content.decode()
    assert "data-mfa-status" in page and reverse("mfa_setup") in page


# ------------------------------------------------------------------------------------------- the user's own page


def test_a_rep_turns_it_on_and_off_with_a_current_code(client_as, sales_rep):
    client = client_as(sales_rep)
    key, codes = enrol_through_pages(client)
    assert len(codes) == 10
    page = client.get(reverse("mfa_setup")).content.decode()
    assert "Two-factor authentication is on" in page and "You have 10 unused recovery codes." in page
    # when he asks to turn it off with a wrong code, nothing changes
    response = client.post(reverse("mfa_remove"), {"code": wrong_code(key)})
    assert WRONG_CODE in response.content.decode() and mfa.has_device(sales_rep)
    # with a current code, it is off, and his password alone signs him in again
    wait_out_throttle(sales_rep)
    assert client.post(reverse("mfa_remove"), {"code": code(key, 1)}).url == reverse("mfa_setup")
    assert not TOTPDevice.objects.filter(user=sales_rep).exists()
    assert not StaticToken.objects.filter(device__user=sales_rep).exists()
    assert client.get(reverse("customers:list")).status_code == 200
    client, _ = log_in(sales_rep)
    assert client.get(reverse("customers:list")).status_code == 200
    assert [e.pgh_label for e in sales_rep.mfa_events.order_by("pgh_id")] == ["mfa_enrolled", "mfa_removed"]


def test_an_admin_cannot_turn_it_off(client_as, admin_user):
    client = client_as(admin_user)
    key = device_key(admin_user)
    response = client.post(reverse("mfa_remove"), {"code": code(key, 1)}, follow=True)
    assert "Your role requires two-factor authentication: it cannot be turned off." in response.content.decode()
    assert mfa.has_device(admin_user)
    assert reverse("mfa_remove") not in client.get(reverse("mfa_setup")).content.decode()


def test_new_recovery_codes_replace_the_old_ones_after_a_confirmation(client_as, sales_rep):
    client = client_as(sales_rep)
    _, old = enrol_through_pages(client)
    # the link leads to a confirmation first
    page = client.get(reverse("mfa_regenerate")).content.decode()
    assert "the ones you have now stop working" in page
    assert sorted(StaticToken.objects.filter(device__user=sales_rep).values_list("token", flat=True)) == sorted(old)
    # a session alone (a computer left unlocked) cannot make new codes: a current code is asked for
    assert "That code is wrong" in client.post(reverse("mfa_regenerate"), {"code": "000000"}).content.decode()
    assert client.post(reverse("mfa_regenerate")).status_code == 200
    assert sorted(StaticToken.objects.filter(device__user=sales_rep).values_list("token", flat=True)) == sorted(old)
    # when he confirms with a code of his app
    wait_out_throttle(sales_rep)
    response = client.post(reverse("mfa_regenerate"), {"code": code(device_key(sales_rep), 1)})
    new = re.findall(r'<li class="col py-1">([a-z2-7]+)</li>', client.get(response.url).content.decode())
    # then he sees ten new ones, and only those work
    assert len(new) == 10 and not set(new) & set(old)
    assert sorted(StaticToken.objects.filter(device__user=sales_rep).values_list("token", flat=True)) == sorted(new)


def test_moving_to_a_new_phone_replaces_the_app_and_keeps_the_session(client_as, sales_rep):
    client = client_as(sales_rep)
    old_key, codes = enrol_through_pages(client)
    # the session alone is not enough to swap the phone: a current code of the old app (or a recovery code) first
    page = client.get(reverse("mfa_setup"), {"replace": "1"}).content.decode()
    assert "data-mfa-secret" not in page and "type a code from the old phone" in page
    refused = client.post(reverse("mfa_setup") + "?replace=1", {"replace": "1", "confirm_current": "1",
                                                                 "code": "000000"}).content.decode()
    assert "That code is wrong" in refused and "data-mfa-secret" not in refused
    wait_out_throttle(sales_rep)
    client.post(reverse("mfa_setup") + "?replace=1", {"replace": "1", "confirm_current": "1", "code": codes[0]})
    page = client.get(reverse("mfa_setup"), {"replace": "1"}).content.decode()
    new_key = base64.b32decode(re.search(r"data-mfa-secret>([A-Z2-7 ]+)<", page).group(1).replace(" ", ""))
    assert new_key != old_key
    response = client.post(reverse("mfa_setup"), {"code": code(new_key), "replace": "1"})
    assert response.url == reverse("mfa_setup")
    assert device_key(sales_rep) == new_key
    assert StaticToken.objects.filter(device__user=sales_rep).count() == 9  # recovery codes kept, less the one used
    assert client.get(reverse("customers:list")).status_code == 200


# ------------------------------------------------------------------------------------------- the policy


def test_the_policy_page_is_for_admins_only(client_as, admin_user, sales_manager):
    assert client_as(sales_manager).get(reverse("mfa_policy")).status_code == 403
    assert client_as(sales_manager).post(reverse("mfa_policy"), {"required_roles": ["sales_rep"]}).status_code == 403
    assert MfaPolicy.current().required_roles == []
    page = client_as(admin_user).get(reverse("mfa_policy")).content.decode()
    assert 'value="sales_rep"' in page and 'value="admin"' not in page


def test_an_admin_requires_it_for_a_role_and_its_users_must_enrol_at_their_next_click(
    client_as, admin_user, sales_rep, sales_manager
):
    rep_client, _ = log_in(sales_rep)
    assert rep_client.get(reverse("customers:list")).status_code == 200
    # when the admin ticks "sales rep"
    response = client_as(admin_user).post(reverse("mfa_policy"), {"required_roles": ["sales_rep"]})
    assert response.status_code == 302
    assert MfaPolicy.current().required_roles == ["sales_rep"]
    # then the signed-in rep can open nothing until he has set it up
    assert rep_client.get(reverse("customers:list")).url.startswith(reverse("mfa_setup"))
    enrol_through_pages(rep_client)
    assert rep_client.get(reverse("customers:list")).status_code == 200
    # and the manager, whose role was not ticked, goes on as before
    manager_client, _ = log_in(sales_manager)
    assert manager_client.get(reverse("customers:list")).status_code == 200
    # the change is in the audit trail
    event = MfaPolicy.objects.get().events.latest("pgh_id")
    assert event.required_roles == ["sales_rep"] and event.pgh_context.metadata["user"] == admin_user.pk
    # unticking every box (the browser then sends no field at all) requires it of administrators alone again
    assert client_as(admin_user).post(reverse("mfa_policy"), {}).status_code == 302
    assert MfaPolicy.current().required_roles == []


# ------------------------------------------------------------------------------------------- the admin's reset


def test_an_admin_resets_a_users_two_factor_authentication(client_as, admin_user, sales_rep, sales_manager):
    key = enrolled(sales_rep)
    rep_client, _ = log_in(sales_rep)
    rep_client.post(reverse("mfa_verify"), {"code": code(key, 1)})
    assert rep_client.get(reverse("customers:list")).status_code == 200
    admin = client_as(admin_user)
    change_page = admin.get(reverse("admin:accounts_user_change", args=[sales_rep.pk])).content.decode()
    reset_url = reverse("admin:accounts_user_mfa_reset", args=[sales_rep.pk])
    assert reset_url in change_page
    # nobody but an administrator gets the reset page
    assert client_as(sales_manager).get(reset_url).url.startswith(reverse("admin:login"))
    # the admin confirms first
    assert "will stop working" in admin.get(reset_url).content.decode()
    assert mfa.has_device(sales_rep)
    response = admin.post(reset_url)
    assert response.url == reverse("admin:accounts_user_change", args=[sales_rep.pk])
    # then the rep's app and recovery codes are gone, and he is signed out
    assert not TOTPDevice.objects.filter(user=sales_rep).exists()
    assert not StaticToken.objects.filter(device__user=sales_rep).exists()
    assert rep_client.get(reverse("customers:list")).url.startswith(reverse("login"))
    # and the audit trail says who did it
    event = sales_rep.mfa_events.latest("pgh_id")
    assert event.pgh_label == "mfa_reset"
    assert event.pgh_context.metadata["user"] == admin_user.pk
    assert event.pgh_context.metadata["reason"] == "mfa_reset"
    log = admin.get(reverse("audit:log"), {"model": "accounts.User"}).content.decode()
    assert "two-factor authentication reset by an administrator" in log


def test_a_reset_admin_signs_in_to_the_set_up_page_again(client_as, admin_user):
    client = client_as(admin_user)
    assert client.get(reverse("home")).status_code == 200
    mfa.reset(user=User.objects.get(pk=admin_user.pk), actor=admin_user)
    assert client.get(reverse("home")).url.startswith(reverse("login"))
    client, _ = log_in(admin_user)
    assert client.get(reverse("home")).url.startswith(reverse("mfa_setup"))


# ------------------------------------------------------------------------------------------- the demo


def test_the_demo_logins_say_who_sets_up_two_factor_at_first_login(db):
    def logins() -> dict[str, str]:
        out = io.StringIO()
        with translation.override("en"):
            call_command("seed_demo", customers=0, print_logins=True, stdout=out)
        return {line.split("crm-demo-2026")[0].split()[-1]: line
                for line in out.getvalue().splitlines() if "crm-demo-2026" in line}

    printed = logins()
    assert "set up at first login" in printed["admin"]
    assert "two-factor" not in printed["rep"] and "two-factor" not in printed["manager"]
    # once an admin requires it for reps, the demo says so for them too
    mfa.policy_save(roles=["sales_rep"])
    printed = logins()
    assert "set up at first login" in printed["rep"] and "two-factor" not in printed["manager"]
