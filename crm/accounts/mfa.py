"""Two-factor authentication: the policy (who must use it), reads and writes on a user's devices (django-otp), and
checking a code at sign-in.

A user's "device" is one confirmed TOTPDevice (his authenticator app) plus one StaticDevice holding his recovery
codes. Both are django-otp's, so their throttling applies: after a wrong code the device refuses every code for
1, 2, 4, 8 ... seconds, which makes guessing six digits hopeless. A TOTP code is accepted once: the device keeps
the time step of the last code it accepted (last_t) and takes only later ones; a recovery code is deleted when used.
"""

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import pghistory
import segno
from django.contrib.auth.signals import user_login_failed
from django.contrib.postgres.fields import ArrayField
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Subquery
from django.utils import timezone
from django_otp import login as otp_login
from django_otp import verify_token
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from .models import MfaPolicy, User
from .roles import ADMIN, ALL_ROLES, is_admin, user_roles

RECOVERY_CODE_COUNT = 10
TOTP_NAME = "authenticator app"
RECOVERY_NAME = "recovery codes"


class Step(Enum):
    """What a signed-in session still has to do before it may open any page."""

    VERIFY = "verify"  # he has a device: enter a code from it
    ENROL = "enrol"  # his role requires two-factor authentication and he has no device yet


# ------------------------------------------------------------------------------------------------ reads


def required_roles() -> set[str]:
    """The roles that must use two-factor authentication: administrators always, and those the policy names."""
    return {ADMIN, *MfaPolicy.current().required_roles}


def _requires(user, policy_roles) -> bool:
    if is_admin(user):  # superusers too, whatever their groups
        return True
    return bool(user_roles(user) & set(policy_roles))


def is_required(user) -> bool:
    return _requires(user, MfaPolicy.current().required_roles)


def totp_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def has_device(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def pending_step(user) -> Step | None:
    """For a signed-in session that has not passed the second step: what it must do, or None if nothing (a user
    without a device whose role does not require one signs in with his password alone, as before).

    Asked on every request of such a user (the policy applies from his next click), so both facts come in one query:
    whether he has an app, and the roles the policy names."""
    device = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    policy = MfaPolicy.objects.filter(pk=1).values("required_roles")
    has, policy_roles = (
        User.objects.filter(pk=user.pk)
        .annotate(has=Exists(device), policy_roles=Subquery(policy, output_field=ArrayField(CharField())))
        .values_list("has", "policy_roles")
        .get()
    )
    if has:
        return Step.VERIFY
    if _requires(user, policy_roles or []):
        return Step.ENROL
    return None


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def policy_save(*, roles) -> MfaPolicy:
    policy = MfaPolicy.current()
    policy.required_roles = [role for role in ALL_ROLES if role in set(roles) and role != ADMIN]
    policy.full_clean()
    policy.save()
    return policy


# ------------------------------------------------------------------------------------------------ enrolment


def new_secret() -> str:
    """A fresh TOTP key (20 random bytes, hex), kept in the session until the user confirms it with a code."""
    return random_hex(20)


def secret_for_humans(key_hex: str) -> str:
    """The key as authenticator apps take it when typed: base32, in groups of four."""
    text = base64.b32encode(bytes.fromhex(key_hex)).decode()
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def provisioning_uri(user, key_hex: str) -> str:
    # The device's own config_url, on a device that is not saved: the same label and issuer the app will show.
    return TOTPDevice(user=user, key=key_hex).config_url


def qr_svg(text: str) -> str:
    """The QR code of ``text`` as inline SVG markup (no script, no external image: the page's CSP stays strict).
    White quiet zone and background, so that phones read it in dark mode too."""
    return segno.make(text, error="m", micro=False).svg_inline(scale=5, border=4, dark="#000", light="#fff")


def _matching_totp(key_hex: str, code: str) -> TOTP | None:
    """The TOTP state matching ``code`` (this time step's code, the one before or after), or None. Its t() is the
    step the code belongs to and its drift how far the phone's clock is off, as django-otp's devices keep them."""
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = TOTP(bytes.fromhex(key_hex), step=30, t0=0, digits=6)
    return totp if totp.verify(int(code), tolerance=1) else None


@dataclass
class Enrolment:
    device: TOTPDevice
    recovery_codes: list[str]  # new ones on a first enrolment (shown once); none when an app replaces another


@transaction.atomic
def enrol(*, user: User, key_hex: str, code: str) -> Enrolment | None:
    """Confirm the authenticator app set up with ``key_hex`` by a code from it (None if the code is wrong). It
    replaces an earlier app of the user's; his recovery codes stay good then.

    The confirming code is spent: the device starts past its time step, so the same code cannot also pass the
    sign-in step."""
    totp = _matching_totp(key_hex, normalize_code(code))
    if totp is None:
        return None
    User.objects.select_for_update().filter(pk=user.pk).first()  # two enrolments of one user at once: one at a time
    first = not has_device(user)
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, key=key_hex, confirmed=True,
                                       last_t=totp.t(), drift=totp.drift)
    codes = []
    if first:
        codes = regenerate_recovery_codes(user=user)
        with pghistory.context(reason="mfa_enrolled"):
            pghistory.create_event(user, label="mfa_enrolled")
    return Enrolment(device=device, recovery_codes=codes)


@transaction.atomic
def regenerate_recovery_codes(*, user: User) -> list[str]:
    """Ten new recovery codes; the earlier ones stop working."""
    device, _created = StaticDevice.objects.get_or_create(
        user=user, defaults={"name": RECOVERY_NAME, "confirmed": True},
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def _delete_devices(user: User) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()  # its tokens go with it (CASCADE)


@transaction.atomic
def remove(*, user: User) -> None:
    """The user turns two-factor authentication off (the view checks first that his role allows it and that he gave
    a current code)."""
    _delete_devices(user)
    with pghistory.context(reason="mfa_removed"):
        pghistory.create_event(user, label="mfa_removed")


@transaction.atomic
def reset(*, user: User, actor: User) -> None:
    """An administrator takes a user's devices away (a lost phone). The user is signed out everywhere, so that only a
    new sign-in with his password reaches the enrolment page, not a session someone had left open at the code step."""
    with pghistory.context(user=actor.pk, reason="mfa_reset"):
        _delete_devices(user)
        pghistory.create_event(user, label="mfa_reset")
    _end_sessions(user)


def _end_sessions(user: User) -> None:
    # Sessions are stored in the database (Django's default engine); a reset is rare, so decoding the live ones is fine.
    ended = [
        s.pk for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if s.get_decoded().get("_auth_user_id") == str(user.pk)
    ]
    Session.objects.filter(pk__in=ended).delete()


# ------------------------------------------------------------------------------------------------ the second step


def normalize_code(code: str) -> str:
    """Codes as people type them: spaces and dashes dropped, letters in lower case (recovery codes are stored so)."""
    return re.sub(r"[\s-]+", "", code or "").lower()


@dataclass
class Check:
    ok: bool
    device: TOTPDevice | StaticDevice | None = None
    wait_until: datetime | None = None  # set when the device refuses every code for now (throttled)

    @property
    def wait_seconds(self) -> int:
        if self.wait_until is None:
            return 0
        return max(1, int((self.wait_until - timezone.now()).total_seconds() + 0.999))


def check_code(user: User, code: str) -> Check:
    """Whether ``code`` is a good, unused code of the user's: six digits go to his authenticator app's device,
    anything else to his recovery codes. A wrong code makes that device wait longer before the next try."""
    code = normalize_code(code)
    model = TOTPDevice if re.fullmatch(r"\d{6}", code) else StaticDevice
    device = model.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        return Check(ok=False)
    allowed, info = device.verify_is_allowed()
    if not allowed:
        return Check(ok=False, device=device, wait_until=(info or {}).get("locked_until"))
    # django_otp.verify_token locks the device row: two requests with one code cannot both pass.
    verified = verify_token(user, device.persistent_id, code)
    return Check(ok=verified is not None, device=verified or device)


def pass_second_step(request, device) -> None:
    """Mark this session as verified by ``device`` (what OTPMiddleware reads on every request)."""
    otp_login(request, device)


def record_wrong_code(request, user: User) -> None:
    """A wrong code counts as a failed login: the audit log lists it, and django-axes counts it toward the lockout
    of this user name from this address (it may then set request.axes_locked_out)."""
    user_login_failed.send(
        sender=__name__, credentials={user.USERNAME_FIELD: user.get_username()}, request=request,
    )
