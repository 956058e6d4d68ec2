from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import LoginEvent
from .selectors import tracked_models

CHANGE_ACTION_CHOICES = [
    ("insert", _("created")), ("update", _("changed")), ("delete", _("deleted")),
    ("import", _("import")), ("export", _("export")),
]

DATE = forms.DateInput(attrs={"type": "date"})


class AuditFilterForm(forms.Form):
    user = forms.ModelChoiceField(label=_("user"), queryset=get_user_model().objects.none(), required=False)
    model = forms.ChoiceField(label=_("record type"), required=False)
    object_id = forms.CharField(label=_("record id"), required=False, max_length=64)
    action = forms.ChoiceField(label=_("action"), required=False)
    start = forms.DateField(label=pgettext_lazy("report", "from"), required=False, widget=DATE)
    end = forms.DateField(label=pgettext_lazy("report", "to"), required=False, widget=DATE)

    def __init__(self, *args, tab: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.order_by("username")
        self.fields["model"].choices = [("", "—")] + [
            (m._meta.label, f"{m._meta.verbose_name} ({m._meta.label})") for m in tracked_models()
        ]
        actions = CHANGE_ACTION_CHOICES if tab == "changes" else LoginEvent.Kind.choices
        self.fields["action"].choices = [("", "—"), *actions]
        if tab != "changes":
            del self.fields["model"], self.fields["object_id"]
        for f in self.fields.values():
            f.widget.attrs.setdefault("class", "form-select form-select-sm" if isinstance(f, forms.ChoiceField)
                                      else "form-control form-control-sm")
