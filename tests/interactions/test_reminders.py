"""The reminder scan and the escalation of overdue follow-ups, called in the test process with the clock
passed in (``now=``), as beat's task calls them once a minute: each due reminder once to the assignee, in his
language, mailed if he wants mail; overdue follow-ups to the manager above the assignee, once."""

import smtplib
import threading
from collections import Counter
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connections, transaction
from django.utils import formats, timezone

from crm.accounts.services import team_save
from crm.notifications import services as notification_services
from crm.notifications.models import Notification, NotificationKind
from crm.notifications.tasks import email_notifications
from interactions import reminders, services
from interactions.models import FollowUp
from tests.factories import CustomerFactory, FollowUpFactory, UserFactory

from .reminder_fixtures import reminders_per_followup, with_preferences

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def reminders_of(user) -> list[Notification]:
    return list(Notification.objects.filter(user=user, kind=NotificationKind.REMINDER).order_by("pk"))


def escalations_of(user) -> list[Notification]:
    return list(Notification.objects.filter(user=user, kind=NotificationKind.ESCALATION).order_by("pk"))


def local(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i")


def _run_in_thread(name, target, results):
    def run():
        try:
            results[name] = target()
        finally:
            connections.close_all()  # this thread's connection must not outlive the test

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


@pytest.fixture
def tasks_run_here():
    """Tasks sent with ``.delay()`` run at once in the test process (the mail task of a notification)."""
    from crm.celery import app

    previous = {key: app.conf[key] for key in ("task_always_eager", "task_eager_propagates")}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(previous)


@pytest.fixture
def escalate_after_4_hours(settings):
    settings.CRM_FOLLOWUP_ESCALATE_AFTER_HOURS = 4
    return timedelta(hours=4)


# ------------------------------------------------------------------------------------------ reminders


def test_a_due_reminder_notifies_the_assignee_once(sales_rep):
    now = timezone.now()
    customer = CustomerFactory(owner=sales_rep, name="上海恒通贸易有限公司")
    followup = FollowUpFactory(assignee=sales_rep, customer=customer, title="回访报价", due_at=now + HOUR,
                               remind_at=now - MINUTE)
    # when the scan runs, and runs again a minute later
    first = reminders.reminders_send_due(now=now)
    second = reminders.reminders_send_due(now=now + MINUTE)
    # then the assignee has one reminder, pointing at the customer's timeline
    assert (first, second) == (1, 0)
    [notification] = reminders_of(sales_rep)
    assert "回访报价" in notification.title and local(followup.due_at) in notification.title
    assert (notification.body, notification.url, notification.read_at) == (
        "上海恒通贸易有限公司", customer.get_absolute_url() + "?tab=timeline", None)
    followup.refresh_from_db()
    assert followup.reminded_at == now


def test_a_reminder_not_yet_due_waits_for_its_time(sales_rep):
    now = timezone.now()
    FollowUpFactory(assignee=sales_rep, remind_at=now + 5 * MINUTE)
    # when the scan runs before the reminder's time
    assert reminders.reminders_send_due(now=now) == 0
    assert reminders.reminders_send_due(now=now + 5 * MINUTE - timedelta(seconds=1)) == 0
    assert reminders_of(sales_rep) == []
    # then it fires at the scan that reaches it
    assert reminders.reminders_send_due(now=now + 5 * MINUTE) == 1
    assert len(reminders_of(sales_rep)) == 1


def test_done_cancelled_and_reminderless_followups_never_remind(sales_rep):
    now = timezone.now()
    done = FollowUpFactory(assignee=sales_rep, remind_at=now + MINUTE)
    cancelled = FollowUpFactory(assignee=sales_rep, remind_at=now + MINUTE)
    FollowUpFactory(assignee=sales_rep, due_at=now - HOUR, remind_at=None)
    # given one done and one cancelled before their reminders
    services.followup_complete(actor=sales_rep, followup=done)
    services.followup_cancel(actor=sales_rep, followup=cancelled)
    # when the scan passes their time
    sent = reminders.reminders_send_due(now=now + HOUR)
    # then nothing is sent
    assert sent == 0
    assert reminders_of(sales_rep) == []


def test_every_due_reminder_is_sent_in_one_scan_whatever_the_batch_size(sales_rep, other_rep):
    now = timezone.now()
    followups = [FollowUpFactory(assignee=user, remind_at=now - i * MINUTE)
                 for i, user in enumerate([sales_rep, other_rep] * 4)]
    # when one scan takes them three at a time
    sent = reminders.reminders_send_due(now=now, batch=3)
    # then all eight are reminded, once each
    assert sent == 8
    assert (len(reminders_of(sales_rep)), len(reminders_of(other_rep))) == (4, 4)
    assert not FollowUp.objects.filter(pk__in=[f.pk for f in followups], reminded_at__isnull=True).exists()


def test_snooze_moves_a_sent_reminder_to_the_new_time(sales_rep):
    now = timezone.now()
    followup = FollowUpFactory(assignee=sales_rep, due_at=now + HOUR, remind_at=now - MINUTE)
    reminders.reminders_send_due(now=now)
    assert len(reminders_of(sales_rep)) == 1
    # when the rep snoozes it for two hours
    services.followup_snooze(actor=sales_rep, followup=followup, until=now + 2 * HOUR)
    # then it does not fire before the new time
    assert reminders.reminders_send_due(now=now + HOUR) == 0
    assert reminders.reminders_send_due(now=now + 2 * HOUR - MINUTE) == 0
    assert len(reminders_of(sales_rep)) == 1
    # and fires again, once, at the new time
    assert reminders.reminders_send_due(now=now + 2 * HOUR) == 1
    assert reminders.reminders_send_due(now=now + 2 * HOUR + MINUTE) == 0
    followup.refresh_from_db()
    assert followup.due_at == now + 2 * HOUR  # the due time moved with it: due before its reminder makes no sense
    titles = [n.title for n in reminders_of(sales_rep)]
    assert len(titles) == 2 and local(now + 2 * HOUR) in titles[1]


def test_snooze_before_the_reminder_fired_moves_it(sales_rep):
    now = timezone.now()
    followup = FollowUpFactory(assignee=sales_rep, remind_at=now + 10 * MINUTE)
    # when the rep snoozes the coming reminder to an hour from now
    services.followup_snooze(actor=sales_rep, followup=followup, until=now + HOUR)
    # then the old time passes in silence and the new one fires
    assert reminders.reminders_send_due(now=now + 10 * MINUTE) == 0
    assert reminders.reminders_send_due(now=now + HOUR) == 1
    assert len(reminders_of(sales_rep)) == 1


def share_with(customer, user):
    from customers import services as customer_services
    from customers.permissions import SHARE_VIEW

    customer_services.customer_share(actor=customer.owner, customer=customer, level=SHARE_VIEW, user=user)


def test_a_reassigned_followup_reminds_its_new_assignee(sales_manager, sales_rep, other_rep):
    now = timezone.now()
    followup = FollowUpFactory(assignee=sales_rep, remind_at=now + 10 * MINUTE)
    share_with(followup.customer, other_rep)  # a follow-up only goes to someone who can see its customer
    # when the manager gives it to another rep before the reminder
    services.followup_reassign(actor=sales_manager, followup=followup, assignee=other_rep)
    reminders.reminders_send_due(now=now + 10 * MINUTE)
    # then the new assignee is reminded, and the old one is not
    assert len(reminders_of(other_rep)) == 1
    assert reminders_of(sales_rep) == []


def test_a_long_title_is_shortened_and_does_not_hold_up_its_batch(sales_rep, other_rep):
    # given a follow-up whose title fills the 300 characters the form allows, due with others
    now = timezone.now()
    long = FollowUpFactory(assignee=sales_rep, title="与客户确认年度框架协议的全部条款" * 18 + "结束",
                           remind_at=now - 2 * MINUTE)
    others = FollowUpFactory.create_batch(3, assignee=other_rep, remind_at=now - MINUTE)
    assert len(long.title) == 290
    # when the scan runs
    sent = reminders.reminders_send_due(now=now)
    # then every one is reminded; the long one with a title cut to the notification's length
    assert sent == 4
    [notification] = reminders_of(sales_rep)
    assert len(notification.title) == Notification._meta.get_field("title").max_length
    assert notification.title.endswith("…")
    assert len(reminders_of(other_rep)) == 3
    assert not FollowUp.objects.filter(pk__in=[f.pk for f in others], reminded_at__isnull=True).exists()


# ----------------------------------------------------------------------------- language and mail


def test_the_reminder_is_written_in_the_assignees_language(sales_rep, other_rep):
    now = timezone.now()
    with_preferences(sales_rep, language="en")
    english = FollowUpFactory(assignee=sales_rep, title="回访报价", remind_at=now - MINUTE)
    FollowUpFactory(assignee=other_rep, title="回访报价", remind_at=now - MINUTE)  # no language: the site's
    reminders.reminders_send_due(now=now)
    [notification] = reminders_of(sales_rep)
    assert notification.title == f"Follow-up due {local(english.due_at)}: 回访报价"


def test_the_reminder_is_written_in_chinese_for_a_chinese_assignee(sales_rep):
    now = timezone.now()
    with_preferences(sales_rep, language="zh-hans")
    FollowUpFactory(assignee=sales_rep, title="回访报价", remind_at=now - MINUTE)
    reminders.reminders_send_due(now=now)
    [notification] = reminders_of(sales_rep)
    assert "回访报价" in notification.title and "跟进任务" in notification.title
    assert "Follow-up due" not in notification.title


def test_a_user_who_wants_mail_gets_the_reminder_by_mail_once(sales_rep, tasks_run_here,
                                                             django_capture_on_commit_callbacks):
    now = timezone.now()
    with_preferences(sales_rep, language="en", notify_by_email=True)
    customer = CustomerFactory(owner=sales_rep, name="上海恒通贸易有限公司")
    followup = FollowUpFactory(assignee=sales_rep, customer=customer, title="回访报价", remind_at=now - MINUTE)
    # when the scan runs (the mail task is sent once the reminders are committed)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        reminders.reminders_send_due(now=now)
    # then he receives one mail with the reminder and a link to the customer
    assert len(callbacks) == 1
    [message] = mail.outbox
    assert message.to == [sales_rep.email]
    assert message.subject == f"[CRM] Follow-up due {local(followup.due_at)}: 回访报价"
    assert "上海恒通贸易有限公司" in message.body
    assert f"{customer.get_absolute_url()}?tab=timeline" in message.body
    # and a mail task delivered twice mails nothing more
    [notification] = reminders_of(sales_rep)
    assert notification.emailed_at is not None
    email_notifications.delay([notification.pk])
    assert len(mail.outbox) == 1


def test_a_user_who_does_not_want_mail_gets_the_reminder_only_under_the_bell(sales_rep, other_rep, tasks_run_here,
                                                                            django_capture_on_commit_callbacks):
    now = timezone.now()
    with_preferences(sales_rep, notify_by_email=False)
    with_preferences(other_rep, notify_by_email=True)
    FollowUpFactory(assignee=sales_rep, remind_at=now - MINUTE)
    FollowUpFactory(assignee=other_rep, remind_at=now - MINUTE)
    with django_capture_on_commit_callbacks(execute=True):
        reminders.reminders_send_due(now=now)
    assert len(reminders_of(sales_rep)) == 1
    assert [m.to for m in mail.outbox] == [[other_rep.email]]


def test_a_mail_that_cannot_be_sent_does_not_cost_the_others_theirs(sales_rep, other_rep, tasks_run_here,
                                                                     django_capture_on_commit_callbacks):
    # given two reminders due in one batch: the first one's title has a line break (no mail header may), the
    # second's assignee is refused by the mail server
    now = timezone.now()
    south = with_preferences(UserFactory(username="south"), notify_by_email=True)
    for user in (sales_rep, other_rep, south):
        with_preferences(user, language="en", notify_by_email=True)
    FollowUpFactory(assignee=sales_rep, title="回访\n报价", remind_at=now - 3 * MINUTE)
    FollowUpFactory(assignee=south, remind_at=now - 2 * MINUTE)
    FollowUpFactory(assignee=other_rep, remind_at=now - MINUTE)
    send_mail = notification_services.send_mail

    def refusing_south(**kwargs):
        if kwargs["recipient_list"] == [south.email]:
            raise smtplib.SMTPRecipientsRefused({south.email: (550, b"no such user")})
        return send_mail(**kwargs)

    # when the scan runs and the batch's mail task sends
    with mock.patch.object(notification_services, "send_mail", refusing_south):
        with django_capture_on_commit_callbacks(execute=True):
            reminders.reminders_send_due(now=now)
    # then the line break became a space, and the refused address kept no one else from his mail
    assert [(m.to, m.subject.endswith("回访 报价")) for m in mail.outbox] == [
        ([sales_rep.email], True), ([other_rep.email], False)]
    assert list(Notification.objects.filter(emailed_at__isnull=True).values_list("user", flat=True)) == [south.pk]


def test_a_reminder_mail_is_sent_while_the_users_row_is_locked(transactional_db, sales_rep):
    # given a reminder waiting for its mail, while the rep's own row is locked (he is saving his profile)
    with_preferences(sales_rep, notify_by_email=True)
    notification = Notification.objects.create(user=sales_rep, kind=NotificationKind.REMINDER, title="回访报价")
    locked, release = threading.Event(), threading.Event()

    def hold_the_users_row():
        with transaction.atomic():
            get_user_model().objects.select_for_update().get(pk=sales_rep.pk)
            locked.set()
            release.wait(30)

    results = {}
    holder = _run_in_thread("holder", hold_the_users_row, results)
    assert locked.wait(30)
    # when the mail task runs
    try:
        sent = notification_services.notifications_email([notification.pk])
    finally:
        release.set()
        holder.join(30)
    # then the mail goes out all the same (only the notification's own row is locked)
    assert sent == 1
    assert [m.to for m in mail.outbox] == [[sales_rep.email]]


# ------------------------------------------------------------------------------------------ escalation


def test_an_overdue_followup_escalates_to_the_manager_above_after_the_delay_once(
        sales_manager, sales_rep, escalate_after_4_hours):
    # given a rep of 上海组 (no manager of its own) and a follow-up due now; 华东销售部 above has a manager
    now = timezone.now()
    with_preferences(sales_manager, language="en")
    followup = FollowUpFactory(assignee=sales_rep, title="回访报价", due_at=now, remind_at=None)
    # when the scans run before the delay is over
    assert reminders.followups_escalate_overdue(now=now + escalate_after_4_hours - MINUTE) == 0
    assert escalations_of(sales_manager) == []
    # then nothing; at the delay the manager of 华东销售部 is told, once
    assert reminders.followups_escalate_overdue(now=now + escalate_after_4_hours) == 1
    assert reminders.followups_escalate_overdue(now=now + escalate_after_4_hours + HOUR) == 0
    [notification] = escalations_of(sales_manager)
    assert notification.title == f"Overdue since {local(followup.due_at)}: 回访报价 ({sales_rep})"
    assert escalations_of(sales_rep) == []


def test_the_manager_of_the_assignees_own_team_comes_first(sales_manager, sales_rep, teams, escalate_after_4_hours):
    now = timezone.now()
    leader = UserFactory(username="leader", team=teams.shanghai)
    teams.shanghai.manager = leader
    team_save(teams.shanghai)
    FollowUpFactory(assignee=sales_rep, due_at=now - escalate_after_4_hours, remind_at=None)
    reminders.followups_escalate_overdue(now=now)
    assert len(escalations_of(leader)) == 1
    assert escalations_of(sales_manager) == []


def test_a_managers_own_overdue_followup_goes_to_the_manager_above_him(
        sales_manager, admin_user, teams, escalate_after_4_hours):
    # given 华东销售部's manager with an overdue follow-up, and 总公司 managed by the admin
    now = timezone.now()
    teams.hq.manager = admin_user
    team_save(teams.hq)
    FollowUpFactory(assignee=sales_manager, due_at=now - escalate_after_4_hours, remind_at=None)
    # when the scan runs
    reminders.followups_escalate_overdue(now=now)
    # then the manager above is told, not the manager himself
    assert escalations_of(sales_manager) == []
    assert len(escalations_of(admin_user)) == 1


def test_a_followup_done_in_time_is_not_escalated(sales_manager, sales_rep, escalate_after_4_hours):
    now = timezone.now()
    followup = FollowUpFactory(assignee=sales_rep, due_at=now - HOUR, remind_at=None)
    # given the rep completes it an hour late, within the delay
    services.followup_complete(actor=sales_rep, followup=followup)
    # when the scans pass the delay
    reminders.followups_escalate_overdue(now=now + escalate_after_4_hours)
    reminders.followups_escalate_overdue(now=now + 2 * escalate_after_4_hours)
    # then nobody is told
    assert Notification.objects.filter(kind=NotificationKind.ESCALATION).count() == 0


def test_with_no_manager_above_nobody_is_told_and_the_scan_moves_on(south_rep, escalate_after_4_hours):
    # given a rep whose team and the teams above have no manager
    now = timezone.now()
    followup = FollowUpFactory(assignee=south_rep, due_at=now - escalate_after_4_hours, remind_at=None)
    # when the scan runs
    escalated = reminders.followups_escalate_overdue(now=now)
    # then nothing is sent, and the follow-up is not looked at again every minute
    assert escalated == 0
    assert Notification.objects.count() == 0
    followup.refresh_from_db()
    assert followup.escalated_at == now


def test_an_escalated_followup_given_to_someone_else_escalates_to_his_manager(
        admin_user, sales_manager, sales_rep, south_rep, teams, escalate_after_4_hours):
    # given 华南销售部 with a manager of its own, and an overdue follow-up of a 上海组 rep, escalated
    now = timezone.now()
    south_manager = UserFactory(username="south_manager", team=teams.south)
    teams.south.manager = south_manager
    team_save(teams.south)
    followup = FollowUpFactory(assignee=sales_rep, due_at=now - escalate_after_4_hours, remind_at=None)
    reminders.followups_escalate_overdue(now=now)
    assert len(escalations_of(sales_manager)) == 1
    # when the admin hands it to a rep of 华南销售部 (who can see the customer), and it stays open
    share_with(followup.customer, south_rep)
    services.followup_reassign(actor=admin_user, followup=followup, assignee=south_rep)
    reminders.followups_escalate_overdue(now=now + MINUTE)
    reminders.followups_escalate_overdue(now=now + 2 * MINUTE)
    # then the new assignee's manager is told, once, and the first manager not again
    assert len(escalations_of(south_manager)) == 1
    assert len(escalations_of(sales_manager)) == 1


def test_a_snoozed_overdue_followup_escalates_again_only_after_its_new_due_time(
        sales_manager, sales_rep, escalate_after_4_hours):
    now = timezone.now()
    followup = FollowUpFactory(assignee=sales_rep, due_at=now - escalate_after_4_hours, remind_at=None)
    reminders.followups_escalate_overdue(now=now)
    # when the rep snoozes it for a day and the new due time passes by the delay
    services.followup_snooze(actor=sales_rep, followup=followup, until=now + 24 * HOUR)
    assert reminders.followups_escalate_overdue(now=now + 24 * HOUR + escalate_after_4_hours - MINUTE) == 0
    assert reminders.followups_escalate_overdue(now=now + 24 * HOUR + escalate_after_4_hours) == 1
    assert len(escalations_of(sales_manager)) == 2


# ------------------------------------------------------------------------------------- scans at once


def test_a_scan_that_starts_while_another_holds_a_batch_takes_the_rest(transactional_db, sales_rep, monkeypatch):
    # given 30 due reminders; the first scan holds the row locks of its first batch of 10 until told to go on
    now = timezone.now()
    with_preferences(sales_rep, language="en")
    followups = FollowUpFactory.create_batch(30, assignee=sales_rep, remind_at=now - MINUTE)
    holding, go_on = threading.Event(), threading.Event()
    notify_many = reminders.notify_many

    def notify_many_holding_the_first_batch(items):
        if threading.current_thread().name == "first" and not holding.is_set():
            holding.set()
            assert go_on.wait(30)
        return notify_many(items)

    monkeypatch.setattr(reminders, "notify_many", notify_many_holding_the_first_batch)
    results = {}
    first = _run_in_thread("first", lambda: reminders.reminders_send_due(now=now, batch=10), results)
    assert holding.wait(30)
    # when a second scan runs meanwhile, on its own connection
    second = _run_in_thread("second", lambda: reminders.reminders_send_due(now=now, batch=10), results)
    second.join(30)
    go_on.set()
    first.join(30)
    # then the second passed over the locked batch, the first sent only it, and each follow-up was reminded once
    assert results == {"first": 10, "second": 20}
    assert reminders_per_followup() == Counter({f.pk: 1 for f in followups})


def test_two_scans_racing_over_many_batches_remind_each_followup_once(transactional_db, sales_rep, other_rep):
    now = timezone.now()
    with_preferences(sales_rep, language="en")
    with_preferences(other_rep, language="en")
    followups = [FollowUpFactory(assignee=user, remind_at=now - (i % 7) * MINUTE)
                 for i, user in enumerate([sales_rep, other_rep] * 100)]
    start = threading.Barrier(2)

    def scan():
        start.wait(10)
        return reminders.reminders_send_due(now=now, batch=5)

    # when two scans start at the same moment, five follow-ups a batch
    results = {}
    threads = [_run_in_thread(name, scan, results) for name in ("a", "b")]
    for thread in threads:
        thread.join(60)
    # then between them they sent 200 reminders, one per follow-up
    assert results["a"] + results["b"] == 200
    assert reminders_per_followup() == Counter({f.pk: 1 for f in followups})
