"""Reads on campaigns. Every read starts from the policy's scoped queryset (marketing.permissions); the leads and
customers of a campaign from the lead policy, through ``attributed_leads``."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet

from crm.accounts.roles import is_admin
from crm.accounts.selectors import assignable_users, managed_team_ids
from sales import permissions as sales_policy
from sales.models import Lead, LeadStatus

from . import permissions as policy
from .acquisition import Figures, campaign_figures, lead_counts
from .models import Campaign

User = get_user_model()

# The campaign page lists this many of its leads and customers; the rest are one click away (the lead list).
DETAIL_ROWS = 20


def campaign_list(*, user) -> QuerySet[Campaign]:
    return policy.campaigns_for(user).select_related("owner", "team")


def campaign_detail(*, user, pk) -> Campaign:
    return policy.get_or_404(campaign_list(user=user).select_related("created_by"), pk)


def manages_campaigns(user) -> bool:
    return is_admin(user) or user.has_perm("marketing.change_campaign")


def attributed_leads(user) -> QuerySet[Lead]:
    """The leads whose counts the user reads beside campaign costs. Those who run campaigns (marketing, admins) read
    every lead's: they answer for the spend, and a count per campaign names nobody (their lead list, which shows
    names and phones, stays their own scope). Everyone else counts his own work, as the acquisition cost report
    does: his leads and those of the teams he manages, not the unassigned leads of the pool that he may claim."""
    if manages_campaigns(user):
        return Lead.objects.all()
    return sales_policy.leads_for(user).filter(Q(owner=user) | Q(team_id__in=managed_team_ids(user)))


def figures_of(*, user, campaign: Campaign) -> Figures:
    all_leads, leads, customers = lead_counts([campaign.pk], attributed_leads(user))[campaign.pk]
    return campaign_figures(campaign.actual_cost, all_leads=all_leads, leads=leads, customers=customers)


def campaign_leads(*, user, campaign: Campaign) -> list[Lead]:
    """The newest of the campaign's leads the user may see (the lead policy: a rep his own, a manager his
    subtree's, marketing the ones it owns)."""
    return list(sales_policy.leads_for(user).filter(marketing_campaign=campaign)
                .select_related("owner", "customer").order_by("-created_at", "-pk")[:DETAIL_ROWS])


def campaign_customers(*, user, campaign: Campaign) -> list:
    """Customers the campaign's leads (those the user may see) became, newest conversion first."""
    leads = (sales_policy.leads_for(user).filter(marketing_campaign=campaign, status=LeadStatus.CONVERTED,
                                                  customer__isnull=False)
             .select_related("customer", "customer__owner").order_by("-converted_at", "-pk"))
    customers, seen = [], set()
    for lead in leads[:DETAIL_ROWS * 2]:
        if lead.customer_id not in seen:
            seen.add(lead.customer_id)
            customers.append((lead.customer, lead.converted_at))
    return customers[:DETAIL_ROWS]


def campaign_owner_choices(*, user) -> QuerySet:
    """Who may own a campaign the user edits: the people he may hand records to who may run campaigns."""
    perm = Permission.objects.filter(content_type__app_label="marketing", codename="change_campaign")
    runners = User.objects.filter(Q(is_superuser=True) | Q(groups__permissions__in=perm)
                                  | Q(user_permissions__in=perm)).values("pk")
    return assignable_users(user=user).filter(pk__in=runners).order_by("username")


def campaign_choices(*, user, current=None) -> QuerySet[Campaign]:
    """Campaigns offered on the lead form and filter: all the user may see, cancelled ones only when already set."""
    campaigns = policy.campaigns_for(user)
    if current is not None:
        return campaigns.filter(~Q(status="cancelled") | Q(pk=current)).order_by("-start_date", "-pk")
    return campaigns.exclude(status="cancelled").order_by("-start_date", "-pk")
