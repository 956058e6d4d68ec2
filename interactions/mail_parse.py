"""Reading a raw RFC 5322 message into what the CRM keeps of it (``mail_parse``).

Copes with what Chinese mail really looks like: subjects in RFC 2047 words or raw 8-bit bytes in GBK, GB2312 labels
on GBK text, HTML-only bodies. Pure functions: no database, no network.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from django.utils import timezone

MAX_BODY_CHARS = 100_000

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
