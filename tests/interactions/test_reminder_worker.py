"""The reminder path through real Celery workers and the real Redis broker: beat's task reminds once, and a
worker killed in the middle of a scan sends no reminder twice and loses none."""

import os
import signal
import time
from collections import Counter
from datetime import timedelta

from django.core import mail
from django.db import connection
from django.utils import timezone

from crm.notifications.models import Notification, NotificationKind
from interactions.models import FollowUp
from interactions.reminders import BATCH
from interactions.tasks import scan_reminders
from tests.factories import CustomerFactory, FollowUpFactory

from .reminder_fixtures import reminders_per_followup, wait_for, with_preferences

MINUTE = timedelta(minutes=1)


def test_beats_task_in_a_worker_reminds_once_and_mails_once(live_celery_worker, sales_rep):
    # given a due reminder of a rep who wants mail
    now = timezone.now()
    with_preferences(sales_rep, language="en", notify_by_email=True)
    followup = FollowUpFactory(assignee=sales_rep, title="回访报价", due_at=now + MINUTE, remind_at=now - MINUTE)
    # when beat's task runs in the worker, twice
    for _ in range(2):
        task = scan_reminders.delay()
        wait_for(lambda task=task: task.id in live_celery_worker.finished, what="the scan")
    # then the rep has one reminder under the bell, and one mail once the mail task has run too
    [notification] = Notification.objects.filter(user=sales_rep, kind=NotificationKind.REMINDER)
    assert notification.title.endswith(": 回访报价")
    followup.refresh_from_db()
    assert followup.reminded_at is not None
    wait_for(lambda: Notification.objects.filter(pk=notification.pk, emailed_at__isnull=False).exists(),
             what="the mail task")
    assert [m.to for m in mail.outbox] == [[sales_rep.email]]


# ---------------------------------------------------------------------------------- the killed worker


def _worker_backend() -> tuple | None:
    """The worker's database session: (pid, state, transaction id or None); None while it has none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, backend_xid::text FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        rows = cursor.fetchall()
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def _rows_locked_by(xid: str) -> set[int]:
    """Follow-ups the transaction ``xid`` has locked (FOR UPDATE) or updated: their visible version carries it
    as xmax until it ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM interactions_followup WHERE xmax::text = %s", [xid])
        return {row[0] for row in cursor.fetchall()}


def _freeze_while_it_holds_a_batch(worker) -> set[int]:
    """Stop the worker process (SIGSTOP) at a moment its scan holds a batch in an open transaction: the
    follow-ups locked, their notifications maybe written, nothing committed. Frozen, the worker cannot commit
    while we look; if it was caught between batches (or its COMMIT had been sent), let it run a little and try
    again. Returns the follow-ups of the batch."""
    for _ in range(200):
        os.killpg(worker.pid, signal.SIGSTOP)
        # a statement already sent runs to its end; then the session waits for the frozen worker
        backend = wait_for(lambda: (b := _worker_backend()) and b[1] != "active" and b, timeout=10,
                           what="the worker's session settling")
        _, state, xid = backend
        if state == "idle in transaction" and xid:
            held = _rows_locked_by(xid)
            if held:
                return held
        os.killpg(worker.pid, signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("never caught the worker holding a batch")


def test_a_worker_killed_mid_scan_sends_no_reminder_twice_and_loses_none(worker_process, sales_rep, other_rep):
    # given 12 batches of due reminders: one scan takes seconds
    now = timezone.now()
    users = [with_preferences(sales_rep, language="en"), with_preferences(other_rep, language="en")]
    customers = [CustomerFactory(owner=user) for user in users for _ in range(20)]
    count = 12 * BATCH
    FollowUp.objects.bulk_create(
        FollowUpFactory.build(assignee=c.owner, customer=c, title=f"回访{i:05d}", due_at=now + MINUTE,
                              remind_at=now - timedelta(seconds=i % 3600))
        for i, c in zip(range(count), customers * (count // len(customers)), strict=True)
    )
    first = worker_process.start()
    # when beat's task starts the scan in the worker, and the worker is killed after some batches, in the middle
    # of one
    scan_reminders.delay()
    wait_for(lambda: Notification.objects.count() >= 3 * BATCH, timeout=60, what="the first batches")
    killed_batch = _freeze_while_it_holds_a_batch(first)
    first.kill_now()
    first.wait(10)
    wait_for(lambda: _worker_backend() is None, timeout=30, what="PostgreSQL noticing the dead worker")
    # then nothing of the batch it was writing is visible: no notification, no "reminded" mark
    notified = reminders_per_followup()
    reminded = set(FollowUp.objects.filter(reminded_at__isnull=False).values_list("pk", flat=True))
    assert len(killed_batch) == BATCH
    assert not killed_batch & set(notified)
    assert not killed_batch & reminded
    # and what it committed before is whole: every follow-up marked reminded has its one notification
    assert set(notified) == reminded and set(notified.values()) == {1}
    assert 0 < len(reminded) < count
    # when another worker starts and beat's next scan runs
    worker_process.start()
    scan_reminders.delay()
    wait_for(lambda: not FollowUp.objects.filter(reminded_at__isnull=True).exists(), timeout=120,
             what="the next scan")
    # then every follow-up has been reminded exactly once: none twice, none lost
    assert reminders_per_followup() == Counter({pk: 1 for pk in FollowUp.objects.values_list("pk", flat=True)})
    assert Notification.objects.count() == count
