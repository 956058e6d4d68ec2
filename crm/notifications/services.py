"""Writes on notifications. Each notification is written once (its dedupe key), and mailed after commit to
users who want mail."""

from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone, translation

from .models import Notification


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
    rows = [(i.user_id, i.kind, i.title, i.body, i.url, i.dedupe_key) for i in items]
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
        with transaction.atomic():
            notification = (
                Notification.objects.select_for_update(skip_locked=True).select_related("user")
                .filter(pk=notification_id, emailed_at__isnull=True).first()
            )
            if notification is None:
                continue
            user = notification.user
            if not (user.is_active and user.email and user.notify_by_email):
                continue
            with translation.override(user.language or settings.LANGUAGE_CODE):
                send_mail(
                    subject=f"[CRM] {notification.title}",
                    message="\n\n".join(filter(None, [notification.body, _absolute(notification.url)])),
                    from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[user.email],
                )
            notification.emailed_at = timezone.now()
            notification.save(update_fields=["emailed_at"])
            sent += 1
    return sent


def _absolute(url: str) -> str:
    return f"{settings.CRM_BASE_URL.rstrip('/')}{url}" if url else ""
