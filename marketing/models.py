"""Campaigns (市场活动): what marketing spends to bring leads in, so that acquisition cost (获客成本) can be measured.

A lead names the campaign it came from (sales.Lead.marketing_campaign); the campaign keeps what it cost. Costs are
in CNY (元), like every amount in the CRM.
"""

from decimal import Decimal

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}
NOT_NEGATIVE = MinValueValidator(Decimal("0"), message=_("An amount cannot be negative."))


class Channel(models.TextChoices):
    """How the campaign reaches people: the channel (渠道) marketing plans and reports by."""

    EXHIBITION = "exhibition", _("Trade show")
    EVENT = "event", _("Offline event / seminar")
    WEBINAR = "webinar", _("Webinar / live stream")
    SEARCH_ADS = "search_ads", _("Search ads (SEM)")
    SOCIAL = "social", _("WeChat / social media")
    EMAIL = "email", _("Email marketing")
    SMS = "sms", _("SMS marketing")
    CONTENT = "content", _("Content / SEO")
    REFERRAL = "referral", _("Referral programme")
    TELEMARKETING = "telemarketing", _("Telemarketing")
    OTHER = "other", _("Other")


class CampaignStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    ACTIVE = "active", _("In progress")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), model_name="CampaignEvent")
class Campaign(models.Model):
    name = models.CharField(_("name"), max_length=200)
    # The code a landing page passes to the web-to-lead form (?campaign=CODE); leads arriving with it are linked.
    code = models.CharField(_("campaign code"), max_length=100, blank=True,
                            help_text=_("Optional. Leads sent by the website form with ?campaign=CODE are linked "
                                        "to this campaign."))
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    status = models.CharField(_("status"), max_length=20, choices=CampaignStatus.choices,
                              default=CampaignStatus.PLANNED)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    budget = models.DecimalField(_("budget (CNY)"), null=True, blank=True, validators=[NOT_NEGATIVE], **MONEY)
    # Empty means "not recorded yet", which is not the same as a free campaign (0): the report says which.
    actual_cost = models.DecimalField(_("actual cost (CNY)"), null=True, blank=True, validators=[NOT_NEGATIVE],
                                      **MONEY)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT,
                              related_name="campaigns")
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="campaigns")
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-start_date", "-pk"]
        constraints = [
            # The form checks these too (with messages); the database keeps imports and scripts honest.
            models.CheckConstraint(condition=Q(actual_cost__gte=0) | Q(actual_cost__isnull=True),
                                   name="campaign_cost_not_negative"),
            models.CheckConstraint(condition=Q(budget__gte=0) | Q(budget__isnull=True),
                                   name="campaign_budget_not_negative"),
            models.CheckConstraint(condition=Q(end_date__gte=F("start_date")) | Q(end_date__isnull=True),
                                   name="campaign_ends_after_start"),
            # A code links web leads to one campaign only.
            models.UniqueConstraint(fields=["code"], condition=~Q(code=""), name="campaign_code_unique"),
        ]
        indexes = [
            models.Index(fields=["-start_date"], name="campaign_start"),
            models.Index(fields=["channel", "-start_date"], name="campaign_channel"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("marketing:campaign_detail", args=[self.pk])

    def clean(self):
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": _("The end date cannot be before the start date.")})
