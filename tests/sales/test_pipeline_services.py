"""Opportunities through sales.pipeline_services: creating, moving (stage history, closing, lost reasons, other
pipelines, permission), products and the amount, and the admin's pipeline and stage changes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from sales import pipeline_services as services
from sales.models import Opportunity, Pipeline, Stage, StageHistory, StageKind
from tests.factories import CustomerFactory
from tests.factories.sales_pipeline import (  # noqa: F401 - fixtures
    OpportunityFactory,
    PipelineProductFactory,
    other_pipeline_fixture,
    stages_fixture,
)

pytestmark = pytest.mark.django_db


def history(opportunity) -> list[tuple[str, bool]]:
    """(stage name, still open?) of each stage-history row, oldest first."""
    return [(h.stage.name, h.left_at is None)
            for h in StageHistory.objects.filter(opportunity=opportunity).select_related("stage").order_by("pk")]


# ------------------------------------------------------------------------------------------------- create


def test_a_new_opportunity_starts_in_the_first_open_stage_with_one_history_row(sales_rep, stages):
    customer = CustomerFactory(owner=sales_rep)
    opportunity = services.opportunity_create(actor=sales_rep, customer=customer,
                                              data={"name": "年度订阅", "amount": Decimal("50000")})
    assert opportunity.stage == stages.first and opportunity.pipeline == stages.pipeline
    assert opportunity.owner == sales_rep and opportunity.team == sales_rep.team
    assert opportunity.closed_at is None
    assert timezone.now() - opportunity.stage_entered_at < timedelta(seconds=5)
    assert history(opportunity) == [(stages.first.name, True)]
    row = opportunity.stage_history.get()
    assert row.moved_by == sales_rep and row.entered_at == opportunity.stage_entered_at


def test_only_a_visible_customer_takes_opportunities(sales_rep, other_rep, stages):
    # other_rep's customer is invisible to sales_rep (another team, no share)
    with pytest.raises(ValidationError):
        services.opportunity_create(actor=sales_rep, customer=CustomerFactory(owner=other_rep), data={"name": "x"})
    # a pool customer is visible to everyone
    pool = CustomerFactory(owner=None)
    assert services.opportunity_create(actor=sales_rep, customer=pool, data={"name": "公海商机"}).owner == sales_rep


def test_a_rep_cannot_give_an_opportunity_to_someone_else_a_manager_can(sales_rep, other_rep, sales_manager,
                                                                         south_rep, stages):
    customer = CustomerFactory(owner=sales_rep)
    with pytest.raises(ValidationError):
        services.opportunity_create(actor=sales_rep, customer=customer, data={"name": "x"}, owner=other_rep)
    given = services.opportunity_create(actor=sales_manager, customer=customer, data={"name": "y"}, owner=sales_rep)
    assert given.owner == sales_rep and given.team == sales_rep.team
    # not outside his subtree
    with pytest.raises(ValidationError):
        services.opportunity_create(actor=sales_manager, customer=customer, data={"name": "z"}, owner=south_rep)


def test_an_inactive_pipeline_takes_no_new_opportunity(sales_rep, other_pipeline):
    other_pipeline.pipeline.active = False
    other_pipeline.pipeline.save()
    with pytest.raises(ValidationError):
        services.opportunity_create(actor=sales_rep, customer=CustomerFactory(owner=sales_rep), data={"name": "x"},
                                    pipeline=other_pipeline.pipeline)


# --------------------------------------------------------------------------------------------------- moves


def test_a_move_closes_the_open_history_row_and_opens_one(sales_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep, entered_ago=timedelta(days=3))
    moved = services.opportunity_move(actor=sales_rep, opportunity=opportunity, stage=stages.second)
    assert moved.from_stage_id == stages.first.pk and moved.changed
    opportunity.refresh_from_db()
    assert opportunity.stage == stages.second and opportunity.closed_at is None
    assert history(opportunity) == [(stages.first.name, False), (stages.second.name, True)]
    first, second = opportunity.stage_history.order_by("pk")
    # the time in the first stage ends exactly when the second begins
    assert first.left_at == second.entered_at == opportunity.stage_entered_at
    assert first.duration >= timedelta(days=3)
    assert second.moved_by == sales_rep


def test_won_sets_closed_at_and_moving_back_clears_it(sales_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep)
    services.opportunity_move(actor=sales_rep, opportunity=opportunity, stage=stages.won)
    opportunity.refresh_from_db()
    assert opportunity.closed_at == opportunity.stage_entered_at
    services.opportunity_move(actor=sales_rep, opportunity=opportunity, stage=stages.fourth)
    opportunity.refresh_from_db()
    assert opportunity.closed_at is None and opportunity.stage == stages.fourth
    assert [name for name, _open in history(opportunity)] == [stages.first.name, stages.won.name, stages.fourth.name]


def test_lost_needs_a_reason(sales_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep)
    for reason in ("", "   "):
        with pytest.raises(ValidationError) as refused:
            services.opportunity_move(actor=sales_rep, opportunity=opportunity, stage=stages.lost, lost_reason=reason)
        assert "lost_reason" in refused.value.error_dict
    opportunity.refresh_from_db()
    assert opportunity.stage == stages.first and len(history(opportunity)) == 1  # nothing written
    services.opportunity_move(actor=sales_rep, opportunity=opportunity, stage=stages.lost, lost_reason=" 选了竞品 ")
    opportunity.refresh_from_db()
    assert opportunity.lost_reason == "选了竞品" and opportunity.closed_at is not None


def test_reopening_a_lost_deal_clears_its_reason(sales_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep, stage=stages.lost)
    services.opportunity_move(actor=sales_rep, opportunity=opportunity, stage=stages.second)
    opportunity.refresh_from_db()
    assert opportunity.lost_reason == "" and opportunity.closed_at is None


def test_a_stage_of_another_pipeline_is_refused(sales_rep, stages, other_pipeline):
    opportunity = OpportunityFactory(owner=sales_rep)
    with pytest.raises(ValidationError):
        services.opportunity_move(actor=sales_rep, opportunity=opportunity, stage=other_pipeline.won)
    opportunity.refresh_from_db()
    assert opportunity.stage == stages.first and len(history(opportunity)) == 1


def test_moving_to_the_same_stage_writes_nothing(sales_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep)
    moved = services.opportunity_move(actor=sales_rep, opportunity=opportunity, stage=stages.first)
    assert not moved.changed and len(history(opportunity)) == 1


def test_only_those_who_may_change_it_move_it(sales_rep, other_rep, sales_manager, south_rep, marketing_user,
                                              stages):
    opportunity = OpportunityFactory(owner=other_rep)
    for outsider in (sales_rep, south_rep, marketing_user):
        with pytest.raises(PermissionDenied):
            services.opportunity_move(actor=outsider, opportunity=opportunity, stage=stages.second)
    # his manager may
    services.opportunity_move(actor=sales_manager, opportunity=opportunity, stage=stages.second)
    opportunity.refresh_from_db()
    assert opportunity.stage == stages.second
    assert opportunity.stage_history.order_by("-pk").first().moved_by == sales_manager


def test_whoever_may_change_the_customer_may_move_its_deals(sales_rep, other_rep, stages):
    # a deal owned by other_rep on sales_rep's customer
    opportunity = OpportunityFactory(owner=other_rep, customer=CustomerFactory(owner=sales_rep))
    services.opportunity_move(actor=sales_rep, opportunity=opportunity, stage=stages.third)
    opportunity.refresh_from_db()
    assert opportunity.stage == stages.third


# ---------------------------------------------------------------------------------------------- update


def test_update_changes_data_and_a_new_owner_brings_his_team(sales_manager, sales_rep, other_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep)
    services.opportunity_update(actor=sales_manager, opportunity=opportunity,
                                data={"name": "改名", "amount": Decimal("123.45"), "next_step": "周五报价"},
                                owner=other_rep)
    opportunity.refresh_from_db()
    assert (opportunity.name, opportunity.amount, opportunity.next_step) == ("改名", Decimal("123.45"), "周五报价")
    assert opportunity.owner == other_rep and opportunity.team == other_rep.team
    assert opportunity.stage == stages.first  # an edit never moves


def test_a_lost_deal_keeps_a_reason_when_edited(sales_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep, stage=stages.lost)
    with pytest.raises(ValidationError):
        services.opportunity_update(actor=sales_rep, opportunity=opportunity, data={"lost_reason": ""})
    services.opportunity_update(actor=sales_rep, opportunity=opportunity, data={"lost_reason": "预算取消"})
    opportunity.refresh_from_db()
    assert opportunity.lost_reason == "预算取消"


def test_delete_needs_the_permission_and_the_scope(sales_manager, sales_rep, south_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep)
    with pytest.raises(PermissionDenied):
        services.opportunity_delete(actor=sales_rep, opportunity=opportunity)  # reps hold no delete_opportunity
    far = OpportunityFactory(owner=south_rep)
    with pytest.raises(PermissionDenied):
        services.opportunity_delete(actor=sales_manager, opportunity=far)
    services.opportunity_delete(actor=sales_manager, opportunity=opportunity)
    assert not Opportunity.objects.filter(pk=opportunity.pk).exists()
    assert not StageHistory.objects.filter(opportunity_id=opportunity.pk).exists()


# -------------------------------------------------------------------------------------------------- lines


def test_the_amount_follows_the_lines(sales_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep, amount=Decimal("1"))
    licence = PipelineProductFactory(price=Decimal("1200.00"))
    service = PipelineProductFactory(price=Decimal("3000.00"))
    services.opportunity_line_add(actor=sales_rep, opportunity=opportunity, product=licence, quantity=Decimal("10"))
    line = services.opportunity_line_add(actor=sales_rep, opportunity=opportunity, product=service,
                                         quantity=Decimal("2.5"), unit_price=Decimal("2800.00"))
    opportunity.refresh_from_db()
    assert opportunity.amount == Decimal("12000.00") + Decimal("7000.00")
    services.opportunity_line_update(actor=sales_rep, line=line, quantity=Decimal("1"), unit_price=Decimal("99.99"))
    opportunity.refresh_from_db()
    assert opportunity.amount == Decimal("12099.99")
    services.opportunity_line_remove(actor=sales_rep, line=line)
    opportunity.refresh_from_db()
    assert opportunity.amount == Decimal("12000.00") and opportunity.lines.count() == 1


def test_a_line_can_leave_the_amount_alone(sales_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep, amount=Decimal("88888.00"))
    services.opportunity_line_add(actor=sales_rep, opportunity=opportunity, product=PipelineProductFactory(),
                                  quantity=Decimal("1"), update_amount=False)
    opportunity.refresh_from_db()
    assert opportunity.amount == Decimal("88888.00")


def test_lines_refuse_bad_values_and_products_off_sale(sales_rep, other_rep, stages):
    opportunity = OpportunityFactory(owner=sales_rep)
    with pytest.raises(ValidationError):
        services.opportunity_line_add(actor=sales_rep, opportunity=opportunity, product=PipelineProductFactory(),
                                      quantity=Decimal("0"))
    with pytest.raises(ValidationError):
        services.opportunity_line_add(actor=sales_rep, opportunity=opportunity,
                                      product=PipelineProductFactory(active=False), quantity=Decimal("1"))
    with pytest.raises(PermissionDenied):
        services.opportunity_line_add(actor=other_rep, opportunity=opportunity, product=PipelineProductFactory(),
                                      quantity=Decimal("1"))


# ------------------------------------------------------------------------------------ pipelines and stages


def test_a_new_pipeline_has_an_open_a_won_and_a_lost_stage(admin_user):
    pipeline = services.pipeline_create(actor=admin_user, name="大客户")
    assert [s.kind for s in pipeline.stages.order_by("position")] == [StageKind.OPEN, StageKind.WON, StageKind.LOST]
    assert not pipeline.is_default  # the migration's pipeline stays the default


def test_pipeline_admin_is_for_admins(sales_manager):
    with pytest.raises(PermissionDenied):
        services.pipeline_create(actor=sales_manager, name="x")


def test_one_default_pipeline(admin_user, stages, other_pipeline):
    services.pipeline_update(actor=admin_user, pipeline=other_pipeline.pipeline, name="渠道销售", active=True,
                             is_default=True)
    assert list(Pipeline.objects.filter(is_default=True)) == [other_pipeline.pipeline]
    with pytest.raises(ValidationError):
        services.pipeline_update(actor=admin_user, pipeline=other_pipeline.pipeline, name="渠道销售", active=False,
                                 is_default=True)


def test_a_pipeline_with_opportunities_is_not_deleted(admin_user, sales_rep, other_pipeline):
    OpportunityFactory(owner=sales_rep, stage=other_pipeline.first)
    with pytest.raises(ValidationError):
        services.pipeline_delete(actor=admin_user, pipeline=other_pipeline.pipeline)


def test_a_new_open_stage_goes_before_won_and_lost(admin_user, stages):
    stage = services.stage_create(actor=admin_user, pipeline=stages.pipeline, name="合同签署", probability=90,
                                  kind=StageKind.OPEN)
    names = list(stages.pipeline.stages.order_by("position").values_list("name", flat=True))
    assert names.index("合同签署") == 4 and names[-2:] == [stages.won.name, stages.lost.name]
    assert stage.position == 4
    with pytest.raises(ValidationError):
        services.stage_create(actor=admin_user, pipeline=stages.pipeline, name="x", probability=101,
                              kind=StageKind.OPEN)


def test_stages_reorder_and_shift(admin_user, stages):
    services.stage_shift(actor=admin_user, stage=stages.third, offset=-1)
    order = list(stages.pipeline.stages.order_by("position").values_list("pk", flat=True))
    assert order[:3] == [stages.first.pk, stages.third.pk, stages.second.pk]
    with pytest.raises(ValidationError):
        services.stage_reorder(actor=admin_user, pipeline=stages.pipeline, stage_ids=order[:-1])


def test_a_stage_kind_changes_only_while_empty(admin_user, sales_rep, stages):
    OpportunityFactory(owner=sales_rep, stage=stages.fourth)
    with pytest.raises(ValidationError):
        services.stage_update(actor=admin_user, stage=stages.fourth, name="谈判", probability=70, kind=StageKind.WON)
    services.stage_update(actor=admin_user, stage=stages.fourth, name="商务谈判", probability=80, kind=StageKind.OPEN)
    stages.fourth.refresh_from_db()
    assert (stages.fourth.name, stages.fourth.probability) == ("商务谈判", 80)


def test_an_unused_stage_is_deleted_a_used_one_is_merged_into_one_of_its_kind(admin_user, sales_rep, stages):
    new = services.stage_create(actor=admin_user, pipeline=stages.pipeline, name="空阶段", probability=5,
                                kind=StageKind.OPEN)
    services.stage_delete(actor=admin_user, stage=new)
    assert not Stage.objects.filter(pk=new.pk).exists()

    entered = timezone.now() - timedelta(days=2)
    inside = OpportunityFactory(owner=sales_rep, stage=stages.second, stage_entered_at=entered)
    with pytest.raises(ValidationError):
        services.stage_delete(actor=admin_user, stage=stages.second)  # used: where do its deals go?
    with pytest.raises(ValidationError):
        services.stage_delete(actor=admin_user, stage=stages.second, merge_into=stages.won)  # would close deals
    services.stage_delete(actor=admin_user, stage=stages.second, merge_into=stages.third)
    inside.refresh_from_db()
    assert inside.stage == stages.third and inside.stage_entered_at == entered and inside.closed_at is None
    assert history(inside) == [(stages.third.name, True)]
    assert list(stages.pipeline.stages.order_by("position").values_list("position", flat=True)) == [0, 1, 2, 3, 4]


def test_the_last_open_stage_stays(admin_user, other_pipeline):
    with pytest.raises(ValidationError):
        services.stage_delete(actor=admin_user, stage=other_pipeline.first)
