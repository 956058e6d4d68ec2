"""Email to a customer, written in the CRM and sent by a worker through Django's email backend (EMAIL_* settings).

The request only records it (``email_send``): the MailMessage with the Message-ID it will carry and what it goes to
(its envelope), the Interaction on the customer's timeline, which shows it as queued, and the attachments. After
commit a task hands it to the mail server (``email_deliver``): under a row lock, once, with ``smtp_sent_at`` set in
the same transaction. A server that cannot be reached or answers "later" is tried again with growing pauses; one
that refuses the message for good, or the last retry, leaves ``send_error``, which the timeline shows in words.
Reading a copy later (the Sent folder, a Bcc to oneself) finds it stored by its Message-ID and files it nowhere
twice. (A worker killed after the server took the message but before its commit leaves it unsent in the database;
the redelivered task sends it again. No SMTP client can close that gap; it is seconds wide.)
"""

import logging
import smtplib
from datetime import timedelta
from email.headerregistry import Address
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMessage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import permissions as customer_policy
from customers.models import Contact, Customer

from .models import Attachment, Channel, Direction, Interaction, MailMessage, SendError
from .services import customer_touch

log = logging.getLogger(__name__)

SEND_RETRIES = 5  # after the first try: 1, 2, 4, 8 and 16 minutes later
SEND_RETRY_SECONDS = 60


def retry_delay(retries_so_far: int) -> float:
    return SEND_RETRY_SECONDS * 2 ** retries_so_far


class TemporaryFailure(Exception):
    """The mail server may take the message later; ``reason`` (a SendError) is kept if it never does."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _address(name: str, address: str) -> str:
    """"张伟 <zhang@example.com>", quoted where the name needs it and left unencoded: Django encodes it."""
    try:
        return str(Address(display_name=name, addr_spec=address))
    except (ValueError, IndexError):  # an address the header parser cannot split: send it bare
        return address


def _sender(actor) -> tuple[str, list[str]]:
    """(From, Reply-To). The actor's own address, unless the installation sends everything from
    DEFAULT_FROM_EMAIL (CRM_EMAIL_FROM_USER = False: servers that refuse other senders), with Reply-To the
    actor so that answers reach him."""
    name = str(actor)
    if actor.email and getattr(settings, "CRM_EMAIL_FROM_USER", True):
        return _address(name, actor.email), []
    default_name, default_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    from_email = _address(f"{name} ({default_name})" if default_name else name, default_address)
    return from_email, [_address(name, actor.email)] if actor.email else []


def _shown(header: str) -> str:
    name, address = parseaddr(header)
    return f"{name} <{address.lower()}>" if name else address.lower()


def _one_line(text: str) -> bool:
    return "\n" not in text and "\r" not in text


@transaction.atomic
def email_send(*, actor, customer: Customer, contact: Contact | None, subject: str, body: str,
               attachments=()) -> Interaction:
    """Queue ``subject`` and ``body`` for ``contact`` (or, without one, the customer's own address) and put it on
    the customer's timeline; a worker sends it after commit. ``attachments`` are uploaded files, kept on the
    interaction and sent from there."""
    from .tasks import send_email

    if not actor.has_perm("interactions.add_interaction"):
        raise ValidationError(_("You may not log interactions."))
    customer = customer_policy.get_customer_or_404(actor, customer.pk, customer_policy.VIEW)
    if contact is not None and contact.customer_id != customer.pk:
        raise ValidationError({"contact": _("This contact belongs to another customer.")})
    if not _one_line(subject):
        raise ValidationError({"subject": _("The subject must be one line.")})
    to_address = (contact.email if contact is not None else customer.email).strip()
    if not to_address:
        raise ValidationError(_("There is no email address to send to."))
    from_email, reply_to = _sender(actor)
    to = _address(contact.name if contact is not None else customer.name, to_address)
    message_id = make_msgid(domain=parseaddr(from_email)[1].rpartition("@")[2] or "crm.localhost")
    now = timezone.now()
    mail = MailMessage.objects.create(
        message_id=message_id, thread_key=message_id, subject=subject[:500], sender=_shown(from_email)[:500],
        recipients=_shown(to), addresses=list(dict.fromkeys([parseaddr(from_email)[1].lower(), to_address.lower()])),
        sent_at=now, body=body, filed=True, envelope={"from": from_email, "to": [to], "reply_to": reply_to},
    )
    interaction = Interaction(customer=customer, contact=contact, channel=Channel.EMAIL, direction=Direction.OUTBOUND,
                              occurred_at=now, subject=subject[:300], body=body, author=actor, mail=mail)
    interaction.full_clean()
    interaction.save()
    for upload in attachments:
        upload.seek(0)
        Attachment.objects.create(interaction=interaction, file=upload, name=upload.name[:255], size=upload.size)
    transaction.on_commit(lambda: send_email.delay(mail.pk))
    return interaction


def _email_of(mail: MailMessage) -> EmailMessage:
    envelope = mail.envelope
    email = EmailMessage(subject=mail.subject, body=mail.body, from_email=envelope["from"], to=envelope["to"],
                         reply_to=envelope.get("reply_to") or [], headers={"Message-ID": mail.message_id})
    for attachment in Attachment.objects.filter(interaction__mail=mail).order_by("pk"):
        with attachment.file.open("rb") as stored:
            email.attach(attachment.name, stored.read())
    email.message()  # builds the headers now: a line break in one raises BadHeaderError here, not in send()
    return email


def _failure(error: Exception) -> tuple[str, bool]:
    """(SendError, permanent) for what the mail server or the network did."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return SendError.LOGIN_REFUSED, False  # the CRM's configuration: an administrator may fix it meanwhile
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in error.recipients.values()]
        return SendError.RECIPIENT_REFUSED, bool(codes) and all(code >= 500 for code in codes)
    if isinstance(error, smtplib.SMTPResponseException):
        return SendError.REFUSED, error.smtp_code >= 500
    if isinstance(error, TimeoutError):
        return SendError.TIMED_OUT, False
    if isinstance(error, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError)):
        return SendError.UNREACHABLE, False
    return SendError.REFUSED, False


def email_deliver(mail_id: int) -> bool:
    """Hand a queued email to the mail server; True if it went now. Mail already sent, given up or deleted is left
    alone, so a task that runs twice sends once: the row lock makes the second wait for the first's commit.
    Raises TemporaryFailure when trying later may help."""
    with transaction.atomic():
        mail = MailMessage.objects.select_for_update().filter(pk=mail_id, envelope__isnull=False).first()
        if mail is None or mail.smtp_sent_at is not None or mail.send_error:
            return False
        try:
            email = _email_of(mail)
        except (BadHeaderError, ValueError, OSError):  # OSError: an attachment's file is gone
            log.exception("mail %s could not be put together", mail.pk)
            mail.send_error = SendError.INVALID
            mail.save(update_fields=["send_error"])
            return False
        try:
            email.send()
        except (smtplib.SMTPException, OSError) as error:
            reason, permanent = _failure(error)
            log.warning("mail %s not sent (%s, %s): %r", mail.pk, reason, "final" if permanent else "retry", error)
            if not permanent:
                raise TemporaryFailure(reason) from error
            mail.send_error = reason
            mail.save(update_fields=["send_error"])
            return False
        mail.smtp_sent_at = timezone.now()
        mail.save(update_fields=["smtp_sent_at"])
        for customer_id, occurred_at in Interaction.objects.filter(mail=mail).values_list("customer_id",
                                                                                          "occurred_at"):
            customer_touch(customer_id=customer_id, when=occurred_at)
    return True


def email_give_up(mail_id: int, reason: str) -> None:
    """The last retry failed too: the timeline says the mail could not be sent, and why."""
    with transaction.atomic():
        MailMessage.objects.filter(pk=mail_id, envelope__isnull=False, smtp_sent_at__isnull=True,
                                   send_error="").update(send_error=reason)


def emails_stuck(*, now=None) -> list[int]:
    """Mail written in the CRM and still queued after ten minutes: its task was lost (Redis down at the commit,
    a worker gone). Sending again is safe (email_deliver sends once)."""
    now = now or timezone.now()
    return list(
        MailMessage.objects.filter(envelope__isnull=False, smtp_sent_at__isnull=True, send_error="",
                                   created_at__lt=now - timedelta(minutes=10), created_at__gte=now - timedelta(days=1))
        .order_by("pk").values_list("pk", flat=True)[:1000]
    )
