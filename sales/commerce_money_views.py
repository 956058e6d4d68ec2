"""Commerce pages, part two: contracts (with attachments), orders (the customer's purchase history) and their
payment plans and payments (回款). Same rules as commerce_views: 403 without the module permission, 404 outside the
scope, one service per request."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import commerce_payments as payments
from . import commerce_selectors as selectors
from . import commerce_services as services
from . import permissions as policy
from .commerce_filters import ContractFilter, OrderFilter
from .commerce_forms import (
    AttachmentForm,
    Catalogue,
    ContractForm,
    OrderForm,
    OrderStatusForm,
    PaymentForm,
    PaymentPlanForm,
    formset_lines,
    line_formset,
)
from .commerce_views import (
    T,
    add_errors,
    chosen_customer,
    customer_picker,
    line_editor,
    list_page,
    preview_totals,
    with_rows,
)
from .models import Contract, PaymentPlan

# ---------------------------------------------------------------------------------------------- contracts


@require_GET
@permission_required("sales.view_contract", raise_exception=True)
def contract_list(request):
    filterset = ContractFilter(request.GET or None, queryset=selectors.contract_list(user=request.user),
                               user=request.user)
    return list_page(request, filterset=filterset, template=T + "contract_list.html")


@require_http_methods(["GET", "POST"])
@permission_required("sales.add_contract", raise_exception=True)
def contract_create(request):
    customer = chosen_customer(request)
    if customer is None:
        return customer_picker(request, title=_("New contract"))
    return _contract_form(request, customer=customer)


@require_http_methods(["GET", "POST"])
@permission_required("sales.change_contract", raise_exception=True)
def contract_update(request, pk):
    contract = selectors.contract_detail(user=request.user, pk=pk, action=policy.CHANGE)
    return _contract_form(request, customer=contract.customer, contract=contract)


def _contract_form(request, *, customer, contract=None):
    opportunities = selectors.opportunities_of(user=request.user, customer=customer)
    form = ContractForm(request.POST or None, instance=contract, opportunities=opportunities)
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in services.CONTRACT_FIELDS}
        try:
            if contract is None:
                contract = services.contract_create(actor=request.user, customer=customer, data=data)
            else:
                contract = services.contract_update(actor=request.user, contract=contract, data=data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Contract %(number)s saved.") % {"number": contract.number})
            return redirect(contract)
    return render(request, T + "contract_form.html", {"form": form, "customer": customer, "contract": contract})


def _may_change(user, queryset, record) -> bool:
    return queryset(user, policy.CHANGE).filter(pk=record.pk).exists()


def _money_context(request, parent, *, plan_form=None, payment_form=None) -> dict:
    """The payments block of a contract or order page: instalments (overdue flagged), payments, forms."""
    user = request.user
    if not user.has_perm("sales.view_paymentplan") and not user.has_perm("sales.view_payment"):
        return {}
    state = selectors.money_state(parent=parent)
    is_contract = isinstance(parent, Contract)
    may_change = _may_change(user, policy.contracts_for if is_contract else policy.orders_for, parent)
    kind = "contract" if is_contract else "order"
    plans = PaymentPlan.objects.filter(**{kind: parent})
    return {
        "parent": parent, "state": state,
        "may_plan": may_change and user.has_perm("sales.add_paymentplan"),
        "may_remove_plan": may_change and user.has_perm("sales.change_paymentplan"),
        "may_pay": may_change and user.has_perm("sales.add_payment"),
        "may_delete_payment": may_change and user.has_perm("sales.delete_payment"),
        "plan_form": plan_form or PaymentPlanForm(initial={"amount": state.unplanned or None}),
        "payment_form": payment_form or PaymentForm(plans=plans),
        "plan_add_url": reverse(f"sales:{kind}_plan_add", args=[parent.pk]),
        "payment_add_url": reverse(f"sales:{kind}_payment_add", args=[parent.pk]),
    }


@require_GET
@permission_required("sales.view_contract", raise_exception=True)
def contract_detail(request, pk):
    contract = selectors.contract_detail(user=request.user, pk=pk)
    return _contract_page(request, contract)


def _contract_page(request, contract, *, attachment_form=None, **money_forms):
    may_change = (request.user.has_perm("sales.change_contract")
                  and _may_change(request.user, policy.contracts_for, contract))
    context = {"contract": contract, "may_change": may_change,
               "attachment_form": attachment_form or AttachmentForm(),
               "orders": policy.orders_for(request.user).filter(contract=contract).order_by("-ordered_on"),
               "money": _money_context(request, contract, **money_forms)}
    return render(request, T + "contract_detail.html", context)


@require_POST
@permission_required("sales.change_contract", raise_exception=True)
def contract_attachment_add(request, pk):
    contract = selectors.contract_detail(user=request.user, pk=pk, action=policy.CHANGE)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            added = services.contract_attachments_add(actor=request.user, contract=contract,
                                                      files=form.cleaned_data["files"])
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("%(count)s file(s) attached.") % {"count": len(added)})
            return redirect(reverse("sales:contract_detail", args=[pk]) + "#attachments")
    return _contract_page(request, contract, attachment_form=form)


def _attachment(request, pk, attachment_pk, action=policy.VIEW):
    contract = selectors.contract_detail(user=request.user, pk=pk, action=action)
    attachment = contract.attachments.filter(pk=attachment_pk).first()
    if attachment is None:
        raise Http404
    return attachment


@require_GET
@permission_required("sales.view_contract", raise_exception=True)
def contract_attachment(request, pk, attachment_pk):
    """An attachment, to those who may see its contract (never a public media URL)."""
    attachment = _attachment(request, pk, attachment_pk)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    return FileResponse(handle, as_attachment=True, filename=attachment.name,
                        content_type=services.attachment_content_type(attachment))


@require_POST
@permission_required("sales.change_contract", raise_exception=True)
def contract_attachment_delete(request, pk, attachment_pk):
    attachment = _attachment(request, pk, attachment_pk, action=policy.CHANGE)
    services.contract_attachment_delete(actor=request.user, attachment=attachment)
    messages.success(request, _("%(name)s removed.") % {"name": attachment.name})
    return redirect(reverse("sales:contract_detail", args=[pk]) + "#attachments")


# ------------------------------------------------------------------------------------------------ orders


@require_GET
@permission_required("sales.view_order", raise_exception=True)
def order_list(request):
    filterset = OrderFilter(request.GET or None, queryset=selectors.order_list(user=request.user), user=request.user)
    customer = None
    if filterset.is_bound and filterset.form.is_valid() and filterset.form.cleaned_data.get("customer"):
        customer = filterset.queryset.filter(customer_id=filterset.form.cleaned_data["customer"]).values_list(
            "customer__name", flat=True).first()
    return list_page(request, filterset=filterset, template=T + "order_list.html",
                     context={"customer_name": customer})


@require_http_methods(["GET", "POST"])
@permission_required("sales.add_order", raise_exception=True)
def order_create(request):
    customer = chosen_customer(request)
    if customer is None:
        return customer_picker(request, title=_("New order"))
    user = request.user
    form = OrderForm(request.POST or None, opportunities=selectors.opportunities_of(user=user, customer=customer),
                     contracts=policy.contracts_for(user).filter(customer=customer),
                     price_lists=selectors.active_price_lists())
    catalogue = Catalogue()
    posted = request.method == "POST"
    formset = (line_formset(request.POST, catalogue=catalogue, with_discount=False) if posted
               else line_formset(initial=[{"quantity": 1}], catalogue=catalogue, with_discount=False))
    if posted and form.is_valid() and formset.is_valid():
        data = {name: form.cleaned_data[name] for name in services.ORDER_FIELDS if name in form.cleaned_data}
        try:
            order = services.order_create(actor=user, customer=customer, data=data, lines=formset_lines(formset),
                                          price_list=form.cleaned_data.get("price_list"))
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Order %(number)s saved.") % {"number": order.number})
            return redirect(order)
    rows = [{name: (request.POST.get(f"{f.prefix}-{name}") if posted else f.initial.get(name))
             for name in ("quantity", "unit_price")} for f in formset.forms]
    context = {"form": form, "formset": formset, "customer": customer, "with_discount": False,
               "line_url": reverse("sales:order_lines"), "priced_list": request.POST.get("priced_list", ""),
               "preview": with_rows(preview_totals(rows, discount=None, tax_rate=None, with_discount=False),
                                    formset)}
    return render(request, T + "order_form.html", context)


@require_POST
@permission_required("sales.add_order", raise_exception=True)
def order_lines(request):
    return line_editor(request, with_discount=False, line_url=reverse("sales:order_lines"))


@require_GET
@permission_required("sales.view_order", raise_exception=True)
def order_detail(request, pk):
    order = selectors.order_detail(user=request.user, pk=pk)
    return _order_page(request, order)


def _order_page(request, order, **money_forms):
    may_change = request.user.has_perm("sales.change_order") and _may_change(request.user, policy.orders_for, order)
    lines = list(order.lines.all())
    context = {"order": order, "lines": lines, "may_change": may_change,
               "lines_total": sum((line.amount for line in lines), 0),
               "status_form": OrderStatusForm(initial={"status": order.status}),
               "money": _money_context(request, order, **money_forms)}
    context["adjustment"] = order.total - context["lines_total"]
    return render(request, T + "order_detail.html", context)


@require_POST
@permission_required("sales.change_order", raise_exception=True)
def order_status(request, pk):
    order = selectors.order_detail(user=request.user, pk=pk, action=policy.CHANGE)
    form = OrderStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a status."))
        return redirect(order)
    try:
        order = services.order_set_status(actor=request.user, order=order, status=form.cleaned_data["status"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Order %(number)s is %(status)s.") % {"number": order.number,
                                                                          "status": order.get_status_display()})
    return redirect(order)


# --------------------------------------------------------------------------------------- payments (回款)


def _parent(request, kind: str, pk, action=policy.CHANGE):
    if kind == "contract":
        return selectors.contract_detail(user=request.user, pk=pk, action=action)
    return selectors.order_detail(user=request.user, pk=pk, action=action)


def _money_answer(request, parent, **forms):
    """After a plan or payment form: the payments block alone (htmx), or the whole page."""
    if request.htmx and not request.htmx.boosted:
        return render(request, T + "_payments.html", {"money": _money_context(request, parent, **forms)})
    if isinstance(parent, Contract):
        return _contract_page(request, parent, **forms)
    return _order_page(request, parent, **forms)


def _plan_add(request, kind: str, pk):
    parent = _parent(request, kind, pk)
    form = PaymentPlanForm(request.POST)
    if form.is_valid():
        try:
            payments.payment_plan_add(actor=request.user, parent=parent, **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Instalment planned."))
            if not request.htmx:
                return redirect(parent.get_absolute_url() + "#payments")
            form = None
    return _money_answer(request, parent, plan_form=form)


@require_POST
@permission_required("sales.add_paymentplan", raise_exception=True)
def contract_plan_add(request, pk):
    return _plan_add(request, "contract", pk)


@require_POST
@permission_required("sales.add_paymentplan", raise_exception=True)
def order_plan_add(request, pk):
    return _plan_add(request, "order", pk)


def _payment_add(request, kind: str, pk):
    parent = _parent(request, kind, pk)
    form = PaymentForm(request.POST, plans=PaymentPlan.objects.filter(**{kind: parent}))
    if form.is_valid():
        try:
            payments.payment_record(actor=request.user, parent=parent, **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Payment recorded."))
            if not request.htmx:
                return redirect(parent.get_absolute_url() + "#payments")
            form = None
    return _money_answer(request, parent, payment_form=form)


@require_POST
@permission_required("sales.add_payment", raise_exception=True)
def contract_payment_add(request, pk):
    return _payment_add(request, "contract", pk)


@require_POST
@permission_required("sales.add_payment", raise_exception=True)
def order_payment_add(request, pk):
    return _payment_add(request, "order", pk)


@require_POST
@permission_required("sales.change_paymentplan", raise_exception=True)
def plan_delete(request, pk):
    plan = policy.get_or_404(policy.payment_plans_for(request.user, policy.CHANGE).select_related("contract",
                                                                                                   "order"), pk)
    parent = plan.contract or plan.order
    try:
        payments.payment_plan_delete(actor=request.user, plan=plan)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Instalment removed."))
    return redirect(parent.get_absolute_url() + "#payments")


@require_POST
@permission_required("sales.delete_payment", raise_exception=True)
def payment_delete(request, pk):
    payment = policy.get_or_404(policy.payments_for(request.user, policy.CHANGE).select_related("contract", "order"),
                                pk)
    parent = payment.contract or payment.order
    payments.payment_delete(actor=request.user, payment=payment)
    messages.success(request, _("Payment removed."))
    return redirect(parent.get_absolute_url() + "#payments")

