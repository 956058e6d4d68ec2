"""Demo sales data for the demo organisation and customers (run after seed_demo):

- products, and a price list with a key-account discount;
- opportunities spread over the default pipeline's stages, each with the stage history that brought it there;
- two lead assignment rules (东部 leads to 上海组 in turn; other website leads to 杭州组, least loaded, capped), and
  one more rep in each of the two teams so that the rules have someone to share with;
- leads entered through the public web form and by marketing, routed by the rules as the worker does: some left in
  the lead pool, some claimed or handed out by the manager, worked on, disqualified or converted into customer +
  contact + opportunity, each assignment recorded;
- quotes (draft, sent, accepted, a few rejected); accepted ones become a contract and an order and win their
  opportunity; more contracts with instalments (回款计划), payments, and some instalments overdue; orders with
  lines for many customers, some delivered and paid, so that the customer page shows a lifetime value and a last
  purchase.

Everything after the products and opportunities goes through the services (sales.*_services, sales.assignment),
so the data is what the pages would have made, audit trail included; dates are then moved into the past. Tasks the
services queue on commit run in this process (Celery eager), so the seed leaves nothing in the broker, and the
notifications it causes are marked as mailed (no mail burst when the worker starts) and, for leads already
handled, as read.

Idempotent: products and the price list are matched by code and name, rules by name, the extra reps by username;
opportunities, leads and commerce records are only made while the database has none of them, so a second run adds
nothing.
"""

import contextlib
import itertools
import logging
import random
from datetime import datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from crm.accounts.models import Team
from crm.accounts.roles import SALES_REP
from crm.accounts.services import user_create
from crm.notifications.models import Notification
from customers.choices import Industry, Source
from customers.demo import COMPANY_KINDS, COMPANY_WORDS, DEMO_PASSWORD, GIVEN, SURNAMES, TITLES
from customers.models import Customer
from sales import commerce_payments as payments
from sales import commerce_services as commerce
from sales import lead_services
from sales.assignment import lead_route
from sales.commerce_payments import overdue_condition
from sales.lead_rules import rule_save
from sales.models import (
    AssignmentMethod,
    AssignmentRule,
    Contract,
    ContractStatus,
    Lead,
    LeadAssignment,
    LeadStatus,
    Opportunity,
    OpportunityLine,
    Order,
    OrderStatus,
    PaymentPlan,
    PriceList,
    Product,
    Quote,
    StageHistory,
    StageKind,
)
from sales.pipeline_furthest import REACHING_KINDS
from sales.pipeline_services import default_pipeline

User = get_user_model()

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
PRICE_LIST = "大客户价格表（2026）"  # 10% off the list prices of the software and services
DEAL_KINDS = ["年度订阅", "系统升级", "新增席位", "实施项目", "续约", "培训采购", "二期项目", "试点项目"]
LOST_REASONS = ["价格超出预算", "选择了竞争对手", "项目暂停", "需求不匹配", "决策人变更", "无预算"]
NEXT_STEPS = ["周五前发送报价", "约技术交流会", "安排产品演示", "等待采购审批", "跟进合同条款", "寄送样品", ""]

DEMO_USERNAMES = ["admin", "manager", "rep", "rep2", "rep3", "marketing"]
# More reps, so that the rules' teams have two members each to share leads between.
EXTRA_REPS = [("rep4", "丽", "孙", "上海组"), ("rep5", "杰", "周", "杭州组")]
EAST = ["上海市", "浙江省", "江苏省"]
RULES = [
    {"name": "华东线索（上海、浙江、江苏）→ 上海组轮流分配", "provinces": EAST, "team": "上海组",
     "method": AssignmentMethod.ROUND_ROBIN, "capacity": None},
    {"name": "其他地区的官网线索 → 杭州组（最少负载，每人最多 40 条）", "sources": [Source.WEBSITE.value],
     "team": "杭州组", "method": AssignmentMethod.LEAST_LOADED, "capacity": 40},
]

REGIONS = [("上海市", "上海市"), ("浙江省", "杭州市"), ("浙江省", "宁波市"), ("江苏省", "苏州市"), ("江苏省", "南京市"),
           ("北京市", "北京市"), ("广东省", "深圳市"), ("广东省", "广州市"), ("四川省", "成都市"), ("湖北省", "武汉市"),
           ("山东省", "青岛市"), ("福建省", "厦门市")]
LEAD_SOURCES = [(Source.WEBSITE, 45), (Source.EXHIBITION, 15), (Source.REFERRAL, 10), (Source.ADVERTISING, 10),
                (Source.SOCIAL, 10), (Source.PHONE, 5), (Source.EVENT, 5)]
CAMPAIGNS = {Source.WEBSITE: ["官网-首页", "官网-价格页", "2026春季展会落地页", "百度推广-CRM", ""],
             Source.EXHIBITION: ["2026上海CRM展"], Source.EVENT: ["杭州客户沙龙"],
             Source.ADVERTISING: ["朋友圈广告-3月"]}
MESSAGES = ["想了解专业版的价格", "我们有 30 个销售，需要试用账号", "请发一份产品资料和报价", "现有系统数据能否迁移？",
            "需要私有化部署方案", "预约产品演示", "有没有针对制造业的方案？", ""]
# What became of the leads, in turn: those left in the lead pool, and those a rep got.
POOL_FATES = ["claimed", "stays", "manual", "stays", "claimed", "stays"]
WORK_FATES = ["contacted", "converted", "qualified", "disqualified", "contacted", "converted", "qualified", "converted"]
DISQUALIFY_REASONS = ["空号/联系不上", "无采购需求", "同行咨询", "预算不足", "重复线索"]
QUOTE_NOTES = ["报价含13%增值税，有效期30天。", "首年含免费实施 5 人天。",
               "付款方式：签约后 30% 预付，验收后付清。", ""]
CONTRACT_KINDS = ["软件订阅合同", "实施服务合同", "年度服务合同", "采购合同"]
PAY_METHODS = ["银行转账", "银行转账", "支付宝", "微信支付", "承兑汇票"]
CENT = Decimal("0.01")


@contextlib.contextmanager
def tasks_in_process():
    """Tasks queued while seeding (on commit: routing a lead, mailing a notification) run here and now, not in a
    worker: the seed leaves no message in the broker, and needs no worker to run."""
    from crm.celery import app

    previous = app.conf.task_always_eager
    trace = logging.getLogger("celery.app.trace")  # one "Task … succeeded" line per task otherwise
    level = trace.level
    app.conf.task_always_eager = True
    trace.setLevel(logging.WARNING)
    try:
        yield
    finally:
        app.conf.task_always_eager = previous
        trace.setLevel(level)


def at(day, rng) -> datetime:
    """A moment during office hours of ``day``, in the current time zone."""
    return timezone.make_aware(datetime.combine(day, time(rng.randint(9, 17), rng.randint(0, 59))))


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT)


class Command(BaseCommand):
    help = ("Create demo sales data for the demo customers (after seed_demo): products, opportunities, lead rules and "
            "leads, quotes, contracts with instalments and payments, orders. A second run adds nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--opportunities", type=int, default=600, help="how many opportunities to create")
        parser.add_argument("--leads", type=int, default=150, help="how many leads to create")
        parser.add_argument("--quotes", type=int, default=40, help="how many quotes to create")
        parser.add_argument("--contracts", type=int, default=25, help="how many contracts to create")
        parser.add_argument("--orders", type=int, default=80, help="how many orders to create")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, opportunities, leads, quotes, contracts, orders, seed, **options):
        products = self.products()
        pipeline = default_pipeline()
        if pipeline is None:
            self.stderr.write("No active pipeline: nothing to do.")
            return
        users = self.people()
        if users is None:
            self.stdout.write("The demo users are missing: run seed_demo first.")
            return
        rng = random.Random(seed)
        first_notification = Notification.objects.aggregate(last=Max("pk"))["last"] or 0
        with tasks_in_process(), transaction.atomic():
            self.seed_opportunities(pipeline, products, opportunities, rng)
            self.rules(users)
            price_list = self.price_list(users["admin"], products)
            self.leads(users, leads, rng)
            self.commerce(products, price_list, quotes, contracts, orders, rng)
            # Notifications of the past: no mail for them once the worker runs.
            Notification.objects.filter(pk__gt=first_notification, emailed_at__isnull=True).update(
                emailed_at=timezone.now())
        extra = ", ".join(f"{username} ({team})" for username, _first, _last, team in EXTRA_REPS)
        self.stdout.write(f"  Reps who share the rules' leads: {extra}; password {DEMO_PASSWORD}")

    def say(self, text: str) -> None:
        self.stdout.write(self.style.SUCCESS(text))

    # ------------------------------------------------------------------------------------------ catalogue

    def products(self) -> list[Product]:
        found = []
        for code, name, unit, price in PRODUCTS:
            product, _created = Product.objects.get_or_create(
                code=code, defaults={"name": name, "unit": unit, "price": Decimal(price)})
            found.append(product)
        return found

    def price_list(self, admin, products) -> PriceList:
        existing = PriceList.objects.filter(name=PRICE_LIST).first()
        if existing is not None:
            return existing
        items = [{"product": p, "price": money(p.price * Decimal("0.9"))} for p in products
                 if p.code not in ("HW-SCAN", "SMS-10K")]
        price_list = commerce.price_list_save(actor=admin, data={"name": PRICE_LIST, "currency": "CNY", "active": True},
                                              items=items)
        self.say(f"Created the price list {PRICE_LIST}.")
        return price_list

    # ------------------------------------------------------------------------------------------- people

    def people(self) -> dict | None:
        users = {u.username: u for u in User.objects.filter(username__in=DEMO_USERNAMES)}
        if len(users) < len(DEMO_USERNAMES):
            return None
        teams = {t.name: t for t in Team.objects.filter(name__in={team for *_rest, team in EXTRA_REPS})}
        for username, first, last, team in EXTRA_REPS:
            user = User.objects.filter(username=username).first()
            if user is None and team in teams:
                user = user_create(username=username, password=DEMO_PASSWORD, role=SALES_REP, team=teams[team],
                                   first_name=first, last_name=last, email=f"{username}@demo.crm.local")
            if user is not None:
                users[username] = user
        return users

    def rules(self, users) -> None:
        teams = {t.name: t for t in Team.objects.filter(name__in={r["team"] for r in RULES})}
        added = 0
        for spec in RULES:
            if AssignmentRule.objects.filter(name=spec["name"]).exists() or spec["team"] not in teams:
                continue
            rule_save(actor=users["admin"], rule=AssignmentRule(
                name=spec["name"], provinces=spec.get("provinces", []), sources=spec.get("sources", []),
                team=teams[spec["team"]], method=spec["method"], capacity=spec["capacity"]))
            added += 1
        if added:
            self.say(f"Created {added} lead assignment rules.")

    # ------------------------------------------------------------------------------------ opportunities

    def seed_opportunities(self, pipeline, products, count, rng) -> None:
        if Opportunity.objects.exists():
            self.stdout.write("Opportunities exist already: none added.")
            return
        customers = list(Customer.objects.alive().filter(owner__isnull=False)
                         .select_related("owner").order_by("pk")[: count * 2])
        if not customers:
            self.stdout.write("No customers with an owner: run seed_demo first.")
            return
        made = self.opportunities(pipeline, customers, products, count, rng)
        self.say(f"Created {made} opportunities in {pipeline.name}.")

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
                furthest_position=max((s.position for s in path if s.kind in REACHING_KINDS), default=None),
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

    # -------------------------------------------------------------------------------------------- leads

    def leads(self, users, count, rng) -> None:
        if Lead.objects.exists():
            self.stdout.write("Leads exist already: none added.")
            return
        if count <= 0:
            return
        now = timezone.now()
        # The newest tenth came in within the last hours and nobody has handled them yet (a rule re-assigns a lead
        # left untouched for CRM_LEAD_REASSIGN_AFTER_HOURS, so they must be younger than that); the rest is older.
        fresh = max(1, count // 10)
        window = settings.CRM_LEAD_REASSIGN_AFTER_HOURS
        moments = sorted(now - timedelta(days=rng.uniform(0.5, 90)) for _ in range(count - fresh))
        moments += sorted(now - timedelta(hours=rng.uniform(0.05, window * 0.6)) for _ in range(fresh))
        sources = [s for s, _w in LEAD_SOURCES]
        weights = [w for _s, w in LEAD_SOURCES]
        turns = SimpleNamespace(pool=itertools.cycle(POOL_FATES), work=itertools.cycle(WORK_FATES),
                                manual=itertools.cycle([True, False]))
        for index, moment in enumerate(moments):
            source = rng.choices(sources, weights)[0]
            lead = self.new_lead(users, index, source, rng)
            lead_route(lead.pk)  # what the worker does once the lead is committed
            lead.refresh_from_db()
            self.work_on(lead, users, moment, fresh=index >= count - fresh, rng=rng, turns=turns)
        pool = Lead.objects.filter(owner__isnull=True).count()
        converted = Lead.objects.filter(status=LeadStatus.CONVERTED).count()
        self.say(f"Created {count} leads: {pool} in the lead pool, {converted} converted, "
                 f"{LeadAssignment.objects.count()} assignments recorded.")

    def new_lead(self, users, index: int, source, rng) -> Lead:
        province, city = rng.choice(REGIONS) if rng.random() < 0.6 else rng.choice(REGIONS[:5])
        person = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 1, 2))))
        company = (f"{city[:-1]}{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_KINDS)}有限公司"
                   if rng.random() < 0.9 else "")
        data = {
            "name": person, "company": company, "province": province,
            # The serial scrambled by a multiplier coprime to 10^8: unique, random-looking, unlike the customers'.
            "mobile": f"+86199{(index + 1) * 48_271 % 100_000_000:08d}",
            "email": (f"lead{index + 1:04d}@{rng.choice(['qq.com', '163.com', 'example.cn'])}"
                      if rng.random() < 0.6 else ""),
            "message": rng.choice(MESSAGES),
        }
        campaign = rng.choice(CAMPAIGNS.get(source, [""]))
        if source == Source.WEBSITE:  # what the public web form takes
            return lead_services.web_lead_create(data=data, campaign=campaign)
        data.update(source=source, campaign=campaign, city=city, title=rng.choice(TITLES),
                    industry=rng.choice(Industry.values))
        return lead_services.lead_create(actor=users["marketing"], data=data)

    def work_on(self, lead: Lead, users, created, *, fresh: bool, rng, turns) -> None:
        """What happened to the lead after it came in (taken in turn from ``turns``, so that a small demo has every
        case too), then its dates moved to when it happened."""
        manager, now = users["manager"], timezone.now()
        assigned = created + timedelta(minutes=rng.uniform(0.2, 3)) if lead.owner_id else None
        manual = False
        if lead.owner_id is None and not fresh:
            fate = next(turns.pool)
            if fate == "claimed":  # a rep takes it from the lead pool
                claimer = rng.choice([users[name] for name in ("rep3", "rep3", "rep", "rep2") if name in users])
                lead = lead_services.lead_claim(actor=claimer, lead_id=lead.pk)
                assigned = created + timedelta(hours=rng.uniform(1, 48))
            elif fate == "manual":  # the manager hands it to one of his reps
                owner = rng.choice([users[name] for name in ("rep", "rep2", "rep4", "rep5") if name in users])
                lead = lead_services.lead_assign(actor=manager, lead=lead, owner=owner)
                assigned = created + timedelta(hours=rng.uniform(1, 24))
                manual = True
        touched = converted = None
        if lead.owner_id and not fresh:
            owner = User.objects.get(pk=lead.owner_id)
            touched = min(assigned + timedelta(hours=rng.uniform(0.2, 3)), now)
            fate = "waiting" if manual and next(turns.manual) else next(turns.work)
            if fate == "waiting":
                touched = None  # handed out by the manager, not looked at yet (no rule re-assigns it)
            elif fate == "contacted":
                lead_services.lead_set_status(actor=owner, lead=lead, status=LeadStatus.CONTACTED)
            elif fate == "qualified":
                lead_services.lead_set_status(actor=owner, lead=lead, status=LeadStatus.CONTACTED)
                lead_services.lead_set_status(actor=owner, lead=lead, status=LeadStatus.QUALIFIED)
            elif fate == "disqualified":
                lead_services.lead_set_status(actor=owner, lead=lead, status=LeadStatus.DISQUALIFIED,
                                              reason=rng.choice(DISQUALIFY_REASONS))
            else:
                lead_services.lead_set_status(actor=owner, lead=lead, status=LeadStatus.QUALIFIED)
                converted = min(touched + timedelta(days=rng.uniform(0.5, 20)), now)
                lead = lead_services.lead_convert(actor=owner, lead=lead, opportunity={
                    "name": "", "amount": Decimal(rng.randrange(2, 60) * 1000),
                    "expected_close": (converted + timedelta(days=rng.randint(15, 90))).date()})
        self.backdate_lead(lead.pk, created=created, assigned=assigned, touched=touched, converted=converted)

    def backdate_lead(self, lead_id: int, *, created, assigned, touched, converted) -> None:
        last = converted or touched or assigned or created
        changes = {"created_at": created, "updated_at": last}
        if assigned:
            changes["assigned_at"] = assigned
            LeadAssignment.objects.filter(lead_id=lead_id).update(created_at=assigned)
            # The assignee's notification: read once he handled the lead; mailed (long ago) either way.
            Notification.objects.filter(dedupe_key__startswith=f"lead-assigned:{lead_id}:").update(
                created_at=assigned, read_at=touched, emailed_at=assigned)
        if touched:
            changes["touched_at"] = touched
        if converted:
            changes["converted_at"] = converted
        Lead.objects.filter(pk=lead_id).update(**changes)
        if converted:
            lead = Lead.objects.get(pk=lead_id)
            Customer.objects.filter(pk=lead.customer_id, created_at__gt=converted).update(
                created_at=converted, owned_since=converted)
            if lead.opportunity_id:
                Opportunity.objects.filter(pk=lead.opportunity_id).update(created_at=converted,
                                                                          stage_entered_at=converted)
                StageHistory.objects.filter(opportunity_id=lead.opportunity_id).update(entered_at=converted)

    # ----------------------------------------------------------------------------------------- commerce

    def commerce(self, products, price_list, quote_count, contract_count, order_count, rng) -> None:
        if Quote.objects.exists() or Contract.objects.exists() or Order.objects.exists():
            self.stdout.write("Quotes, contracts or orders exist already: none added.")
            return
        today = timezone.localdate()
        stats = {"quotes": 0, "contracts": 0, "orders": 0}
        contracts = self.quotes(products, price_list, quote_count, contract_count, rng, stats)
        contracts += self.more_contracts(contract_count - len(contracts), rng, stats)
        for index, contract in enumerate(contracts):
            self.instalments(contract, rng, overdue=index % 4 == 1)
        self.orders(products, price_list, order_count - stats["orders"], rng, stats)
        overdue = PaymentPlan.objects.filter(overdue_condition(today)).count()
        self.say(f"Created {stats['quotes']} quotes, {stats['contracts']} contracts and {stats['orders']} orders; "
                 f"{overdue} instalments are overdue.")

    def lines(self, products, rng) -> list[dict]:
        chosen = rng.sample(products, rng.randint(1, 3))
        return [{"product": p, "quantity": Decimal(rng.choice([1, 2, 3, 5, 10, 20, 50]) if p.price < 10000 else 1)}
                for p in chosen]

    def quotes(self, products, price_list, count, contract_count, rng, stats) -> list[Contract]:
        """Quotes for open opportunities, most of them far along; accepted ones become a contract (while
        ``contract_count`` lasts) and an order, and win their opportunity. The contracts made."""
        today, contracts = timezone.localdate(), []
        candidates = list(
            Opportunity.objects.filter(closed_at__isnull=True, owner=F("customer__owner"),
                                       customer__in=Customer.objects.alive())
            .select_related("customer", "owner", "stage").order_by("-stage__position", "pk")[: count * 2])
        rng.shuffle(candidates)
        for index, opportunity in enumerate(candidates[:count]):
            owner, customer = opportunity.owner, opportunity.customer
            lines = self.lines(products, rng)
            listed = price_list if rng.random() < 0.4 else None
            estimate = sum((line["product"].price * line["quantity"] for line in lines), Decimal("0"))
            discount = (estimate * Decimal(rng.choice(["0", "0", "0.02", "0.05"]))).quantize(Decimal("1"))
            since = timezone.localtime(opportunity.stage_entered_at).date()
            created = since + timedelta(days=rng.randint(0, max(0, (today - since).days)))
            quote = commerce.quote_create(actor=owner, customer=customer, lines=lines, data={
                "opportunity": opportunity, "price_list": listed, "valid_until": created + timedelta(days=30),
                "discount": discount, "tax_rate": Decimal("13"), "notes": rng.choice(QUOTE_NOTES)})
            stats["quotes"] += 1
            kind = ("accepted", "sent", "draft", "accepted", "sent", "draft", "rejected")[index % 7]
            if kind != "draft":
                commerce.quote_mark_sent(actor=owner, quote=quote)
            if kind == "rejected":
                commerce.quote_reject(actor=owner, quote=quote)
            if kind == "accepted":
                signed = created + timedelta(days=rng.randint(0, min(10, (today - created).days)))
                make_contract = len(contracts) < contract_count
                accepted = commerce.quote_accept(
                    actor=owner, quote=quote, create_contract=make_contract, create_order=True, ordered_on=signed,
                    contract_data={"title": "", "signed_on": signed, "starts_on": signed,
                                   "ends_on": signed + timedelta(days=365)})
                stats["orders"] += 1
                self.backdate(accepted.order, signed, rng)
                if accepted.contract is not None:
                    contracts.append(accepted.contract)
                    stats["contracts"] += 1
                    self.backdate(accepted.contract, signed, rng)
                if accepted.opportunity_moved:
                    self.won_on(opportunity.pk, at(signed, rng))
            Quote.objects.filter(pk=quote.pk).update(created_at=at(created, rng))
        return contracts

    def won_on(self, opportunity_id: int, moment) -> None:
        Opportunity.objects.filter(pk=opportunity_id).update(closed_at=moment, stage_entered_at=moment)
        rows = list(StageHistory.objects.filter(opportunity_id=opportunity_id).order_by("-entered_at", "-pk")[:2])
        if rows:
            StageHistory.objects.filter(pk=rows[0].pk).update(entered_at=moment)
        if len(rows) > 1:
            StageHistory.objects.filter(pk=rows[1].pk).update(left_at=moment)

    def backdate(self, record, day, rng) -> None:
        type(record).objects.filter(pk=record.pk).update(created_at=at(day, rng))

    def more_contracts(self, count, rng, stats) -> list[Contract]:
        """Contracts for won deals (signed, in force), and a few drafts still being negotiated."""
        if count <= 0:
            return []
        today, made = timezone.localdate(), []
        won = list(Opportunity.objects.filter(stage__kind=StageKind.WON, owner=F("customer__owner"),
                                              customer__in=Customer.objects.alive(), contracts__isnull=True)
                   .select_related("customer", "owner").order_by("pk")[: count])
        for index, opportunity in enumerate(won):
            closed = timezone.localtime(opportunity.closed_at or timezone.now()).date()
            draft = index % 6 == 5
            signed = None if draft else closed
            starts = closed if not draft else today + timedelta(days=rng.randint(5, 30))
            contract = commerce.contract_create(actor=opportunity.owner, customer=opportunity.customer, data={
                "title": f"{opportunity.customer.name[:40]}·{rng.choice(CONTRACT_KINDS)}",
                "opportunity": opportunity, "amount": money(opportunity.amount), "currency": "CNY",
                "starts_on": starts, "ends_on": starts + timedelta(days=365), "signed_on": signed,
                "status": ContractStatus.DRAFT if draft else ContractStatus.ACTIVE})
            self.backdate(contract, min(closed, today), rng)
            made.append(contract)
            stats["contracts"] += 1
        return made

    def instalments(self, contract: Contract, rng, *, overdue: bool) -> None:
        """30% on signing, 40% after 60 days, 30% after 120; what fell due is paid, mostly on time, except (when
        ``overdue``) the latest instalment due, which is left unpaid or paid in part."""
        if contract.status != ContractStatus.ACTIVE or not contract.signed_on or contract.amount <= 0:
            return
        owner, today = contract.owner, timezone.localdate()
        first, second = money(contract.amount * Decimal("0.3")), money(contract.amount * Decimal("0.4"))
        plans = []
        for days, amount in ((0, first), (60, second), (120, contract.amount - first - second)):
            if amount > 0:
                plans.append(payments.payment_plan_add(actor=owner, parent=contract,
                                                       due_on=contract.signed_on + timedelta(days=days), amount=amount))
        due = [plan for plan in plans if plan.due_on < today]
        for plan in due:
            if overdue and plan is due[-1]:
                part = money(plan.amount * Decimal(rng.choice(["0", "0", "0.5"])))
                if part > 0:
                    self.pay(owner, contract, plan, part, plan.due_on + timedelta(days=rng.randint(0, 5)), rng)
                continue
            self.pay(owner, contract, plan, plan.amount, plan.due_on + timedelta(days=rng.randint(0, 12)), rng)

    def pay(self, actor, parent, plan, amount, received_on, rng) -> None:
        received_on = min(received_on, timezone.localdate())
        payment = payments.payment_record(actor=actor, parent=parent, plan=plan, amount=amount,
                                          received_on=received_on, method=rng.choice(PAY_METHODS),
                                          reference=f"HX{received_on:%Y%m%d}{rng.randint(1000, 9999)}")
        self.backdate(payment, received_on, rng)

    def orders(self, products, price_list, count, rng, stats) -> None:
        """Purchase histories: customers with one to five orders over the last two years, most delivered and paid,
        a few paid in instalments (one of them overdue), a few cancelled."""
        if count <= 0:
            return
        today = timezone.localdate()
        customers = list(Customer.objects.alive().filter(owner__isnull=False).select_related("owner")
                         .order_by("pk")[: count * 2])
        rng.shuffle(customers)
        won = {}
        for opportunity in Opportunity.objects.filter(stage__kind=StageKind.WON, customer__in=customers,
                                                      owner=F("customer__owner"), orders__isnull=True):
            won.setdefault(opportunity.customer_id, opportunity)
        made = 0
        for customer in customers:
            for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 5])):
                if made >= count:
                    break
                ordered_on = today - timedelta(days=rng.randint(0, 720))
                opportunity = won.pop(customer.pk, None)
                order = commerce.order_create(
                    actor=customer.owner, customer=customer, lines=self.lines(products, rng),
                    price_list=price_list if rng.random() < 0.3 else None,
                    data={"ordered_on": ordered_on, "opportunity": opportunity})
                self.backdate(order, ordered_on, rng)
                made += 1
                self.order_after(order, rng, instalments=made % 10 == 3)
            if made >= count:
                break
        stats["orders"] += made

    def order_after(self, order: Order, rng, *, instalments: bool) -> None:
        owner, today = order.owner, timezone.localdate()
        age = (today - order.ordered_on).days
        if age > 20 and rng.random() < 0.04:
            commerce.order_set_status(actor=owner, order=order, status=OrderStatus.CANCELLED)
            return
        if age > 20 and rng.random() < 0.85:
            commerce.order_set_status(actor=owner, order=order, status=OrderStatus.DELIVERED)
        if instalments:  # half on delivery, half 90 days later
            half = money(order.total / 2)
            plans = [payments.payment_plan_add(actor=owner, parent=order, due_on=order.ordered_on + timedelta(days=d),
                                               amount=amount) for d, amount in ((30, half), (90, order.total - half))]
            if plans[0].due_on < today:
                self.pay(owner, order, plans[0], plans[0].amount, plans[0].due_on, rng)
        elif age > 10 and rng.random() < 0.8:
            self.pay(owner, order, None, order.total, order.ordered_on + timedelta(days=rng.randint(3, 40)), rng)
