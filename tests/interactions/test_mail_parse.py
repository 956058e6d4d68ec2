"""Reading raw messages as Chinese mail programs write them (interactions.mail_parse)."""

import base64
from datetime import UTC, datetime

from interactions.mail_parse import html_to_text, mail_parse
from interactions.mail_sync import _imap_utf7
from tests.factories.mail import raw_mail

# 镕 is in GBK but not in GB2312: mail labelled gb2312 often carries such characters.
SUBJECT = "关于报价的回复——镕铭科技"


def test_rfc2047_subject_labelled_gb2312_with_gbk_characters_is_decoded():
    # given a subject encoded in GBK but labelled gb2312, as Outlook and Foxmail send it
    encoded = base64.b64encode(SUBJECT.encode("gbk")).decode()
    raw = (f"From: a@example.com\r\nTo: b@example.com\r\nSubject: =?gb2312?B?{encoded}?=\r\n"
           f"Message-ID: <1@example.com>\r\n\r\nhello\r\n").encode()
    # when it is parsed
    parsed = mail_parse(raw)
    # then the subject reads as written
    assert parsed.subject == SUBJECT


def test_raw_8bit_gbk_subject_and_gbk_body_are_decoded():
    # given a message with an unencoded GBK subject header and a GBK body
    raw = (b"From: =?gbk?B?" + base64.b64encode("王经理".encode("gbk")) + b"?= <Wang@Example.COM>\r\n"
           b"To: sales@crm.example\r\nSubject: " + SUBJECT.encode("gbk") + b"\r\n"
           b"Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           + "您好，报价单已收到，下周一回复您。".encode("gbk") + b"\r\n")
    # when it is parsed
    parsed = mail_parse(raw)
    # then subject, body and sender are text, and the address is lower case
    assert parsed.subject == SUBJECT
    assert parsed.body == "您好，报价单已收到，下周一回复您。"
    assert parsed.sender == "王经理 <wang@example.com>"
    assert parsed.sender_address == "wang@example.com"


def test_utf8_mail_from_a_modern_client():
    # given a UTF-8 message written by the standard library, as Python mailers send it
    raw = raw_mail(sender="张三 <zhang@example.com>", to=["Li <li@example.com>"], cc="wang@example.com",
                   subject="合同草稿", body="请查收附件。", message_id="<abc@example.com>")
    # when it is parsed
    parsed = mail_parse(raw)
    # then everything comes out as written
    assert parsed.subject == "合同草稿"
    assert parsed.body == "请查收附件。"
    assert parsed.message_id == "<abc@example.com>"
    assert parsed.addresses == ["zhang@example.com", "li@example.com", "wang@example.com"]


def test_plain_text_is_preferred_and_html_only_mail_is_reduced_to_text():
    # given one message with both parts and one with HTML only
    both = raw_mail(sender="a@example.com", to="b@example.com", body="纯文本", html="<p>网页</p>")
    html_only = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + "<html><head><style>p {color: red}</style></head><body><p>第一段&nbsp;&amp;</p><div>第二段<br>第三行"
          "</div><script>alert(1)</script></body></html>".encode()
    )
    # when they are parsed
    # then the text part wins, and HTML loses its tags, styles and scripts but keeps its lines
    assert mail_parse(both).body == "纯文本"
    assert mail_parse(html_only).body == "第一段 &\n\n第二段\n第三行"


def test_a_message_without_message_id_gets_a_stable_synthetic_one():
    # given the same message without Message-ID read twice, with different Received lines
    date = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    raw = raw_mail(sender="a@example.com", to="b@example.com", subject="无编号", message_id="", date=date)
    # when it is parsed each time
    first = mail_parse(b"Received: from one\r\n" + raw)
    second = mail_parse(b"Received: from two\r\n" + raw)
    other = mail_parse(raw_mail(sender="a@example.com", to="b@example.com", subject="另一封", message_id="",
                                date=date))
    # then it gets the same made-up id both times, and another message another one
    assert first.message_id == second.message_id
    assert first.message_id.endswith("@crm.synthetic>")
    assert other.message_id != first.message_id


def test_threading_headers_and_date():
    # given a reply with References and In-Reply-To
    raw = raw_mail(sender="a@example.com", to="b@example.com", message_id="<3@x>", in_reply_to="<2@x>",
                   references="<1@x> <2@x>", date=datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    raw = raw.replace(b"<1@x> <2@x>", b"<1@x>\r\n <2@x>")  # folded, as long References are
    # when it is parsed
    parsed = mail_parse(raw)
    # then the ids and the time are read
    assert parsed.references == ["<1@x>", "<2@x>"]
    assert parsed.in_reply_to == "<2@x>"
    assert parsed.sent_at == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_a_broken_date_is_no_error():
    raw = b"From: a@example.com\r\nTo: b@example.com\r\nDate: someday\r\nSubject: x\r\n\r\nbody\r\n"
    assert mail_parse(raw).sent_at is None


def test_html_to_text_keeps_paragraphs():
    assert html_to_text("<p>一</p><p>二</p>") == "一\n\n二"


def test_folder_names_in_modified_utf7():
    # RFC 3501's rules, with the name Chinese mail servers give the sent folder
    assert _imap_utf7("INBOX") == "INBOX"
    assert _imap_utf7("已发送") == "&XfJT0ZAB-"
    assert _imap_utf7("A&B") == "A&-B"


def test_nul_characters_are_dropped():
    # given broken mail with NUL characters, which PostgreSQL text cannot hold
    raw = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: a\x00b\r\nMessage-ID: <n@x>\r\n\r\nbo\x00dy\r\n"
    # when it is parsed
    parsed = mail_parse(raw)
    # then the text is kept without them
    assert (parsed.subject, parsed.body) == ("ab", "body")
