"""Sign-ins, failed sign-ins and sign-outs into LoginEvent, from Django's auth signals."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from crm.web.http import client_address

from .models import LoginEvent


def _address(request) -> str:
    return client_address(request)[:64] if request is not None else ""


def _username(user) -> str:
    return getattr(user, get_user_model().USERNAME_FIELD, "") or "" if user is not None else ""


@receiver(user_logged_in, dispatch_uid="audit_login")
def record_login(sender, request, user, **kwargs):
    LoginEvent.objects.create(kind=LoginEvent.Kind.LOGIN, user=user, username=_username(user)[:150],
                              address=_address(request))


@receiver(user_logged_out, dispatch_uid="audit_logout")
def record_logout(sender, request, user, **kwargs):
    LoginEvent.objects.create(kind=LoginEvent.Kind.LOGOUT, user=user if user and user.pk else None,
                              username=_username(user)[:150], address=_address(request))


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def record_login_failure(sender, credentials, request=None, **kwargs):
    # ``credentials`` has the password already masked by Django; only the user name is kept.
    field = get_user_model().USERNAME_FIELD
    typed = str(credentials.get(field) or credentials.get("username") or "")[:150]
    user = get_user_model()._default_manager.filter(**{field: typed}).first() if typed else None
    LoginEvent.objects.create(kind=LoginEvent.Kind.LOGIN_FAILED, user=user, username=typed,
                              address=_address(request))
