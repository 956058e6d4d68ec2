from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import User


class AccountSettingsForm(forms.ModelForm):
    """A user's own preferences: the language of his mails, whether notifications are also mailed, and (for
    those who work on leads) whether he is away."""

    class Meta:
        model = User
        fields = ["language", "notify_by_email", "is_away"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        default = dict(settings.LANGUAGES).get(settings.LANGUAGE_CODE, settings.LANGUAGE_CODE)
        self.fields["language"].label = _("language of my mails")
        self.fields["language"].choices = [("", _("Site default (%(language)s)") % {"language": default}),
                                           *settings.LANGUAGES]
        self.fields["language"].help_text = _("The pages follow the language switch at the top of each page.")
        # Only the lead assignment rules read the flag, and they give leads only to users who may work on them
        # (sales.assignment.lead_workers); to a support agent the box would promise something that means nothing.
        if self.instance.has_perm("sales.change_lead"):
            self.fields["is_away"].help_text = _("While you are away, the assignment rules give you no new leads.")
        else:
            del self.fields["is_away"]


class MfaCodeForm(forms.Form):
    """A six-digit code from the authenticator app, or (where ``allow_recovery``) one of the recovery codes."""

    code = forms.CharField(label=_("verification code"), max_length=32)

    def __init__(self, *args, allow_recovery: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        widget = self.fields["code"].widget
        widget.attrs.update({"autocomplete": "one-time-code", "autofocus": True, "autocapitalize": "off",
                             "spellcheck": "false"})
        if allow_recovery:
            self.fields["code"].help_text = _(
                "The 6-digit code your authenticator app shows now, or one of your recovery codes."
            )
        else:
            self.fields["code"].label = _("6-digit code from the app")
            widget.attrs.update({"inputmode": "numeric", "maxlength": "7"})


class MfaPolicyForm(forms.Form):
    """Which roles besides administrators must use two-factor authentication."""

    required_roles = forms.MultipleChoiceField(
        label=_("roles that must use two-factor authentication"), required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Administrators always must. Users of a ticked role who have not set it up yet are taken to "
                    "the set-up page on their next click."),
    )

    def __init__(self, *args, **kwargs):
        from .roles import ADMIN, ALL_ROLES

        super().__init__(*args, **kwargs)
        self.fields["required_roles"].choices = [
            (role, settings.ROLE_LABELS[role]) for role in ALL_ROLES if role != ADMIN
        ]
