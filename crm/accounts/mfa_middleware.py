"""Holds a signed-in session at the second step until it is done (crm.accounts.mfa).

Goes after OTPMiddleware (which says whether the session passed the second step), LoginRequiredMiddleware and
MessageMiddleware. Public pages (marked login_not_required) and logging out stay open; everything else, the admin
site included, sends the user to the code page or, if his role requires two-factor authentication and he has no
device yet, to the enrolment page, keeping where he was going in ``next``.
"""

from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from . import mfa

# Pages a session at the second step may still open, besides the one for its step.
ALWAYS_OPEN = {"logout", "set_language"}
STEP_PAGES = {mfa.Step.VERIFY: "mfa_verify", mfa.Step.ENROL: "mfa_setup"}


class MfaMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        if not getattr(view_func, "login_required", True):  # public pages (login, web-to-lead form ...)
            return None
        name = request.resolver_match.view_name if request.resolver_match else ""
        if name in ALWAYS_OPEN:
            return None
        step = mfa.pending_step(user)
        if step is None or name == STEP_PAGES[step]:
            return None
        target = reverse(STEP_PAGES[step])
        if request.method == "GET" and not request.htmx:
            target += "?" + urlencode({"next": request.get_full_path()})
        if request.htmx:
            # A partial would land inside the page; make the browser itself go there.
            return HttpResponseClientRedirect(target)
        return HttpResponseRedirect(target)
