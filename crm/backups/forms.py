import datetime

from django import forms
from django.utils.translation import gettext_lazy as _

from .schedule import WEEKDAYS, BackupSchedule


class BackupScheduleForm(forms.Form):
    enabled = forms.BooleanField(label=_("Take backups by schedule"), required=False,
                                 widget=forms.CheckboxInput(attrs={"class": "form-check-input"}))
    time = forms.TimeField(label=_("Time of day"), input_formats=["%H:%M", "%H:%M:%S"],
                           widget=forms.TimeInput(format="%H:%M", attrs={"type": "time", "class": "form-control"}))
    days = forms.TypedMultipleChoiceField(label=_("Days"), choices=WEEKDAYS, coerce=int, required=False,
                                          widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}))

    @classmethod
    def for_schedule(cls, schedule: BackupSchedule) -> "BackupScheduleForm":
        return cls(initial={"enabled": schedule.enabled, "time": datetime.time(schedule.hour, schedule.minute),
                            "days": schedule.days})

    def clean(self):
        data = super().clean()
        if data.get("enabled") and not data.get("days"):
            self.add_error("days", _("Choose at least one day, or turn the schedule off."))
        return data

    def schedule(self) -> BackupSchedule:
        data = self.cleaned_data
        return BackupSchedule(enabled=data["enabled"], hour=data["time"].hour, minute=data["time"].minute,
                              days=sorted(data["days"]) or [0, 1, 2, 3, 4, 5, 6])
