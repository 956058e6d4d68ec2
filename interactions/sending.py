"""Sending an email to a customer from the CRM, through Django's configured email backend (EMAIL_* settings).

The message is sent inside the transaction that records it (MailMessage + Interaction on the timeline), as
the last step: a server that refuses it rolls the records back and the user sees why, with his text still in
the form; a message the server took is on the timeline with its Message-ID, so reading a copy of it later
(the Sent folder, a Bcc to oneself) finds it stored and files it nowhere twice.
"""

import smtplib
from email.headerregistry import Address
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import permissions as customer_policy
from customers.models import Contact, Customer

from .models import Attachment, Channel, Direction, Interaction, MailMessage
from .services import customer_touch


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


def email_send(*, actor, customer: Customer, contact: Contact | None, subject: str, body: str,
               attachments=()) -> Interaction:
    """Send ``subject`` and ``body`` to ``contact`` (or, without one, to the customer's own address) and put
    it on the customer's timeline. ``attachments`` are uploaded files; they are kept on the interaction."""
    if not actor.has_perm("interactions.add_interaction"):
        raise ValidationError(_("You may not log interactions."))
    customer = customer_policy.get_customer_or_404(actor, customer.pk, customer_policy.VIEW)
    if contact is not None and contact.customer_id != customer.pk:
        raise ValidationError({"contact": _("This contact belongs to another customer.")})
    to_address = (contact.email if contact is not None else customer.email).strip()
    if not to_address:
        raise ValidationError(_("There is no email address to send to."))
    from_email, reply_to = _sender(actor)
    to_name = contact.name if contact is not None else customer.name
    to = _address(to_name, to_address)
    message_id = make_msgid(domain=parseaddr(from_email)[1].rpartition("@")[2] or "crm.localhost")
    now = timezone.now()
    email = EmailMessage(subject=subject, body=body, from_email=from_email, to=[to], reply_to=reply_to,
                         headers={"Message-ID": message_id})
    for upload in attachments:
        upload.seek(0)
        email.attach(upload.name, upload.read(), getattr(upload, "content_type", None))
    with transaction.atomic():
        mail = MailMessage.objects.create(
            message_id=message_id, thread_key=message_id, subject=subject[:500], sender=_shown(from_email)[:500],
            recipients=_shown(to), addresses=list(dict.fromkeys([parseaddr(from_email)[1].lower(),
                                                                  to_address.lower()])),
            sent_at=now, body=body, filed=True,
        )
        interaction = Interaction(customer=customer, contact=contact, channel=Channel.EMAIL,
                                  direction=Direction.OUTBOUND, occurred_at=now, subject=subject[:300], body=body,
                                  author=actor, mail=mail)
        interaction.full_clean()
        interaction.save()
        stored = []
        for upload in attachments:
            upload.seek(0)
            stored.append(Attachment.objects.create(interaction=interaction, file=upload, name=upload.name[:255],
                                                    size=upload.size))
        customer_touch(customer_id=customer.pk, when=now)
        try:
            email.send()
        except (smtplib.SMTPException, OSError) as error:
            for attachment in stored:  # the rows roll back; their files would stay behind
                attachment.file.delete(save=False)
            raise ValidationError(_("The mail server did not take the message: %(reason)s")
                                  % {"reason": _reason(error)}) from error
    return interaction


def _reason(error) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        message = error.smtp_error
        return f"{error.smtp_code} {message.decode('utf-8', 'replace') if isinstance(message, bytes) else message}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{address}: {code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
                         for address, (code, text) in error.recipients.items())
    return getattr(error, "strerror", None) or str(error) or error.__class__.__name__
