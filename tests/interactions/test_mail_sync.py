"""Reading mailboxes from a real IMAP server (the session's private Dovecot) and filing what they hold."""

import time

import pytest
from django.conf import settings
from django.utils import translation

from interactions import mail
from interactions.models import Interaction, Mailbox, MailMessage
from interactions.tasks import sync_mailboxes
from tests.factories.mail import raw_mail


@pytest.fixture
def customer_with_contact(sales_rep, customer_factory, contact_factory):
    customer = customer_factory(owner=sales_rep)
    contact_factory(customer=customer, email="buyer@client.example")
    return customer


def _mailbox(factory, imap, owner, **fields):
    return factory(owner=owner, **({"address": "rep@crm.example"} | imap.mailbox_fields() | fields))


def test_a_sync_files_new_mail_and_advances_last_uid(imap, mailbox_factory, sales_rep, customer_with_contact):
    # given two messages from a contact and one from a stranger in the folder
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="第一封"))
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="第二封"))
    imap.put(raw_mail(sender="stranger@else.example", to="rep@crm.example", subject="广告"))
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    # when the mailbox is read
    read = mail.mailbox_sync(mailbox)
    # then all three are stored, two on the customer's timeline, one left unfiled; the read is recorded
    mailbox.refresh_from_db()
    assert read == 3
    assert sorted(customer_with_contact.interactions.values_list("subject", flat=True)) == ["第一封", "第二封"]
    assert list(mail.unfiled_for(sales_rep).values_list("subject", flat=True)) == ["广告"]
    assert (mailbox.last_uid, mailbox.uid_validity) == (3, imap.uid_validity())
    assert mailbox.last_checked_at is not None
    assert mailbox.last_error == ""


def test_reading_again_files_only_what_is_new(imap, mailbox_factory, sales_rep, customer_with_contact):
    # given a mailbox read once
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="旧的"))
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    mail.mailbox_sync(mailbox)
    # when a new message arrives and the mailbox is read twice more
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="新的"))
    second = mail.mailbox_sync(mailbox)
    third = mail.mailbox_sync(mailbox)
    # then only the new message was fetched, and each is on the timeline once
    assert (second, third) == (1, 0)
    assert sorted(customer_with_contact.interactions.values_list("subject", flat=True)) == ["新的", "旧的"]


def test_batches_advance_last_uid_as_they_go(imap, mailbox_factory, sales_rep, customer_with_contact, monkeypatch):
    # given five messages and batches of two
    monkeypatch.setattr(mail, "FETCH_BATCH", 2)
    for n in range(5):
        imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject=f"批次{n}"))
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    # when it is read
    assert mail.mailbox_sync(mailbox) == 5
    # then every message is filed once and last_uid is the last one's
    mailbox.refresh_from_db()
    assert mailbox.last_uid == 5
    assert customer_with_contact.interactions.count() == 5


def test_a_message_that_cannot_be_filed_does_not_stop_the_mailbox(imap, mailbox_factory, sales_rep,
                                                                   customer_with_contact, monkeypatch):
    # given three messages, the second of which breaks filing
    for subject in ("一", "坏", "三"):
        imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject=subject))
    real_mail_file = mail.mail_file

    def failing_on_the_bad_one(raw, mailbox):
        if mail.mail_parse(raw).subject == "坏":
            raise ValueError("broken")
        return real_mail_file(raw, mailbox)

    monkeypatch.setattr(mail, "mail_file", failing_on_the_bad_one)
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    sales_rep.language = "en"
    sales_rep.save(update_fields=["language"])
    # when the mailbox is read
    mail.mailbox_sync(mailbox)
    # then the others are filed, the mailbox moves past the bad one, and the owner is told
    mailbox.refresh_from_db()
    assert sorted(customer_with_contact.interactions.values_list("subject", flat=True)) == ["一", "三"]
    assert mailbox.last_uid == 3
    assert mailbox.last_error == "1 message could not be read; see the worker's log."


def test_one_message_in_two_mailboxes_is_filed_once(imap, mailbox_factory, sales_rep, sales_manager,
                                                    customer_with_contact):
    # given the same message (one Message-ID) in the rep's folder and in his manager's
    raw = raw_mail(sender="buyer@client.example", to="rep@crm.example", cc="manager@crm.example",
                   message_id="<both@client.example>")
    other_folder = imap.new_folder()
    imap.put(raw)
    imap.put(raw, other_folder)
    rep_box = _mailbox(mailbox_factory, imap, sales_rep)
    manager_box = _mailbox(mailbox_factory, imap, sales_manager, folder=other_folder, address="manager@crm.example")
    # when both are read, twice
    for mailbox in (rep_box, manager_box, rep_box, manager_box):
        mail.mailbox_sync(mailbox)
    # then it is stored once and on the timeline once
    assert MailMessage.objects.filter(message_id="<both@client.example>").count() == 1
    assert customer_with_contact.interactions.count() == 1


def test_a_new_uidvalidity_reads_the_folder_again_without_filing_twice(imap, mailbox_factory, sales_rep,
                                                                       customer_with_contact):
    # given a mailbox read once
    raw = raw_mail(sender="buyer@client.example", to="rep@crm.example", message_id="<kept@client.example>")
    imap.put(raw)
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    mail.mailbox_sync(mailbox)
    old_validity = mailbox.uid_validity
    # when the server renumbers the folder (deleted and made anew) with the old message and a new one
    imap.recreate()
    imap.put(raw)
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="重建后"))
    read = mail.mailbox_sync(mailbox)
    # then the whole folder was read again under the new UIDVALIDITY, and only the new message was added
    mailbox.refresh_from_db()
    assert mailbox.uid_validity != old_validity
    assert read == 2
    assert mailbox.last_uid == 2
    assert customer_with_contact.interactions.count() == 2


def test_a_wrong_password_is_recorded_in_the_owners_language(imap, mailbox_factory, sales_rep):
    # given a mailbox with a wrong password, whose owner reads English
    sales_rep.language = "en"
    sales_rep.save(update_fields=["language"])
    mailbox = _mailbox(mailbox_factory, imap, sales_rep, password="wrong")
    # when it is read (in a worker whose active language is Chinese)
    with translation.override("zh-hans"):
        read = mail.mailbox_sync(mailbox)
    # then nothing was read and the reason is recorded, not raised
    mailbox.refresh_from_db()
    assert read == 0
    assert mailbox.last_error.startswith("The mail server refused the user name or password")
    assert "AUTHENTICATIONFAILED" in mailbox.last_error or "Authentication failed" in mailbox.last_error
    assert mailbox.last_checked_at is not None


def test_an_unreachable_server_and_a_missing_folder_are_recorded(imap, mailbox_factory, sales_rep):
    # given a mailbox on a port nobody listens on, and one with a folder that does not exist
    sales_rep.language = "en"
    sales_rep.save(update_fields=["language"])
    from tests.interactions.conftest import _free_port

    closed = _mailbox(mailbox_factory, imap, sales_rep, port=_free_port())
    missing = _mailbox(mailbox_factory, imap, sales_rep, folder="no_such_folder")
    # when they are read
    mail.mailbox_sync(closed)
    mail.mailbox_sync(missing)
    # then each says why
    closed.refresh_from_db()
    missing.refresh_from_db()
    assert closed.last_error.startswith(f"Cannot reach the mail server 127.0.0.1:{closed.port}")
    assert missing.last_error.startswith("The folder no_such_folder does not exist on the server")


def test_a_successful_read_clears_the_last_error(imap, mailbox_factory, sales_rep):
    # given a mailbox whose last read failed
    mailbox = _mailbox(mailbox_factory, imap, sales_rep, last_error="earlier failure")
    # when it is read successfully
    mail.mailbox_sync(mailbox)
    # then the error is gone
    mailbox.refresh_from_db()
    assert mailbox.last_error == ""


def test_a_chinese_folder_with_gbk_mail(imap, mailbox_factory, sales_rep, customer_with_contact):
    # given the sent folder of a Chinese mail server, holding a GBK message with a Chinese subject
    folder = imap.new_folder(f"已发送{time.monotonic_ns()}")
    subject, body = "合同：镕铭科技", "王总您好，合同已盖章寄出。"
    imap.put(raw_mail(sender="rep@crm.example", to="buyer@client.example", subject=subject, body=body,
                      charset="gbk"), folder)
    mailbox = _mailbox(mailbox_factory, imap, sales_rep, folder=folder)
    # when it is read
    assert mail.mailbox_sync(mailbox) == 1
    # then the message is on the timeline as outbound, in readable Chinese
    interaction = customer_with_contact.interactions.get()
    assert (interaction.subject, interaction.body, interaction.direction) == (subject, body, "out")
    assert mailbox.last_error == ""


def test_the_beat_schedule_reads_mailboxes_every_five_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["interactions-sync-mailboxes"]
    assert entry["task"] == "interactions.tasks.sync_mailboxes"
    assert entry["schedule"].minute == set(range(0, 60, 5))


def test_the_beat_task_reads_every_enabled_mailbox_in_a_worker(live_celery_worker, imap, mailbox_factory,
                                                               sales_rep, customer_factory, contact_factory):
    # given a customer's contact, his mail in the folder, an enabled mailbox and a paused one
    customer = customer_factory(owner=sales_rep)
    contact_factory(customer=customer, email="buyer@client.example")
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="经由任务"))
    enabled = _mailbox(mailbox_factory, imap, sales_rep)
    paused = _mailbox(mailbox_factory, imap, sales_rep, enabled=False)
    # when the beat's task runs in a real worker (it queues one read per mailbox)
    sync_mailboxes.delay()
    deadline = time.monotonic() + 30
    while not Mailbox.objects.filter(pk=enabled.pk, last_checked_at__isnull=False).exists():
        assert time.monotonic() < deadline, "the worker did not read the mailbox within 30 s"
        time.sleep(0.2)
    # then the enabled mailbox was read and its mail filed; the paused one was left alone
    assert Interaction.objects.filter(customer=customer, subject="经由任务").count() == 1
    assert Mailbox.objects.get(pk=paused.pk).last_checked_at is None
