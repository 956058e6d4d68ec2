"""Mail archiving, the services: file each message on the timeline of the customers it concerns, and keep
users' mailboxes. Reading them is mail_sync (IMAP, in a worker), parsing mail_parse, their scope permissions.

A message is stored once per Message-ID (MailMessage) whichever mailbox it is read from and however often,
and filed once per customer (the unique (mail, customer) constraint of Interaction). Customers are found by
address: the customer's own email and its contacts' emails in From, To and Cc, in one query per message. A
message no address matches is filed on the customers its thread is already on, among those the mailbox's owner
may see (a forged References header must not carry mail onto other people's customers); otherwise it waits in the
mailbox owner's unfiled list for filing by hand.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import BigIntegerField, Value
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import permissions as customer_policy
from customers.models import Contact, Customer

from . import mail_servers
from .mail_parse import ParsedMail, mail_parse
from .models import Channel, Direction, Interaction, Mailbox, MailMessage
from .permissions import get_mail_or_404, get_mailbox_or_404
from .services import customer_touch

# -------------------------------------------------------------------------------------------- filing


def own_addresses(mailbox: Mailbox | None) -> set[str]:
    """Addresses that are the mailbox's own: they tell the direction and never match a customer."""
    if mailbox is None:
        return set()
    found = {mailbox.address, mailbox.owner.email}
    if "@" in mailbox.username:
        found.add(mailbox.username)
    return {a.strip().lower() for a in found if a and a.strip()}


def _matches(addresses: list[str]) -> list[tuple[int, int | None, str]]:
    """(customer id, contact id or None, address) of live customers and contacts with one of these addresses:
    one query (a UNION), over UPPER(email) as the customer email index reads it."""
    wanted = sorted({a.upper() for a in addresses})
    if not wanted:
        return []
    by_customer = (
        Customer.objects.alive().annotate(upper_email=Upper("email")).filter(upper_email__in=wanted)
        .values_list("pk", Value(None, output_field=BigIntegerField()), "upper_email").order_by()
    )
    by_contact = (
        Contact.objects.filter(customer__deleted_at__isnull=True).annotate(upper_email=Upper("email"))
        .filter(upper_email__in=wanted).values_list("customer_id", "pk", "upper_email").order_by()
    )
    return list(by_customer.union(by_contact, all=True))


def _contacts_by_customer(matches, preferred: list[str]) -> dict[int, int | None]:
    """One contact per customer: the one whose address comes first in ``preferred`` (the other party)."""
    rank = {address.upper(): i for i, address in enumerate(preferred)}
    chosen: dict[int, tuple] = {}
    for customer_id, contact_id, address in matches:
        key = (contact_id is None, rank.get(address, len(rank)), contact_id or 0)
        if customer_id not in chosen or key < chosen[customer_id][0]:
            chosen[customer_id] = (key, contact_id)
    return {customer_id: contact_id for customer_id, (_key, contact_id) in chosen.items()}


def _thread_key(parsed: ParsedMail) -> str:
    if parsed.references:
        return parsed.references[0]
    if parsed.in_reply_to:
        parent = MailMessage.objects.filter(message_id=parsed.in_reply_to).values_list("thread_key", flat=True)
        # An unknown parent is, as a rule, the first message of its thread: when it comes, its replies match.
        return parent.first() or parsed.in_reply_to
    return parsed.message_id


def _store(parsed: ParsedMail, mailbox: Mailbox | None) -> MailMessage:
    message, created = MailMessage.objects.get_or_create(
        message_id=parsed.message_id,
        defaults={
            "thread_key": _thread_key(parsed), "in_reply_to": parsed.in_reply_to, "mailbox": mailbox,
            "subject": parsed.subject, "sender": parsed.sender, "recipients": parsed.recipients,
            "addresses": parsed.addresses, "sent_at": parsed.sent_at or timezone.now(), "body": parsed.body,
        },
    )
    if created and message.thread_key != message.message_id:
        # Replies read before this message took its id as their thread; it belongs to an older one.
        MailMessage.objects.filter(thread_key=message.message_id).update(thread_key=message.thread_key)
    return message


def _thread_customers(message: MailMessage, owner) -> dict[int, None]:
    """The customers the thread of ``message`` is already on, among those ``owner`` (the mailbox's) may see: the
    References a sender writes are no proof, and must not carry his text onto anybody else's customers."""
    if owner is None:
        return {}
    rows = (Interaction.objects
            .filter(mail__thread_key=message.thread_key,
                    customer__in=customer_policy.customers_for(owner, customer_policy.VIEW).values("pk"))
            .exclude(mail=message).values_list("customer_id", flat=True).distinct())
    return dict.fromkeys(rows)


def _file_on(message: MailMessage, contacts: dict[int, int | None], *, author_id, direction) -> None:
    """Interactions for ``message`` on these customers; those it is already on are left alone."""
    if not contacts:
        return
    Interaction.objects.bulk_create(
        [Interaction(customer_id=customer_id, contact_id=contact_id, channel=Channel.EMAIL, direction=direction,
                     occurred_at=message.sent_at, subject=message.subject[:300], body=message.body,
                     author_id=author_id, mail=message)
         for customer_id, contact_id in contacts.items()],
        ignore_conflicts=True,
    )
    if not message.filed:
        MailMessage.objects.filter(pk=message.pk).update(filed=True)
        message.filed = True
    if message.sent_at <= timezone.now():
        for customer_id in contacts:
            customer_touch(customer_id=customer_id, when=message.sent_at)


@transaction.atomic
def mail_file(raw: bytes, mailbox: Mailbox | None) -> MailMessage:
    """Store a raw RFC 5322 message once and file it on the customers whose addresses are in it."""
    parsed = mail_parse(raw)
    message = _store(parsed, mailbox)
    own = own_addresses(mailbox)
    outbound = parsed.sender_address in own
    others = [a for a in parsed.addresses if a not in own]
    # The other party comes first: the recipients of what we sent, the sender of what we received.
    preferred = parsed.recipient_addresses if outbound else [parsed.sender_address, *parsed.recipient_addresses]
    contacts = _contacts_by_customer(_matches(others), [a for a in preferred if a not in own])
    if not contacts:
        contacts = _thread_customers(message, mailbox.owner if mailbox else None)
    _file_on(message, contacts, author_id=mailbox.owner_id if mailbox else None,
             direction=Direction.OUTBOUND if outbound else Direction.INBOUND)
    return message


@transaction.atomic
def mail_file_to_customer(*, actor, message: MailMessage, customer: Customer) -> Interaction:
    """File a message by hand on a customer ``actor`` may see (mail no address matched)."""
    if not actor.has_perm("interactions.add_interaction"):
        raise ValidationError(_("You may not log interactions."))
    customer = customer_policy.get_customer_or_404(actor, customer.pk, customer_policy.VIEW)
    message = get_mail_or_404(actor, message.pk)
    mailbox = message.mailbox
    own = own_addresses(mailbox)
    contact_id = _contacts_by_customer(
        [m for m in _matches([a for a in message.addresses if a not in own]) if m[0] == customer.pk], []
    ).get(customer.pk)
    shown_sender = re.search(r"<([^<>]+)>$", message.sender)
    outbound = (shown_sender.group(1) if shown_sender else message.sender).strip().lower() in own
    _file_on(message, {customer.pk: contact_id}, author_id=mailbox.owner_id if mailbox else actor.pk,
             direction=Direction.OUTBOUND if outbound else Direction.INBOUND)
    return Interaction.objects.get(mail=message, customer=customer)


# ---------------------------------------------------------------------------------- mailbox writes

_WHERE_FIELDS = ("host", "port", "use_ssl", "username", "folder")


def mailbox_save(*, actor, mailbox: Mailbox) -> Mailbox:
    """Create or change ``actor``'s mailbox. Its server must be one the worker may connect to (mail_servers);
    pointing it elsewhere starts reading it from the beginning."""
    if not actor.has_perm("interactions.view_mailmessage"):
        raise ValidationError(_("You may not use mailboxes."))
    if mailbox.pk is None:
        mailbox.owner = actor
    else:
        get_mailbox_or_404(actor, mailbox.pk)
    mailbox.full_clean()
    try:
        mail_servers.allowed_addresses(mailbox.host, mailbox.port)
    except mail_servers.ServerRefused as refused:
        raise ValidationError({refused.field: refused.message}) from None
    if mailbox.pk is None:
        mailbox.save()
        return mailbox
    # Only what the owner edits: a read running meanwhile keeps its progress (last_uid, last_checked_at).
    fields = ["name", "address", "enabled", "password", *_WHERE_FIELDS]
    before = Mailbox.objects.filter(pk=mailbox.pk).values(*_WHERE_FIELDS).first() or {}
    if any(before.get(name) != getattr(mailbox, name) for name in _WHERE_FIELDS):
        mailbox.uid_validity, mailbox.last_uid, mailbox.last_error = None, 0, ""
        fields += ["uid_validity", "last_uid", "last_error"]
    mailbox.save(update_fields=fields)
    return mailbox


@transaction.atomic
def mailbox_delete(*, actor, mailbox: Mailbox) -> None:
    """Mail already filed stays on the timelines; the unfiled mail of this mailbox goes with it."""
    mailbox = get_mailbox_or_404(actor, mailbox.pk)
    MailMessage.objects.filter(mailbox=mailbox, filed=False).delete()
    mailbox.delete()


def mailbox_sync_queue(*, actor, mailbox: Mailbox) -> None:
    from .tasks import sync_mailbox

    mailbox = get_mailbox_or_404(actor, mailbox.pk)
    transaction.on_commit(lambda: sync_mailbox.delay(mailbox.pk))


def mailboxes_sync_all() -> int:
    """The beat's job: one task per enabled mailbox of an active user, so that a slow server delays no other."""
    from .tasks import sync_mailbox

    ids = list(Mailbox.objects.filter(enabled=True, owner__is_active=True).values_list("pk", flat=True))
    for mailbox_id in ids:
        sync_mailbox.delay(mailbox_id)
    return len(ids)

