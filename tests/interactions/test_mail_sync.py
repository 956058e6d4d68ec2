"""Reading mailboxes from a real IMAP server (the session's private Dovecot) and filing what they hold."""

import time

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from interactions import mail, mail_sync
from interactions.mail_parse import mail_parse
from interactions.models import Interaction, Mailbox, MailMessage
from interactions.permissions import unfiled_for
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
    read = mail_sync.mailbox_sync(mailbox)
    # then all three are stored, two on the customer's timeline, one left unfiled; the read is recorded
    mailbox.refresh_from_db()
    assert read == 3
    assert sorted(customer_with_contact.interactions.values_list("subject", flat=True)) == ["第一封", "第二封"]
    assert list(unfiled_for(sales_rep).values_list("subject", flat=True)) == ["广告"]
    assert (mailbox.last_uid, mailbox.uid_validity) == (3, imap.uid_validity())
    assert mailbox.last_checked_at is not None
    assert mailbox.last_error == ""


def test_reading_again_files_only_what_is_new(imap, mailbox_factory, sales_rep, customer_with_contact):
    # given a mailbox read once
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="旧的"))
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    mail_sync.mailbox_sync(mailbox)
    # when a new message arrives and the mailbox is read twice more
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="新的"))
    second = mail_sync.mailbox_sync(mailbox)
    third = mail_sync.mailbox_sync(mailbox)
    # then only the new message was fetched, and each is on the timeline once
    assert (second, third) == (1, 0)
    assert sorted(customer_with_contact.interactions.values_list("subject", flat=True)) == ["新的", "旧的"]


def test_batches_advance_last_uid_as_they_go(imap, mailbox_factory, sales_rep, customer_with_contact, monkeypatch):
    # given five messages and batches of two
    monkeypatch.setattr(mail_sync, "FETCH_BATCH", 2)
    for n in range(5):
        imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject=f"批次{n}"))
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    # when it is read
    assert mail_sync.mailbox_sync(mailbox) == 5
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
        if mail_parse(raw).subject == "坏":
            raise ValueError("broken")
        return real_mail_file(raw, mailbox)

    monkeypatch.setattr(mail, "mail_file", failing_on_the_bad_one)
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    sales_rep.language = "en"
    sales_rep.save(update_fields=["language"])
    # when the mailbox is read
    mail_sync.mailbox_sync(mailbox)
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
        mail_sync.mailbox_sync(mailbox)
    # then it is stored once and on the timeline once
    assert MailMessage.objects.filter(message_id="<both@client.example>").count() == 1
    assert customer_with_contact.interactions.count() == 1


def test_a_new_uidvalidity_reads_the_folder_again_without_filing_twice(imap, mailbox_factory, sales_rep,
                                                                       customer_with_contact):
    # given a mailbox read once
    raw = raw_mail(sender="buyer@client.example", to="rep@crm.example", message_id="<kept@client.example>")
    imap.put(raw)
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    mail_sync.mailbox_sync(mailbox)
    old_validity = mailbox.uid_validity
    # when the server renumbers the folder (deleted and made anew) with the old message and a new one
    imap.recreate()
    imap.put(raw)
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="重建后"))
    read = mail_sync.mailbox_sync(mailbox)
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
        read = mail_sync.mailbox_sync(mailbox)
    # then nothing was read and the reason is recorded in words, not raised, and not in the server's words
    mailbox.refresh_from_db()
    assert read == 0
    assert mailbox.last_error == "The mail server refused the user name or password."
    assert mailbox.last_checked_at is not None


def test_an_unreachable_server_and_a_missing_folder_are_recorded(imap, mailbox_factory, sales_rep):
    # given a mailbox on a port nobody listens on, and one with a folder that does not exist (loopback is allowed)
    sales_rep.language = "en"
    sales_rep.save(update_fields=["language"])
    from tests.interactions.conftest import _free_port

    closed = _mailbox(mailbox_factory, imap, sales_rep, port=_free_port())
    missing = _mailbox(mailbox_factory, imap, sales_rep, folder="no_such_folder")
    # when they are read
    mail_sync.mailbox_sync(closed)
    mail_sync.mailbox_sync(missing)
    # then each says why
    closed.refresh_from_db()
    missing.refresh_from_db()
    assert closed.last_error == f"Could not connect to the mail server 127.0.0.1:{closed.port}."
    assert missing.last_error == "The folder no_such_folder does not exist on the server."


def test_a_successful_read_clears_the_last_error(imap, mailbox_factory, sales_rep):
    # given a mailbox whose last read failed
    mailbox = _mailbox(mailbox_factory, imap, sales_rep, last_error="earlier failure")
    # when it is read successfully
    mail_sync.mailbox_sync(mailbox)
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
    assert mail_sync.mailbox_sync(mailbox) == 1
    # then the message is on the timeline as outbound, in readable Chinese
    interaction = customer_with_contact.interactions.get()
    assert (interaction.subject, interaction.body, interaction.direction) == (subject, body, "out")
    assert mailbox.last_error == ""


# --------------------------------------------------------------------------- only servers it may reach


def _english(user):
    user.language = "en"
    user.save(update_fields=["language"])


def test_what_answers_on_an_allowed_port_is_never_echoed(settings, ssh_server, mailbox_factory, sales_rep):
    # given an SSH server on a host an administrator allowed, and a mailbox pointed at it
    _english(sales_rep)
    settings.CRM_MAILBOX_ALLOWED_HOSTS = ["127.0.0.0/8"]
    mailbox = mailbox_factory(owner=sales_rep, host="127.0.0.1", port=ssh_server.port, use_ssl=False)
    # when it is read
    assert mail_sync.mailbox_sync(mailbox) == 0
    # then the owner learns that it is no mail server, not what it said
    mailbox.refresh_from_db()
    assert ssh_server.connections == 1
    assert mailbox.last_error == (f"127.0.0.1:{ssh_server.port} is not an IMAP mail server: check the server, the "
                                  "port and the SSL/TLS setting.")
    assert "SSH" not in mailbox.last_error


@pytest.mark.parametrize("port", [None, 993])
def test_the_worker_does_not_connect_inside_the_network_unless_allowed(settings, ssh_server, mailbox_factory,
                                                                        sales_rep, port):
    # given a mailbox that points at loopback (saved before the rule, or through the admin site)
    _english(sales_rep)
    settings.CRM_MAILBOX_ALLOWED_HOSTS = []
    mailbox = mailbox_factory(owner=sales_rep, host="127.0.0.1", port=port or ssh_server.port, use_ssl=False)
    # when it is read
    mail_sync.mailbox_sync(mailbox)
    # then nothing was connected to, and the owner is told why
    mailbox.refresh_from_db()
    assert ssh_server.connections == 0
    assert "not a mail server on the internet" in mailbox.last_error


def test_a_name_that_resolves_inside_the_network_later_is_refused_before_connecting(dns, ssh_server,
                                                                                      mailbox_factory, sales_rep,
                                                                                      client_as, queued):
    # given a mailbox saved while its name pointed at the internet
    _english(sales_rep)
    dns["imap.rebind.example"] = ["93.184.216.34"]
    response = client_as(sales_rep).post(reverse("interactions:mailbox_create"), {
        "name": "x", "host": "imap.rebind.example", "port": 993, "username": "u", "password": "p", "folder": "INBOX"})
    assert response.status_code == 302
    mailbox = Mailbox.objects.select_related("owner").get()
    # when the name points at loopback by the time the worker reads it
    dns["imap.rebind.example"] = ["127.0.0.1"]
    mail_sync.mailbox_sync(mailbox)
    # then the worker checks again and connects to nothing
    mailbox.refresh_from_db()
    assert ssh_server.connections == 0
    assert "not a mail server on the internet" in mailbox.last_error


def test_the_connection_goes_to_the_address_that_was_checked(settings, dns, imap, mailbox_factory, sales_rep,
                                                             customer_with_contact):
    # given a name only the check's resolver knows (imaplib resolving it again would not find it), on an
    # allowed network
    dns["imap.pinned.example"] = [imap.server.host]
    settings.CRM_MAILBOX_ALLOWED_HOSTS = ["127.0.0.0/8"]
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="固定地址"))
    mailbox = _mailbox(mailbox_factory, imap, sales_rep, host="imap.pinned.example")
    # when it is read
    assert mail_sync.mailbox_sync(mailbox) == 1
    # then it was read from the checked address
    assert mailbox.last_error == ""
    assert customer_with_contact.interactions.get().subject == "固定地址"


# ------------------------------------------------------------------------------------------ sizes


def test_a_message_over_the_size_limit_is_skipped_and_counted(settings, imap, mailbox_factory, sales_rep,
                                                              customer_with_contact):
    # given a small message, one over the limit, and another small one
    _english(sales_rep)
    settings.CRM_MAIL_MAX_BYTES = 20_000
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="小的"))
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="大的", body="很大" * 20_000))
    imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject="也小"))
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    # when it is read
    read = mail_sync.mailbox_sync(mailbox)
    # then the large one was not fetched, the owner is told one could not be read, and the mailbox moved past it
    mailbox.refresh_from_db()
    assert read == 2
    assert sorted(customer_with_contact.interactions.values_list("subject", flat=True)) == ["也小", "小的"]
    assert mailbox.last_error == "1 message could not be read; see the worker's log."
    assert mailbox.last_uid == 3
    # and the next read does not try it again
    assert mail_sync.mailbox_sync(mailbox) == 0
    mailbox.refresh_from_db()
    assert mailbox.last_error == ""


def test_a_batch_is_bounded_in_bytes_too(settings, imap, mailbox_factory, sales_rep, customer_with_contact,
                                         monkeypatch):
    # given six messages of ~4.5 KB, and batches of at most 25 messages or 16 KB
    monkeypatch.setattr(mail_sync, "FETCH_BATCH_BYTES", 16_000)
    settings.CRM_MAIL_MAX_BYTES = 16_000
    for n in range(6):
        imap.put(raw_mail(sender="buyer@client.example", to="rep@crm.example", subject=f"中等{n}",
                          body="内容" * 500))
    batches = []
    real_fetch = mail_sync._fetch

    def recording_fetch(conn, uids):
        messages = real_fetch(conn, uids)
        batches.append(sum(len(raw) for _uid, raw in messages))
        return messages

    monkeypatch.setattr(mail_sync, "_fetch", recording_fetch)
    mailbox = _mailbox(mailbox_factory, imap, sales_rep)
    # when it is read
    assert mail_sync.mailbox_sync(mailbox) == 6
    # then no batch held more than the bound, and all were filed
    assert len(batches) == 2
    assert all(size <= 16_000 for size in batches)
    assert customer_with_contact.interactions.count() == 6


def test_uid_sets_are_written_as_ranges():
    assert mail_sync._uid_set([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert mail_sync._uid_set([5]) == "5"


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
