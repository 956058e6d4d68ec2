"""Writes on notifications. Each notification is written once (its dedupe key), and mailed after commit to
users who want mail."""

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone, translation

from .models import Notification

logger = logging.getLogger(__name__)


@dataclass
class NewNotification:
    user_id: int
    kind: str
    title: str
    body: str = ""
    url: str = ""
    dedupe_key: str | None = None


def notify_many(items: list[NewNotification]) -> list[int]:
    """Write the notifications whose dedupe key is not taken yet, in one statement; the ids written. The
    caller's transaction decides whether they stay; mails go out after it commits."""
    if not items:
        return []
    rows = [(i.user_id, i.kind, _fit(i.title, "title"), i.body, i.url, i.dedupe_key) for i in items]
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, now())"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {Notification._meta.db_table} (user_id, kind, title, body, url, dedupe_key, created_at)
                VALUES {placeholders} ON CONFLICT (dedupe_key) DO NOTHING RETURNING id""",
            [value for row in rows for value in row],
        )
        ids = [row[0] for row in cursor.fetchall()]
    if ids:
        from .tasks import email_notifications

        transaction.on_commit(lambda: email_notifications.delay(ids))
    return ids


def _fit(text: str, field: str) -> str:
    """Cut ``text`` to the column's length. The INSERT above bypasses model validation, and one over-long title
    (a 300-character follow-up title in a reminder) would fail the whole statement: the reminder scan would then
    fail on the same batch every minute and no reminder behind it would ever be sent."""
    limit = Notification._meta.get_field(field).max_length
    return text if len(text) <= limit else text[: limit - 1] + "…"


def notify(*, user, kind, title, body="", url="", dedupe_key=None) -> int | None:
    ids = notify_many([NewNotification(user.pk, kind, title, body, url, dedupe_key)])
    return ids[0] if ids else None


def notification_mark_read(*, user, notification_id: int) -> Notification | None:
    notification = Notification.objects.filter(user=user, pk=notification_id).first()
    if notification is not None and notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


def notifications_email(ids: list[int]) -> int:
    """Worker: mail each notification to its user if he wants mail, once (emailed_at, under a row lock)."""
    sent = 0
    for notification_id in ids:
        try:
            sent += _email_one(notification_id)
        except (smtplib.SMTPException, OSError, ValueError):
            # One mail the server refuses (or a header Django refuses) must not cost the notifications after it
            # their mail: this one stays unmailed, counts an attempt (the sweep gives up after a few) and is logged.
            logger.exception("notification %s was not mailed", notification_id)
            Notification.objects.filter(pk=notification_id).update(email_attempts=F("email_attempts") + 1)
    return sent


def _email_one(notification_id: int) -> int:
    with transaction.atomic():
        # of=("self",): without it FOR UPDATE also locks the user's row, and SKIP LOCKED would then pass over
        # (and so never mail) a notification whose user is being saved or mailed by another task at that moment.
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",)).select_related("user")
            .filter(pk=notification_id, emailed_at__isnull=True).first()
        )
        if notification is None:
            return 0
        user = notification.user
        if not (user.is_active and user.email and user.notify_by_email):
            return 0
        with translation.override(user.language or settings.LANGUAGE_CODE):
            send_mail(
                # A title may hold a line break (a follow-up's title); a mail header may not.
                subject=" ".join(f"[CRM] {notification.title}".split()),
                message="\n\n".join(filter(None, [notification.body, _absolute(notification.url)])),
                from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[user.email],
            )
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])
        return 1


def _absolute(url: str) -> str:
    return f"{settings.CRM_BASE_URL.rstrip('/')}{url}" if url else ""


MAX_EMAIL_ATTEMPTS = 3


def notifications_unmailed(*, now=None) -> list[int]:
    """Notifications that should have been mailed and were not: the worker died between writing them and
    queueing their mail, or the mail server was down. Re-tried for a day, then given up."""
    now = now or timezone.now()
    return list(
        Notification.objects.filter(
            emailed_at__isnull=True, email_attempts__lt=MAX_EMAIL_ATTEMPTS, user__notify_by_email=True,
            user__is_active=True,
            created_at__lt=now - timedelta(minutes=2), created_at__gte=now - timedelta(days=1),
        ).exclude(user__email="").order_by("pk").values_list("pk", flat=True)[:5000]
    )
