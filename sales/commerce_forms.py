"""Forms of the commerce pages. They list their fields explicitly, offer only choices in the user's scope, and never
save: views hand ``cleaned_data`` to the services.

Line items (quotes, orders) are a formset of plain forms. Its product choices are read once per page
(``Catalogue``), not once per line. ``reprice_lines`` is what the htmx line editor runs on every change: it drops
removed lines, adds a blank one on request, and fills a line's price and description when its product (or the
quote's price list) changed since they were filled, which a hidden ``priced_for`` field remembers.
"""

from datetime import timedelta
from decimal import Decimal

from django import forms
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from interactions.forms import MultipleFileField

from .commerce_services import prices_for
from .models import Contract, ContractStatus, Order, OrderStatus, PriceList, Product, Quote

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
LINES_PREFIX = "lines"
MAX_LINES = 200
LINE_FIELDS = ["product", "description", "quantity", "unit_price", "discount_percent", "priced_for"]
PAYMENT_METHODS = [_("Bank transfer"), _("Cash"), _("Cheque"), _("Alipay"), _("WeChat Pay"), _("Acceptance bill")]


class Catalogue:
    """The products a line may name: those on sale, and those the record already names (retired since)."""

    def __init__(self, keep_ids=()):
        condition = Q(active=True) | Q(pk__in=[pk for pk in keep_ids if pk])
        self.products = {p.pk: p for p in Product.objects.filter(condition).order_by("code")}
        self.choices = [("", "—")] + [(pk, f"{p.code} {p.name}") for pk, p in self.products.items()]


class LineForm(forms.Form):
    product = forms.TypedChoiceField(label=_("product"), coerce=int, empty_value=None, required=False)
    description = forms.CharField(label=_("description"), max_length=300, required=False)
    quantity = forms.DecimalField(label=_("quantity"), max_digits=12, decimal_places=2, min_value=Decimal("0.01"),
                                  initial=Decimal("1"))
    unit_price = forms.DecimalField(label=_("unit price"), max_digits=14, decimal_places=2, min_value=0,
                                    required=False, help_text=_("Blank: the price list's price"))
    discount_percent = forms.DecimalField(label=_("discount (%)"), max_digits=5, decimal_places=2, min_value=0,
                                          max_value=100, initial=Decimal("0"), required=False)
    priced_for = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, catalogue: Catalogue, with_discount: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.catalogue = catalogue
        self.fields["product"].choices = catalogue.choices
        if not with_discount:
            del self.fields["discount_percent"]
        for name in ("quantity", "unit_price", "discount_percent"):
            if name in self.fields:
                self.fields[name].widget.attrs.update({"inputmode": "decimal", "step": "0.01"})

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("product") and not (cleaned.get("description") or "").strip():
            self.add_error("description", _("Choose a product or describe the item."))
        if not cleaned.get("product") and cleaned.get("unit_price") is None and "unit_price" not in self.errors:
            self.add_error("unit_price", _("Give a price for an item that is not a product."))
        return cleaned

    def line(self) -> dict:
        data = dict(self.cleaned_data)
        data["product"] = self.catalogue.products.get(data["product"]) if data.get("product") else None
        data.pop("priced_for", None)
        data.pop("DELETE", None)
        return data


LineFormSet = forms.formset_factory(LineForm, extra=0, can_delete=True, max_num=MAX_LINES, absolute_max=MAX_LINES)


def line_formset(data=None, *, catalogue: Catalogue, with_discount: bool = True, initial=None):
    return LineFormSet(data, prefix=LINES_PREFIX, initial=initial,
                       form_kwargs={"catalogue": catalogue, "with_discount": with_discount})


def formset_lines(formset) -> list[dict]:
    """The lines of a valid formset, without removed and untouched blank ones."""
    return [form.line() for form in formset.forms
            if form.has_changed() and not form.cleaned_data.get("DELETE") and form.cleaned_data]


def _rows(data: QueryDict) -> list[dict]:
    try:
        count = min(int(data.get(f"{LINES_PREFIX}-TOTAL_FORMS", 0)), MAX_LINES)
    except ValueError:
        count = 0
    rows = []
    for index in range(count):
        row = {name: data.get(f"{LINES_PREFIX}-{index}-{name}", "") for name in LINE_FIELDS}
        if not data.get(f"{LINES_PREFIX}-{index}-DELETE"):
            rows.append(row)
    return rows


def _blank_row() -> dict:
    return {"product": "", "description": "", "quantity": "1", "unit_price": "", "discount_percent": "0",
            "priced_for": ""}


def reprice_lines(data: QueryDict, *, catalogue: Catalogue, price_list: PriceList | None, add: bool = False) -> list:
    """The line editor's rows after a change, as initial values for an unbound formset (no errors shown while
    the user is still typing). ``data`` is the posted form; its ``priced_list`` says which price list the current
    prices came from: when the quote's list changed since, every product line is priced again."""
    rows = _rows(data)
    if add or not rows:
        rows.append(_blank_row())
    repriced_all = (data.get("priced_list") or "") != (str(price_list.pk) if price_list else "")
    wanted = {}
    for row in rows:
        pk = _int(row["product"])
        product = catalogue.products.get(pk) if pk else None
        if product is None:
            row["product"], row["priced_for"] = "", ""
            continue
        if repriced_all or row["priced_for"] != str(pk):
            wanted[pk] = product
    prices = prices_for(list(wanted.values()), price_list) if wanted else {}
    for row in rows:
        pk = _int(row["product"])
        if pk not in prices:
            continue
        previous = catalogue.products.get(_int(row["priced_for"]))
        if not row["description"].strip() or (previous and row["description"] == previous.name):
            row["description"] = catalogue.products[pk].name
        row["unit_price"] = str(prices[pk])
        row["priced_for"] = str(pk)
    return rows


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------------------ catalogue


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["code", "name", "unit", "price", "active", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class PriceListForm(forms.ModelForm):
    class Meta:
        model = PriceList
        fields = ["name", "currency", "active"]


class PriceListItemForm(forms.Form):
    product = forms.TypedChoiceField(label=_("product"), coerce=int, empty_value=None)
    price = forms.DecimalField(label=_("price"), max_digits=14, decimal_places=2, min_value=0)

    def __init__(self, *args, catalogue: Catalogue, **kwargs):
        super().__init__(*args, **kwargs)
        self.catalogue = catalogue
        self.fields["product"].choices = catalogue.choices

    def item(self) -> dict:
        return {"product": self.catalogue.products[self.cleaned_data["product"]], "price": self.cleaned_data["price"]}


PriceListItemFormSet = forms.formset_factory(PriceListItemForm, extra=3, can_delete=True, max_num=2000,
                                             absolute_max=2000)


def price_list_items(data=None, *, price_list=None):
    """The price list's prices as a formset, its product choices read once (on sale, and those it lists)."""
    listed = list(price_list.items.select_related("product").order_by("product__code")) if price_list else []
    catalogue = Catalogue(keep_ids=[item.product_id for item in listed])
    initial = None if data is not None else [{"product": i.product_id, "price": i.price} for i in listed]
    return PriceListItemFormSet(data, prefix="items", initial=initial, form_kwargs={"catalogue": catalogue})


# ------------------------------------------------------------------------------------------------ quotes


class QuoteForm(forms.ModelForm):
    class Meta:
        model = Quote
        fields = ["opportunity", "price_list", "valid_until", "discount", "tax_rate", "notes"]
        widgets = {"valid_until": DATE, "notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, opportunities, price_lists, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["opportunity"].queryset = opportunities
        self.fields["price_list"].queryset = price_lists
        self.fields["price_list"].empty_label = _("List prices")
        if not self.instance.pk:
            self.fields["valid_until"].initial = timezone.localdate() + timedelta(days=30)
        for name in ("discount", "tax_rate"):
            self.fields[name].widget.attrs.update({"inputmode": "decimal", "step": "0.01", "min": "0"})


class AcceptForm(forms.Form):
    create_contract = forms.BooleanField(label=_("Make a contract"), required=False, initial=True)
    create_order = forms.BooleanField(label=_("Make an order"), required=False, initial=True)
    title = forms.CharField(label=_("contract title"), max_length=200, required=False)
    signed_on = forms.DateField(label=_("signed"), required=False, widget=DATE,
                                help_text=_("A signed contract is in force at once; otherwise it is a draft."))
    starts_on = forms.DateField(label=_("from"), required=False, widget=DATE)
    ends_on = forms.DateField(label=_("to"), required=False, widget=DATE)
    ordered_on = forms.DateField(label=_("ordered on"), required=False, widget=DATE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ordered_on"].initial = timezone.localdate()

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("create_contract") and not cleaned.get("create_order"):
            raise forms.ValidationError(_("Make a contract, an order, or both."))
        return cleaned


# --------------------------------------------------------------------------------------------- contracts


class ContractForm(forms.ModelForm):
    class Meta:
        model = Contract
        fields = ["title", "opportunity", "amount", "currency", "starts_on", "ends_on", "signed_on", "status"]
        widgets = {"starts_on": DATE, "ends_on": DATE, "signed_on": DATE}
        labels = {"opportunity": _("opportunity")}

    def __init__(self, *args, opportunities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["opportunity"].queryset = opportunities
        self.fields["status"].choices = ContractStatus.choices


class AttachmentForm(forms.Form):
    files = MultipleFileField(label=_("attachments"), help_text=_("PDF, OFD, images, Office files; 20 MB each."))


# ------------------------------------------------------------------------------------------------ orders


class OrderForm(forms.ModelForm):
    price_list = forms.ModelChoiceField(label=_("price list"), queryset=PriceList.objects.none(), required=False,
                                        empty_label=_("List prices"))

    class Meta:
        model = Order
        fields = ["ordered_on", "opportunity", "contract"]
        widgets = {"ordered_on": DATE}

    def __init__(self, *args, opportunities, contracts, price_lists, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["opportunity"].queryset = opportunities
        self.fields["opportunity"].label = _("opportunity")
        self.fields["contract"].queryset = contracts
        self.fields["price_list"].queryset = price_lists
        self.fields["ordered_on"].initial = timezone.localdate()


class OrderStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("status"), choices=OrderStatus.choices)


# --------------------------------------------------------------------------------------- payments (回款)


class PaymentPlanForm(forms.Form):
    due_on = forms.DateField(label=_("due"), widget=DATE)
    amount = forms.DecimalField(label=_("amount"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))


class PaymentForm(forms.Form):
    plan = forms.ModelChoiceField(label=_("instalment"), queryset=None, required=False,
                                  empty_label=_("No instalment"))
    amount = forms.DecimalField(label=_("amount"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    received_on = forms.DateField(label=_("received on"), widget=DATE)
    method = forms.CharField(label=_("method"), max_length=30, required=False,
                             widget=forms.TextInput(attrs={"list": "payment-methods"}))
    reference = forms.CharField(label=_("reference"), max_length=100, required=False,
                                help_text=_("Bank slip or voucher number"))

    def __init__(self, *args, plans, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans
        self.fields["plan"].label_from_instance = _plan_label
        self.fields["received_on"].initial = timezone.localdate()
        open_plans = [p for p in plans if p.outstanding > 0]
        if open_plans:
            self.fields["plan"].initial = open_plans[0].pk
            self.fields["amount"].initial = open_plans[0].outstanding

    @property
    def methods(self):
        return [str(m) for m in PAYMENT_METHODS]


def _plan_label(plan) -> str:
    return f"{plan.due_on:%Y-%m-%d} · {plan.amount} ({plan.paid_amount})"
