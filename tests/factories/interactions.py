"""Interactions and follow-ups, written straight to the table (the services are what the tests exercise).

A follow-up's customer is owned by its assignee unless ``customer`` is given; its reminder is due an hour
before the follow-up unless ``remind_at`` is given (None: no reminder)."""

from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from interactions.models import Channel, Direction, FollowUp, FollowUpStatus, Interaction

from .accounts import UserFactory
from .customers import CustomerFactory


class InteractionFactory(DjangoModelFactory):
    class Meta:
        model = Interaction

    customer = factory.SubFactory(CustomerFactory, owner=factory.SelfAttribute("..author"))
    author = factory.SubFactory(UserFactory)
    channel = Channel.CALL
    direction = Direction.OUTBOUND
    occurred_at = factory.LazyFunction(timezone.now)
    subject = factory.Sequence(lambda n: f"电话沟通{n}")
    body = "客户对报价有兴趣，下周再联系。"


class FollowUpFactory(DjangoModelFactory):
    class Meta:
        model = FollowUp

    assignee = factory.SubFactory(UserFactory)
    customer = factory.SubFactory(CustomerFactory, owner=factory.SelfAttribute("..assignee"))
    created_by = factory.SelfAttribute("assignee")
    title = factory.Sequence(lambda n: f"回访客户{n}")
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    remind_at = factory.LazyAttribute(lambda o: o.due_at - timedelta(hours=1))
    status = FollowUpStatus.OPEN
