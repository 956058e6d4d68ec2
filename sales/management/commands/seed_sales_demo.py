"""Demo products and opportunities for the demo customers (run after seed_demo): deals spread over the default
pipeline's stages, each with the stage history that brought it there, some with products, some won, some lost.

Idempotent: products are matched by code, and opportunities are only made while the database has none.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from customers.models import Customer
from sales.models import Opportunity, OpportunityLine, Product, StageHistory, StageKind
from sales.pipeline_services import default_pipeline

PRODUCTS = [
    ("CRM-STD", "CRM 标准版（年费/用户）", "用户", "1200"),
    ("CRM-PRO", "CRM 专业版（年费/用户）", "用户", "2400"),
    ("CRM-ENT", "CRM 企业版（年费/用户）", "用户", "4800"),
    ("IMPL-D", "实施服务（人天）", "人天", "3000"),
    ("TRAIN-D", "培训服务（天）", "天", "5000"),
    ("DATA-MIG", "数据迁移服务", "项", "20000"),
    ("API-PACK", "API 接口包", "套", "15000"),
    ("SMS-10K", "短信包（1万条）", "包", "450"),
    ("HW-SCAN", "名片扫描仪", "台", "899"),
    ("SUP-GOLD", "金牌支持服务（年）", "年", "36000"),
]
DEAL_KINDS = ["年度订阅", "系统升级", "新增席位", "实施项目", "续约", "培训采购", "二期项目", "试点项目"]
LOST_REASONS = ["价格超出预算", "选择了竞争对手", "项目暂停", "需求不匹配", "决策人变更", "无预算"]
NEXT_STEPS = ["周五前发送报价", "约技术交流会", "安排产品演示", "等待采购审批", "跟进合同条款", "寄送样品", ""]


class Command(BaseCommand):
    help = "Create demo products and opportunities (spread over the default pipeline) for existing demo customers."

    def add_arguments(self, parser):
        parser.add_argument("--opportunities", type=int, default=600, help="how many opportunities to create")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, opportunities, seed, **options):
        products = self.products()
        if Opportunity.objects.exists():
            self.stdout.write("Opportunities exist already: none added.")
            return
        pipeline = default_pipeline()
        if pipeline is None:
            self.stderr.write("No active pipeline: nothing to do.")
            return
        customers = list(Customer.objects.alive().filter(owner__isnull=False)
                         .select_related("owner").order_by("pk")[: opportunities * 2])
        if not customers:
            self.stdout.write("No customers with an owner: run seed_demo first.")
            return
        with transaction.atomic():
            made = self.opportunities(pipeline, customers, products, opportunities, random.Random(seed))
        self.stdout.write(self.style.SUCCESS(f"Created {made} opportunities in {pipeline.name}."))

    def products(self) -> list[Product]:
        found = []
        for code, name, unit, price in PRODUCTS:
            product, _created = Product.objects.get_or_create(
                code=code, defaults={"name": name, "unit": unit, "price": Decimal(price)})
            found.append(product)
        return found

    def opportunities(self, pipeline, customers, products, count, rng) -> int:
        stages = list(pipeline.stages.order_by("position", "pk"))
        open_stages = [s for s in stages if s.kind == StageKind.OPEN]
        won = next((s for s in stages if s.kind == StageKind.WON), None)
        lost = next((s for s in stages if s.kind == StageKind.LOST), None)
        # Most deals are open, spread over the open stages (fewer further on); some won, some lost.
        targets = open_stages * 3 + open_stages[:2] * 2 + [s for s in (won, lost) if s] * 2
        now = timezone.now()
        plans = []
        for index in range(count):
            customer = customers[index % len(customers)]
            target = rng.choice(targets)
            path = open_stages[: open_stages.index(target) + 1] if target.kind == StageKind.OPEN else (
                open_stages[: rng.randint(1, len(open_stages))] + [target])
            start = now - timedelta(days=rng.uniform(3, 120))
            moments = sorted(start + (now - start) * rng.random() for _ in path[1:])
            lines = [(p, Decimal(rng.choice([1, 2, 5, 10, 20, 50]))) for p in rng.sample(products, rng.randint(0, 3))]
            amount = sum((p.price * q for p, q in lines), Decimal("0")) or Decimal(rng.randrange(5, 500) * 1000)
            opportunity = Opportunity(
                customer=customer, name=f"{customer.name[:20]}·{rng.choice(DEAL_KINDS)}", pipeline=pipeline,
                stage=target, amount=amount, owner=customer.owner, team_id=customer.owner.team_id,
                expected_close=(now + timedelta(days=rng.randint(-20, 120))).date(),
                next_step=rng.choice(NEXT_STEPS) if target.kind == StageKind.OPEN else "",
                lost_reason=rng.choice(LOST_REASONS) if target.kind == StageKind.LOST else "",
                stage_entered_at=moments[-1] if moments else start,
                closed_at=moments[-1] if target.kind != StageKind.OPEN else None,
            )
            plans.append((opportunity, path, [start, *moments], lines))
        created = Opportunity.objects.bulk_create([plan[0] for plan in plans], batch_size=1000)
        history, product_lines = [], []
        for opportunity, (_o, path, moments, lines) in zip(created, plans, strict=True):
            for i, stage in enumerate(path):
                history.append(StageHistory(opportunity=opportunity, stage=stage, entered_at=moments[i],
                                            left_at=moments[i + 1] if i + 1 < len(path) else None,
                                            moved_by=opportunity.owner))
            product_lines += [OpportunityLine(opportunity=opportunity, product=p, quantity=q, unit_price=p.price)
                              for p, q in lines]
        StageHistory.objects.bulk_create(history, batch_size=2000)
        OpportunityLine.objects.bulk_create(product_lines, batch_size=2000)
        # created_at is auto_now_add: say when the deal really started.
        for opportunity, (_o, _path, moments, _lines) in zip(created, plans, strict=True):
            opportunity.created_at = moments[0]
        Opportunity.objects.bulk_update(created, ["created_at"], batch_size=1000)
        return len(created)
