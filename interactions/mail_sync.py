"""Reading IMAP mailboxes (in a worker): connect, fetch what is new since ``last_uid``, file it (mail.mail_file).

The connection goes only to servers mail_servers allows, to the addresses checked right before connecting. Sizes are
asked for first (RFC822.SIZE): a message over CRM_MAIL_MAX_BYTES is skipped and counted as one that could not be
read, and a batch holds at most FETCH_BATCH messages and FETCH_BATCH_BYTES, so a read's memory stays bounded.

What went wrong goes to ``last_error`` in words, in the owner's language, and never with what the server answered:
the server is whatever the owner typed in, and its answer is not for the CRM to relay.
"""

import base64
import imaplib
import logging
import re
import socket
import ssl

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import mail, mail_servers
from .models import Mailbox

log = logging.getLogger(__name__)

IMAP_TIMEOUT = 30  # seconds for connecting and for each answer
FETCH_BATCH = 25  # messages fetched (and committed, with last_uid) at a time at most
FETCH_BATCH_BYTES = 50 * 1024 * 1024  # and their announced sizes add up to this at most (or one message alone)
SIZE_BATCH = 1000  # UIDs whose sizes are asked for at a time
LOCK_NAMESPACE = 7302  # first key of pg_advisory_lock(int, int): "mailbox syncs" (7301 is imports)


class MailboxError(Exception):
    """Why a mailbox could not be read, in words for its owner."""


# --------------------------------------------------------------------------------------------- names


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


def _uid_set(uids: list[int]) -> str:
    """Sorted UIDs as an IMAP sequence set: [1, 2, 3, 7, 9, 10] is "1:3,7,9:10"."""
    parts, start, previous = [], None, None
    for uid in uids:
        if previous is not None and uid == previous + 1:
            previous = uid
            continue
        if start is not None:
            parts.append(f"{start}:{previous}" if previous != start else str(start))
        start = previous = uid
    if start is not None:
        parts.append(f"{start}:{previous}" if previous != start else str(start))
    return ",".join(parts)


# ---------------------------------------------------------------------------------------- connecting


class _Checked:
    """An IMAP connection to addresses checked beforehand (imaplib would resolve the name again), which refuses a
    literal larger than ``max_literal`` (a server that announced a smaller size)."""

    def __init__(self, host, port, *, addresses: list[str], max_literal: int, timeout, **kwargs):
        self._addresses, self._max_literal = addresses, max_literal
        super().__init__(host, port, timeout=timeout, **kwargs)

    def _connect_socket(self, timeout) -> socket.socket:
        error = None
        for address in self._addresses:
            try:
                return socket.create_connection((address, self.port), timeout)
            except TimeoutError:
                raise
            except OSError as refused:  # the next address, as socket.create_connection does
                error = refused
        raise error or OSError("no address")

    def read(self, size):
        if size > self._max_literal:
            raise self.abort("literal larger than announced")
        return super().read(size)


class _IMAP4(_Checked, imaplib.IMAP4):
    def _create_socket(self, timeout):
        return self._connect_socket(timeout)


class _IMAP4SSL(_Checked, imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        return self.ssl_context.wrap_socket(self._connect_socket(timeout), server_hostname=self.host)


def _max_bytes() -> int:
    return settings.CRM_MAIL_MAX_BYTES


def _connect(mailbox: Mailbox) -> imaplib.IMAP4:
    server = {"server": f"{mailbox.host}:{mailbox.port}"}
    try:
        addresses = mail_servers.allowed_addresses(mailbox.host, mailbox.port)
    except mail_servers.ServerRefused as refused:
        raise MailboxError(refused.message) from None
    options = {"addresses": addresses, "max_literal": _max_bytes() + 1024 * 1024, "timeout": IMAP_TIMEOUT}
    try:
        if mailbox.use_ssl:
            conn = _IMAP4SSL(mailbox.host, mailbox.port, ssl_context=ssl.create_default_context(), **options)
        else:
            conn = _IMAP4(mailbox.host, mailbox.port, **options)
    except TimeoutError as error:
        raise MailboxError(_("The mail server %(server)s did not answer in time.") % server) from error
    except ssl.SSLError as error:
        raise MailboxError(_("A secure connection to %(server)s could not be made: check the port and the SSL/TLS "
                             "setting.") % server) from error
    except imaplib.IMAP4.error as error:  # it answered, but not as an IMAP server greets
        raise MailboxError(_("%(server)s is not an IMAP mail server: check the server, the port and the SSL/TLS "
                             "setting.") % server) from error
    except OSError as error:
        raise MailboxError(_("Could not connect to the mail server %(server)s.") % server) from error
    try:
        try:
            conn.login(mailbox.username, mailbox.password)
        except UnicodeEncodeError:  # LOGIN is ASCII only; AUTHENTICATE PLAIN carries UTF-8
            conn.authenticate("PLAIN", lambda _challenge: f"\0{mailbox.username}\0{mailbox.password}".encode())
    except (imaplib.IMAP4.abort, OSError):
        _close(conn)
        raise
    except imaplib.IMAP4.error as error:
        _close(conn)
        raise MailboxError(_("The mail server refused the user name or password.")) from error
    return conn


def _close(conn) -> None:
    try:
        conn.logout()
    except (OSError, imaplib.IMAP4.error):
        pass


# ------------------------------------------------------------------------------------------- reading


def _select(conn, mailbox: Mailbox) -> int:
    """Open the folder read-only; its UIDVALIDITY."""
    status, _data = conn.select(_quoted(mailbox.folder), readonly=True)
    if status != "OK":
        raise MailboxError(_("The folder %(folder)s does not exist on the server.") % {"folder": mailbox.folder})
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


def _sizes(conn, uids: list[int]) -> dict[int, int]:
    """UID → RFC822.SIZE of these messages; one deleted meanwhile is missing."""
    status, data = conn.uid("FETCH", _uid_set(uids), "(RFC822.SIZE)")
    if status != "OK":
        raise MailboxError(_("The server did not hand over the messages."))
    sizes = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if isinstance(line, bytes):
            uid, size = re.search(rb"\bUID (\d+)", line), re.search(rb"\bRFC822\.SIZE (\d+)", line)
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def _batches(uids: list[int], sizes: dict[int, int], *, max_count: int, max_bytes: int) -> list[list[int]]:
    """Consecutive runs of ``uids`` of at most ``max_count`` messages and ``max_bytes`` (a larger one alone)."""
    batches, batch, total = [], [], 0
    for uid in uids:
        if batch and (len(batch) >= max_count or total + sizes[uid] > max_bytes):
            batches.append(batch)
            batch, total = [], 0
        batch.append(uid)
        total += sizes[uid]
    if batch:
        batches.append(batch)
    return batches


def _fetch(conn, uids: list[int]) -> list[tuple[int, bytes]]:
    status, data = conn.uid("FETCH", _uid_set(uids), "(UID BODY.PEEK[])")
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
    (refused, unreachable, wrong password, no such folder) are written to ``last_error`` in the owner's language."""
    if not _lock(mailbox.pk):
        return 0  # another worker is reading it right now
    try:
        with translation.override(mailbox.owner.language or settings.LANGUAGE_CODE):
            server = {"server": f"{mailbox.host}:{mailbox.port}"}
            try:
                read, failed = _read_new(mailbox)
            except MailboxError as error:
                read, failed, problem = 0, 0, str(error)
            except TimeoutError:
                read, failed, problem = 0, 0, _("The mail server %(server)s did not answer in time.") % server
            except (OSError, imaplib.IMAP4.abort):
                read, failed, problem = 0, 0, _("The connection to the mail server %(server)s broke off; the next "
                                                "read tries again.") % server
            except imaplib.IMAP4.error:
                read, failed, problem = 0, 0, _("The mail server %(server)s refused a command of the CRM; the next "
                                                "read tries again.") % server
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
    """(messages read, messages that could not be: too large, or filing failed)."""
    conn = _connect(mailbox)
    try:
        validity = _select(conn, mailbox)
        if validity != mailbox.uid_validity:
            # The server renumbered the folder: read it all again (filing twice changes nothing).
            mailbox.uid_validity, mailbox.last_uid = validity, 0
            Mailbox.objects.filter(pk=mailbox.pk).update(uid_validity=validity, last_uid=0)
        uids = _new_uids(conn, mailbox.last_uid)
        limit = _max_bytes()
        read = failed = 0
        for start in range(0, len(uids), SIZE_BATCH):
            chunk = uids[start:start + SIZE_BATCH]
            sizes = _sizes(conn, chunk)
            wanted = []
            for uid in chunk:
                if uid not in sizes:
                    continue  # deleted since the search
                if sizes[uid] > limit:
                    log.warning("mailbox %s: message UID %s has %s bytes, over CRM_MAIL_MAX_BYTES (%s); skipped",
                                mailbox.pk, uid, sizes[uid], limit)
                    failed += 1
                    continue
                wanted.append(uid)
            for batch in _batches(wanted, sizes, max_count=FETCH_BATCH, max_bytes=max(FETCH_BATCH_BYTES, limit)):
                messages = _fetch(conn, batch)
                with transaction.atomic():
                    for uid, raw in messages:
                        try:
                            mail.mail_file(raw, mailbox)
                        except Exception:  # one bad message must not stop the mailbox for good
                            log.exception("mailbox %s: message UID %s could not be filed", mailbox.pk, uid)
                            failed += 1
                    mailbox.last_uid = batch[-1]
                    Mailbox.objects.filter(pk=mailbox.pk).update(last_uid=mailbox.last_uid)
                read += len(messages)
            if chunk[-1] > mailbox.last_uid:  # past the skipped and the deleted at the end of the chunk too
                mailbox.last_uid = chunk[-1]
                Mailbox.objects.filter(pk=mailbox.pk).update(last_uid=mailbox.last_uid)
        return read, failed
    finally:
        _close(conn)
