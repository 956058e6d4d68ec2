"""Forms of the lead pages, the assignment rules page and the public web form. Each lists its fields explicitly;
choices of people are scoped to whom the user may assign."""

import re

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from phonenumber_field.formfields import PhoneNumberField

from crm.accounts.models import Team
from customers import custom_fields
from customers.choices import PROVINCES, Industry, Source

from . import lead_campaigns
from .assignment import lead_workers
from .lead_selectors import lead_owner_choices
from .lead_services import REOPEN, STATUS_CHOICES, assignable_leads
from .models import AssignmentRule, Lead, LeadStatus

User = get_user_model()

_PHONE_HELP = _("Chinese mobile or landline (e.g. 138 1234 5678, 010-12345678) or +country code for abroad.")
CHECKBOXES = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})


class LeadForm(forms.ModelForm):
    mobile = PhoneNumberField(label=_("mobile"), required=False, help_text=_PHONE_HELP)
    phone = PhoneNumberField(label=_("phone"), required=False)
    owner = forms.ModelChoiceField(label=_("owner"), queryset=None, required=False,
                                   empty_label=_("— the assignment rules decide —"))

    class Meta:
        model = Lead
        fields = ["name", "company", "title", "mobile", "phone", "email", "province", "city", "source", "industry",
                  "marketing_campaign", "campaign", "message"]
        widgets = {"message": forms.Textarea(attrs={"rows": 3}),
                   "province": forms.TextInput(attrs={"list": "provinces"})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.provinces = PROVINCES
        self.definitions = custom_fields.active_definitions()
        custom_fields.add_form_fields(self, self.definitions, self.instance.custom or {},
                                      may_view_sensitive=user.has_perm("customers.view_sensitive_customer"))
        for definition in self.definitions:  # the customer's required fields can wait until the lead is one
            self.fields[custom_fields.PREFIX + definition.key].required = False
        # Campaigns the user may see; a cancelled one only when it is already the lead's. Without the campaign
        # module the field is left out (and the lead keeps its campaign), rather than offered empty.
        campaigns = lead_campaigns.hooks()
        if campaigns is not None and user.has_perm("marketing.view_campaign"):
            self.fields["marketing_campaign"].queryset = campaigns.choices(user, self.instance.marketing_campaign_id)
        else:
            del self.fields["marketing_campaign"]
        # The owner is chosen when a lead is entered; later it changes through "assign" (which records it).
        if self.instance.pk is None and user.has_perm("sales.assign_lead"):
            self.fields["owner"].queryset = lead_owner_choices(user=user)
        else:
            del self.fields["owner"]

    @property
    def custom_field_names(self):
        return [custom_fields.PREFIX + d.key for d in self.definitions]

    def clean_email(self):
        return (self.cleaned_data.get("email") or "").strip().lower()

    def clean(self):
        cleaned = super().clean()
        reach = ("mobile", "phone", "email")
        if not any(cleaned.get(f) for f in reach) and not any(f in self.errors for f in reach):
            self.add_error("mobile", _("Enter at least one way to reach the lead: mobile, phone or email."))
        return cleaned

    def service_kwargs(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.fields}
        data["custom"] = custom_fields.collect(self.cleaned_data, self.definitions, self.instance.custom,
                                               kept=self.kept_custom_keys)
        kwargs = {"data": data}
        if "owner" in self.fields:
            kwargs["owner"] = self.cleaned_data.get("owner")
        return kwargs


class LeadStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("status"), choices=[
        *[(s.value, s.label) for s in STATUS_CHOICES], (REOPEN, _("Reopen"))])
    reason = forms.CharField(label=_("reason"), max_length=200, required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("status") == LeadStatus.DISQUALIFIED and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", _("Say why the lead is disqualified."))
        return cleaned


class LeadAssignForm(forms.Form):
    owner = forms.ModelChoiceField(label=_("new owner"), queryset=None)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = lead_owner_choices(user=user)


class LeadBulkAssignForm(LeadAssignForm):
    ids = forms.ModelMultipleChoiceField(queryset=None, label=_("leads"), error_messages={
        "required": _("Select at least one lead."),
    })

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        self.fields["ids"].queryset = assignable_leads(user)


class LeadConvertForm(forms.Form):
    create_opportunity = forms.BooleanField(label=_("Also create an opportunity"), required=False, initial=True)
    opportunity_name = forms.CharField(label=_("opportunity name"), max_length=200, required=False)
    amount = forms.DecimalField(label=_("amount (CNY)"), max_digits=14, decimal_places=2, min_value=0,
                                required=False)
    expected_close = forms.DateField(label=_("expected close"), required=False,
                                     widget=forms.DateInput(attrs={"type": "date"}))

    def opportunity(self) -> dict | None:
        if not self.cleaned_data.get("create_opportunity"):
            return None
        return {"name": self.cleaned_data.get("opportunity_name") or "", "amount": self.cleaned_data.get("amount"),
                "expected_close": self.cleaned_data.get("expected_close")}


# ------------------------------------------------------------------------------------------- the web form


class WebLeadForm(forms.Form):
    """What a visitor of the company's website fills in. ``website`` is the honeypot: people never see it (hidden
    and skipped by the keyboard), form-filling robots fill it. ``token`` is signed and time-limited
    (sales.lead_web)."""

    name = forms.CharField(label=_("Your name"), max_length=100)
    company = forms.CharField(label=_("Company"), max_length=200, required=False)
    mobile = PhoneNumberField(label=_("Mobile"), required=False)
    email = forms.EmailField(label=pgettext_lazy("address", "Email"), required=False)
    province = forms.ChoiceField(label=_("Province"), required=False,
                                 choices=[("", _("— choose —")), *[(p, p) for p in PROVINCES]])
    message = forms.CharField(label=_("Message"), max_length=2000, required=False,
                              widget=forms.Textarea(attrs={"rows": 4}))
    website = forms.CharField(label=_("Leave this field empty"), required=False)
    token = forms.CharField(widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("mobile") and not cleaned.get("email") and not {"mobile", "email"} & set(self.errors):
            self.add_error("mobile", _("Leave a mobile number or an email address so that we can reach you."))
        return cleaned

    def lead_data(self) -> dict:
        return {name: self.cleaned_data.get(name) or "" for name in ("name", "company", "mobile", "email",
                                                                      "province", "message")}


# ----------------------------------------------------------------------------------------- assignment rules

_SEPARATORS = re.compile(r"[,，;；、\n]+")


def _split(text: str) -> list[str]:
    return [part.strip() for part in _SEPARATORS.split(text or "") if part.strip()]


class AssignmentRuleForm(forms.ModelForm):
    provinces = forms.MultipleChoiceField(label=_("provinces"), choices=[(p, p) for p in PROVINCES],
                                          required=False, widget=CHECKBOXES,
                                          help_text=_("None ticked: any province."))
    sources = forms.MultipleChoiceField(label=_("sources"), choices=Source.choices, required=False,
                                        widget=CHECKBOXES, help_text=_("None ticked: any source."))
    industries = forms.MultipleChoiceField(label=_("industries"), choices=Industry.choices, required=False,
                                           widget=CHECKBOXES, help_text=_("None ticked: any industry."))
    campaigns = forms.CharField(label=_("campaigns"), required=False,
                                help_text=_("Campaign codes separated by commas; empty: any campaign."))
    custom = forms.CharField(
        label=_("custom fields"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One condition a line, as key=value (several values separated by commas: any of them), "
                    "e.g. company_size=500人以上."),
    )
    user = forms.ModelChoiceField(label=_("to this user"), queryset=None, required=False)
    team = forms.ModelChoiceField(label=_("or to this team's members"), queryset=Team.objects.all(), required=False)

    class Meta:
        model = AssignmentRule
        fields = ["name", "active", "provinces", "sources", "industries", "campaigns", "custom", "user", "team",
                  "method", "capacity"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = User.objects.filter(is_active=True, pk__in=lead_workers().values("pk"))
        self.custom_keys = [d.key for d in custom_fields.active_definitions()]
        if not self.is_bound:
            self.initial["campaigns"] = ", ".join(self.instance.campaigns or [])
            self.initial["custom"] = "\n".join(
                f"{key}={', '.join(map(str, v)) if isinstance(v, list) else v}"
                for key, v in (self.instance.custom or {}).items()
            )

    def clean_campaigns(self):
        return _split(self.cleaned_data.get("campaigns"))

    def clean_custom(self):
        conditions = {}
        for number, line in enumerate((self.cleaned_data.get("custom") or "").splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, values = line.partition("=")
            key, values = key.strip(), _split(values)
            if not sep or not key or not values:
                raise forms.ValidationError(_("Line %(number)s is not key=value.") % {"number": number})
            conditions[key] = values[0] if len(values) == 1 else values
        return conditions

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("user")) == bool(cleaned.get("team")):
            raise forms.ValidationError(_("Send the leads either to one user or to one team."))
        return cleaned
