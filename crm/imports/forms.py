from django import forms
from django.utils.translation import gettext_lazy as _

from crm.accounts.selectors import assignable_users

from . import resources
from .models import DuplicateMode, OwnerMode

IGNORE = ""


class UploadForm(forms.Form):
    resource = forms.ChoiceField(label=_("What the file holds"))
    file = forms.FileField(
        label=_("Excel or CSV file"),
        help_text=_(".xlsx, .xls or .csv (UTF-8 or GBK, as Excel and WPS save it). The first sheet is read unless "
                    "you choose another."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.xls,.csv"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resource"].choices = [(r.key, r.label) for r in resources.available(user)]
        if len(self.fields["resource"].choices) == 1:
            self.fields["resource"].initial = self.fields["resource"].choices[0][0]
            self.fields["resource"].widget = forms.HiddenInput()


class MappingForm(forms.Form):
    """One field picker per column of the file, and what to do with duplicates and owners."""

    sheet = forms.ChoiceField(label=_("sheet"), required=False)
    header_row = forms.IntegerField(label=_("header row"), min_value=1, required=False)
    duplicate_mode = forms.ChoiceField(label=_("Rows matching an existing record"), choices=DuplicateMode.choices,
                                       widget=forms.RadioSelect(attrs={"class": "form-check-input"}))
    owner_mode = forms.ChoiceField(label=_("Owner of the new records"), choices=OwnerMode.choices,
                                   widget=forms.RadioSelect(attrs={"class": "form-check-input"}))
    owner = forms.ModelChoiceField(label=_("user"), queryset=None, required=False)
    skip_invalid = forms.BooleanField(label=_("Import the valid rows and leave out the invalid ones"), required=False)
    template_name = forms.CharField(
        label=_("Remember this mapping as"), max_length=100, required=False,
        help_text=_("Next time, files with the same headers are mapped the same way."),
    )

    def __init__(self, *args, job, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        resource = resources.get(job.resource)
        self.has_owner = resource.has_owner  # the template offers the owner options only for records that have one
        self.fields["duplicate_mode"].help_text = resource.duplicate_rule
        fields = resource.fields()
        choices = [(IGNORE, _("— do not import —"))] + [(f.name, f.label) for f in fields]
        self.columns = []
        for index, header in enumerate(job.headers):
            name = f"col_{index}"
            self.fields[name] = forms.ChoiceField(label=header, choices=choices, required=False,
                                                  initial=job.mapping.get(str(index), IGNORE))
            samples = [row[index] for row in job.sample if index < len(row) and row[index]]
            self.columns.append((self[name], samples[:3]))
        self.fields["sheet"].choices = [(s, s) for s in job.sheets]
        self.fields["sheet"].initial = job.sheet
        self.fields["header_row"].initial = job.header_row
        self.fields["duplicate_mode"].initial = job.duplicate_mode
        self.fields["owner_mode"].initial = job.owner_mode
        self.fields["owner"].queryset = assignable_users(user=user).order_by("username")
        self.fields["owner"].initial = job.owner_id
        self.fields["skip_invalid"].initial = job.skip_invalid
        if not user.has_perm("customers.assign_customer"):
            self.fields["owner_mode"].choices = [
                (value, label) for value, label in OwnerMode.choices if value in (OwnerMode.ME, OwnerMode.POOL)
            ]
        if not job.sheets:
            del self.fields["sheet"]

    def mapping(self) -> dict[str, str]:
        return {
            str(index): self.cleaned_data[f"col_{index}"]
            for index in range(len(self.job.headers)) if self.cleaned_data.get(f"col_{index}")
        }

    def clean(self):
        cleaned = super().clean()
        chosen = [v for k, v in cleaned.items() if k.startswith("col_") and v]
        repeated = sorted({v for v in chosen if chosen.count(v) > 1})
        if repeated:
            labels = {f.name: str(f.label) for f in resources.get(self.job.resource).fields()}
            raise forms.ValidationError(_("Each field can be taken from one column only: %(fields)s.")
                                        % {"fields": "、".join(labels.get(r, r) for r in repeated)})
        if cleaned.get("owner_mode") == OwnerMode.USER and not cleaned.get("owner"):
            self.add_error("owner", _("Choose the user who will own the new records."))
        return cleaned
