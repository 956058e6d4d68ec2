"""Demo campaigns (市场活动) with their costs, so that the acquisition cost report shows something: one per campaign
code the sales demo gives its leads (sales' seed_sales_demo), and those leads counted for it. Idempotent (campaigns
are found by their code) and fast at any volume: one UPDATE per campaign links the leads already there."""

from datetime import date
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from crm.accounts.models import User
from marketing.models import Campaign, CampaignStatus, Channel
from sales.models import Lead

# code, name, channel, (month, day) it started this year, days it ran, budget, actual cost (None: not recorded yet)
CAMPAIGNS = [
    ("2026上海CRM展", "2026 上海 CRM 展会", Channel.EXHIBITION, (3, 12), 3, "90000", "86400"),
    ("杭州客户沙龙", "杭州客户沙龙（第一期）", Channel.EVENT, (4, 18), 1, "15000", "12650"),
    ("朋友圈广告-3月", "朋友圈广告 · 3月", Channel.SOCIAL, (3, 1), 31, "20000", "19800"),
    ("百度推广-CRM", "百度推广 · CRM 关键词", Channel.SEARCH_ADS, (1, 5), 90, "40000", "35210.50"),
    ("2026春季展会落地页", "2026 春季展会落地页", Channel.CONTENT, (2, 20), 40, "8000", None),
]


class Command(BaseCommand):
    help = "Create demo campaigns with costs and link the demo leads that carry their codes."

    def handle(self, *args, **options):
        owner = User.objects.filter(username="marketing").first()
        if owner is None:
            self.stdout.write("The demo users are missing: run seed_demo first.")
            return
        today = timezone.localdate()
        linked = 0
        with transaction.atomic():
            for code, name, channel, (month, day), days, budget, cost in CAMPAIGNS:
                start = date(today.year, month, day)
                end = date.fromordinal(start.toordinal() + days - 1)
                status = CampaignStatus.COMPLETED if end < today else (
                    CampaignStatus.ACTIVE if start <= today else CampaignStatus.PLANNED)
                campaign, _created = Campaign.objects.get_or_create(code=code, defaults={
                    "name": name, "channel": channel, "status": status, "start_date": start, "end_date": end,
                    "budget": Decimal(budget), "actual_cost": Decimal(cost) if cost else None, "owner": owner,
                    "team": owner.team, "created_by": owner,
                    "notes": "演示数据：成本含场地、物料与投放费用。"})
                linked += Lead.objects.filter(campaign=code, marketing_campaign__isnull=True).update(
                    marketing_campaign=campaign)
        self.stdout.write(self.style.SUCCESS(f"  Campaigns: {len(CAMPAIGNS)}; leads linked now: {linked}"))
