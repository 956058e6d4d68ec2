"""Customer pages. Each view checks the module permission, takes its records from the policy
(404 outside scope), calls one service and answers with a page, a partial (htmx) or a redirect."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.accounts.models import Team
from crm.accounts.roles import require_admin
from crm.web import pagination
from crm.web.pagination import paginate

from . import custom_fields, selectors, services, timeline
from . import permissions as policy
from .filters import CustomerFilter
from .forms import BulkActionForm, ContactForm, CustomerForm, ShareForm
from .history import customer_history
from .models import Contact, Customer

# Module permission missing: 403 (the module, not a record, is off limits). Record outside scope: 404.
view_required = permission_required("customers.view_customer", raise_exception=True)
change_required = permission_required("customers.change_customer", raise_exception=True)


def _messages_from(error: ValidationError) -> str:
    return " ".join(error.messages)


@require_GET
@view_required
def customer_list(request):
    filterset = CustomerFilter(
        request.GET or None, queryset=selectors.customer_list(user=request.user), user=request.user
    )
    queryset = filterset.qs if filterset.is_bound else filterset.queryset.order_by("-updated_at", "-pk")
    searching = filterset.is_bound and filterset.form.is_valid() and filterset.form.cleaned_data.get("q")
    page = paginate(request, queryset, count_cap=pagination.SEARCH_COUNT_CAP if searching else None)
    context = {
        "filter": filterset,
        "page": page,
        "bulk_form": BulkActionForm(user=request.user),
        "may_view_sensitive": request.user.has_perm("customers.view_sensitive_customer"),
    }
    template = (
        "customers/customer_list.html#results"
        if request.htmx and not request.htmx.boosted
        else "customers/customer_list.html"
    )
    return render(request, template, context)


@require_GET
@view_required
def customer_detail(request, pk):
    customer = selectors.customer_detail(user=request.user, pk=pk)
    tab = request.GET.get("tab", "profile")
    actions = policy.allowed_actions(request.user, customer)
    may_view_sensitive = request.user.has_perm("customers.view_sensitive_customer")
    context = {
        "customer": customer,
        "tab": tab,
        "actions": actions,
        "may_view_sensitive": may_view_sensitive,
        "custom_values": [
            (custom_fields.label_of(d),
             custom_fields.display(d, customer.custom.get(d.key), may_view_sensitive=may_view_sensitive))
            for d in custom_fields.active_definitions()
        ],
    }
    if tab == "history":
        context["history"] = customer_history(customer)
    if tab == "timeline":
        context.update(_timeline_context(request, customer))
        if request.htmx and request.GET.get("part") == "entries":
            return render(request, "customers/_tab_timeline.html#entries", context)
    if tab == "sharing" and policy.SHARE in actions:
        context["shares"] = selectors.customer_shares(customer=customer)
        context["share_form"] = ShareForm(user=request.user)
    if request.htmx and not request.htmx.boosted:
        return render(request, "customers/customer_detail.html#tab", context)
    return render(request, "customers/customer_detail.html", context)


def _timeline_context(request, customer) -> dict:
    only = [k for k in request.GET.getlist("kind") if k]
    before = timeline.Cursor.decode(request.GET.get("before"))
    entries, next_cursor = timeline.timeline(customer=customer, user=request.user, only=only, before=before)
    return {
        "entries": entries, "next_cursor": next_cursor.encode() if next_cursor else "", "kinds": timeline.kinds(),
        "chosen_kinds": only, "panels": timeline.panels(request, customer), "continuing": before is not None,
        "now": timezone.now(),
    }


@require_http_methods(["GET", "POST"])
@permission_required("customers.add_customer", raise_exception=True)
def customer_create(request):
    form = CustomerForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_create(actor=request.user, **form.service_kwargs())
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Customer %(name)s created.") % {"name": customer.name})
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/customer_form.html", {"form": form, "creating": True})


@require_http_methods(["GET", "POST"])
@change_required
def customer_update(request, pk):
    customer = policy.get_customer_or_404(request.user, pk, policy.CHANGE)
    form = CustomerForm(request.POST or None, instance=customer, user=request.user,
                        initial={"tags": list(customer.tags.all())})
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(actor=request.user, customer=customer, **form.service_kwargs())
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/customer_form.html", {"form": form, "customer": customer})


@require_http_methods(["GET", "POST"])
@permission_required("customers.delete_customer", raise_exception=True)
def customer_delete(request, pk):
    customer = policy.get_customer_or_404(request.user, pk, policy.DELETE)
    if request.method == "POST":
        services.customer_delete(actor=request.user, customer=customer)
        messages.success(
            request, _("%(name)s moved to the recycle bin. An administrator can restore it.") % {"name": customer.name}
        )
        return redirect("customers:list")
    return render(request, "customers/customer_confirm_delete.html", {"customer": customer})


@require_POST
@permission_required("customers.claim_customer", raise_exception=True)
def customer_claim(request, pk):
    policy.get_customer_or_404(request.user, pk)  # invisible customers are 404, visible but owned ones get a message
    try:
        customer = services.customer_claim(actor=request.user, customer_id=pk)
    except ValidationError as error:
        messages.error(request, _messages_from(error))
    else:
        messages.success(request, _("You now own %(name)s.") % {"name": customer.name})
    return redirect(_safe_next(request, default=reverse("customers:detail", args=[pk])))


@require_POST
@change_required
def customer_release(request, pk):
    customer = policy.get_customer_or_404(request.user, pk, policy.RELEASE)
    services.customer_release(actor=request.user, customer=customer)
    messages.success(request, _("%(name)s is back in the public pool.") % {"name": customer.name})
    return redirect("customers:detail", pk=pk)


@require_POST
@change_required
def customer_bulk(request):
    form = BulkActionForm(request.POST, user=request.user)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(_safe_next(request))
    ids = [c.pk for c in form.cleaned_data["ids"]]
    action = form.cleaned_data["action"]
    try:
        if action == BulkActionForm.ASSIGN:
            count = services.customers_assign(actor=request.user, customer_ids=ids, owner=form.cleaned_data["owner"])
        elif action == BulkActionForm.TAG:
            count = services.customers_add_tag(actor=request.user, customer_ids=ids, tag=form.cleaned_data["tag"])
        else:
            count = services.customers_move_to_pool(actor=request.user, customer_ids=ids)
    except ValidationError as error:
        messages.error(request, _messages_from(error))
    else:
        skipped = len(ids) - count
        text = ngettext("%(count)s customer updated.", "%(count)s customers updated.", count) % {"count": count}
        if skipped:
            text += " " + ngettext(
                "%(skipped)s skipped: you may not change it.", "%(skipped)s skipped: you may not change them.", skipped
            ) % {"skipped": skipped}
        messages.success(request, text)
    # From htmx the redirect is followed in the background and the list's results partial swapped in.
    return redirect(_safe_next(request))


def _safe_next(request, default="customers:list"):
    """Where to go back to after a POST: the page the user came from, if it is ours."""
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@require_POST
@permission_required("customers.share_customer", raise_exception=True)
def customer_share(request, pk):
    customer = policy.get_customer_or_404(request.user, pk, policy.SHARE)
    form = ShareForm(request.POST, user=request.user)
    if form.is_valid():
        services.customer_share(
            actor=request.user, customer=customer, level=form.cleaned_data["level"],
            user=form.cleaned_data["user"], team=form.cleaned_data["team"],
        )
        messages.success(request, _("Shared."))
    else:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
    return redirect(f"{customer.get_absolute_url()}?tab=sharing")


@require_POST
@permission_required("customers.share_customer", raise_exception=True)
def customer_unshare(request, pk):
    customer = policy.get_customer_or_404(request.user, pk, policy.SHARE)
    user = get_object_or_404(get_user_model(), pk=request.POST["user"]) if request.POST.get("user") else None
    team = get_object_or_404(Team, pk=request.POST["team"]) if request.POST.get("team") else None
    if user is None and team is None:
        raise Http404
    services.customer_unshare(actor=request.user, customer=customer, user=user, team=team)
    messages.success(request, _("Sharing removed."))
    return redirect(f"{customer.get_absolute_url()}?tab=sharing")


@require_http_methods(["GET", "POST"])
@permission_required("customers.add_contact", raise_exception=True)
def contact_create(request, pk):
    customer = policy.get_customer_or_404(request.user, pk, policy.CHANGE)
    return _contact_form(request, customer, Contact(customer=customer))


@require_http_methods(["GET", "POST"])
@permission_required("customers.change_contact", raise_exception=True)
def contact_update(request, pk, contact_pk):
    customer = policy.get_customer_or_404(request.user, pk, policy.CHANGE)
    return _contact_form(request, customer, get_object_or_404(Contact, pk=contact_pk, customer=customer))


def _contact_form(request, customer, contact):
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        services.contact_save(actor=request.user, contact=form.save(commit=False))
        messages.success(request, _("Contact saved."))
        return redirect(f"{customer.get_absolute_url()}?tab=contacts")
    return render(request, "customers/contact_form.html", {"form": form, "customer": customer, "contact": contact})


@require_POST
@permission_required("customers.delete_contact", raise_exception=True)
def contact_delete(request, pk, contact_pk):
    customer = policy.get_customer_or_404(request.user, pk, policy.CHANGE)
    contact = get_object_or_404(Contact, pk=contact_pk, customer=customer)
    services.contact_delete(actor=request.user, contact=contact)
    messages.success(request, _("Contact %(name)s deleted.") % {"name": contact.name})
    return redirect(f"{customer.get_absolute_url()}?tab=contacts")



@require_GET
def recycle_bin(request):
    require_admin(request.user)
    return render(request, "customers/recycle_bin.html", {"page": paginate(request, selectors.recycle_bin())})


@require_POST
def customer_restore(request, pk):
    require_admin(request.user)
    try:
        customer = services.customer_restore(actor=request.user, customer_id=pk)
    except Customer.DoesNotExist:
        raise Http404 from None
    messages.success(request, _("%(name)s restored.") % {"name": customer.name})
    return redirect("customers:recycle_bin")
