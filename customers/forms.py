from django import forms
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from phonenumber_field.formfields import PhoneNumberField

from crm.accounts.models import Team
from crm.accounts.selectors import assignable_users

from . import custom_fields
from . import permissions as policy
from .choices import PROVINCES
from .models import Contact, Customer, Tag
from .selectors import find_duplicates

_PHONE_HELP = _("Chinese mobile or landline (e.g. 138 1234 5678, 010-12345678) or +country code for abroad.")


class CustomerForm(forms.ModelForm):
    mobile = PhoneNumberField(label=_("mobile"), required=False, help_text=_PHONE_HELP)
    phone = PhoneNumberField(label=_("phone"), required=False, help_text=_PHONE_HELP)
    tags = forms.ModelMultipleChoiceField(
        label=_("tags"), queryset=Tag.objects.all(), required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    owner = forms.ModelChoiceField(label=_("owner"), queryset=None, required=False)
    confirm_duplicate = forms.BooleanField(
        label=_("Save anyway: I know a customer with this phone number or email exists"), required=False
    )

    class Meta:
        model = Customer
        fields = [
            "kind", "name", "company", "title", "mobile", "phone", "email", "province", "city", "district",
            "address", "level", "status", "source", "industry", "notes",
        ]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3}), "province": forms.TextInput(attrs={"list": "provinces"})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.provinces = PROVINCES
        self.definitions = custom_fields.active_definitions()
        custom_fields.add_form_fields(self, self.definitions, self.instance.custom or {},
                                      may_view_sensitive=user.has_perm("customers.view_sensitive_customer"))
        if user.has_perm("customers.assign_customer"):
            self.fields["owner"].queryset = assignable_users(user=user).order_by("username")
            self.fields["owner"].initial = self.instance.owner_id or user.pk
        else:
            del self.fields["owner"]  # a rep's customers are his own; the field would only invite tampering
        self.duplicates = []

    @property
    def custom_field_names(self):
        return [custom_fields.PREFIX + d.key for d in self.definitions]

    def clean_email(self):
        return (self.cleaned_data.get("email") or "").strip().lower()

    def clean(self):
        cleaned = super().clean()
        reach = ("mobile", "phone", "email")
        if not any(cleaned.get(f) for f in reach) and not any(f in self.errors for f in reach):
            self.add_error("mobile", _("Enter at least one way to reach the customer: mobile, phone or email."))
        self.duplicates = find_duplicates(
            numbers=[cleaned.get("mobile"), cleaned.get("phone")], email=cleaned.get("email"),
            exclude_pk=self.instance.pk,
        )
        if self.duplicates and not cleaned.get("confirm_duplicate"):
            raise forms.ValidationError(self.duplicate_message(), code="duplicate")
        return cleaned

    def duplicate_message(self):
        """Name the existing customer when the user may see it; otherwise only say who holds it."""
        visible = set(
            policy.customers_for(self.user).filter(pk__in=[d.pk for d in self.duplicates]).values_list("pk", flat=True)
        )
        parts = []
        for dup in self.duplicates:
            holder = dup.owner or _("the public pool")
            if dup.pk in visible:
                parts.append(format_html(
                    '<a href="{}">{}</a> ({})', reverse("customers:detail", args=[dup.pk]), dup.name, holder
                ))
            else:
                parts.append(format_html("{}", _("a customer held by %(holder)s") % {"holder": holder}))
        return format_html(
            "{} {}", _("The phone number or email is already used by:"),
            format_html(", ".join(["{}"] * len(parts)), *parts),
        )

    def service_kwargs(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        data["mobile"] = data["mobile"] or ""
        data["phone"] = data["phone"] or ""
        data["custom"] = custom_fields.collect(self.cleaned_data, self.definitions, self.instance.custom,
                                               kept=self.kept_custom_keys)
        return {"data": data, "tags": self.cleaned_data["tags"], "owner": self.cleaned_data.get("owner")}


class ContactForm(forms.ModelForm):
    mobile = PhoneNumberField(label=_("mobile"), required=False, help_text=_PHONE_HELP)
    phone = PhoneNumberField(label=_("phone"), required=False)

    class Meta:
        model = Contact
        fields = ["name", "title", "mobile", "phone", "email", "wechat", "is_primary", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}

    def clean(self):
        cleaned = super().clean()
        for name in ("mobile", "phone"):
            cleaned[name] = cleaned.get(name) or ""
        return cleaned


class ShareForm(forms.Form):
    user = forms.ModelChoiceField(label=_("user"), queryset=None, required=False)
    team = forms.ModelChoiceField(label=_("team"), queryset=Team.objects.all(), required=False)
    level = forms.ChoiceField(
        label=_("access"),
        choices=[(policy.SHARE_VIEW, _("can view")), (policy.SHARE_CHANGE, _("can view and edit"))],
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).exclude(pk=user.pk)

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("user")) == bool(cleaned.get("team")):
            raise forms.ValidationError(_("Choose either a user or a team to share with."))
        return cleaned


class BulkActionForm(forms.Form):
    ASSIGN, TAG, POOL = "assign", "tag", "pool"
    action = forms.ChoiceField(
        label=_("action"),
        choices=[(ASSIGN, _("Assign owner")), (TAG, _("Add tag")), (POOL, _("Move to public pool"))],
    )
    ids = forms.ModelMultipleChoiceField(queryset=None, label=_("customers"), error_messages={
        "required": _("Select at least one customer."),
    })
    owner = forms.ModelChoiceField(label=_("new owner"), queryset=None, required=False)
    tag = forms.ModelChoiceField(label=_("tag"), queryset=Tag.objects.all(), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ids"].queryset = policy.customers_for(user)
        self.fields["owner"].queryset = assignable_users(user=user)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == self.ASSIGN and not cleaned.get("owner"):
            self.add_error("owner", _("Choose the new owner."))
        if cleaned.get("action") == self.TAG and not cleaned.get("tag"):
            self.add_error("tag", _("Choose a tag."))
        return cleaned
