"""Mailboxes, stored mail and attachments in the audit trail (django-pghistory), never with a mailbox's password;
and where the mail code lives (parsing, IMAP, services and scope apart)."""

from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from interactions.mail import mail_file
from interactions.models import Mailbox
from interactions.sending import email_send
from tests.factories.mail import raw_mail


def _events(name, obj):
    return list(apps.get_model("interactions", name).objects.filter(pgh_obj_id=obj.pk).order_by("pgh_id"))


def test_mailbox_changes_are_audited_with_who_made_them_but_never_the_password(client_as, sales_rep, dns, queued):
    client = client_as(sales_rep)
    # when a rep adds a mailbox, renames it, and changes its password
    data = {"name": "工作邮箱", "host": "imap.crm.example", "port": 993, "use_ssl": "on", "username": "rep",
            "password": "Very-secret-1", "folder": "INBOX", "enabled": "on"}
    assert client.post(reverse("interactions:mailbox_create"), data).status_code == 302
    mailbox = Mailbox.objects.get()
    url = reverse("interactions:mailbox_update", args=[mailbox.pk])
    assert client.post(url, data | {"name": "改名了", "password": ""}).status_code == 302
    assert client.post(url, data | {"name": "改名了", "password": "Very-secret-2"}).status_code == 302
    # and a worker records its reading progress
    Mailbox.objects.filter(pk=mailbox.pk).update(last_uid=9, uid_validity=3, last_checked_at=timezone.now(),
                                                 last_error="x")
    # then the trail holds the creation and the rename, by the rep; progress is not worth an event
    events = _events("MailboxEvent", mailbox)
    assert [(e.pgh_label, e.name) for e in events] == [("insert", "工作邮箱"), ("update", "改名了")]
    assert events[0].pgh_context.metadata["user"] == sales_rep.pk
    # and no event table holds the password
    assert "password" not in {f.name for f in apps.get_model("interactions", "MailboxEvent")._meta.fields}
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(e)::text FROM interactions_mailboxevent e")
        assert not any("Very-secret" in row for (row,) in cursor.fetchall())


def test_deleting_a_mailbox_is_audited(client_as, sales_rep, mailbox_factory):
    mailbox = mailbox_factory(owner=sales_rep)
    assert client_as(sales_rep).post(reverse("interactions:mailbox_delete", args=[mailbox.pk])).status_code == 302
    assert [e.pgh_label for e in _events("MailboxEvent", mailbox)] == ["insert", "delete"]


def test_stored_mail_and_its_filing_are_audited_without_the_text(mailbox_factory, sales_rep, customer_factory):
    # given a customer and a message from it
    customer_factory(owner=sales_rep, email="buyer@client.example")
    mailbox = mailbox_factory(owner=sales_rep, address="rep@crm.example")
    # when it is read and filed
    message = mail_file(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="询价",
                                 body="正文不进审计"), mailbox)
    # then the trail has it (the filing is an update), without its body
    events = _events("MailMessageEvent", message)
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert (events[0].subject, events[0].filed, events[-1].filed) == ("询价", False, True)
    assert not hasattr(events[0], "body")


def test_attachments_are_audited(smtp_sink, monkeypatch, sales_rep, customer_factory):
    from interactions import tasks

    monkeypatch.setattr(tasks.send_email, "delay", lambda mail_id: None)
    customer = customer_factory(owner=sales_rep, email="info@client.example")
    interaction = email_send(actor=sales_rep, customer=customer, contact=None, subject="报价", body="见附件",
                             attachments=[SimpleUploadedFile("报价.txt", b"100")])
    attachment = interaction.attachments.get()
    assert [(e.pgh_label, e.name) for e in _events("AttachmentEvent", attachment)] == [("insert", "报价.txt")]


def test_the_mail_code_is_split_by_concern():
    import interactions.mail as services
    from interactions import mail_parse, mail_sync, permissions

    assert callable(mail_parse.mail_parse) and callable(mail_sync.mailbox_sync)
    for name in ("mailboxes_for", "get_mailbox_or_404", "unfiled_for", "get_mail_or_404"):
        assert callable(getattr(permissions, name))
    # the services module neither parses nor talks IMAP
    assert not hasattr(services, "imaplib") and not hasattr(services, "mailbox_sync")
    assert not hasattr(services, "decode_bytes") and not hasattr(services, "mailboxes_for")
