"""The public web-to-lead form (在线留资): a page a company embeds on its website (an iframe), the CRM's only
public write.

Against spam, without the CRM's login or its CSRF cookie:
- CSRF: the form is embedded on another site, whose pages cannot carry the CRM's CSRF cookie (third-party cookies
  are blocked, SameSite=Lax keeps it out of cross-site POSTs), so the view is csrf_exempt. CSRF protects a
  logged-in user's session from forged requests; this form uses no session and acts for nobody, so a forged
  submission can do no more than the visitor himself could. What it needs is protection from robots, which these
  give:
- a signed, time-limited token rendered into the form: a robot must load the form before posting; a post sooner
  than MIN_SECONDS after the form was shown is a robot's; a token serves once; a form left open too long is shown
  again with a fresh token;
- a honeypot field people never see (``website``), which form-filling robots fill;
- a rate limit per client address (Django's cache, i.e. Redis, shared by every web process).
A robot caught by the honeypot or the token is answered exactly as a person is (the thank-you page) and nothing
is stored, so that it learns nothing.
"""

import secrets
import time
from functools import wraps

from csp.decorators import csp_replace
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.core.cache import cache
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from crm.web.http import client_address

from .lead_forms import WebLeadForm
from .lead_services import web_lead_create

SALT = "sales.lead_web_form"
MIN_SECONDS = 2  # nobody types a name and a phone number faster
MAX_AGE = 2 * 3600
FORGED, TOO_FAST, EXPIRED, REUSED, VALID = "forged", "too_fast", "expired", "reused", "valid"


def rate_limit() -> tuple[int, int]:
    """(submissions, per seconds) allowed from one client address."""
    return settings.CRM_LEAD_FORM_RATE_LIMIT, settings.CRM_LEAD_FORM_RATE_WINDOW


def form_token(*, issued_at: float | None = None) -> str:
    """A token for one submission, signed with the SECRET_KEY; ``issued_at``: when the visitor first saw the form
    (kept when the form comes back with errors, so that correcting it is not taken for a robot's speed)."""
    return signing.dumps({"t": int(issued_at if issued_at is not None else time.time()),
                          "n": secrets.token_hex(8)}, salt=SALT)


def token_issued_at(token: str) -> float | None:
    try:
        return float(signing.loads(token, salt=SALT)["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def check_token(token: str, *, now: float | None = None) -> str:
    """FORGED, TOO_FAST, EXPIRED, REUSED or VALID; a valid token is used up."""
    try:
        data = signing.loads(token or "", salt=SALT)
        issued, nonce = float(data["t"]), str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return FORGED
    age = (now if now is not None else time.time()) - issued
    if age < MIN_SECONDS:
        return TOO_FAST
    if age > MAX_AGE:
        return EXPIRED
    if not cache.add(f"sales:webform:token:{nonce}", 1, timeout=MAX_AGE + 60):
        return REUSED
    return VALID


def over_rate_limit(address: str) -> bool:
    """Count a submission from ``address``; True past the limit within the window (fixed from the first one).
    Only submissions that would store a lead count (a valid form with a valid token): what the limit guards is
    the lead list, and invalid posts store nothing."""
    limit, window = rate_limit()
    key = f"sales:webform:rate:{address}"
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.set(key, 1, timeout=window)
        count = 1
    return count > limit


def _language(request) -> str:
    """?lang=en|zh-hans (the embedding site's choice), else the visitor's browser language (LocaleMiddleware)."""
    wanted = request.GET.get("lang", "")
    codes = [code for code, _name in settings.LANGUAGES]
    if wanted in codes:
        return wanted
    current = request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else settings.LANGUAGE_CODE
    return current if current in codes else settings.LANGUAGE_CODE


def _embeddable(view):
    """The form is made to be framed by the company's website: its Content-Security-Policy names the sites that may
    (CRM_LEAD_FORM_FRAME_ANCESTORS) where every other page says frame-ancestors 'none'."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        allowed = {"frame-ancestors": settings.CRM_LEAD_FORM_FRAME_ANCESTORS}
        return csp_replace(allowed)(view)(request, *args, **kwargs)

    return wrapped


def _thanks(request):
    lang = request.GET.get("lang", "")
    query = f"?{urlencode({'lang': lang})}" if lang else ""
    return redirect(reverse("sales:lead_web_form_thanks") + query)


@login_not_required
@csrf_exempt
@xframe_options_exempt
@_embeddable
@require_http_methods(["GET", "POST"])
def lead_web_form(request):
    with translation.override(_language(request)):
        status = 200
        if request.method != "POST":
            form = WebLeadForm(initial={"token": form_token()})
            return render(request, "sales/leads/web_form.html", {"form": form})
        form = WebLeadForm(request.POST)
        if request.POST.get("website"):
            return _thanks(request)  # the honeypot: a robot, answered as a person and forgotten
        issued_at = token_issued_at(request.POST.get("token", ""))
        if form.is_valid():
            verdict = check_token(form.cleaned_data["token"])
            if verdict not in (VALID, EXPIRED):
                return _thanks(request)  # forged, reused or too fast: a robot's (or a double click's)
            if verdict == EXPIRED:
                form.add_error(None, _("The form was open for a long time. Please check it and send it again."))
                issued_at = None
            elif over_rate_limit(client_address(request)):
                form.add_error(None, _("Too many messages were sent from your network. Please try again in a few "
                                       "minutes."))
                status = 429
            else:
                web_lead_create(data=form.lead_data(), campaign=request.GET.get("campaign", ""),
                                client_address=client_address(request))
                return _thanks(request)
        # Shown again (errors, or expired): with a fresh token, still dated when the visitor first saw the form.
        data = request.POST.copy()
        data["token"] = form_token(issued_at=issued_at)
        form.data = data
        return render(request, "sales/leads/web_form.html", {"form": form}, status=status)


@login_not_required
@xframe_options_exempt
@_embeddable
@require_GET
def lead_web_form_thanks(request):
    with translation.override(_language(request)):
        return render(request, "sales/leads/web_form_thanks.html")
