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
    from . import mail_sync
    from .models import Mailbox

    mailbox = Mailbox.objects.select_related("owner").filter(pk=mailbox_id).first()
    if mailbox is None:
        return 0  # deleted meanwhile
    return mail_sync.mailbox_sync(mailbox)


@shared_task(bind=True, acks_late=True, max_retries=None)
def send_email(self, mail_id: int) -> bool:
    """Hand an email written in the CRM to the mail server, once (sending.email_deliver: a row lock and
    ``smtp_sent_at`` under it). A server that cannot be reached or says "later" is tried again after 1, 2, 4, 8 and
    16 minutes; then the mail is marked as not sent, with the reason."""
    from . import sending

    try:
        return sending.email_deliver(mail_id)
    except sending.TemporaryFailure as failure:
        if self.request.retries >= sending.SEND_RETRIES:
            sending.email_give_up(mail_id, failure.reason)
            return False
        raise self.retry(countdown=sending.retry_delay(self.request.retries), exc=failure) from failure


@shared_task(acks_late=True)
def resend_stuck_email() -> int:
    """Every ten minutes: queue again the mail whose sending task was lost."""
    from . import sending

    stuck = sending.emails_stuck()
    for mail_id in stuck:
        send_email.delay(mail_id)
    return len(stuck)
