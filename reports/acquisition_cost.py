"""Customer acquisition cost (获客成本) per campaign and per channel: what marketing spent, the leads it brought, the
customers they became, cost per lead and cost per converted customer (CAC).

The period picks campaigns by their start date, and each is counted whole: all the leads it brought and the
customers those became, whenever. Cutting a campaign's leads at the period's end while charging its whole cost
would make every campaign look dear in its first month.

Scope (marketing.acquisition explains the arithmetic): the costs are company figures, spent once for all of a
campaign's leads, so everyone who may read the report sees them whole; the lead and customer counts are the
viewer's: an admin's (narrowed by the team and rep filters), a manager's subtree, a rep's own leads. A rep is
charged the share of the cost his leads stand for, not the whole of it. Marketing (who run campaigns and answer
for the spend) count every lead, as on the campaign page (marketing.selectors.attributed_leads); their leads'
names stay behind the lead policy, so their rows open the campaign page rather than the lead list.
"""

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm.accounts.roles import is_admin
from marketing import permissions as campaign_policy
from marketing.acquisition import Figures, campaign_figures, combined, lead_counts
from marketing.models import Channel
from marketing.selectors import manages_campaigns
from sales import permissions as sales_policy
from sales.models import Lead

from .customer_reports import list_url, people_query
from .filters import THIS_YEAR
from .registry import Report, register
from .tables import Column, Table

SECTION = gettext_lazy("Marketing")
TEMPLATE = "reports/acquisition_cost.html"


def _columns() -> list[Column]:
    return [Column(_("actual cost (CNY)"), money=True), Column(_("leads"), numeric=True),
            Column(_("cost of these leads"), money=True), Column(_("converted customers"), numeric=True),
            Column(_("conversion rate"), percent=True), Column(_("cost per lead"), money=True),
            Column(_("cost per customer (CAC)"), money=True)]


def _cells(figures: Figures) -> list:
    """The figures as cells; where there is nothing to divide, the cell says why rather than showing 0."""
    if figures.cost is None:
        missing = _("no cost recorded")
        return [missing, figures.leads, None, figures.customers, figures.conversion, missing, missing]
    per_lead = figures.cost_per_lead if figures.cost_per_lead is not None else _("no leads yet")
    per_customer = figures.cost_per_customer if figures.cost_per_customer is not None else _("no customers yet")
    return [figures.cost, figures.leads, figures.share, figures.customers, figures.conversion, per_lead,
            per_customer]


def _leads(request, filters):
    """The leads the viewer counts (see the module's docstring)."""
    if manages_campaigns(request.user) and not is_admin(request.user):
        return Lead.objects.all()
    return filters.records(sales_policy.leads_for(request.user))


def _lead_list_url(campaign_id: int, people: dict) -> str:
    return list_url("sales:lead_list", campaign=campaign_id, **people)


def build_acquisition_cost(request, filters) -> dict:
    user = request.user
    campaigns = list(campaign_policy.campaigns_for(user).filter(start_date__gte=filters.start,
                                                                start_date__lte=filters.end)
                     .order_by("start_date", "pk").only("pk", "name", "channel", "start_date", "actual_cost"))
    counts = lead_counts([c.pk for c in campaigns], _leads(request, filters))
    company_wide = manages_campaigns(user) and not is_admin(user)
    figures = {c.pk: campaign_figures(c.actual_cost, all_leads=counts[c.pk][0], leads=counts[c.pk][1],
                                      customers=counts[c.pk][2]) for c in campaigns}

    empty = _("No campaign started in this period.")
    by_campaign = Table(key="campaigns", title=_("Acquisition cost per campaign"), empty=empty,
                        columns=[Column(_("campaign")), Column(_("channel")), Column(_("start date")), *_columns()])
    people = people_query(filters)  # once: for a manager it reads his teams
    for campaign in campaigns:
        link = (reverse("marketing:campaign_detail", args=[campaign.pk]) if company_wide
                else _lead_list_url(campaign.pk, people))
        by_campaign.add([campaign.name, campaign.get_channel_display(), campaign.start_date,
                         *_cells(figures[campaign.pk])], link)

    by_channel = Table(key="channels", title=_("Acquisition cost per channel"), empty=empty,
                       columns=[Column(_("channel")), Column(_("campaigns"), numeric=True), *_columns()])
    channels: dict[str, list[Figures]] = {}
    for campaign in campaigns:
        channels.setdefault(campaign.channel, []).append(figures[campaign.pk])
    campaign_list = reverse("marketing:campaign_list")
    for value, label in Channel.choices:
        if value in channels:
            link = (f"{campaign_list}?channel={value}&started_after={filters.start.isoformat()}"
                    f"&started_before={filters.end.isoformat()}")
            by_channel.add([str(label), len(channels[value]), *_cells(combined(channels[value]))], link)

    if campaigns:
        total = _cells(combined(list(figures.values())))
        by_campaign.totals = [_("Total"), "", "", *total]
        by_channel.totals = [_("Total"), len(campaigns), *total]

    notes = [_("Campaigns that started in the period, each with all the leads it brought and the customers those "
               "leads became, whenever.")]
    if not company_wide and not (is_admin(user) and filters.owner_id is None and filters.team_ids is None):
        notes.append(_("Costs are the company's: a campaign's cost is spread over all its leads. “Cost of these "
                       "leads” is the part of it the leads counted here stand for, and the cost per customer "
                       "divides that part by the customers they became."))
    uncosted = sum(1 for f in figures.values() if f.cost is None)
    if uncosted:
        notes.append(ngettext(
            "%(count)s campaign has no actual cost recorded: it is listed without cost per lead or customer, and "
            "left out of the totals' costs.",
            "%(count)s campaigns have no actual cost recorded: they are listed without cost per lead or customer, "
            "and left out of the totals' costs.", uncosted) % {"count": uncosted})
    return {"tables": [by_campaign, by_channel], "charts": [], "notes": notes}


register(Report(key="acquisition_cost", title=gettext_lazy("Customer acquisition cost"), section=SECTION,
                template=TEMPLATE,
                description=gettext_lazy("Campaign costs against the leads they brought and the customers those "
                                         "became: cost per lead and per converted customer, by campaign and "
                                         "channel."),
                permissions=("marketing.view_campaign", "sales.view_lead"), build=build_acquisition_cost, order=64,
                # Costs per campaign and counts of leads: no record leaves with them, and leads have no export
                # permission of their own (as the lead conversion report), so the view permissions are the gate.
                export_permissions=(),
                extra={"default_period": THIS_YEAR}))
