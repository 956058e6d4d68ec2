"""Pipelines, their stages, and opportunities (商机) moving through them."""

from decimal import ROUND_HALF_UP, Decimal

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="PipelineEvent")
class Pipeline(models.Model):
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(pgettext_lazy("position in a list", "order"), default=0)
    is_default = models.BooleanField(_("default"), default=False)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                               name="pipeline_one_default")]

    def __str__(self):
        return self.name


class StageKind(models.TextChoices):
    OPEN = "open", pgettext_lazy("deal", "Open")
    WON = "won", pgettext_lazy("deal", "Won")
    LOST = "lost", pgettext_lazy("deal", "Lost")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="StageEvent")
class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(pgettext_lazy("position in a list", "order"), default=0)
    probability = models.PositiveSmallIntegerField(_("probability (%)"), default=10)
    kind = models.CharField(_("kind"), max_length=10, choices=StageKind.choices, default=StageKind.OPEN)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "position", "pk"]

    def __str__(self):
        return self.name


OPEN_OPPORTUNITY = Q(closed_at__isnull=True)


# furthest_position is derived from the stage history (which the audit trail already holds through the stage
# changes): recomputing it is no one's change to the deal.
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 exclude=["furthest_position"], model_name="OpportunityEvent")
class Opportunity(models.Model):
    customer = models.ForeignKey("customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT,
                                 related_name="opportunities")
    name = models.CharField(_("name"), max_length=200)
    pipeline = models.ForeignKey(Pipeline, verbose_name=_("pipeline"), on_delete=models.PROTECT,
                                 related_name="opportunities")
    stage = models.ForeignKey(Stage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="opportunities")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    expected_close = models.DateField(_("expected close"), null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT,
                              related_name="opportunities")
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="opportunities")
    next_step = models.CharField(_("next step"), max_length=300, blank=True)
    lost_reason = models.CharField(_("lost reason"), max_length=300, blank=True)
    lead = models.ForeignKey("sales.Lead", null=True, blank=True, verbose_name=_("lead"), on_delete=models.SET_NULL,
        related_name="+")
    # The stage's position within its column, for the order of cards the board shows (newest move first).
    stage_entered_at = models.DateTimeField(_("in this stage since"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # The position of the furthest open or won stage of its pipeline the deal has stood in (NULL: none, e.g. lost
    # straight away): what the funnel counts (reports.sales_reports), kept here so that it reads one row per deal
    # instead of every stage-history row. Moves only ever raise it (a deal moved back still reached the stage it
    # left); sales.pipeline_furthest recomputes it from the stage history when a pipeline's stages are reordered.
    furthest_position = models.PositiveIntegerField(_("furthest stage reached"), null=True, blank=True,
                                                    editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-updated_at", "-pk"]
        permissions = [("export_opportunity", _("Can export opportunities"))]
        indexes = [
            # The board: one column at a time, cards paginated.
            models.Index(fields=["stage", "-stage_entered_at", "-id"], name="opportunity_column"),
            models.Index(fields=["owner", "stage"], name="opportunity_owner_stage"),
            models.Index(fields=["team", "stage"], name="opportunity_team_stage"),
            models.Index(fields=["customer", "-created_at"], name="opportunity_customer"),
            # The list's sorts (the tie on id as the list adds it): a page walks an index instead of sorting every
            # visible opportunity (bench/kanban.py).
            models.Index(fields=["-updated_at", "-id"], name="opportunity_updated"),
            models.Index(fields=["-created_at", "-id"], name="opportunity_created"),
            models.Index(fields=["-amount", "-id"], name="opportunity_amount"),
            models.Index(fields=["expected_close", "-id"], name="opportunity_expected_close"),
            models.Index(fields=["name", "-id"], name="opportunity_name"),
            # The reports (bench/reports.py), read index-only: the funnel (deals created in a period, with how far
            # they got) and the deals won or lost in a period (performance, the dashboards' won this month).
            models.Index(fields=["pipeline", "created_at"], name="opportunity_funnel",
                         include=["furthest_position", "amount", "currency", "owner", "team"]),
            models.Index(fields=["stage", "closed_at"], name="opportunity_stage_closed",
                         include=["owner", "team", "amount", "currency", "created_at"]),
            # The open deals (about a third of them), read index-only (id too: the reports count it) by the
            # dashboards' open deals per stage and the forecasts by month of expected close (reports.dashboards,
            # reports.sales_reports).
            models.Index(fields=["expected_close"], name="opportunity_open_deals", condition=OPEN_OPPORTUNITY,
                         include=["id", "stage", "pipeline", "owner", "team", "amount", "currency"]),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("sales:opportunity_detail", args=[self.pk])

    @property
    def weighted_amount(self) -> Decimal:
        return (self.amount * self.stage.probability / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class StageHistory(models.Model):
    """When an opportunity entered each stage, and who moved it there."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="stage_history")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    moved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")

    class Meta:
        ordering = ["entered_at", "pk"]
        indexes = [models.Index(fields=["opportunity", "entered_at"], name="stage_history_opportunity")]

    def __str__(self):
        return f"{self.opportunity_id}@{self.stage_id}"

    @property
    def duration(self):
        from django.utils import timezone

        return (self.left_at or timezone.now()) - self.entered_at


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="OpportunityLineEvent")
class OpportunityLine(models.Model):
    """A product the opportunity is about."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("sales.Product", verbose_name=_("product"), on_delete=models.PROTECT,
                                related_name="+")
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=2, default=Decimal("1"))
    unit_price = models.DecimalField(_("unit price"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("product line")
        verbose_name_plural = _("product lines")

    def __str__(self):
        return f"{self.product} × {self.quantity}"
