from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.accounts.selectors import assignable_users

from .models import Channel, Direction, FollowUp, Interaction, Priority

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


def within_calendar(value):
    """Timestamps are stored in UTC: midnight of 0001-01-01 in China is in year 0 there, which PostgreSQL stores
    but Python cannot read back (a 500 on saving, then on every page showing it)."""
    if value is not None and not 1900 <= value.year <= 9998:
        raise forms.ValidationError(_("Enter a date between the years 1900 and 9998."), code="out_of_range")


def _bound_datetimes(form: forms.BaseForm) -> None:
    for field in form.fields.values():
        if isinstance(field, forms.DateTimeField):
            field.validators.append(within_calendar)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple) and not data:
            # No file at all (or none the upload parser kept: a file named ".." is dropped) is checked as one
            # missing file, so that a required field says so instead of "0 files attached".
            data = None
        files = [single(d, initial) for d in data] if isinstance(data, list | tuple) else [single(data, initial)]
        return [f for f in files if f]


class QuickLogForm(forms.ModelForm):
    """Log a touch point and, in the same step, the next step it promised."""

    files = MultipleFileField(label=_("attachments"), required=False)
    next_step = forms.CharField(label=_("next step"), max_length=300, required=False,
                                widget=forms.TextInput(attrs={"placeholder": _("e.g. send the quotation")}))
    next_due = forms.DateTimeField(label=_("due"), required=False, widget=DATETIME)
    next_remind = forms.DateTimeField(label=_("remind me at"), required=False, widget=DATETIME)
    next_assignee = forms.ModelChoiceField(label=_("assignee"), queryset=None, required=False)
    next_priority = forms.ChoiceField(label=_("priority"), choices=Priority.choices, initial=Priority.NORMAL)

    class Meta:
        model = Interaction
        fields = ["channel", "direction", "occurred_at", "contact", "subject", "body"]
        widgets = {"occurred_at": DATETIME, "body": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, customer, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = customer.contacts.all()
        self.fields["contact"].required = False
        self.fields["occurred_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        self.fields["occurred_at"].required = False
        self.fields["direction"].choices = [c for c in Direction.choices if c[0]]
        self.fields["next_assignee"].queryset = assignable_users(user=user).order_by("username")
        self.fields["next_assignee"].initial = user.pk
        self.fields["channel"].choices = Channel.choices
        _bound_datetimes(self)

    def clean_files(self):
        files = self.cleaned_data.get("files") or []
        for upload in files:
            if upload.size > MAX_ATTACHMENT_BYTES:
                raise forms.ValidationError(_("%(name)s is larger than 20 MB.") % {"name": upload.name})
        return files

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("subject") or cleaned.get("body") or cleaned.get("files")):
            self.add_error("body", _("Say what happened: a subject, a few words, or a file."))
        if cleaned.get("next_step") and not cleaned.get("next_due"):
            self.add_error("next_due", _("When is the next step due?"))
        if cleaned.get("next_due") and not cleaned.get("next_step"):
            self.add_error("next_step", _("What is the next step?"))
        remind, due = cleaned.get("next_remind"), cleaned.get("next_due")
        if remind and due and remind > due:
            self.add_error("next_remind", _("The reminder should come before the follow-up is due."))
        return cleaned

    def next_step_kwargs(self) -> dict | None:
        data = self.cleaned_data
        if not data.get("next_step"):
            return None
        return {"title": data["next_step"], "due_at": data["next_due"], "remind_at": data.get("next_remind"),
                "assignee": data.get("next_assignee"), "priority": data.get("next_priority") or Priority.NORMAL}


class FollowUpForm(forms.ModelForm):
    class Meta:
        model = FollowUp
        fields = ["title", "due_at", "remind_at", "priority", "assignee", "notes"]
        widgets = {"due_at": DATETIME, "remind_at": DATETIME, "notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_users(user=user).order_by("username")
        self.fields["assignee"].initial = user.pk
        _bound_datetimes(self)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("remind_at") and cleaned.get("due_at") and cleaned["remind_at"] > cleaned["due_at"]:
            self.add_error("remind_at", _("The reminder should come before the follow-up is due."))
        return cleaned


class SnoozeForm(forms.Form):
    until = forms.DateTimeField(label=_("remind me again at"), widget=DATETIME, validators=[within_calendar])


class ReassignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("assignee"), queryset=None)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_users(user=user).order_by("username")
