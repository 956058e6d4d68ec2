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
