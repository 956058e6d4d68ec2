"""Commerce pages, part one: products and price lists, quotes (list, form with the htmx line editor, detail,
printable view, accept → contract and/or order). Contracts, orders and payments are in commerce_money_views.

Each view checks the module permission (403 without it), takes its record from the policy (404 outside the scope),
calls one service and answers with a page, a partial (htmx) or a redirect.
"""

from decimal import localcontext

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.web import pagination
from crm.web.pagination import paginate

from . import commerce_selectors as selectors
from . import commerce_services as services
from . import permissions as policy
from .commerce_filters import ProductFilter, QuoteFilter
from .commerce_forms import (
    AcceptForm,
    Catalogue,
    PriceListForm,
    ProductForm,
    QuoteForm,
    formset_lines,
    line_formset,
    price_list_items,
    reprice_lines,
)
from .commerce_totals import ZERO, as_decimal, compute_totals, line_amount
from .models import PriceList, Product, QuoteStatus

T = "sales/commerce/"


# ------------------------------------------------------------------------------------------------ helpers


def add_errors(form, error: ValidationError) -> None:
    """A service's ValidationError onto the form: on the field it names when the form has it, above it otherwise."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


def list_page(request, *, filterset, template: str, context: dict | None = None):
    """A filtered, paginated list; htmx filter and page requests get the results partial alone."""
    queryset = filterset.qs if filterset.is_bound else filterset.queryset.order_by(*filterset.default_order)
    searching = filterset.is_bound and filterset.form.is_valid() and filterset.form.cleaned_data.get("q")
    page = paginate(request, queryset, count_cap=pagination.SEARCH_COUNT_CAP if searching else None)
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, {"filter": filterset, "page": page, **(context or {})})


def chosen_customer(request):
    """The customer a new quote, contract or order is for (``?customer=``), or None to show the picker; 404 for a
    customer the user may not write for."""
    pk = request.GET.get("customer") or request.POST.get("customer")
    if not pk:
        return None
    customer = selectors.customer_for_writing(user=request.user, pk=pk)
    if customer is None:
        raise Http404
    return customer


def customer_picker(request, *, title: str):
    text = request.GET.get("find", "")
    context = {"title": title, "find": text, "found": selectors.customer_search(user=request.user, text=text),
               "may_view_sensitive": request.user.has_perm("customers.view_sensitive_customer")}
    if request.htmx and not request.htmx.boosted:
        return render(request, T + "customer_picker.html#found", context)
    return render(request, T + "customer_picker.html", context)


def company_name() -> str:
    return getattr(settings, "CRM_COMPANY_NAME", "") or "CRM"


# ---------------------------------------------------------------------------------------------- catalogue


@require_GET
@permission_required("sales.view_product", raise_exception=True)
def product_list(request):
    filterset = ProductFilter(request.GET or None, queryset=selectors.product_list(user=request.user))
    filterset.default_order = ("code",)
    return list_page(request, filterset=filterset, template=T + "product_list.html")


@require_http_methods(["GET", "POST"])
@permission_required("sales.add_product", raise_exception=True)
def product_create(request):
    return _product_form(request, None)


@require_http_methods(["GET", "POST"])
@permission_required("sales.change_product", raise_exception=True)
def product_update(request, pk):
    product = Product.objects.filter(pk=pk).first()
    if product is None:
        raise Http404
    return _product_form(request, product)


def _product_form(request, product):
    form = ProductForm(request.POST or None, instance=product)
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in services.PRODUCT_FIELDS}
        try:
            if product is None:
                services.product_create(actor=request.user, data=data)
            else:
                services.product_update(actor=request.user, product=product, data=data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Product saved."))
            return redirect("sales:product_list")
    return render(request, T + "product_form.html", {"form": form, "product": product})


@require_GET
@permission_required("sales.view_pricelist", raise_exception=True)
def pricelist_list(request):
    price_lists = selectors.price_list_list(user=request.user).order_by("-active", "name")
    return render(request, T + "pricelist_list.html", {"price_lists": price_lists})


@require_GET
@permission_required("sales.view_pricelist", raise_exception=True)
def pricelist_detail(request, pk):
    price_list = PriceList.objects.filter(pk=pk).first()
    if price_list is None:
        raise Http404
    items = price_list.items.select_related("product").order_by("product__code")
    return render(request, T + "pricelist_detail.html", {"price_list": price_list, "items": items})


@require_http_methods(["GET", "POST"])
@permission_required("sales.add_pricelist", raise_exception=True)
def pricelist_create(request):
    return _pricelist_form(request, None)


@require_http_methods(["GET", "POST"])
@permission_required("sales.change_pricelist", raise_exception=True)
def pricelist_update(request, pk):
    price_list = PriceList.objects.filter(pk=pk).first()
    if price_list is None:
        raise Http404
    return _pricelist_form(request, price_list)


def _pricelist_form(request, price_list):
    form = PriceListForm(request.POST or None, instance=price_list)
    items = price_list_items(request.POST or None, price_list=price_list)
    if request.method == "POST" and form.is_valid() and items.is_valid():
        rows = [f.item() for f in items.forms
                if f.has_changed() and f.cleaned_data and not f.cleaned_data.get("DELETE")]
        try:
            saved = services.price_list_save(actor=request.user, price_list=price_list, items=rows,
                                             data={n: form.cleaned_data[n] for n in services.PRICE_LIST_FIELDS})
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Price list saved."))
            return redirect("sales:pricelist_detail", pk=saved.pk)
    return render(request, T + "pricelist_form.html", {"form": form, "items": items, "price_list": price_list})


# ------------------------------------------------------------------------------------------------ quotes


@require_GET
@permission_required("sales.view_quote", raise_exception=True)
def quote_list(request):
    filterset = QuoteFilter(request.GET or None, queryset=selectors.quote_list(user=request.user), user=request.user)
    return list_page(request, filterset=filterset, template=T + "quote_list.html")


def _quote_form_page(request, *, customer, quote=None):
    opportunities = selectors.opportunities_of(user=request.user, customer=customer)
    price_lists = selectors.active_price_lists(keep=quote.price_list if quote else None)
    posted = request.method == "POST"
    initial = {}
    if quote is None and request.GET.get("opportunity"):
        initial["opportunity"] = opportunities.filter(pk=_int(request.GET["opportunity"])).first()
    form = QuoteForm(request.POST if posted else None, instance=quote, opportunities=opportunities,
                     price_lists=price_lists, initial=initial)
    lines = list(quote.lines.all()) if quote else []
    catalogue = Catalogue(keep_ids=[line.product_id for line in lines])
    if posted:
        formset = line_formset(request.POST, catalogue=catalogue)
        priced_list = request.POST.get("priced_list", "")
    else:
        rows = [{"product": line.product_id or "", "description": line.description, "quantity": line.quantity,
                 "unit_price": line.unit_price, "discount_percent": line.discount_percent,
                 "priced_for": line.product_id or ""} for line in lines]
        formset = line_formset(initial=rows or [{"quantity": 1, "discount_percent": 0}], catalogue=catalogue)
        priced_list = quote.price_list_id if quote and quote.price_list_id else ""
    if posted and form.is_valid() and formset.is_valid():
        data = {name: form.cleaned_data[name] for name in services.QUOTE_FIELDS}
        try:
            if quote is None:
                quote = services.quote_create(actor=request.user, customer=customer, data=data,
                                              lines=formset_lines(formset))
            else:
                quote = services.quote_update(actor=request.user, quote=quote, data=data,
                                              lines=formset_lines(formset))
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Quote %(number)s saved.") % {"number": quote.number})
            return redirect(quote)
    source = request.POST if posted else None
    context = {"form": form, "formset": formset, "customer": customer, "quote": quote, "priced_list": priced_list,
               "line_url": reverse("sales:quote_lines"), "with_discount": True,
               "preview": with_rows(_preview(formset, source, with_discount=True, quote=quote), formset)}
    return render(request, T + "quote_form.html", context)


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@require_http_methods(["GET", "POST"])
@permission_required("sales.add_quote", raise_exception=True)
def quote_create(request):
    customer = chosen_customer(request)
    if customer is None:
        return customer_picker(request, title=_("New quote"))
    return _quote_form_page(request, customer=customer)


@require_http_methods(["GET", "POST"])
@permission_required("sales.change_quote", raise_exception=True)
def quote_update(request, pk):
    quote = selectors.quote_detail(user=request.user, pk=pk, action=policy.CHANGE)
    if quote.status not in services.EDITABLE_QUOTE:
        messages.error(request, _("An accepted or rejected quote can no longer be changed."))
        return redirect(quote)
    return _quote_form_page(request, customer=quote.customer, quote=quote)


def _preview(formset, data, *, with_discount: bool, quote=None) -> dict:
    """Amounts and totals of the lines as they stand on the form (valid lines only), for the line editor."""
    rows = []
    for form in formset.forms:
        prefix = form.prefix
        if data is not None:
            values = {name: data.get(f"{prefix}-{name}") for name in ("quantity", "unit_price", "discount_percent")}
        else:
            values = {name: form.initial.get(name) for name in ("quantity", "unit_price", "discount_percent")}
        rows.append(values)
    if data is not None:
        discount, tax_rate = data.get("discount"), data.get("tax_rate")
    elif quote is not None:
        discount, tax_rate = quote.discount, quote.tax_rate
    else:
        discount, tax_rate = ZERO, QuoteForm.base_fields["tax_rate"].initial
    return preview_totals(rows, discount=discount, tax_rate=tax_rate, with_discount=with_discount)


def preview_totals(rows: list[dict], *, discount, tax_rate, with_discount: bool) -> dict:
    # The preview computes with what is being typed, before the form's digit limits: inputs stay under
    # as_decimal's bound, and 60 digits hold their products (200 lines x quantity x price x tax rate) exactly.
    with localcontext(prec=60):
        return _preview_totals(rows, discount=discount, tax_rate=tax_rate, with_discount=with_discount)


def _preview_totals(rows: list[dict], *, discount, tax_rate, with_discount: bool) -> dict:
    amounts, valid = [], []
    for row in rows:
        quantity, price = as_decimal(row.get("quantity")), as_decimal(row.get("unit_price"))
        percent = as_decimal(row.get("discount_percent"), ZERO) if with_discount else ZERO
        if quantity is None or price is None or quantity <= 0 or price < 0 or not ZERO <= percent <= 100:
            amounts.append(None)
            continue
        line = {"quantity": quantity, "unit_price": price, "discount_percent": percent}
        amounts.append(line_amount(quantity, price, percent))
        valid.append(line)
    discount = as_decimal(discount, ZERO) if with_discount else ZERO
    tax_rate = as_decimal(tax_rate, ZERO) if with_discount else ZERO
    totals = compute_totals(valid, discount=discount, tax_rate=tax_rate)
    return {"amounts": amounts, "totals": totals, "tax_rate": tax_rate,
            "discount_too_large": totals.discount > totals.subtotal or totals.discount < 0}


def with_rows(preview: dict, formset) -> dict:
    preview["rows"] = list(zip(formset.forms, preview["amounts"], strict=True))
    return preview


def line_editor(request, *, with_discount: bool, line_url: str):
    """The line items and totals after a change on the form: htmx posts the whole form here on every change."""
    price_list = PriceList.objects.filter(pk=_int(request.POST.get("price_list"))).first()
    keep = [_int(value) for key, value in request.POST.items() if key.endswith("-product")]
    catalogue = Catalogue(keep_ids=keep)
    rows = reprice_lines(request.POST, catalogue=catalogue, price_list=price_list,
                         add=bool(request.POST.get("add_line")))
    formset = line_formset(initial=rows, catalogue=catalogue, with_discount=with_discount)
    preview = preview_totals(rows, discount=request.POST.get("discount"), tax_rate=request.POST.get("tax_rate"),
                             with_discount=with_discount)
    context = {"formset": formset, "preview": with_rows(preview, formset), "with_discount": with_discount,
               "priced_list": price_list.pk if price_list else "", "line_url": line_url}
    return render(request, T + "_line_items.html", context)


@require_POST
def quote_lines(request):
    if not (request.user.has_perm("sales.add_quote") or request.user.has_perm("sales.change_quote")):
        raise PermissionDenied
    return line_editor(request, with_discount=True, line_url=reverse("sales:quote_lines"))


@require_GET
@permission_required("sales.view_quote", raise_exception=True)
def quote_detail(request, pk):
    quote = selectors.quote_detail(user=request.user, pk=pk)
    may_change = (request.user.has_perm("sales.change_quote")
                  and policy.quotes_for(request.user, policy.CHANGE).filter(pk=quote.pk).exists())
    context = {"quote": quote, "may_change": may_change, "editable": quote.status in services.EDITABLE_QUOTE,
               "outcome": selectors.quote_outcome(user=request.user, quote=quote)
               if quote.status == QuoteStatus.ACCEPTED else None}
    return render(request, T + "quote_detail.html", context)


@require_GET
@permission_required("sales.view_quote", raise_exception=True)
def quote_print(request, pk):
    quote = selectors.quote_detail(user=request.user, pk=pk)
    return render(request, T + "quote_print.html", {"quote": quote, "company_name": company_name()})


def _quote_action(request, pk, action, done: str):
    quote = selectors.quote_detail(user=request.user, pk=pk, action=policy.CHANGE)
    try:
        action(actor=request.user, quote=quote)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done % {"number": quote.number})
    return redirect(quote)


@require_POST
@permission_required("sales.change_quote", raise_exception=True)
def quote_send(request, pk):
    return _quote_action(request, pk, services.quote_mark_sent, _("Quote %(number)s marked as sent."))


@require_POST
@permission_required("sales.change_quote", raise_exception=True)
def quote_reject(request, pk):
    return _quote_action(request, pk, services.quote_reject, _("Quote %(number)s marked as rejected."))


@require_POST
@permission_required("sales.change_quote", raise_exception=True)
def quote_reopen(request, pk):
    return _quote_action(request, pk, services.quote_reopen, _("Quote %(number)s is a draft again."))


@require_http_methods(["GET", "POST"])
@permission_required("sales.change_quote", raise_exception=True)
def quote_accept(request, pk):
    quote = selectors.quote_detail(user=request.user, pk=pk, action=policy.CHANGE)
    if quote.status not in services.EDITABLE_QUOTE:
        messages.error(request, _("This quote is %(status)s already.") % {"status": quote.get_status_display()})
        return redirect(quote)
    may_contract, may_order = request.user.has_perm("sales.add_contract"), request.user.has_perm("sales.add_order")
    form = AcceptForm(request.POST or None, initial={"create_contract": may_contract, "create_order": may_order})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            accepted = services.quote_accept(
                actor=request.user, quote=quote, create_contract=data["create_contract"],
                create_order=data["create_order"], ordered_on=data["ordered_on"],
                contract_data={k: data[k] for k in ("title", "starts_on", "ends_on", "signed_on")},
            )
        except ValidationError as error:
            add_errors(form, error)
        except PermissionDenied:
            form.add_error(None, _("You may not make contracts or orders."))
        else:
            made = [str(r.number) for r in (accepted.contract, accepted.order) if r is not None]
            text = _("Quote %(number)s accepted: %(made)s.") % {"number": quote.number, "made": ", ".join(made)}
            if accepted.opportunity_moved:
                text += " " + _("The opportunity is won.")
            messages.success(request, text)
            return redirect(accepted.contract or accepted.order)
    return render(request, T + "quote_accept.html", {"quote": quote, "form": form})
