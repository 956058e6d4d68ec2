from celery import shared_task

from . import reminders


@shared_task(acks_late=True)
def scan_reminders() -> dict:
    """Every minute (CELERY_BEAT_SCHEDULE): due reminders, then follow-ups overdue long enough to escalate."""
    return {"reminded": reminders.reminders_send_due(), "escalated": reminders.followups_escalate_overdue()}


@shared_task(acks_late=True)
def sync_mailboxes() -> int:
    """Every 5 minutes (CELERY_BEAT_SCHEDULE): queue a read of each enabled mailbox."""
    from . import mail

    return mail.mailboxes_sync_all()


@shared_task(acks_late=True)
def sync_mailbox(mailbox_id: int) -> int:
    """Read one mailbox's new mail and file it. Safe twice: filing is once per Message-ID and customer, and
    an advisory lock keeps two workers off the same mailbox."""
    from . import mail
    from .models import Mailbox

    mailbox = Mailbox.objects.select_related("owner").filter(pk=mailbox_id).first()
    if mailbox is None:
        return 0  # deleted meanwhile
    return mail.mailbox_sync(mailbox)
