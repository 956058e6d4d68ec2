"""The targets page's forms: the month chosen (a "2025-03" value, from the query string or the posted grid) and the
grid of one amount per rep and per team for that month."""

import re
from datetime import date

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .filters import month_start

FIELD_NAME = re.compile(r"^(user|team)_(\d{1,12})$")


class MonthField(forms.DateField):
    widget = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")
    input_formats = ["%Y-%m", "%Y-%m-%d"]

    def to_python(self, value):
        day = super().to_python(value)
        return month_start(day) if day else day


class MonthForm(forms.Form):
    month = MonthField(label=_("month"), required=False)

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["month"].error_messages["invalid"] = _("Choose a month such as 2025-03.")

    def clean_month(self):
        month = self.cleaned_data.get("month")
        if month and not (2000 <= month.year <= 2100):
            raise forms.ValidationError(_("Choose a month between 2000 and 2100."))
        return month

    def chosen(self) -> date:
        """The chosen month, or the current one when none (or no valid one) was given."""
        if self.is_bound and self.is_valid() and self.cleaned_data.get("month"):
            return self.cleaned_data["month"]
        return month_start(timezone.localdate())


def _amount_field(label) -> forms.DecimalField:
    return forms.DecimalField(label=label, required=False, min_value=0, max_digits=16, decimal_places=2,
                              widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}))


class TargetGridForm(forms.Form):
    """One amount field per rep (``user_<id>``) and per team (``team_<id>``) the actor may set. Fields for anyone
    else that a crafted request adds are kept aside (``foreign``), so that the save refuses them rather than
    silently ignoring them."""

    def __init__(self, data=None, *, people, teams, current: dict, **kwargs):
        super().__init__(data, **kwargs)
        for person in people:
            name = f"user_{person.pk}"
            self.fields[name] = _amount_field(str(person))
            self.initial[name] = current.get(("user", person.pk))
        for team in teams:
            name = f"team_{team.pk}"
            self.fields[name] = _amount_field(str(team))
            self.initial[name] = current.get(("team", team.pk))
        self.foreign = {}
        for key in (data or {}):
            match = FIELD_NAME.match(key)
            if match and key not in self.fields:
                self.foreign[(match.group(1), int(match.group(2)))] = data.get(key)

    def amounts(self) -> tuple[dict, dict]:
        """The posted amounts ({user id: amount or None}, {team id: ...}): only the fields the request carried (a
        field left out leaves its target alone), and the foreign ones for the service to refuse."""
        people, teams = {}, {}
        for name, value in self.cleaned_data.items():
            match = FIELD_NAME.match(name)
            if match and name in self.data:
                (people if match.group(1) == "user" else teams)[int(match.group(2))] = value
        for (kind, pk), value in self.foreign.items():
            (people if kind == "user" else teams)[pk] = value
        return people, teams
