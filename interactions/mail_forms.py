"""Forms of the mail pages: a mailbox, the unfiled mail's filter, filing by hand, writing to a customer."""

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.web.templatetags.crm_tags import masked

from .forms import MultipleFileField
from .models import Mailbox, MailMessage

MAX_ATTACHMENTS_BYTES = 20 * 1024 * 1024


class MailboxForm(forms.ModelForm):
    """The stored password is never sent to the browser: left empty on edit, it stays as it is, unless the mailbox
    now points at another server or account, which must not receive the old one unasked."""

    SERVER_FIELDS = ("host", "port", "use_ssl", "username")

    password = forms.CharField(label=_("password"), max_length=200, required=False, strip=False,
                               widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))

    class Meta:
        model = Mailbox
        fields = ["name", "address", "host", "port", "use_ssl", "username", "password", "folder", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["port"].help_text = _("993 with SSL/TLS, 143 without.")
        self.fields["folder"].help_text = _("INBOX for received mail; the sent folder (e.g. Sent, 已发送) for "
                                            "mail you sent from your mail program.")
        if self.instance.pk:
            self.fields["password"].help_text = _("Leave empty to keep the current password.")
        else:
            self.fields["password"].required = True

    def clean_port(self):
        port = self.cleaned_data["port"]
        if not 1 <= port <= 65535:
            raise forms.ValidationError(_("A port is a number from 1 to 65535."))
        return port

    def clean_password(self):
        password = self.cleaned_data.get("password")
        if not password and self.instance.pk:
            if any(name in self.changed_data for name in self.SERVER_FIELDS):
                raise forms.ValidationError(_("You changed the server or the user name: enter the password again."))
            # ModelForm would write the empty value over the stored password.
            return Mailbox.objects.filter(pk=self.instance.pk).values_list("password", flat=True).first() or ""
        return password


class UnfiledMailFilter(django_filters.FilterSet):
    # Not "q": base.html fills the global customer search box from ?q=.
    search = django_filters.CharFilter(label=_("Search"), method="search_text",
                                  widget=forms.TextInput(attrs={"placeholder": _("subject, sender or recipient"),
                                                                "data-live-search": ""}))
    mailbox = django_filters.ModelChoiceFilter(label=_("mailbox"), queryset=Mailbox.objects.none())

    class Meta:
        model = MailMessage
        fields = ["search", "mailbox"]

    def __init__(self, *args, mailboxes, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["mailbox"].queryset = mailboxes

    def search_text(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(subject__icontains=value) | Q(sender__icontains=value)
                               | Q(recipients__icontains=value))


class FileMailForm(forms.Form):
    customer = forms.ModelChoiceField(label=_("customer"), queryset=None,
                                      error_messages={"required": _("Choose the customer to file it on."),
                                                      "invalid_choice": _("Choose a customer you can see.")})

    def __init__(self, *args, customers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers


class ComposeForm(forms.Form):
    """To one of the customer's contacts with an address, or to the customer's own address."""

    CUSTOMER = "customer"

    to = forms.ChoiceField(label=_("to"))
    subject = forms.CharField(label=_("subject"), max_length=300)
    body = forms.CharField(label=_("message"), widget=forms.Textarea(attrs={"rows": 12}))
    files = MultipleFileField(label=_("attachments"), required=False)

    def __init__(self, *args, customer, may_view_sensitive: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.contacts = {str(c.pk): c for c in customer.contacts.all() if c.email}
        choices = [(key, f"{c.name} <{masked(c.email, may_view_sensitive)}>") for key, c in self.contacts.items()]
        if customer.email:
            choices.append((self.CUSTOMER, f"{customer.name} <{masked(customer.email, may_view_sensitive)}>"))
        self.fields["to"].choices = choices
        primary = next((key for key, c in self.contacts.items() if c.is_primary), None)
        self.fields["to"].initial = primary or (choices[0][0] if choices else None)

    @property
    def has_recipients(self) -> bool:
        return bool(self.fields["to"].choices)

    def clean_subject(self):
        subject = self.cleaned_data["subject"]
        if "\n" in subject or "\r" in subject:  # a mail header is one line (Django would raise BadHeaderError)
            raise forms.ValidationError(_("The subject must be one line."))
        return subject

    def clean_files(self):
        files = self.cleaned_data.get("files") or []
        if sum(upload.size for upload in files) > MAX_ATTACHMENTS_BYTES:
            raise forms.ValidationError(_("Attachments may add up to 20 MB at most."))
        return files

    @property
    def contact(self):
        """The chosen contact; None when the mail goes to the customer's own address."""
        return self.contacts.get(self.cleaned_data["to"])
