"""Signing in as a test or a benchmark does: force_login, then past the second step of two-factor authentication.

Shared by tests/conftest.py and the bench/ scripts (which put the project folder on sys.path)."""

from django.test import Client


def pass_second_step(client: Client, user) -> None:
    """force_login stops where the password would: a user who has two-factor authentication, or whose role requires
    it (every admin), would see only the code or set-up page. The one place tests decide how such a user gets past
    it: he gets an authenticator app (a confirmed TOTP device, as if he had enrolled) and the session is marked as
    verified by it, as django_otp.login does after a good code. Users without it stay as they are."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from crm.accounts import mfa

    user = type(user).objects.get(pk=user.pk)  # a copy: the test's own object keeps no cached roles
    if not (mfa.is_required(user) or mfa.has_device(user)):
        return
    device = mfa.totp_device(user) or TOTPDevice.objects.create(user=user, name=mfa.TOTP_NAME, confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
