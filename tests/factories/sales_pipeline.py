"""Opportunities written straight to their table, each with the stage-history row a real one starts with, and the
default pipeline's stages (made by sales' data migration 0003) by their role, as fixtures for the pipeline tests.

Fixtures: import ``stages_fixture`` (fixture ``stages``) and ``other_pipeline_fixture`` (``other_pipeline``) into
a test module (``# noqa: F401``); their names differ from the fixtures' so that the import does not shadow them.
"""

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import factory
import pytest
from django.utils import timezone
from factory.django import DjangoModelFactory

from sales.models import Opportunity, Pipeline, Product, Stage, StageHistory, StageKind
from sales.pipeline_furthest import furthest_after

from .customers import CustomerFactory


class PipelineProductFactory(DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"OPP-P{n:04d}")
    name = factory.Sequence(lambda n: f"商机产品{n:04d}")
    unit = "套"
    price = Decimal("1000.00")


def default_pipeline() -> Pipeline:
    return Pipeline.objects.get(is_default=True)


def first_stage() -> Stage:
    return default_pipeline().stages.filter(kind=StageKind.OPEN).order_by("position").first()


class OpportunityFactory(DjangoModelFactory):
    """An opportunity of ``owner`` (his team) on a customer of his, in ``stage`` (default: the default pipeline's
    first stage) since ``stage_entered_at`` (default: ``entered_ago`` before now), with its open history row."""

    class Meta:
        model = Opportunity
        exclude = ["entered_ago"]

    name = factory.Sequence(lambda n: f"商机{n:05d}")
    owner = None
    customer = factory.LazyAttribute(lambda o: CustomerFactory(owner=o.owner))
    team = factory.LazyAttribute(lambda o: o.owner.team if o.owner else None)
    stage = factory.LazyFunction(first_stage)
    pipeline = factory.LazyAttribute(lambda o: o.stage.pipeline)
    amount = Decimal("10000.00")
    entered_ago = timedelta(0)
    stage_entered_at = factory.LazyAttribute(lambda o: timezone.now() - o.entered_ago)
    closed_at = factory.LazyAttribute(lambda o: o.stage_entered_at if o.stage.kind != StageKind.OPEN else None)
    lost_reason = factory.LazyAttribute(lambda o: "价格太高" if o.stage.kind == StageKind.LOST else "")
    # As far as the one history row below goes (a test that adds rows recomputes it: sales.pipeline_furthest).
    furthest_position = factory.LazyAttribute(lambda o: furthest_after(None, o.stage))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        opportunity = super()._create(model_class, *args, **kwargs)
        StageHistory.objects.create(opportunity=opportunity, stage=opportunity.stage,
                                    entered_at=opportunity.stage_entered_at, moved_by=opportunity.owner)
        return opportunity


@pytest.fixture(name="stages")
def stages_fixture(db) -> SimpleNamespace:
    """The default pipeline's stages: ``first`` … ``fourth`` (open, 10/30/50/70 %), ``won`` and ``lost``; also
    ``pipeline`` and ``all`` (in order)."""
    pipeline = default_pipeline()
    ordered = list(pipeline.stages.order_by("position", "pk"))
    opened = [s for s in ordered if s.kind == StageKind.OPEN]
    return SimpleNamespace(
        pipeline=pipeline, all=ordered, first=opened[0], second=opened[1], third=opened[2], fourth=opened[3],
        won=next(s for s in ordered if s.kind == StageKind.WON),
        lost=next(s for s in ordered if s.kind == StageKind.LOST),
    )


@pytest.fixture(name="other_pipeline")
def other_pipeline_fixture(db) -> SimpleNamespace:
    """A second pipeline with an open and a won stage."""
    pipeline = Pipeline.objects.create(name="渠道销售", position=1)
    return SimpleNamespace(
        pipeline=pipeline,
        first=Stage.objects.create(pipeline=pipeline, name="渠道接洽", probability=20, position=0),
        won=Stage.objects.create(pipeline=pipeline, name="渠道赢单", probability=100, kind=StageKind.WON, position=1),
    )
