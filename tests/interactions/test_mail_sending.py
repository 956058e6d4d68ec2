"""Sending email to a customer from the CRM: the request stores and queues it, a worker hands it to a real SMTP server
(aiosmtpd, started by the tests) once, tries again later when the server cannot take it, and the timeline says so."""

import threading
import time
from email import message_from_bytes, policy

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections, transaction
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import translation

from interactions import sending, tasks
from interactions.mail_sync import mailbox_sync
from interactions.models import Interaction, MailMessage
from interactions.sending import email_deliver, email_send
from tests.interactions.conftest import _free_port


@pytest.fixture
def customer(sales_rep, customer_factory):
    return customer_factory(owner=sales_rep, name="杭州镕铭科技", email="info@rongming.example")


@pytest.fixture
def contact(customer, contact_factory):
    return contact_factory(customer=customer, name="王总", email="wang@rongming.example")


@pytest.fixture
def queued_sends(monkeypatch):
    """The ids of the mail whose sending was queued (after commit)."""
    ids = []
    monkeypatch.setattr(tasks.send_email, "delay", lambda mail_id: ids.append(mail_id))
    return ids


@pytest.fixture
def retry_delays(monkeypatch):
    """The pauses the task asked for before each retry."""
    delays = []
    real = sending.retry_delay

    def recording(retries_so_far):
        delays.append(real(retries_so_far))
        return delays[-1]

    monkeypatch.setattr(sending, "retry_delay", recording)
    return delays


def _unreachable_smtp(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 5


def _run_task(mail_id):
    """The task as a worker runs it, retries included (at once: Celery's eager mode skips the countdowns)."""
    return tasks.send_email.apply(args=[mail_id])


# ------------------------------------------------------------------------------------- the request


def test_the_request_stores_and_queues_the_mail_without_talking_to_a_server(
        smtp_sink, queued_sends, sales_rep, customer, contact, django_capture_on_commit_callbacks):
    # when a rep sends a mail
    with django_capture_on_commit_callbacks(execute=True):
        interaction = email_send(actor=sales_rep, customer=customer, contact=contact, subject="报价单", body="您好")
    # then it is on the timeline as queued, with the Message-ID it will carry, and its sending is queued after commit
    mail = interaction.mail
    assert mail.send_status == "queued"
    assert mail.message_id.startswith("<") and mail.envelope["to"] == ["王总 <wang@rongming.example>"]
    assert queued_sends == [mail.pk]
    assert smtp_sink.messages == []
    customer.refresh_from_db()
    assert customer.last_contacted_at is None  # not before it has gone out


def test_a_subject_with_a_line_break_is_refused_not_a_crash(queued_sends, sales_rep, customer, contact):
    # (the worker would meet Django's BadHeaderError)
    from django.utils import translation

    with pytest.raises(ValidationError) as error, translation.override("en"):
        email_send(actor=sales_rep, customer=customer, contact=contact, subject="报价\nBcc: all@example.com",
                   body="您好")
    assert error.value.message_dict == {"subject": ["The subject must be one line."]}
    assert not MailMessage.objects.exists()


def test_nobody_sends_to_a_customer_he_cannot_see(queued_sends, other_rep, customer, contact):
    with pytest.raises(Http404):
        email_send(actor=other_rep, customer=customer, contact=contact, subject="x", body="y")
    assert not MailMessage.objects.exists()


def test_a_contact_of_another_customer_is_refused(queued_sends, sales_rep, customer, customer_factory,
                                                  contact_factory):
    stranger = contact_factory(customer=customer_factory(owner=sales_rep))
    with pytest.raises(ValidationError):
        email_send(actor=sales_rep, customer=customer, contact=stranger, subject="x", body="y")
    assert not MailMessage.objects.exists()


# -------------------------------------------------------------------------------------- the worker


def test_the_worker_sends_it_to_the_server_once(smtp_sink, queued_sends, sales_rep, customer, contact):
    # given a mail queued with an attachment
    quote = SimpleUploadedFile("报价单.txt", "单价 100 元".encode(), content_type="text/plain")
    interaction = email_send(actor=sales_rep, customer=customer, contact=contact, subject="报价单",
                             body="王总您好，报价单见附件。", attachments=[quote])
    # when the task runs, and runs again (a redelivered message)
    assert _run_task(interaction.mail_id).get() is True
    assert _run_task(interaction.mail_id).get() is False
    # then the SMTP server received it once, from the rep, to the contact, with the Message-ID kept on the timeline
    (received,) = smtp_sink.messages
    assert received.rcpt_tos == ["wang@rongming.example"]
    assert received.mail_from == sales_rep.email
    sent = message_from_bytes(received.content, policy=policy.default)
    mail = MailMessage.objects.get()
    assert sent["Subject"] == "报价单"
    assert sent["To"].addresses[0].display_name == "王总"
    assert sent["Message-ID"] == mail.message_id
    assert sent.get_body(("plain",)).get_content().strip() == "王总您好，报价单见附件。"
    assert [(part.get_filename(), part.get_content()) for part in sent.iter_attachments()] == [
        ("报价单.txt", "单价 100 元")]
    # and the timeline says it was sent; the customer was contacted when the rep wrote
    assert mail.send_status == "sent" and mail.smtp_sent_at is not None
    assert (interaction.customer, interaction.contact, interaction.author) == (customer, contact, sales_rep)
    assert (interaction.channel, interaction.direction) == ("email", "out")
    customer.refresh_from_db()
    assert customer.last_contacted_at == interaction.occurred_at


def test_without_a_contact_it_goes_to_the_customers_own_address(smtp_sink, queued_sends, sales_rep, customer):
    interaction = email_send(actor=sales_rep, customer=customer, contact=None, subject="问候", body="您好")
    email_deliver(interaction.mail_id)
    assert smtp_sink.messages[0].rcpt_tos == ["info@rongming.example"]


def test_from_the_default_address_with_reply_to_the_user(smtp_sink, queued_sends, settings, sales_rep, customer,
                                                         contact):
    # given an installation whose server only sends from its own address
    settings.CRM_EMAIL_FROM_USER = False
    settings.DEFAULT_FROM_EMAIL = "CRM <crm@company.example>"
    # when a rep sends a mail
    email_deliver(email_send(actor=sales_rep, customer=customer, contact=contact, subject="问候", body="您好").mail_id)
    # then it comes from the CRM's address and answers go to the rep
    sent = message_from_bytes(smtp_sink.messages[0].content, policy=policy.default)
    assert sent["From"].addresses[0].addr_spec == "crm@company.example"
    assert sent["Reply-To"].addresses[0].addr_spec == sales_rep.email


def test_an_unreachable_server_is_tried_again_with_growing_pauses_then_given_up(settings, queued_sends, retry_delays,
                                                                                  sales_rep, customer, contact):
    # given a mail queued while the SMTP server cannot be reached
    _unreachable_smtp(settings)
    interaction = email_send(actor=sales_rep, customer=customer, contact=contact, subject="报价", body="您好",
                             attachments=[SimpleUploadedFile("a.txt", b"x")])
    # when the task runs with all its retries
    assert _run_task(interaction.mail_id).get() is False
    # then it tried six times, pausing 1, 2, 4, 8 and 16 minutes, and the timeline says why it was not sent
    assert retry_delays == [60, 120, 240, 480, 960]
    mail = MailMessage.objects.get()
    assert (mail.send_status, mail.send_error, mail.smtp_sent_at) == ("failed", "unreachable", None)
    assert Interaction.objects.filter(mail=mail).exists()
    customer.refresh_from_db()
    assert customer.last_contacted_at is None


def test_a_server_that_takes_it_on_a_retry_sends_it(settings, smtp_sink, queued_sends, retry_delays, monkeypatch,
                                                     sales_rep, customer, contact):
    # given a server that fails twice, then works
    interaction = email_send(actor=sales_rep, customer=customer, contact=contact, subject="报价", body="您好")
    real_deliver, calls = sending.email_deliver, []

    def flaky(mail_id):
        calls.append(mail_id)
        if len(calls) <= 2:
            raise sending.TemporaryFailure("unreachable")
        return real_deliver(mail_id)

    monkeypatch.setattr(sending, "email_deliver", flaky)
    # when the task runs
    assert _run_task(interaction.mail_id).get() is True
    # then it went out on the third try
    assert retry_delays == [60, 120]
    assert len(smtp_sink.messages) == 1
    assert MailMessage.objects.get().send_status == "sent"


def test_a_recipient_the_server_refuses_for_good_is_not_tried_again(smtp_sink, queued_sends, retry_delays, sales_rep,
                                                                    customer, contact_factory):
    # given a contact whose address the server does not have (550)
    nobody = contact_factory(customer=customer, name="离职员工", email="nobody@rongming.example")
    interaction = email_send(actor=sales_rep, customer=customer, contact=nobody, subject="问候", body="您好")
    # when the task runs
    _run_task(interaction.mail_id)
    # then it gives up at once, and says why
    assert retry_delays == []
    assert smtp_sink.messages == []
    mail = MailMessage.objects.get()
    assert (mail.send_status, mail.send_error) == ("failed", "recipient")
    with translation.override("en"):
        assert mail.get_send_error_display() == "the mail server refused the recipient's address"


def test_a_message_that_cannot_be_put_together_is_marked_not_a_crash(smtp_sink, queued_sends, sales_rep, customer,
                                                                     contact):
    # given a queued mail whose attachment's file has gone from the storage meanwhile
    interaction = email_send(actor=sales_rep, customer=customer, contact=contact, subject="问候", body="您好",
                             attachments=[SimpleUploadedFile("a.txt", b"x")])
    attachment = interaction.attachments.get()
    attachment.file.storage.delete(attachment.file.name)
    # when the task runs
    assert _run_task(interaction.mail_id).get() is False
    # then nothing was sent and the timeline says it could not be
    assert smtp_sink.messages == []
    assert MailMessage.objects.get().send_error == "invalid"


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_it_once(smtp_sink, queued_sends, sales_rep, customer, contact):
    # given a queued mail whose row the test holds locked, and two workers starting to send it meanwhile
    mail_id = email_send(actor=sales_rep, customer=customer, contact=contact, subject="报价", body="您好").mail_id
    results = []

    def worker():
        try:
            results.append(email_deliver(mail_id))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    with transaction.atomic():
        MailMessage.objects.select_for_update().get(pk=mail_id)
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # both are now waiting for the lock
        assert results == []
    # when the lock is released
    for thread in threads:
        thread.join(30)
    # then one of them sent it, the other found it sent
    assert sorted(results) == [False, True]
    assert len(smtp_sink.messages) == 1


def test_a_copy_read_later_from_the_sent_folder_is_not_filed_twice(smtp_sink, queued_sends, imap, mailbox_factory,
                                                                   sales_rep, customer, contact):
    # given a mail sent from the CRM, and the rep's sent folder holding the copy his server kept
    interaction = email_send(actor=sales_rep, customer=customer, contact=contact, subject="合同", body="请查收")
    email_deliver(interaction.mail_id)
    imap.put(smtp_sink.messages[0].content)
    mailbox = mailbox_factory(owner=sales_rep, address=sales_rep.email, **imap.mailbox_fields())
    # when the sent folder is read
    assert mailbox_sync(mailbox) == 1
    # then the copy is recognised by its Message-ID: one message, one interaction
    assert MailMessage.objects.count() == 1
    assert list(Interaction.objects.values_list("pk", flat=True)) == [interaction.pk]


def test_a_real_worker_sends_it_through_the_real_server(live_celery_worker, smtp_sink, sales_rep, customer, contact):
    # given a rep sending a mail (the task is queued on commit, to a real worker over Redis)
    interaction = email_send(actor=sales_rep, customer=customer, contact=contact, subject="经由任务", body="您好")
    # when the worker has run it
    deadline = time.monotonic() + 30
    while not MailMessage.objects.filter(pk=interaction.mail_id, smtp_sent_at__isnull=False).exists():
        assert time.monotonic() < deadline, "the worker did not send the mail within 30 s"
        time.sleep(0.2)
    # then the SMTP server has it, with the Message-ID on the timeline
    (received,) = smtp_sink.messages
    sent = message_from_bytes(received.content, policy=policy.default)
    assert (sent["Subject"], sent["Message-ID"]) == ("经由任务", interaction.mail.message_id)


# ------------------------------------------------------------------------------------ the timeline


@pytest.mark.parametrize(("fields", "shown", "not_shown"), [
    ({}, ["Queued"], ["Sent", "Could not be sent"]),
    ({"smtp_sent_at": "now"}, ["Sent"], ["Queued", "Could not be sent"]),
    ({"send_error": "unreachable"}, ["Could not be sent", "the mail server could not be reached"], ["Queued"]),
])
def test_the_timeline_entry_says_where_the_mail_is(mail_message_factory, fields, shown, not_shown):
    from django.utils import timezone

    fields = {key: timezone.now() if value == "now" else value for key, value in fields.items()}
    mail = mail_message_factory(envelope={"from": "a@crm.example", "to": ["b@client.example"], "reply_to": []},
                                filed=True, **fields)
    with translation.override("en"):
        html = render_to_string("interactions/_mail_send_status.html", {"mail": mail})
    assert all(text in html for text in shown)
    assert not any(f">{text}<" in html or f"> {text}<" in html for text in not_shown)


def test_mail_read_from_a_mailbox_has_no_sending_state(mail_message_factory):
    mail = mail_message_factory()
    assert mail.send_status == ""
    assert render_to_string("interactions/_mail_send_status.html", {"mail": mail}).strip() == ""


def test_mail_whose_task_was_lost_is_queued_again_after_ten_minutes(sales_rep):
    from datetime import timedelta

    from django.utils import timezone

    from interactions import sending
    from interactions.models import MailMessage

    # given one CRM mail queued 15 minutes ago (its task lost), one just queued, one sent, one read from a mailbox
    def mail(message_id, minutes_ago, **fields):
        message = MailMessage.objects.create(message_id=message_id, thread_key=message_id, sent_at=timezone.now(),
                                             **fields)
        MailMessage.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
        return message

    lost = mail("<lost@crm>", 15, envelope={"to": ["a@example.com"]})
    mail("<new@crm>", 1, envelope={"to": ["a@example.com"]})
    mail("<sent@crm>", 15, envelope={"to": ["a@example.com"]}, smtp_sent_at=timezone.now())
    mail("<read@mailbox>", 15)
    # then only the lost one is sent again
    assert sending.emails_stuck() == [lost.pk]
