"""The campaign a lead came from, as the marketing module contributes it.

Campaigns belong to marketing, a module above sales (ARCHITECTURE.md: sales never imports it). Lead keeps the link
(Lead.marketing_campaign), and marketing registers here, in its AppConfig.ready(), what the lead pages need to offer
and follow it. Without marketing, leads simply have no campaign field."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CampaignHooks:
    choices: Callable  # (user, current campaign id or None) → campaigns offered on the lead form
    filter_choices: Callable  # (user) → campaigns offered by the lead list's filter
    by_code: Callable  # (code) → the campaign of that code, or None
    link_imported: Callable  # (cursor, job) → link the leads an import created to the campaigns their codes name


_hooks: CampaignHooks | None = None


def register(hooks: CampaignHooks) -> None:
    global _hooks
    _hooks = hooks


def hooks() -> CampaignHooks | None:
    return _hooks
