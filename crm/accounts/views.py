"""A user's own settings page, and the page a locked-out login gets."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from . import mfa
from .forms import AccountSettingsForm


@require_http_methods(["GET", "POST"])
def account_settings(request):
    # A POST with the box unticked and the default language sends no field at all: still a submitted form.
    form = AccountSettingsForm(request.POST if request.method == "POST" else None, instance=request.user)
    if form.is_valid():
        user = form.save(commit=False)
        user.save(update_fields=list(form.fields))  # the fields this user's form has (is_away only for some)
        messages.success(request, _("Your settings are saved."))
        return redirect("account_settings")
    return render(request, "accounts/settings.html", {"form": form, "mfa_on": mfa.has_device(request.user)})


def login_locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a login from a user name and address that failed too often (AXES_LOCKOUT_CALLABLE)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    # Wrong two-factor codes count too (crm.accounts.mfa.record_wrong_code); the page then says so.
    wrong_codes = getattr(request, "crm_mfa_lockout", False)
    return render(request, "accounts/lockout.html", {"minutes": minutes, "wrong_codes": wrong_codes}, status=429)
