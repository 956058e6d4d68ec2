"""Lead pages. Each view checks the module permission (403 without it), takes its lead from the policy (404
outside scope), calls one service and answers with a page, a partial (htmx) or a redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.web import pagination
from crm.web.pagination import paginate
from customers import custom_fields
from customers import permissions as customer_policy

from . import lead_selectors as selectors
from . import lead_services as services
from . import permissions as policy
from .assignment import REASON_LABELS
from .lead_filters import LeadFilter
from .lead_forms import LeadAssignForm, LeadBulkAssignForm, LeadConvertForm, LeadForm, LeadStatusForm
from .models import LeadStatus

view_required = permission_required("sales.view_lead", raise_exception=True)
change_required = permission_required("sales.change_lead", raise_exception=True)


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


def _form_errors(request, form) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@require_GET
@view_required
def lead_list(request):
    filterset = LeadFilter(request.GET or None, queryset=selectors.lead_list(user=request.user), user=request.user)
    queryset = filterset.qs if filterset.is_bound else filterset.queryset.order_by("-created_at", "-pk")
    searching = filterset.is_bound and filterset.form.is_valid() and filterset.form.cleaned_data.get("q")
    page = paginate(request, queryset, count_cap=pagination.SEARCH_COUNT_CAP if searching else None)
    may_assign = request.user.has_perm("sales.assign_lead")
    context = {
        "filter": filterset,
        "page": page,
        "bulk_form": LeadBulkAssignForm(user=request.user) if may_assign else None,
        "may_view_sensitive": request.user.has_perm("customers.view_sensitive_customer"),
    }
    htmx_partial = request.htmx and not request.htmx.boosted
    return render(request, "sales/leads/lead_list.html#results" if htmx_partial else "sales/leads/lead_list.html",
                  context)


@require_GET
@view_required
def lead_detail(request, pk):
    lead = selectors.lead_detail(user=request.user, pk=pk)
    actions = selectors.allowed_actions(request.user, lead)
    definitions = custom_fields.active_definitions()
    sensitive = request.user.has_perm("customers.view_sensitive_customer")
    context = {
        "lead": lead,
        "actions": actions,
        "assignments": selectors.lead_assignments(lead=lead),
        "reason_labels": REASON_LABELS,
        "status_form": LeadStatusForm(),
        "assign_form": LeadAssignForm(user=request.user) if selectors.ASSIGN in actions else None,
        "may_view_sensitive": sensitive,
        "custom_values": [(custom_fields.label_of(d),
                           custom_fields.display(d, (lead.custom or {}).get(d.key), may_view_sensitive=sensitive))
                          for d in definitions if (lead.custom or {}).get(d.key) not in (None, "", [])],
        "status_choices": [LeadStatus.CONTACTED, LeadStatus.QUALIFIED],
    }
    return render(request, "sales/leads/lead_detail.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("sales.add_lead", raise_exception=True)
def lead_create(request):
    form = LeadForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            lead = services.lead_create(actor=request.user, **form.service_kwargs())
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if policy.leads_for(request.user).filter(pk=lead.pk).exists():
                messages.success(request, _("Lead %(name)s created.") % {"name": lead.name})
                return redirect("sales:lead_detail", pk=lead.pk)
            # Handed to the rules, out of the creator's sight (marketing): say so and stay on the form.
            messages.success(request, _("Lead %(name)s created; the assignment rules will pass it to a sales rep.")
                             % {"name": lead.name})
            return redirect("sales:lead_create")
    return render(request, "sales/leads/lead_form.html", {"form": form, "creating": True})


@require_http_methods(["GET", "POST"])
@change_required
def lead_update(request, pk):
    lead = policy.get_or_404(policy.leads_for(request.user, policy.CHANGE), pk)
    form = LeadForm(request.POST or None, instance=lead, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.lead_update(actor=request.user, lead=lead, **form.service_kwargs())
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:lead_detail", pk=lead.pk)
    return render(request, "sales/leads/lead_form.html", {"form": form, "lead": lead})


@require_POST
@permission_required("sales.claim_lead", raise_exception=True)
def lead_claim(request, pk):
    policy.get_or_404(policy.leads_for(request.user), pk)  # invisible: 404; visible but taken: a message
    try:
        lead = services.lead_claim(actor=request.user, lead_id=pk)
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        messages.success(request, _("The lead %(name)s is yours now.") % {"name": lead.name})
    return redirect(_safe_next(request, reverse("sales:lead_detail", args=[pk])))


@require_POST
@permission_required("sales.assign_lead", raise_exception=True)
def lead_assign(request, pk):
    lead = policy.get_or_404(policy.leads_for(request.user), pk)
    form = LeadAssignForm(request.POST, user=request.user)
    if not form.is_valid():
        _form_errors(request, form)
    else:
        try:
            lead = services.lead_assign(actor=request.user, lead=lead, owner=form.cleaned_data["owner"])
        except ValidationError as error:
            messages.error(request, _errors(error))
        else:
            messages.success(request, _("The lead is assigned to %(user)s.") % {"user": lead.owner})
    return redirect("sales:lead_detail", pk=pk)


@require_POST
@permission_required("sales.assign_lead", raise_exception=True)
def lead_bulk(request):
    form = LeadBulkAssignForm(request.POST, user=request.user)
    default = reverse("sales:lead_list")
    if not form.is_valid():
        _form_errors(request, form)
        return redirect(_safe_next(request, default))
    ids = [lead.pk for lead in form.cleaned_data["ids"]]
    try:
        count = services.leads_assign(actor=request.user, lead_ids=ids, owner=form.cleaned_data["owner"])
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        text = ngettext("%(count)s lead assigned.", "%(count)s leads assigned.", count) % {"count": count}
        skipped = len(ids) - count
        if skipped:
            text += " " + ngettext("%(skipped)s left as it was: closed, or already that person's.",
                                   "%(skipped)s left as they were: closed, or already that person's.",
                                   skipped) % {"skipped": skipped}
        messages.success(request, text)
    # From htmx the redirect is followed in the background and the list's results partial swapped in.
    return redirect(_safe_next(request, default))


@require_POST
@change_required
def lead_status(request, pk):
    lead = policy.get_or_404(policy.leads_for(request.user, policy.CHANGE), pk)
    form = LeadStatusForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
    else:
        try:
            lead = services.lead_set_status(actor=request.user, lead=lead, status=form.cleaned_data["status"],
                                            reason=form.cleaned_data["reason"])
        except ValidationError as error:
            messages.error(request, _errors(error))
        else:
            messages.success(request, _("Status: %(status)s.") % {"status": lead.get_status_display()})
    return redirect("sales:lead_detail", pk=pk)


@require_http_methods(["GET", "POST"])
@change_required
def lead_convert(request, pk):
    """A confirmation page: the customer the lead becomes (an existing one when its phone or email matches), the
    opportunity to open; POST converts."""
    if not request.user.has_perm("customers.add_customer"):
        raise PermissionDenied
    lead = policy.get_or_404(policy.leads_for(request.user, policy.CHANGE).select_related("owner"), pk)
    if not lead.is_open:
        messages.error(request, _("This lead is closed: it was converted or disqualified."))
        return redirect("sales:lead_detail", pk=pk)
    may_open = request.user.has_perm("sales.add_opportunity")
    form = LeadConvertForm(request.POST or None, initial={
        "create_opportunity": may_open, "opportunity_name": services.default_opportunity_name(lead)})
    if request.method == "POST" and form.is_valid():
        try:
            lead = services.lead_convert(actor=request.user, lead=lead,
                                         opportunity=form.opportunity() if may_open else None)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("The lead is converted: customer %(customer)s.") % {
                "customer": lead.customer})
            target = lead.customer if customer_policy.can(request.user, customer_policy.VIEW, lead.customer) else lead
            return redirect(target.get_absolute_url())
    match = services.matching_customer(lead)
    context = {
        "lead": lead, "form": form, "match": match, "may_open": may_open,
        "match_visible": match is not None and customer_policy.can(request.user, customer_policy.VIEW, match),
        # Someone else's customer the user may not change: the conversion would be refused (lead_convert).
        "match_refused": match is not None and match.owner_id is not None
        and not customer_policy.can(request.user, customer_policy.CHANGE, match),
        "owner": lead.owner or request.user,
    }
    return render(request, "sales/leads/lead_convert.html", context)
