"""Follow-ups, interactions and notifications for the tests of the pages of one's own work (tasks, week,
activity, notifications). Rows are written straight to their tables, as the services would leave them."""

from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from crm.notifications.models import Notification, NotificationKind
from interactions.models import Channel, Direction, FollowUp, FollowUpStatus, Interaction, Priority

from .customers import CustomerFactory


class TaskFactory(DjangoModelFactory):
    """An open follow-up due tomorrow, assigned to its customer's owner unless ``assignee`` is given."""

    class Meta:
        model = FollowUp

    customer = factory.SubFactory(CustomerFactory)
    title = factory.Sequence(lambda n: f"跟进任务{n:04d}")
    assignee = factory.LazyAttribute(lambda o: o.customer.owner)
    created_by = factory.LazyAttribute(lambda o: o.assignee)
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    priority = Priority.NORMAL
    status = FollowUpStatus.OPEN


class ActivityFactory(DjangoModelFactory):
    """A logged interaction, by its customer's owner unless ``author`` is given."""

    class Meta:
        model = Interaction

    customer = factory.SubFactory(CustomerFactory)
    author = factory.LazyAttribute(lambda o: o.customer.owner)
    channel = Channel.CALL
    direction = Direction.OUTBOUND
    subject = factory.Sequence(lambda n: f"电话沟通{n:04d}")
    body = "客户对报价有兴趣"
    occurred_at = factory.LazyFunction(timezone.now)


class NotificationFactory(DjangoModelFactory):
    class Meta:
        model = Notification

    kind = NotificationKind.REMINDER
    title = factory.Sequence(lambda n: f"提醒{n:04d}")
    body = ""
    url = ""


def zone_at_midday() -> str:
    """A time zone where it is now between 11:30 and 12:30, so that "later today" and "earlier today" both
    exist whenever the tests run (Etc/GMT-5 is UTC+5: the sign is POSIX's)."""
    now = timezone.now()
    offset = round(12 - (now.hour + now.minute / 60))
    offset = (offset + 11) % 24 - 11  # into -11..12, the range the Etc zones cover
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def register_page_contributions() -> None:
    """What InteractionsConfig.ready() registers for these pages (the exporter, the sidebar's overdue badge),
    for tests that run before those lines are in ready(); registering again replaces the first."""
    from interactions import exports, selectors

    exports.register()
    selectors.register_navigation()
