"""Who may see and change campaigns (市场活动): the policy every campaign page, form choice and report reads.

- Seeing: everyone with the module permission (marketing, sales managers and reps, admins) sees every campaign.
  A campaign is a company fact, like a product: reps pick it on the lead form whatever team ran it, and it holds
  no customer's data. Its leads and customers are another matter: they stay under the lead policy
  (marketing.selectors.attributed_leads).
- Changing and deleting (marketing and admins only, by module permission): an admin any campaign; anyone else the
  campaigns he owns, those of his own team (a marketing department runs its campaigns together) and those of the
  teams he manages. Outside that the answer is 404.
"""

from django.db.models import Q, QuerySet
from django.http import Http404

from crm.accounts.roles import is_admin
from crm.accounts.selectors import managed_team_ids

from .models import Campaign

VIEW, CHANGE, DELETE = "view", "change", "delete"


def campaigns_for(user, action: str = VIEW) -> QuerySet[Campaign]:
    if not user.is_authenticated or not user.has_perm(f"marketing.{action}_campaign"):
        return Campaign.objects.none()
    if action == VIEW or is_admin(user):
        return Campaign.objects.all()
    teams = managed_team_ids(user) | ({user.team_id} if user.team_id else set())
    return Campaign.objects.filter(Q(owner=user) | Q(team_id__in=teams))


def can(user, action: str, campaign: Campaign) -> bool:
    return campaigns_for(user, action).filter(pk=campaign.pk).exists()


def get_or_404(queryset: QuerySet, pk):
    """The campaign of ``queryset`` (a ``campaigns_for`` result) with this key, or 404."""
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
