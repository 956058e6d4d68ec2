"""Demo activity: calls, visits and WeChat messages the demo reps logged on their customers over the last twelve
weeks, and their follow-ups (most done, some due soon, a few overdue), so that the customer timelines, "my tasks",
the activity report and "not contacted for N days" show something on a fresh demo. Written through the services a
rep's own clicks go through (last contacted, reminders and the audit trail as usual). Does nothing when any
interaction exists already."""

import random
from datetime import timedelta

import pghistory
from django.core.management.base import BaseCommand
from django.utils import timezone

from crm.accounts.models import User
from customers.models import Customer
from interactions.models import Channel, Direction, FollowUp, Interaction
from interactions.services import followup_complete, followup_create, interaction_log

REPS = ["rep", "rep2", "rep3", "rep4", "rep5", "manager"]
CUSTOMERS_EACH = 25
WEEKS = 12
SUBJECTS = {
    Channel.CALL: ["电话沟通报价", "确认采购需求", "回访使用情况", "电话约拜访时间"],
    Channel.VISIT: ["上门拜访，演示产品", "现场了解业务流程", "拜访采购负责人"],
    Channel.WECHAT: ["微信发送方案", "微信跟进合同条款", "微信答复产品问题"],
    Channel.MEETING: ["线上会议：方案评审", "与技术负责人开会"],
    Channel.EMAIL: ["邮件发送报价单", "邮件确认交付时间"],
}
NEXT_STEPS = ["发送正式报价", "安排产品演示", "确认合同条款", "回访试用情况", "邀请参加客户沙龙"]


class Command(BaseCommand):
    help = "Log demo interactions and follow-ups for the demo reps' customers (only when there are none yet)."

    def handle(self, *args, **options):
        if Interaction.objects.exists():
            self.stdout.write("Interactions exist already: none added.")
            return
        pick = random.Random(2026)
        now = timezone.now()
        logged = planned = 0
        for user in User.objects.filter(username__in=REPS, is_active=True):
            customers = list(Customer.objects.filter(owner=user, deleted_at__isnull=True).order_by("pk")
                             [:CUSTOMERS_EACH])
            with pghistory.context(user=user.pk, reason="demo"):
                for customer in customers:
                    # Some customers are left alone for weeks: "not contacted for N days" has something to show.
                    for _round in range(pick.choice([0, 1, 2, 3, 4, 5])):
                        channel = pick.choice(list(SUBJECTS))
                        when = now - timedelta(days=pick.uniform(0, WEEKS * 7))
                        interaction_log(actor=user, customer=customer, data={
                            "channel": channel, "occurred_at": when, "subject": pick.choice(SUBJECTS[channel]),
                            "direction": Direction.INBOUND if pick.random() < 0.2 else Direction.OUTBOUND})
                        logged += 1
                    if pick.random() < 0.6:
                        due = now + timedelta(days=pick.uniform(-10, 14))
                        followup = followup_create(actor=user, customer=customer, title=pick.choice(NEXT_STEPS),
                                                   due_at=due)
                        planned += 1
                        if due < now and pick.random() < 0.7:
                            followup_complete(actor=user, followup=followup)
                            # done when it was due, not all at the moment of seeding (the activity report
                            # counts completed follow-ups per week)
                            FollowUp.objects.filter(pk=followup.pk).update(
                                completed_at=min(due + timedelta(hours=2), now))
        done = FollowUp.objects.filter(status="done").count()
        self.stdout.write(self.style.SUCCESS(f"  Activity: {logged} interactions, {planned} follow-ups ({done} done)"))
