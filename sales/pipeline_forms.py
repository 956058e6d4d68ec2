"""Forms of the pipeline pages. Choices are scoped like records: owners the user may hand work to, the stages of
the opportunity's own pipeline, products on sale."""

from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from crm.accounts.selectors import assignable_users
from crm.web.context_processors import oversees_teams

from .models import Opportunity, Pipeline, Product, Stage, StageKind

User = get_user_model()

CURRENCIES = [("CNY", _("CNY (yuan)")), ("USD", _("USD")), ("EUR", _("EUR")), ("HKD", _("HKD")), ("JPY", _("JPY")),
              ("GBP", _("GBP"))]


class OpportunityForm(forms.ModelForm):
    owner = forms.ModelChoiceField(label=_("owner"), queryset=None)
    pipeline = forms.ModelChoiceField(label=_("pipeline"), queryset=Pipeline.objects.filter(active=True),
                                      empty_label=None)
    currency = forms.ChoiceField(label=_("currency"), choices=CURRENCIES)

    class Meta:
        model = Opportunity
        fields = ["name", "amount", "currency", "expected_close", "next_step", "lost_reason"]
        widgets = {"expected_close": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                   "amount": forms.NumberInput(attrs={"step": "0.01", "min": "0"})}
        help_texts = {"next_step": _("What happens next, and when: e.g. send the quote by Friday.")}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        creating = self.instance.pk is None
        if oversees_teams(user):
            owners = assignable_users(user=user)
            if self.instance.owner_id:  # keeping the present owner is always allowed
                owners = owners | User.objects.filter(pk=self.instance.owner_id)
            self.fields["owner"].queryset = owners.order_by("username")
            self.fields["owner"].initial = self.instance.owner_id or user.pk
        else:
            # A rep's deals are his own: a one-choice field would only invite tampering.
            del self.fields["owner"]
        currency = self.instance.currency or "CNY"
        if currency not in dict(CURRENCIES):
            self.fields["currency"].choices = [*CURRENCIES, (currency, currency)]
        if creating:
            self.fields["pipeline"].initial = Pipeline.objects.filter(is_default=True).values_list(
                "pk", flat=True).first()
            del self.fields["lost_reason"]
        else:
            del self.fields["pipeline"]  # another pipeline means other stages: a move, not an edit
            if self.instance.stage.kind != StageKind.LOST:
                del self.fields["lost_reason"]
            else:
                self.fields["lost_reason"].required = True

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount is not None and amount < 0:
            raise forms.ValidationError(_("The amount cannot be negative."))
        return amount

    def service_kwargs(self) -> dict:
        data = {name: self.cleaned_data[name] for name in ("name", "amount", "currency", "expected_close",
                                                             "next_step")}
        if "lost_reason" in self.fields:
            data["lost_reason"] = self.cleaned_data["lost_reason"]
        kwargs = {"data": data, "owner": self.cleaned_data.get("owner")}
        if "pipeline" in self.fields:
            kwargs["pipeline"] = self.cleaned_data["pipeline"]
        return kwargs


class MoveForm(forms.Form):
    stage = forms.ModelChoiceField(label=_("move to"), queryset=Stage.objects.none(), empty_label=None)
    lost_reason = forms.CharField(label=_("lost reason"), max_length=300, required=False,
                                  help_text=_("Needed when the opportunity is lost."))

    def __init__(self, *args, opportunity: Opportunity, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = Stage.objects.filter(pipeline_id=opportunity.pipeline_id).order_by(
            "position", "pk")
        self.fields["stage"].initial = opportunity.stage_id


class LineForm(forms.Form):
    product = forms.ModelChoiceField(label=_("product"), queryset=Product.objects.filter(active=True))
    quantity = forms.DecimalField(label=_("quantity"), max_digits=12, decimal_places=2, min_value=Decimal("0.01"),
                                  initial=1)
    unit_price = forms.DecimalField(label=_("unit price"), max_digits=14, decimal_places=2, min_value=0,
                                    required=False, help_text=_("Empty: the product's list price."))
    update_amount = forms.BooleanField(label=_("Set the opportunity's amount to the products' total"),
                                       required=False, initial=True)


class LineEditForm(forms.Form):
    quantity = forms.DecimalField(label=_("quantity"), max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    unit_price = forms.DecimalField(label=_("unit price"), max_digits=14, decimal_places=2, min_value=0)
    update_amount = forms.BooleanField(label=_("Set the opportunity's amount to the products' total"),
                                       required=False, initial=True)


class PipelineForm(forms.ModelForm):
    class Meta:
        model = Pipeline
        fields = ["name", "active", "is_default"]


class PipelineCreateForm(forms.ModelForm):
    class Meta:
        model = Pipeline
        fields = ["name"]


class StageForm(forms.ModelForm):
    class Meta:
        model = Stage
        fields = ["name", "probability", "kind"]
        widgets = {"probability": forms.NumberInput(attrs={"min": 0, "max": 100})}


class StageDeleteForm(forms.Form):
    merge_into = forms.ModelChoiceField(label=_("move its opportunities and history to"), queryset=None,
                                        required=False)

    def __init__(self, *args, stage: Stage, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["merge_into"].queryset = Stage.objects.filter(pipeline_id=stage.pipeline_id,
                                                                  kind=stage.kind).exclude(pk=stage.pk)
