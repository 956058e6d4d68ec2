"""Writes on opportunities (商机), their products, and the pipelines and stages they move through.

One function per business action, the acting user passed explicitly, ``full_clean()`` before saving. Every write
lands in the audit trail (pghistory on Opportunity); the stage history (StageHistory) is this module's own record of
who moved what when, and the customer timeline reads it (sales.pipeline_setup).

Races: moving a deal, editing it and changing its lines lock the opportunity row first (``select_for_update``), so
two people dragging the same card leave one consistent history (one open StageHistory row at a time).
"""

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Max, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from crm.accounts.selectors import assignable_users
from customers import permissions as customer_policy
from customers import services as customer_services

from . import permissions as policy
from .commerce_totals import money
from .models import Opportunity, OpportunityLine, Pipeline, Product, Stage, StageHistory, StageKind
from .pipeline_furthest import furthest_after

OPPORTUNITY_FIELDS = ("name", "amount", "currency", "expected_close", "next_step")
# A move validates what it changes; the other foreign keys were valid when the row was locked (each would cost a
# query on the board's hottest request).
UNCHANGED_BY_A_MOVE = ["customer", "pipeline", "owner", "team", "lead"]


# ------------------------------------------------------------------------------------------------ helpers


def default_pipeline() -> Pipeline | None:
    return Pipeline.objects.filter(is_default=True, active=True).first() or Pipeline.objects.filter(active=True).first()


def first_open_stage(pipeline: Pipeline) -> Stage | None:
    return pipeline.stages.filter(kind=StageKind.OPEN).order_by("position", "pk").first()


def _lock(actor, opportunity: Opportunity) -> Opportunity:
    """The opportunity, locked for this transaction, if ``actor`` may change it.

    No select_related("stage"): a second mover waiting for the lock would have PostgreSQL re-check the joined
    stage row it read before waiting against the moved opportunity's new stage, find no match, and be refused."""
    try:
        return policy.opportunities_for(actor, policy.CHANGE).select_for_update(of=("self",)).get(pk=opportunity.pk)
    except Opportunity.DoesNotExist:
        raise PermissionDenied(_("You may not change this opportunity.")) from None


def _check_assignable(actor, owner) -> None:
    if not assignable_users(user=actor).filter(pk=owner.pk).exists():
        raise ValidationError({"owner": _("You may not give opportunities to %(user)s.") % {"user": owner}})


def _require(actor, *perms: str) -> None:
    if not actor.is_active or not actor.has_perms(perms):
        raise PermissionDenied


# ------------------------------------------------------------------------------------------ opportunities


@transaction.atomic
def opportunity_create(*, actor, customer, data: dict, owner=None, pipeline: Pipeline | None = None,
                       lead=None) -> Opportunity:
    """A new opportunity on a customer the actor may see, in the first open stage of ``pipeline`` (default: the
    default pipeline). It belongs to ``owner`` (default: the actor; someone else only if the actor may hand work
    to him) and to the owner's team."""
    if not customer_policy.customers_for(actor).filter(pk=customer.pk).exists():
        raise ValidationError(_("You may not add opportunities to this customer."))
    owner = owner or actor
    if owner.pk != actor.pk:
        _check_assignable(actor, owner)
    pipeline = pipeline or default_pipeline()
    if pipeline is None or not pipeline.active:
        raise ValidationError({"pipeline": _("Choose an active pipeline.")})
    stage = first_open_stage(pipeline)
    if stage is None:
        raise ValidationError({"pipeline": _("The pipeline %(name)s has no open stage.") % {"name": pipeline}})
    now = timezone.now()
    opportunity = Opportunity(
        customer=customer, pipeline=pipeline, stage=stage, owner=owner, team_id=owner.team_id, lead=lead,
        stage_entered_at=now, furthest_position=furthest_after(None, stage),
        **{k: v for k, v in data.items() if k in OPPORTUNITY_FIELDS},
    )
    opportunity.full_clean()
    opportunity.save()
    StageHistory.objects.create(opportunity=opportunity, stage=stage, entered_at=now, moved_by=actor)
    return opportunity


@transaction.atomic
def opportunity_update(*, actor, opportunity: Opportunity, data: dict, owner=None) -> Opportunity:
    """Change an opportunity's data (not its stage: see opportunity_move). A new owner brings his team along."""
    locked = _lock(actor, opportunity)
    for field in OPPORTUNITY_FIELDS:
        if field in data:
            setattr(locked, field, data[field])
    if "lost_reason" in data and locked.stage.kind == StageKind.LOST:
        locked.lost_reason = (data["lost_reason"] or "").strip()
        if not locked.lost_reason:
            raise ValidationError({"lost_reason": _("Say why the opportunity was lost.")})
    if owner is not None and owner.pk != locked.owner_id:
        _check_assignable(actor, owner)
        locked.owner = owner
        locked.team_id = owner.team_id
    locked.full_clean()
    locked.save()
    return locked


@dataclass(frozen=True)
class Moved:
    opportunity: Opportunity
    from_stage_id: int

    @property
    def changed(self) -> bool:
        return self.from_stage_id != self.opportunity.stage_id


@transaction.atomic
def opportunity_move(*, actor, opportunity: Opportunity, stage: Stage, lost_reason: str = "") -> Moved:
    """Move an opportunity to another stage of its pipeline.

    Closes the open stage-history row and opens one for the new stage; a won or lost stage closes the deal
    (``closed_at``), an open one reopens it; a lost stage needs the reason. Cards are ordered by the time they
    entered their stage, so the moved card comes first in its new column: there is no position to keep.
    """
    locked = _lock(actor, opportunity)
    from_stage_id = locked.stage_id
    # Re-read inside the transaction under a KEY SHARE lock: an administrator deleting (merging) the stage right now
    # finishes first and the stage is gone, or waits until this move is committed and then merges the card too.
    # Moves into one stage do not wait for each other (KEY SHARE locks do not conflict).
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sales_stage WHERE id = %s AND pipeline_id = %s FOR KEY SHARE",
                       [stage.pk, locked.pipeline_id])
        still_there = cursor.fetchone() is not None
    if not still_there:
        if Stage.objects.filter(pk=stage.pk).exists():
            raise ValidationError({"stage": _("This stage is not in the opportunity's pipeline.")})
        raise ValidationError({"stage": _("This stage was just removed. Reload the page and move the card again.")})
    stage = Stage.objects.get(pk=stage.pk)
    if stage.pk == from_stage_id:
        return Moved(locked, from_stage_id)
    reason = (lost_reason or "").strip()
    if stage.kind == StageKind.LOST and not reason:
        raise ValidationError({"lost_reason": _("Say why the opportunity was lost.")})
    now = timezone.now()
    StageHistory.objects.filter(opportunity=locked, left_at__isnull=True).update(left_at=now)
    StageHistory.objects.create(opportunity=locked, stage=stage, entered_at=now, moved_by=actor)
    locked.stage = stage
    locked.stage_entered_at = now
    locked.closed_at = None if stage.kind == StageKind.OPEN else now
    locked.lost_reason = reason if stage.kind == StageKind.LOST else ""
    locked.furthest_position = furthest_after(locked.furthest_position, stage)  # never lowered: see the model
    locked.full_clean(exclude=UNCHANGED_BY_A_MOVE)
    locked.save(update_fields=["stage", "stage_entered_at", "closed_at", "lost_reason", "furthest_position",
                               "updated_at"])
    if stage.kind == StageKind.WON:
        customer_services.customer_mark_deal(customer_id=locked.customer_id)
    return Moved(locked, from_stage_id)


@transaction.atomic
def opportunity_delete(*, actor, opportunity: Opportunity) -> None:
    """Delete an opportunity with its lines and stage history (the audit trail keeps what it was)."""
    _require(actor, "sales.delete_opportunity")
    deleted, _rows = policy.opportunities_for(actor, policy.CHANGE).filter(pk=opportunity.pk).delete()
    if not deleted:
        raise PermissionDenied(_("You may not change this opportunity."))


# ------------------------------------------------------------------------------------------ product lines


def _line_total(opportunity_id: int) -> Decimal:
    total = OpportunityLine.objects.filter(opportunity_id=opportunity_id).aggregate(
        total=Sum(ExpressionWrapper(F("quantity") * F("unit_price"),
                                    output_field=DecimalField(max_digits=28, decimal_places=4)))
    )["total"]
    return money(total or 0)


def _follow_lines(opportunity: Opportunity) -> None:
    opportunity.amount = _line_total(opportunity.pk)
    opportunity.full_clean()
    opportunity.save(update_fields=["amount", "updated_at"])


def _check_line(line: OpportunityLine) -> None:
    if line.quantity <= 0:
        raise ValidationError({"quantity": _("The quantity must be more than zero.")})
    if line.unit_price < 0:
        raise ValidationError({"unit_price": _("The price cannot be negative.")})
    line.full_clean()


@transaction.atomic
def opportunity_line_add(*, actor, opportunity: Opportunity, product: Product, quantity: Decimal,
                         unit_price: Decimal | None = None, update_amount: bool = True) -> OpportunityLine:
    """Add a product to the deal, at its list price unless another is given; the deal's amount becomes the lines'
    total when ``update_amount``."""
    _require(actor, "sales.add_opportunityline")
    locked = _lock(actor, opportunity)
    if not product.active:
        raise ValidationError({"product": _("%(product)s is no longer on sale.") % {"product": product}})
    line = OpportunityLine(opportunity=locked, product=product, quantity=quantity,
                           unit_price=product.price if unit_price is None else unit_price)
    _check_line(line)
    line.save()
    if update_amount:
        _follow_lines(locked)
    return line


@transaction.atomic
def opportunity_line_update(*, actor, line: OpportunityLine, quantity: Decimal, unit_price: Decimal,
                            update_amount: bool = True) -> OpportunityLine:
    _require(actor, "sales.change_opportunityline")
    locked = _lock(actor, line.opportunity)
    line = OpportunityLine.objects.select_for_update().get(pk=line.pk, opportunity=locked)
    line.quantity, line.unit_price = quantity, unit_price
    _check_line(line)
    line.save(update_fields=["quantity", "unit_price"])
    if update_amount:
        _follow_lines(locked)
    return line


@transaction.atomic
def opportunity_line_remove(*, actor, line: OpportunityLine, update_amount: bool = True) -> None:
    # Taking a product off a deal is editing the deal: the change permission, not delete_opportunityline
    # (which the sales roles do not hold), decides.
    _require(actor, "sales.change_opportunityline")
    locked = _lock(actor, line.opportunity)
    OpportunityLine.objects.filter(pk=line.pk, opportunity=locked).delete()
    if update_amount:
        _follow_lines(locked)


# ------------------------------------------------------------------------------------ pipelines and stages


def _refresh_furthest_after_commit(pipeline_id: int) -> None:
    """The pipeline's stage positions (or kinds) changed: its deals' furthest positions are recomputed from their
    stage history by a worker, once this change is committed (sales.pipeline_furthest)."""
    from .tasks import refresh_furthest_positions

    transaction.on_commit(lambda: refresh_furthest_positions.delay(pipeline_id))


def _check_probability(probability: int) -> None:
    if not 0 <= probability <= 100:
        raise ValidationError({"probability": _("The probability is a percentage from 0 to 100.")})


@transaction.atomic
def pipeline_create(*, actor, name: str) -> Pipeline:
    """A new pipeline with a first open stage and a won and a lost stage, for the admin to extend."""
    _require(actor, "sales.add_pipeline", "sales.add_stage")
    position = (Pipeline.objects.aggregate(last=Max("position"))["last"] or 0) + 1
    pipeline = Pipeline(name=name.strip(), position=position, is_default=not Pipeline.objects.exists())
    pipeline.full_clean()
    pipeline.save()
    for index, (stage_name, probability, kind) in enumerate(
        [(_("Qualification"), 10, StageKind.OPEN), (pgettext("deal", "Won"), 100, StageKind.WON),
         (pgettext("deal", "Lost"), 0, StageKind.LOST)]
    ):
        Stage.objects.create(pipeline=pipeline, name=stage_name, probability=probability, kind=kind,
                             position=index)
    return pipeline


@transaction.atomic
def pipeline_update(*, actor, pipeline: Pipeline, name: str, active: bool, is_default: bool) -> Pipeline:
    _require(actor, "sales.change_pipeline")
    locked = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    if locked.is_default and not is_default:
        raise ValidationError({"is_default": _("Make another pipeline the default instead.")})
    if is_default and not active:
        raise ValidationError({"active": _("The default pipeline must stay active.")})
    if is_default and not locked.is_default:
        Pipeline.objects.filter(is_default=True).exclude(pk=locked.pk).update(is_default=False)
    locked.name, locked.active, locked.is_default = name.strip(), active, is_default
    locked.full_clean()
    locked.save()
    return locked


@transaction.atomic
def pipeline_delete(*, actor, pipeline: Pipeline) -> None:
    """Only an unused pipeline goes; one with opportunities is deactivated instead."""
    _require(actor, "sales.delete_pipeline")
    locked = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    if locked.is_default:
        raise ValidationError(_("The default pipeline cannot be deleted."))
    if locked.opportunities.exists():
        raise ValidationError(_("This pipeline has opportunities: deactivate it instead."))
    locked.delete()


@transaction.atomic
def stage_create(*, actor, pipeline: Pipeline, name: str, probability: int, kind: str) -> Stage:
    """A new stage: an open one goes after the last open stage (before won and lost), a closed one at the end."""
    _require(actor, "sales.add_stage")
    _check_probability(probability)
    stages = list(Stage.objects.select_for_update().filter(pipeline=pipeline).order_by("position", "pk"))
    if kind == StageKind.OPEN:
        index = max((i + 1 for i, s in enumerate(stages) if s.kind == StageKind.OPEN), default=0)
    else:
        index = len(stages)
    stage = Stage(pipeline=pipeline, name=name.strip(), probability=probability, kind=kind)
    stage.full_clean(exclude=["position"])
    stages.insert(index, stage)
    for position, each in enumerate(stages):
        each.position = position
        each.save()
    _refresh_furthest_after_commit(pipeline.pk)
    return stage


@transaction.atomic
def stage_update(*, actor, stage: Stage, name: str, probability: int, kind: str) -> Stage:
    """Rename a stage, change its probability, or its kind while nothing stands in it (the deals in it would
    otherwise be closed or reopened without anyone deciding so)."""
    _require(actor, "sales.change_stage")
    _check_probability(probability)
    locked = Stage.objects.select_for_update().get(pk=stage.pk)
    if kind != locked.kind:
        if locked.opportunities.exists():
            raise ValidationError({"kind": _("Move the opportunities out of this stage before changing its kind.")})
        _check_keeps_open_stage(locked, leaving=locked.kind == StageKind.OPEN)
    kind_changed = kind != locked.kind
    locked.name, locked.probability, locked.kind = name.strip(), probability, kind
    locked.full_clean()
    locked.save()
    if kind_changed:  # deals that passed through it reached it, or no longer do
        _refresh_furthest_after_commit(locked.pipeline_id)
    return locked


@transaction.atomic
def stage_reorder(*, actor, pipeline: Pipeline, stage_ids: list[int]) -> None:
    """Put the pipeline's stages in this order (every stage of the pipeline, once)."""
    _require(actor, "sales.change_stage")
    stages = {s.pk: s for s in Stage.objects.select_for_update().filter(pipeline=pipeline)}
    if sorted(stage_ids) != sorted(stages):
        raise ValidationError(_("The new order must list every stage of the pipeline once."))
    moved = False
    for position, pk in enumerate(stage_ids):
        if stages[pk].position != position:
            stages[pk].position = position
            stages[pk].save(update_fields=["position"])
            moved = True
    if moved:
        _refresh_furthest_after_commit(pipeline.pk)


def stage_shift(*, actor, stage: Stage, offset: int) -> None:
    """Move a stage ``offset`` places up (negative) or down the pipeline's order."""
    ids = list(Stage.objects.filter(pipeline_id=stage.pipeline_id).order_by("position", "pk").values_list("pk",
                                                                                                         flat=True))
    index = ids.index(stage.pk)
    target = max(0, min(len(ids) - 1, index + offset))
    ids.insert(target, ids.pop(index))
    stage_reorder(actor=actor, pipeline=stage.pipeline, stage_ids=ids)


def _check_keeps_open_stage(stage: Stage, *, leaving: bool) -> None:
    if leaving and not Stage.objects.filter(pipeline_id=stage.pipeline_id, kind=StageKind.OPEN).exclude(
            pk=stage.pk).exists():
        raise ValidationError(_("A pipeline needs at least one open stage: new opportunities start there."))


@transaction.atomic
def stage_delete(*, actor, stage: Stage, merge_into: Stage | None = None) -> None:
    """Delete a stage. An empty stage that was never used just goes. A stage that holds opportunities, or did
    once, is merged into another stage of the same pipeline and kind: its opportunities move there (keeping the
    time they entered it) and its stage history is counted as time in that stage. The kind must match so that no
    deal is won, lost or reopened by an admin tidying up."""
    _require(actor, "sales.delete_stage")
    locked = Stage.objects.select_for_update().get(pk=stage.pk)
    _check_keeps_open_stage(locked, leaving=locked.kind == StageKind.OPEN)
    used = locked.opportunities.exists() or StageHistory.objects.filter(stage=locked).exists()
    if merge_into is None:
        if used:
            raise ValidationError({"merge_into": _("This stage holds or held opportunities: choose the stage they "
                                                   "go to.")})
    else:
        if merge_into.pk == locked.pk or merge_into.pipeline_id != locked.pipeline_id:
            raise ValidationError({"merge_into": _("Choose another stage of the same pipeline.")})
        if merge_into.kind != locked.kind:
            raise ValidationError({"merge_into": _("Choose a stage of the same kind (open, won or lost).")})
        # Locked in a fixed order (by id) so that two moves into a stage being deleted wait for the merge.
        list(Opportunity.objects.select_for_update().filter(stage=locked).order_by("pk").values_list("pk"))
        Opportunity.objects.filter(stage=locked).update(stage=merge_into, updated_at=timezone.now())
        StageHistory.objects.filter(stage=locked).update(stage=merge_into)
    locked.delete()
    for position, each in enumerate(Stage.objects.filter(pipeline_id=locked.pipeline_id).order_by("position", "pk")):
        if each.position != position:
            each.position = position
            each.save(update_fields=["position"])
    _refresh_furthest_after_commit(locked.pipeline_id)  # later stages moved up, merged history moved
