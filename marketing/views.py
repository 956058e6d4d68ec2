"""Campaign pages. Each view checks the module permission (403 without it), takes its campaign from the policy
(404 outside scope), calls one service and answers with a page, a partial (htmx) or a redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from crm.web.pagination import paginate

from . import permissions as policy
from . import selectors, services
from .filters import CampaignFilter
from .forms import CampaignForm


@require_GET
@permission_required("marketing.view_campaign", raise_exception=True)
def campaign_list(request):
    filterset = CampaignFilter(request.GET or None, queryset=selectors.campaign_list(user=request.user),
                               user=request.user)
    queryset = filterset.qs if filterset.is_bound else filterset.queryset.order_by("-start_date", "-pk")
    context = {"filter": filterset, "page": paginate(request, queryset)}
    htmx_partial = request.htmx and not request.htmx.boosted
    return render(request, "marketing/campaign_list.html#results" if htmx_partial else "marketing/campaign_list.html",
                  context)


@require_GET
@permission_required("marketing.view_campaign", raise_exception=True)
def campaign_detail(request, pk):
    campaign = selectors.campaign_detail(user=request.user, pk=pk)
    context = {
        "campaign": campaign,
        "figures": selectors.figures_of(user=request.user, campaign=campaign),
        "company_wide": selectors.manages_campaigns(request.user),
        "leads": selectors.campaign_leads(user=request.user, campaign=campaign),
        "customers": selectors.campaign_customers(user=request.user, campaign=campaign),
        "leads_url": reverse("sales:lead_list") + "?" + urlencode({"campaign": campaign.pk}),
        "may_change": request.user.has_perm("marketing.change_campaign")
        and policy.can(request.user, policy.CHANGE, campaign),
        "may_delete": request.user.has_perm("marketing.delete_campaign")
        and policy.can(request.user, policy.DELETE, campaign),
    }
    return render(request, "marketing/campaign_detail.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("marketing.add_campaign", raise_exception=True)
def campaign_create(request):
    form = CampaignForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.campaign_create(actor=request.user, data=form.service_data())
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Campaign %(name)s created.") % {"name": campaign.name})
            return redirect(campaign.get_absolute_url())
    return render(request, "marketing/campaign_form.html", {"form": form, "creating": True})


@require_http_methods(["GET", "POST"])
@permission_required("marketing.change_campaign", raise_exception=True)
def campaign_update(request, pk):
    campaign = policy.get_or_404(policy.campaigns_for(request.user, policy.CHANGE), pk)
    form = CampaignForm(request.POST or None, instance=campaign, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_update(actor=request.user, campaign=campaign, data=form.service_data())
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("marketing:campaign_detail", pk=pk)
    return render(request, "marketing/campaign_form.html", {"form": form, "campaign": campaign})


@require_http_methods(["GET", "POST"])
@permission_required("marketing.delete_campaign", raise_exception=True)
def campaign_delete(request, pk):
    campaign = policy.get_or_404(policy.campaigns_for(request.user, policy.DELETE), pk)
    if request.method == "POST":
        linked = services.campaign_delete(actor=request.user, campaign=campaign)
        text = _("Campaign %(name)s deleted.") % {"name": campaign.name}
        if linked:
            text += " " + ngettext("%(count)s lead no longer names it.", "%(count)s leads no longer name it.",
                                   linked) % {"count": linked}
        messages.success(request, text)
        return redirect("marketing:campaign_list")
    return render(request, "marketing/campaign_confirm_delete.html",
                  {"campaign": campaign, "lead_count": campaign.leads.count()})
