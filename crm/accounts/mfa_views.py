"""Two-factor authentication pages: the code step after the password, setting up an authenticator app, recovery
codes, turning it off, and the administrators' policy page. The rules live in crm.accounts.mfa."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticDevice

from . import mfa
from .forms import MfaCodeForm, MfaPolicyForm
from .models import MfaPolicy
from .roles import require_admin

NEW_KEY = "crm_mfa_new_key"  # the secret being set up, until a code from the app confirms it
NEW_CODES = "crm_mfa_new_codes"  # recovery codes just made, shown once
REPLACE_CONFIRMED = "crm_mfa_replace_confirmed"  # the user typed a current code before moving to a new phone


def _next(request) -> str:
    """Where the user was going (kept through the code and set-up steps), if it is a page of this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return ""


def _posted(request):
    # An empty POST (no box ticked, no code typed) is still a submitted form: bound, so it saves or shows its errors.
    return request.POST if request.method == "POST" else None


def _wait_message(seconds: int) -> str:
    return ngettext(
        "Too many wrong codes: wait %(seconds)d second, then try again.",
        "Too many wrong codes: wait %(seconds)d seconds, then try again.",
        seconds,
    ) % {"seconds": seconds}


def _recovery_used_message(left: int) -> str:
    if left == 0:
        return _("You used your last recovery code. Make new ones now under My settings → Two-factor authentication.")
    return ngettext(
        "You used a recovery code; %(count)d is left. Each one works once.",
        "You used a recovery code; %(count)d are left. Each one works once.",
        left,
    ) % {"count": left}


# ------------------------------------------------------------------------------------------- the code step


@require_http_methods(["GET", "POST"])
def mfa_verify(request):
    """After the password: a code from the authenticator app or a recovery code, before any other page opens."""
    user = request.user
    if user.is_verified() or mfa.pending_step(user) is not mfa.Step.VERIFY:
        return redirect(_next(request) or "home")
    form = MfaCodeForm(_posted(request))
    if form.is_valid():
        check = mfa.check_code(user, form.cleaned_data["code"])
        if check.ok:
            mfa.pass_second_step(request, check.device)
            if isinstance(check.device, StaticDevice):
                left = mfa.recovery_codes_left(user)
                (messages.warning if left < 3 else messages.info)(request, _recovery_used_message(left))
            return HttpResponseRedirect(_next(request) or reverse("home"))
        if check.wait_until is not None:
            form.add_error("code", _wait_message(check.wait_seconds))
        else:
            mfa.record_wrong_code(request, user)
            if getattr(request, "axes_locked_out", False):
                # Too many wrong codes from this address: out, and django-axes answers with the lockout page.
                request.crm_mfa_lockout = True
                logout(request)
                return redirect("login")
            form.add_error("code", _("That code is wrong or has already been used."))
    return render(request, "accounts/mfa_verify.html", {"form": form, "next": _next(request), "mfa_pending": True})


# ------------------------------------------------------------------------------------------- setting it up


@require_http_methods(["GET", "POST"])
def mfa_setup(request):
    """The user's two-factor page: set up an authenticator app (QR code, the secret as text, a first code to confirm
    it), or, once it is on, its state with new recovery codes, a new phone and turning it off."""
    user = request.user
    has_device = mfa.has_device(user)
    replacing = has_device and (request.GET.get("replace") or request.POST.get("replace"))
    required = mfa.is_required(user)
    # Sent here after the password because his role requires it: no menu, he can do nothing else until done.
    pending = required and not has_device and not user.is_verified()
    context = {"next": _next(request), "mfa_pending": pending, "required": required}
    if has_device and not replacing:
        context["recovery_codes_left"] = mfa.recovery_codes_left(user)
        return render(request, "accounts/mfa_setup.html", context)
    if replacing and request.session.get(REPLACE_CONFIRMED) != user.pk:
        # Whoever holds this session (a computer left unlocked) must not swap the real user's phone for his own:
        # a current code of the old app, or a recovery code, comes first.
        confirm = MfaCodeForm(request.POST if request.POST.get("confirm_current") else None)
        if _confirmed_by_current_code(request, confirm):
            request.session[REPLACE_CONFIRMED] = user.pk
            return redirect(reverse("mfa_setup") + "?replace=1")
        return render(request, "accounts/mfa_confirm_code.html", {
            "form": confirm, "title": _("Move to a new phone"), "replacing": True, "button": _("Continue"),
            "action": reverse("mfa_setup") + "?replace=1",
            "text": _("Once the new phone is set up, the app on the old one stops working. To confirm that it is "
                      "you, type a code from the old phone's app, or one of your recovery codes if the old phone is "
                      "lost.")})
    key = request.session.get(NEW_KEY)
    if not key:
        key = request.session[NEW_KEY] = mfa.new_secret()
    form = MfaCodeForm(_posted(request), allow_recovery=False)
    if form.is_valid():
        enrolment = mfa.enrol(user=user, key_hex=key, code=form.cleaned_data["code"])
        if enrolment is not None:
            del request.session[NEW_KEY]
            request.session.pop(REPLACE_CONFIRMED, None)
            # This session passed with the new app: the code just typed proves it is in the user's hand.
            mfa.pass_second_step(request, enrolment.device)
            if enrolment.recovery_codes:
                request.session[NEW_CODES] = enrolment.recovery_codes
                target = reverse("mfa_recovery_codes")
                return redirect(target + ("?" + urlencode({"next": context["next"]}) if context["next"] else ""))
            messages.success(request, _("Your new authenticator app is set up; the old one no longer works."))
            return redirect("mfa_setup")
        form.add_error("code", _("That code does not match. Check that the phone's time is set automatically, "
                                 "then type the code the app shows now."))
    uri = mfa.provisioning_uri(user, key)
    context.update({"form": form, "replacing": replacing, "qr_svg": mfa.qr_svg(uri),
                    "secret": mfa.secret_for_humans(key)})
    return render(request, "accounts/mfa_setup.html", context)


@require_http_methods(["GET"])
def mfa_recovery_codes(request):
    """The recovery codes just made, shown this once (they are in the session only until this page takes them)."""
    codes = request.session.pop(NEW_CODES, None)
    if not codes:
        return redirect("mfa_setup")
    return render(request, "accounts/mfa_recovery_codes.html",
                  {"codes": codes, "next": _next(request) or reverse("home")})


@require_http_methods(["GET", "POST"])
def mfa_regenerate(request):
    """New recovery codes, after a confirmation: the old ones stop working."""
    if not mfa.has_device(request.user):
        return redirect("mfa_setup")
    form = MfaCodeForm(_posted(request))
    if _confirmed_by_current_code(request, form):
        request.session[NEW_CODES] = mfa.regenerate_recovery_codes(user=request.user)
        return redirect("mfa_recovery_codes")
    return render(request, "accounts/mfa_confirm_code.html", {
        "form": form, "title": _("New recovery codes"), "button": _("Make new codes"),
        "action": reverse("mfa_regenerate"),
        "text": _("You get ten new recovery codes, and the ones you have now stop working. To confirm, type a "
                  "current code.")})


@require_http_methods(["GET", "POST"])
def mfa_remove(request):
    """Turn two-factor authentication off, with a current code; not for a user whose role requires it."""
    user = request.user
    if not mfa.has_device(user):
        return redirect("mfa_setup")
    if mfa.is_required(user):
        messages.error(request, _("Your role requires two-factor authentication: it cannot be turned off."))
        return redirect("mfa_setup")
    form = MfaCodeForm(_posted(request))
    if _confirmed_by_current_code(request, form):
        mfa.remove(user=user)
        messages.success(request, _("Two-factor authentication is off: your password alone signs you in."))
        return redirect("mfa_setup")
    return render(request, "accounts/mfa_confirm_code.html", {
        "form": form, "title": _("Turn off two-factor authentication"), "button": _("Turn off"), "danger": True,
        "action": reverse("mfa_remove"),
        "text": _("Your password alone will sign you in again, and your authenticator app and recovery codes stop "
                  "working. To confirm, type a current code.")})


def _confirmed_by_current_code(request, form) -> bool:
    """Whether the form holds a current code of the signed-in user (the app's, or a recovery code, which it spends);
    the form gets the error otherwise. Changing the second step itself asks for it."""
    if not form.is_valid():
        return False
    check = mfa.check_code(request.user, form.cleaned_data["code"])
    if check.ok:
        return True
    if check.wait_until is not None:
        form.add_error("code", _wait_message(check.wait_seconds))
    else:
        form.add_error("code", _("That code is wrong or has already been used."))
    return False


# ------------------------------------------------------------------------------------------- the policy


@require_http_methods(["GET", "POST"])
def mfa_policy(request):
    """Administrators choose which roles besides theirs must use two-factor authentication."""
    require_admin(request.user)
    policy = MfaPolicy.current()
    form = MfaPolicyForm(_posted(request), initial={"required_roles": policy.required_roles})
    if form.is_valid():
        mfa.policy_save(roles=form.cleaned_data["required_roles"])
        messages.success(request, _("The two-factor authentication policy is saved."))
        return redirect("mfa_policy")
    return render(request, "accounts/mfa_policy.html", {"form": form})
