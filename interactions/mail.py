"""Mail archiving: read IMAP mailboxes and file each message on the timeline of the customers it concerns.

A message is stored once per Message-ID (MailMessage) whichever mailbox it is read from and however often,
and filed once per customer (the unique (mail, customer) constraint of Interaction). Customers are found by
address: the customer's own email and its contacts' emails in From, To and Cc, in one query per message. A
message no address matches is filed on the customers its thread is already on; otherwise it waits in the
mailbox owner's unfiled list for filing by hand.

Parsing (``mail_parse``) copes with what Chinese mail really looks like: subjects in RFC 2047 words or raw
8-bit bytes in GBK, GB2312 labels on GBK text, HTML-only bodies.
"""

import base64
import hashlib
import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import BigIntegerField, QuerySet, Value
from django.db.models.functions import Upper
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.accounts.roles import is_admin
from customers import permissions as customer_policy
from customers.models import Contact, Customer

from .models import Channel, Direction, Interaction, Mailbox, MailMessage
from .services import customer_touch

log = logging.getLogger(__name__)

IMAP_TIMEOUT = 30  # seconds for connecting and for each answer
FETCH_BATCH = 25  # messages fetched (and committed, with last_uid) at a time
LOCK_NAMESPACE = 7302  # first key of pg_advisory_lock(int, int): "mailbox syncs" (7301 is imports)
MAX_BODY_CHARS = 100_000

# ------------------------------------------------------------------------------------------ parsing

# Chinese mail is often labelled with a narrower charset than its text uses (GBK sent as "gb2312"), and
# GB2312 and GB18030 map some punctuation differently: decode the whole family as GB18030, its superset.
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
                    "euc-cn": "gb18030", "x-euc-cn": "gb18030", "ks_c_5601-1987": "cp949"}
_MESSAGE_ID = re.compile(r"<([^<>\s\x00]+)>")


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text of ``data`` in its declared charset, else UTF-8, else GB18030, never an exception."""
    candidates = []
    if charset:
        name = charset.strip().strip('"').lower()
        candidates.append(_CHARSET_ALIASES.get(name, name))
    candidates += ["utf-8", "gb18030"]
    for name in candidates:
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def decode_header_text(raw: str) -> str:
    """A raw header value (RFC 2047 words, or 8-bit bytes kept as surrogates by the parser) as text."""
    raw = re.sub(r"\r?\n[ \t]+", " ", raw or "")
    parts = []
    for chunk, charset in decode_header(raw):
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogateescape")
        parts.append(decode_bytes(chunk, charset))
    return "".join(parts).strip()


class _HtmlText(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "table", "ul", "ol", "blockquote", "pre", "hr",
              "h1", "h2", "h3", "h4", "h5", "h6"}
    HIDDEN = {"script", "style", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _part_text(part) -> str:
    payload = part.get_payload(decode=True) or b""
    return decode_bytes(payload, part.get_content_charset())


def _body_of(message) -> str:
    """The text/plain part if there is one, else the HTML part reduced to text; attachments are skipped."""
    plain = html = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = _part_text(part)
        elif kind == "text/html" and html is None:
            html = _part_text(part)
    if plain and plain.strip():
        text = plain
    else:
        text = html_to_text(html) if html else ""
    return text.replace("\r\n", "\n").strip()[:MAX_BODY_CHARS]


def _ids(text: str) -> list[str]:
    return [f"<{value}>" for value in _MESSAGE_ID.findall(text or "")]


@dataclass
class ParsedMail:
    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    sender: str  # as shown: "张三 <zhang@example.com>"
    sender_address: str  # lower case
    recipients: str  # To and Cc, as shown
    recipient_addresses: list[str]  # lower case, To before Cc
    sent_at: datetime | None
    body: str

    @property
    def addresses(self) -> list[str]:
        return list(dict.fromkeys([a for a in [self.sender_address, *self.recipient_addresses] if a]))


def _addresses(raw_values: list[str]) -> list[tuple[str, str]]:
    """(name, lower-case address) pairs; split before decoding, so a decoded name with a comma stays whole."""
    pairs = []
    for name, address in getaddresses(raw_values):
        address = decode_header_text(address).strip().lower()
        if "@" in address and "\x00" not in address:
            pairs.append((decode_header_text(name), address))
    return pairs


def _shown(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{name} <{address}>" if name else address for name, address in pairs)


def _raw_headers(message, name: str) -> list[str]:
    return [value for key, value in message.raw_items() if key.lower() == name]


def mail_parse(raw: bytes) -> ParsedMail:
    message = message_from_bytes(raw, policy=policy.default)
    header = {name: " ".join(_raw_headers(message, name)) for name in
              ("message-id", "in-reply-to", "references", "subject", "date")}
    senders = _addresses(_raw_headers(message, "from"))
    recipients = _addresses(_raw_headers(message, "to") + _raw_headers(message, "cc"))
    subject = decode_header_text(header["subject"])
    body = _body_of(message)
    try:
        sent_at = parsedate_to_datetime(header["date"].strip()) if header["date"].strip() else None
    except (TypeError, ValueError, IndexError):
        sent_at = None
    if sent_at is not None and timezone.is_naive(sent_at):
        sent_at = sent_at.replace(tzinfo=UTC)
    message_id = (_ids(header["message-id"]) or [""])[0]
    if not message_id and header["message-id"].strip():
        message_id = f"<{header['message-id'].strip()}>"
    if not message_id or len(message_id) > 500:
        # Stable for the same mail in two mailboxes: headers that travel with it, not the Received lines.
        seed = "\n".join([header["date"], _shown(senders), _shown(recipients), subject, body, message_id])
        message_id = f"<{hashlib.sha256(seed.encode('utf-8', 'surrogatepass')).hexdigest()}@crm.synthetic>"
    references = [r for r in _ids(header["references"]) if len(r) <= 500]
    return ParsedMail(
        message_id=message_id, in_reply_to=next(iter(_ids(header["in-reply-to"])), "")[:500],
        references=references, subject=_text(subject)[:500], sender=_text(_shown(senders))[:500],
        sender_address=senders[0][1] if senders else "", recipients=_text(_shown(recipients)),
        recipient_addresses=list(dict.fromkeys(address for _name, address in recipients)),
        sent_at=sent_at, body=_text(body),
    )


def _text(value: str) -> str:
    return value.replace("\x00", "")  # PostgreSQL text cannot hold NUL, which broken mail does contain


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


def _thread_customers(message: MailMessage) -> dict[int, None]:
    rows = (Interaction.objects.filter(mail__thread_key=message.thread_key, customer__deleted_at__isnull=True)
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
        contacts = _thread_customers(message)
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


# ------------------------------------------------------------------------ who sees which mailboxes
# Mailboxes and the mail read from them belong to their owner; administrators see all. Anything else is 404.


def mailboxes_for(user) -> QuerySet[Mailbox]:
    if not user.is_authenticated or not user.has_perm("interactions.view_mailmessage"):
        return Mailbox.objects.none()
    return Mailbox.objects.all() if is_admin(user) else Mailbox.objects.filter(owner=user)


def get_mailbox_or_404(user, pk) -> Mailbox:
    mailbox = mailboxes_for(user).select_related("owner").filter(pk=pk).first()
    if mailbox is None:
        raise Http404
    return mailbox


def unfiled_for(user) -> QuerySet[MailMessage]:
    return MailMessage.objects.filter(filed=False, mailbox__in=mailboxes_for(user).values("pk"))


def get_mail_or_404(user, pk) -> MailMessage:
    message = MailMessage.objects.filter(pk=pk, mailbox__in=mailboxes_for(user).values("pk")).first()
    if message is None:
        raise Http404
    return message


# ---------------------------------------------------------------------------------- mailbox writes

_WHERE_FIELDS = ("host", "port", "use_ssl", "username", "folder")


def mailbox_save(*, actor, mailbox: Mailbox) -> Mailbox:
    """Create or change ``actor``'s mailbox. Pointing it elsewhere starts reading it from the beginning."""
    if not actor.has_perm("interactions.view_mailmessage"):
        raise ValidationError(_("You may not use mailboxes."))
    if mailbox.pk is None:
        mailbox.owner = actor
    else:
        get_mailbox_or_404(actor, mailbox.pk)
    mailbox.full_clean()
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


# ------------------------------------------------------------------------------------- IMAP reading


class MailboxError(Exception):
    """Why a mailbox could not be read, in words for its owner."""


def _imap_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3): "已发送" is "&XfJT0ZAB-"."""
    out, pending = [], []

    def flush():
        if pending:
            encoded = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(encoded).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _quoted(folder: str) -> str:
    return '"' + _imap_utf7(folder).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _connect(mailbox: Mailbox) -> imaplib.IMAP4:
    server = f"{mailbox.host}:{mailbox.port}"
    try:
        if mailbox.use_ssl:
            conn = imaplib.IMAP4_SSL(mailbox.host, mailbox.port, ssl_context=ssl.create_default_context(),
                                     timeout=IMAP_TIMEOUT)
        else:
            conn = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=IMAP_TIMEOUT)
    except socket.gaierror as error:
        raise MailboxError(_("The mail server %(server)s is unknown: check its name.") % {"server": server}) from error
    except ssl.SSLError as error:
        raise MailboxError(_("A secure connection to %(server)s failed (%(reason)s): check the port and the SSL/TLS "
                             "setting.") % {"server": server, "reason": error.reason or error}) from error
    except (OSError, imaplib.IMAP4.error) as error:
        reason = getattr(error, "strerror", None) or str(error) or error.__class__.__name__
        raise MailboxError(_("Cannot reach the mail server %(server)s: %(reason)s.")
                           % {"server": server, "reason": reason}) from error
    try:
        try:
            conn.login(mailbox.username, mailbox.password)
        except UnicodeEncodeError:  # LOGIN is ASCII only; AUTHENTICATE PLAIN carries UTF-8
            conn.authenticate("PLAIN", lambda _challenge: f"\0{mailbox.username}\0{mailbox.password}".encode())
    except imaplib.IMAP4.error as error:
        _close(conn)
        raise MailboxError(_("The mail server refused the user name or password (%(reason)s).")
                           % {"reason": _server_text(error)}) from error
    return conn


def _server_text(error) -> str:
    text = error.args[0] if error.args else error
    return (text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)).strip()


def _close(conn) -> None:
    try:
        conn.logout()
    except (OSError, imaplib.IMAP4.error):
        pass


def _select(conn, mailbox: Mailbox) -> int:
    """Open the folder read-only; its UIDVALIDITY."""
    status, data = conn.select(_quoted(mailbox.folder), readonly=True)
    if status != "OK":
        reason = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise MailboxError(_("The folder %(folder)s does not exist on the server (%(reason)s).")
                           % {"folder": mailbox.folder, "reason": reason})
    _name, values = conn.response("UIDVALIDITY")
    if not values or values[0] is None:
        status, data = conn.status(_quoted(mailbox.folder), "(UIDVALIDITY)")
        values = re.findall(rb"UIDVALIDITY (\d+)", data[0] or b"") if status == "OK" else []
    return int(values[-1]) if values else 0


def _new_uids(conn, after: int) -> list[int]:
    status, data = conn.uid("SEARCH", None, f"UID {after + 1}:*")
    if status != "OK":
        raise MailboxError(_("The server did not list the folder's messages."))
    # "N:*" names the last message even when its UID is below N, so keep only the new ones.
    return sorted(uid for uid in (int(value) for value in (data[0] or b"").split()) if uid > after)


def _fetch(conn, uids: list[int]) -> list[tuple[int, bytes]]:
    status, data = conn.uid("FETCH", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
    if status != "OK":
        raise MailboxError(_("The server did not hand over the messages."))
    found, pending = [], None
    for item in data:
        if isinstance(item, tuple):
            match = re.search(rb"UID (\d+)", item[0])
            pending = item[1]
            if match:
                found.append((int(match.group(1)), pending))
                pending = None
        elif pending is not None and isinstance(item, bytes):  # UID after the literal: b" UID 7)"
            match = re.search(rb"UID (\d+)", item)
            if match:
                found.append((int(match.group(1)), pending))
            pending = None
    return sorted(found)


def _lock(mailbox_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, mailbox_id])
        return cursor.fetchone()[0]


def _unlock(mailbox_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, mailbox_id])


def mailbox_sync(mailbox: Mailbox) -> int:
    """Read the new mail of ``mailbox`` and file it; the number of messages read. Problems with the server
    (unreachable, wrong password, no such folder) are written to ``last_error`` in the owner's language."""
    if not _lock(mailbox.pk):
        return 0  # another worker is reading it right now
    try:
        with translation.override(mailbox.owner.language or settings.LANGUAGE_CODE):
            try:
                read, failed = _read_new(mailbox)
            except MailboxError as error:
                read, failed, problem = 0, 0, str(error)
            except (OSError, imaplib.IMAP4.error) as error:
                read, failed, problem = 0, 0, _("Reading the mailbox failed: %(reason)s") % {
                    "reason": _server_text(error) or error.__class__.__name__}
            else:
                problem = ""
            if failed:
                problem = ngettext("%(count)s message could not be read; see the worker's log.",
                                   "%(count)s messages could not be read; see the worker's log.", failed) % {
                                       "count": failed}
        Mailbox.objects.filter(pk=mailbox.pk).update(last_checked_at=timezone.now(), last_error=problem)
        mailbox.last_error = problem
        return read
    finally:
        _unlock(mailbox.pk)


def _read_new(mailbox: Mailbox) -> tuple[int, int]:
    conn = _connect(mailbox)
    try:
        validity = _select(conn, mailbox)
        if validity != mailbox.uid_validity:
            # The server renumbered the folder: read it all again (filing twice changes nothing).
            mailbox.uid_validity, mailbox.last_uid = validity, 0
            Mailbox.objects.filter(pk=mailbox.pk).update(uid_validity=validity, last_uid=0)
        uids = _new_uids(conn, mailbox.last_uid)
        read = failed = 0
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start:start + FETCH_BATCH]
            messages = _fetch(conn, batch)
            with transaction.atomic():
                for uid, raw in messages:
                    try:
                        mail_file(raw, mailbox)
                    except Exception:  # one bad message must not stop the mailbox for good
                        log.exception("mailbox %s: message UID %s could not be filed", mailbox.pk, uid)
                        failed += 1
                mailbox.last_uid = batch[-1]
                Mailbox.objects.filter(pk=mailbox.pk).update(last_uid=mailbox.last_uid)
            read += len(messages)
        return read, failed
    finally:
        _close(conn)
