"""Signs a user out after CRM_SESSION_IDLE_MINUTES without a request, or CRM_SESSION_MAX_HOURS after he signed in.

Both times are kept in the session as POSIX seconds. The last-activity time is rewritten at most once a minute, so
that ordinary requests do not save the session each time; the idle limit is therefore exact to within a minute.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.contrib.messages.storage import default_storage
from django.http import HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.translation import ngettext
from django_htmx.http import HttpResponseClientRedirect

LOGIN_AT = "crm_login_at"
LAST_ACTIVITY = "crm_last_activity"
ACTIVITY_WRITE_INTERVAL = 60  # seconds


def _now() -> float:
    return timezone.now().timestamp()


def mark_session_start(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: the absolute limit counts from here."""
    if request is not None and hasattr(request, "session"):
        now = _now()
        request.session[LOGIN_AT] = now
        request.session[LAST_ACTIVITY] = now


def _expiry_message(session, now: float) -> str | None:
    """Why this session has run out, in the active language, or None while it is still good."""
    idle_minutes = settings.CRM_SESSION_IDLE_MINUTES
    max_hours = settings.CRM_SESSION_MAX_HOURS
    if now - session[LOGIN_AT] >= max_hours * 3600:
        return ngettext(
            "You were signed out %(hours)d hour after signing in; please sign in again.",
            "You were signed out %(hours)d hours after signing in; please sign in again.",
            max_hours,
        ) % {"hours": max_hours}
    if now - session[LAST_ACTIVITY] >= idle_minutes * 60:
        return ngettext(
            "You were signed out after %(minutes)d minute without activity.",
            "You were signed out after %(minutes)d minutes without activity.",
            idle_minutes,
        ) % {"minutes": idle_minutes}
    return None


class SessionTimeoutMiddleware:
    """Goes right after AuthenticationMiddleware (before MessageMiddleware, so it sets up the message storage for
    the one response it answers itself)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated:
            return self.get_response(request)
        session = request.session
        now = _now()
        if LOGIN_AT not in session or LAST_ACTIVITY not in session:
            # A session from before this middleware existed: its limits count from now.
            session[LOGIN_AT] = session.get(LOGIN_AT, now)
            session[LAST_ACTIVITY] = now
        reason = _expiry_message(session, now)
        if reason is None:
            if now - session[LAST_ACTIVITY] >= ACTIVITY_WRITE_INTERVAL:
                session[LAST_ACTIVITY] = now
            return self.get_response(request)
        return self._sign_out(request, reason)

    @staticmethod
    def _sign_out(request, reason: str):
        logout(request)
        login_url = resolve_url(settings.LOGIN_URL)
        if request.headers.get("HX-Request") == "true":
            # A partial would land inside the page; make the browser itself go to the login page.
            response = HttpResponseClientRedirect(login_url)
        elif request.method == "GET":
            response = redirect_to_login(request.get_full_path())
        else:
            response = HttpResponseRedirect(login_url)
        # The message lives in the new, empty session that logout() started.
        request._messages = default_storage(request)
        messages.info(request, reason)
        request._messages.update(response)
        return response
