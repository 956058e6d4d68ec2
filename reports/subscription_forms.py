"""The form that schedules a report by mail: the report and its filters (from the report's page), how often, and to
whom (people of the user's scope who have a mail address)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from . import registry
from .models import Frequency
from .subscriptions import QUERY_MAX, clean_query, subscribable_people


class SubscriptionForm(forms.Form):
    report = forms.ChoiceField(label=_("report"))
    query = forms.CharField(required=False, widget=forms.HiddenInput)
    frequency = forms.ChoiceField(label=_("frequency"), choices=Frequency.choices, initial=Frequency.WEEKLY,
                                  widget=forms.RadioSelect)
    recipients = forms.ModelMultipleChoiceField(label=_("recipients"), queryset=None,
                                                widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.reports = {report.key: report for report in registry.available(user)}
        self.fields["report"].choices = [(key, report.title) for key, report in self.reports.items()]
        self.fields["recipients"].queryset = subscribable_people(user).order_by("last_name", "first_name", "username")
        self.fields["recipients"].help_text = _("People without a mail address are not listed.")

    def clean_query(self):
        query = clean_query(self.cleaned_data.get("query") or "")
        if len(query) > QUERY_MAX:
            raise forms.ValidationError(_("These filters are too long to be saved."))
        return query

    def clean(self):
        cleaned = super().clean()
        report, recipients = self.reports.get(cleaned.get("report")), cleaned.get("recipients")
        if report is not None and recipients:
            unable = [person for person in recipients if not report.allowed(person)]
            if unable:
                self.add_error("recipients", _("%(names)s may not open this report.")
                               % {"names": ", ".join(str(person) for person in unable)})
        return cleaned
