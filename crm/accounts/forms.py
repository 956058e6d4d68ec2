from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import User


class AccountSettingsForm(forms.ModelForm):
    """A user's own preferences: the language of his mails, and whether notifications are also mailed."""

    class Meta:
        model = User
        fields = ["language", "notify_by_email"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        default = dict(settings.LANGUAGES).get(settings.LANGUAGE_CODE, settings.LANGUAGE_CODE)
        self.fields["language"].label = _("language of my mails")
        self.fields["language"].choices = [("", _("Site default (%(language)s)") % {"language": default}),
                                           *settings.LANGUAGES]
        self.fields["language"].help_text = _("The pages follow the language switch at the top of each page.")
