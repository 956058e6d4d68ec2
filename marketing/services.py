"""Writes on campaigns: one function per action, the acting user passed explicitly. Every write lands in the audit
trail through pghistory's triggers (the request's context names the user; outside a request the context here)."""

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from . import permissions as policy
from .models import Campaign
from .selectors import campaign_owner_choices

CAMPAIGN_FIELDS = ["name", "code", "channel", "status", "start_date", "end_date", "budget", "actual_cost", "owner",
                   "team", "notes"]


def _values(data: dict) -> dict:
    values = {name: value for name, value in data.items() if name in CAMPAIGN_FIELDS}
    if "code" in values:
        values["code"] = (values["code"] or "").strip()
    return values


def _check_owner(actor, owner, current_owner_id=None) -> None:
    if owner is not None and owner.pk != current_owner_id and not campaign_owner_choices(user=actor).filter(
            pk=owner.pk).exists():
        raise ValidationError({"owner": _("You may not give campaigns to %(user)s.") % {"user": owner}})


@transaction.atomic
def campaign_create(*, actor, data: dict) -> Campaign:
    """A new campaign; without an owner it is the creator's, in his team unless another is given."""
    if not actor.has_perm("marketing.add_campaign"):
        raise PermissionDenied
    values = _values(data)
    values["owner"] = values.get("owner") or actor
    _check_owner(actor, values["owner"])
    if "team" not in data:
        values["team"] = actor.team
    with pghistory.context(user=actor.pk):
        campaign = Campaign(**values, created_by=actor)
        campaign.full_clean()
        campaign.save()
    return campaign


@transaction.atomic
def campaign_update(*, actor, campaign: Campaign, data: dict) -> Campaign:
    locked = policy.campaigns_for(actor, policy.CHANGE).select_for_update().filter(pk=campaign.pk).first()
    if locked is None:
        raise PermissionDenied
    values = _values(data)
    if "owner" in values:
        values["owner"] = values["owner"] or locked.owner
        _check_owner(actor, values["owner"], locked.owner_id)
    for name, value in values.items():
        setattr(locked, name, value)
    with pghistory.context(user=actor.pk):
        locked.full_clean()
        locked.save()
    return locked


@transaction.atomic
def campaign_delete(*, actor, campaign: Campaign) -> int:
    """Delete a campaign. Its leads stay, without a campaign (Lead.marketing_campaign is SET_NULL); returns how
    many were linked."""
    if not policy.campaigns_for(actor, policy.DELETE).filter(pk=campaign.pk).exists():
        raise PermissionDenied
    linked = campaign.leads.count()
    with pghistory.context(user=actor.pk):
        Campaign.objects.filter(pk=campaign.pk).delete()
    return linked
