"""Notifications whose mail never went out (a worker died before queueing it, the mail server was down) are
mailed by the five-minute sweep, once."""

from datetime import timedelta

from django.core import mail
from django.utils import timezone

from crm.notifications import services
from crm.notifications.models import Notification


def _notification(user, minutes_ago, **extra):
    notification = Notification.objects.create(user=user, kind="reminder", title="回访提醒", **extra)
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return notification


def test_the_sweep_mails_what_was_never_mailed_once(sales_rep, other_rep):
    sales_rep.email, other_rep.notify_by_email = "rep@example.com", False
    sales_rep.save()
    other_rep.save()
    lost = _notification(sales_rep, minutes_ago=10)
    _notification(sales_rep, minutes_ago=0)  # its own mail task may still be on the way
    _notification(sales_rep, minutes_ago=60 * 25)  # too old: given up
    _notification(other_rep, minutes_ago=10)  # does not want mail
    # when the sweep runs twice
    assert services.notifications_unmailed() == [lost.pk]
    services.notifications_email(services.notifications_unmailed())
    services.notifications_email(services.notifications_unmailed())
    # then the lost one is mailed, once
    assert [m.to for m in mail.outbox] == [["rep@example.com"]]
    lost.refresh_from_db()
    assert lost.emailed_at is not None
