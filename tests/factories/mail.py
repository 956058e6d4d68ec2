"""Mailboxes and stored mail (interactions.models), and raw RFC 5322 messages to put into a real IMAP server."""

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from interactions.models import Mailbox, MailMessage

from .accounts import UserFactory


class MailboxFactory(DjangoModelFactory):
    """A mailbox row; point it at the test IMAP server with ``host``, ``port``, ``username``, ``password``,
    ``folder`` (the ``imap`` fixture's ``mailbox_fields()`` gives them)."""

    class Meta:
        model = Mailbox

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"邮箱{n}")
    host = "imap.crm.example"
    port = 993
    use_ssl = True
    username = "crm"
    password = "secret"
    folder = "INBOX"
    address = factory.LazyAttribute(lambda o: o.owner.email)


class MailMessageFactory(DjangoModelFactory):
    class Meta:
        model = MailMessage

    message_id = factory.Sequence(lambda n: f"<message-{n}@example.com>")
    thread_key = factory.LazyAttribute(lambda o: o.message_id)
    subject = factory.Sequence(lambda n: f"询价 {n}")
    sender = "stranger@elsewhere.example"
    recipients = factory.LazyAttribute(lambda o: o.mailbox.address if o.mailbox else "")
    addresses = factory.LazyAttribute(lambda o: [o.sender] + ([o.mailbox.address] if o.mailbox else []))
    sent_at = factory.LazyFunction(timezone.now)
    body = "您好，请报价。"
    filed = False
    mailbox = None


def raw_mail(*, sender: str, to: str | list[str], cc: str | list[str] = (), subject: str = "报价", body: str = "您好",
             message_id: str | None = None, in_reply_to: str = "", references: str = "", date=None,
             charset: str = "utf-8", html: str | None = None) -> bytes:
    """A message as a mail program writes it. ``message_id=""`` leaves the header out."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to if isinstance(to, str) else ", ".join(to)
    if cc:
        message["Cc"] = cc if isinstance(cc, str) else ", ".join(cc)
    message["Subject"] = subject
    message["Date"] = format_datetime(date or timezone.now())
    if message_id != "":
        message["Message-ID"] = message_id or make_msgid(domain="mail.example.com")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    if html is None:
        message.set_content(body, charset=charset)
    else:
        message.set_content(body, charset=charset)
        message.add_alternative(html, subtype="html", charset=charset)
    return message.as_bytes()
