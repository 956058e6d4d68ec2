"""How far each deal got (Opportunity.furthest_position, sales.pipeline_furthest): kept by the stage moves, never
lowered; recomputed from the stage history when an administrator changes a pipeline's stages, and by the data
migration for the deals that existed before the column; the funnel counts it and gives what the old query over every
stage-history row gave."""

import importlib
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.models import Case, Count, F, IntegerField, Max, Q, Sum, When
from django.db.models.functions import Greatest
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reports.sales_reports import funnel_figures
from sales import pipeline_services as services
from sales.models import Opportunity, StageKind
from sales.pipeline_furthest import REACHING_KINDS, furthest_refresh
from sales.tasks import refresh_furthest_positions
from tests.factories import CustomerFactory
from tests.factories.sales_pipeline import stages_fixture  # noqa: F401 - fixture


def created(rep, **data):
    return services.opportunity_create(actor=rep, customer=CustomerFactory(owner=rep),
                                       data={"name": "年度订阅", "amount": Decimal("1000"), **data})


def move(rep, opportunity, stage, **kwargs):
    return services.opportunity_move(actor=rep, opportunity=opportunity, stage=stage, **kwargs).opportunity


def furthest(opportunity) -> int | None:
    return Opportunity.objects.values_list("furthest_position", flat=True).get(pk=opportunity.pk)


def old_funnel_figures(queryset, pipeline, stages) -> dict:
    """The funnel's query before the column: each deal's furthest stage from all its stage-history rows."""
    been = Q(stage_history__stage__pipeline=pipeline, stage_history__stage__kind__in=REACHING_KINDS)
    now = Case(When(stage__kind__in=REACHING_KINDS, then=F("stage__position")), output_field=IntegerField())
    reached = (queryset.filter(pipeline=pipeline).order_by()
               .annotate(furthest=Greatest(Max("stage_history__stage__position", filter=been), now)))
    aggregates = {}
    for stage in stages:
        hit = Q(furthest__gte=stage.position)
        aggregates |= {f"n{stage.pk}": Count("pk", filter=hit),
                       f"a{stage.pk}": Sum("amount", filter=hit & Q(currency="CNY")),
                       f"x{stage.pk}": Count("pk", filter=hit & ~Q(currency="CNY"))}
    row = reached.aggregate(**aggregates)
    return {stage.pk: (row[f"n{stage.pk}"], row[f"a{stage.pk}"] or 0, row[f"x{stage.pk}"]) for stage in stages}


def as_money(figures: dict) -> dict:
    return {pk: (n, Decimal(amount).quantize(Decimal("0.01")), other) for pk, (n, amount, other) in figures.items()}


def reaching(stages):
    return sorted((s for s in stages.pipeline.stages.all() if s.kind in REACHING_KINDS), key=lambda s: s.position)


@pytest.fixture
def eager_tasks():
    """Tasks queued on commit run here, in the test (the worker's part), and their errors fail the test."""
    from crm.celery import app

    previous = {key: app.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(previous)


@pytest.fixture
def moved_deals(sales_rep, other_rep, stages):
    """Deals moved through the services in every way: forward, back, skipping stages, lost, reopened, won."""
    s = stages
    deals = SimpleNamespace(
        new=created(sales_rep),
        forward=created(sales_rep, amount=Decimal("2000")),
        back=created(sales_rep, amount=Decimal("3000")),
        lost=created(other_rep, amount=Decimal("4000")),
        reopened=created(other_rep, amount=Decimal("5000"), currency="USD"),
        won=created(sales_rep, amount=Decimal("6000")),
    )
    move(sales_rep, deals.forward, s.second)
    move(sales_rep, deals.forward, s.third)
    move(sales_rep, deals.back, s.fourth)
    move(sales_rep, deals.back, s.first)
    move(other_rep, deals.lost, s.third)
    move(other_rep, deals.lost, s.lost, lost_reason="预算不足")
    move(other_rep, deals.reopened, s.won)
    move(other_rep, deals.reopened, s.second)
    move(sales_rep, deals.won, s.third)
    move(sales_rep, deals.won, s.won)
    return deals


def test_a_new_deal_has_reached_its_first_stage(sales_rep, stages):
    assert furthest(created(sales_rep)) == stages.first.position


def test_moving_forward_raises_it_and_moving_back_or_losing_keeps_it(sales_rep, stages):
    deal = created(sales_rep)
    move(sales_rep, deal, stages.third)
    assert furthest(deal) == stages.third.position
    move(sales_rep, deal, stages.first)  # back: the deal still reached the third stage
    assert furthest(deal) == stages.third.position
    move(sales_rep, deal, stages.lost, lost_reason="价格太高")  # a lost stage is no step forward
    assert furthest(deal) == stages.third.position
    move(sales_rep, deal, stages.second)  # reopened lower down
    assert furthest(deal) == stages.third.position
    move(sales_rep, deal, stages.won)
    assert furthest(deal) == stages.won.position
    move(sales_rep, deal, stages.fourth)  # won, then reopened: it passed every stage
    assert furthest(deal) == stages.won.position


def test_the_funnel_gives_what_the_old_query_over_the_stage_history_gave(admin_user, stages, moved_deals):
    queryset = Opportunity.objects.all()
    new = funnel_figures(queryset, stages.pipeline, reaching(stages))
    assert new == as_money(old_funnel_figures(queryset, stages.pipeline, reaching(stages)))
    # And by hand: reached the second stage: forward, back, lost, reopened (won once), won.
    assert new[stages.second.pk][0] == 5
    assert new[stages.won.pk][:2] == (2, Decimal("6000.00"))  # reopened is USD: counted, not summed
    assert new[stages.won.pk][2] == 1


def test_the_recompute_finds_what_the_moves_kept(stages, moved_deals):
    kept = dict(Opportunity.objects.values_list("pk", "furthest_position"))
    Opportunity.objects.update(furthest_position=None)
    assert furthest_refresh() == len(kept)
    assert dict(Opportunity.objects.values_list("pk", "furthest_position")) == kept
    assert furthest_refresh() == 0  # idempotent: nothing left to write


def test_a_recompute_writes_no_audit_rows(stages, moved_deals):
    # The column is derived from the stage history: the audit log shows no change of the deals for it.
    events = Opportunity.pgh_event_model.objects.count()
    Opportunity.objects.update(furthest_position=None)
    assert furthest_refresh(pipeline_id=stages.pipeline.pk) == 6
    assert Opportunity.pgh_event_model.objects.count() == events
    assert furthest(moved_deals.won) == stages.won.position


def test_reordering_stages_recomputes_the_deals_of_the_pipeline_after_commit(
        admin_user, stages, moved_deals, django_capture_on_commit_callbacks, eager_tasks):
    order = [s.pk for s in stages.all]
    order[2], order[3] = order[3], order[2]  # the third stage now comes after the fourth
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.stage_reorder(actor=admin_user, pipeline=stages.pipeline, stage_ids=order)
    assert len(callbacks) == 1
    stages_now = reaching(stages)
    position = {s.pk: s.position for s in stages_now}
    assert position[stages.third.pk] > position[stages.fourth.pk]
    assert furthest(moved_deals.forward) == position[stages.third.pk]
    assert furthest(moved_deals.back) == position[stages.fourth.pk]  # went to the fourth (now before the third)
    queryset = Opportunity.objects.all()
    assert (funnel_figures(queryset, stages.pipeline, stages_now)
            == as_money(old_funnel_figures(queryset, stages.pipeline, stages_now)))


def test_a_new_stage_and_a_merge_recompute_too(admin_user, stages, moved_deals, django_capture_on_commit_callbacks,
                                                eager_tasks):
    with django_capture_on_commit_callbacks(execute=True):
        services.stage_create(actor=admin_user, pipeline=stages.pipeline, name="合同审核", probability=80,
                              kind=StageKind.OPEN)
    won = stages.pipeline.stages.get(pk=stages.won.pk)
    assert won.position == stages.won.position + 1  # won moved down one place ...
    assert furthest(moved_deals.won) == won.position  # ... and the deals that reached it follow
    with django_capture_on_commit_callbacks(execute=True):
        services.stage_delete(actor=admin_user, stage=stages.fourth, merge_into=stages.third)
    queryset = Opportunity.objects.all()
    assert (funnel_figures(queryset, stages.pipeline, reaching(stages))
            == as_money(old_funnel_figures(queryset, stages.pipeline, reaching(stages))))


def test_the_task_is_safe_to_run_twice(stages, moved_deals):
    Opportunity.objects.filter(pk=moved_deals.back.pk).update(furthest_position=None)
    assert refresh_furthest_positions(stages.pipeline.pk) == 1
    assert refresh_furthest_positions(stages.pipeline.pk) == 0
    assert furthest(moved_deals.back) == stages.fourth.position


def test_the_data_migration_fills_the_existing_deals_from_their_history(stages, moved_deals):
    kept = dict(Opportunity.objects.values_list("pk", "furthest_position"))
    Opportunity.objects.update(furthest_position=None)
    migration = importlib.import_module("sales.migrations.0011_opportunity_furthest_position_data")
    migration.fill(None, SimpleNamespace(connection=connection))
    assert dict(Opportunity.objects.values_list("pk", "furthest_position")) == kept


def test_the_funnel_is_one_query_that_reads_no_stage_history(admin_user, stages, moved_deals):
    queryset = Opportunity.objects.filter(created_at__gte=timezone.now() - timedelta(days=1))
    reached = reaching(stages)
    with CaptureQueriesContext(connection) as queries:
        figures = funnel_figures(queryset, stages.pipeline, reached)
    assert len(queries) == 1
    assert "stagehistory" not in queries[0]["sql"]
    assert figures[stages.first.pk][0] == 6
