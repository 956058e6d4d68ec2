"""Logging interactions and acting on follow-ups. Thin: each view checks scope through the policies,
calls one service and answers with a partial (htmx) or a redirect."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from customers import permissions as customer_policy

from . import permissions as policy
from . import services
from .forms import QuickLogForm, ReassignForm, SnoozeForm


def _timeline_url(customer) -> str:
    return reverse("customers:detail", args=[customer.pk]) + "?tab=timeline"


def _back_to(request, url: str):
    """After a change from the customer page: swap its tabs in place (htmx), or go there."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Location"] = json.dumps({"path": url, "target": "#customer-tabs", "swap": "outerHTML"})
        return response
    return redirect(url)


@require_POST
@permission_required("interactions.add_interaction", raise_exception=True)
def interaction_log(request, customer_pk):
    customer = customer_policy.get_customer_or_404(request.user, customer_pk)
    form = QuickLogForm(request.POST, request.FILES, customer=customer, user=request.user)
    if form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k in services.INTERACTION_FIELDS}
        try:
            services.interaction_log(actor=request.user, customer=customer, data=data,
                                     contact=form.cleaned_data.get("contact"), files=form.cleaned_data["files"],
                                     next_step=form.next_step_kwargs())
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Logged."))
            return _back_to(request, _timeline_url(customer))
    # The form again, with its errors, in place of the one that was sent.
    return render(request, "interactions/_quick_log.html", {"panel": {"form": form, "customer": customer}})


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _followup_action(request, pk, act):
    followup = policy.get_followup_or_404(request.user, pk, policy.VIEW)
    try:
        message = act(followup)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, message)
    target = _safe_next(request, _timeline_url(followup.customer))
    if "/customers/" in target:
        # From the customer page (also from a page of older entries, whose address is a fragment's): its tabs.
        return _back_to(request, _timeline_url(followup.customer))
    return redirect(target)


@require_POST
@permission_required("interactions.change_followup", raise_exception=True)
def followup_complete(request, pk):
    def act(followup):
        services.followup_complete(actor=request.user, followup=followup)
        return _("Done: %(title)s") % {"title": followup.title}

    return _followup_action(request, pk, act)


@require_POST
@permission_required("interactions.change_followup", raise_exception=True)
def followup_cancel(request, pk):
    def act(followup):
        services.followup_cancel(actor=request.user, followup=followup)
        return _("Dropped: %(title)s") % {"title": followup.title}

    return _followup_action(request, pk, act)


@require_POST
@permission_required("interactions.change_followup", raise_exception=True)
def followup_snooze(request, pk):
    def act(followup):
        form = SnoozeForm(request.POST)
        if not form.is_valid():
            raise ValidationError(list(form.errors.get("until", [_("Choose when to be reminded again.")])))
        services.followup_snooze(actor=request.user, followup=followup, until=form.cleaned_data["until"])
        return _("You will be reminded again.")

    return _followup_action(request, pk, act)


@require_POST
@permission_required("interactions.change_followup", raise_exception=True)
def followup_reassign(request, pk):
    def act(followup):
        form = ReassignForm(request.POST, user=request.user)
        if not form.is_valid():
            raise ValidationError(_("Choose someone you may give follow-ups to."))
        services.followup_reassign(actor=request.user, followup=followup, assignee=form.cleaned_data["assignee"])
        assignee = form.cleaned_data["assignee"]
        return _("%(title)s now belongs to %(user)s.") % {"title": followup.title, "user": assignee}

    return _followup_action(request, pk, act)


@require_GET
@permission_required("interactions.view_interaction", raise_exception=True)
def interaction_attachment(request, pk, attachment_pk):
    """An attachment, to those who may see its interaction."""
    interaction = policy.get_interaction_or_404(request.user, pk)
    attachment = interaction.attachments.filter(pk=attachment_pk).first()
    if attachment is None:
        raise Http404
    return FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.name)
