"""Sending email to a customer from the CRM, through a real SMTP server (aiosmtpd) started by the tests."""

from email import message_from_bytes, policy

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from interactions import mail
from interactions.models import Interaction, MailMessage
from interactions.sending import email_send
from tests.interactions.conftest import _free_port


@pytest.fixture
def customer(sales_rep, customer_factory):
    return customer_factory(owner=sales_rep, name="杭州镕铭科技", email="info@rongming.example")


@pytest.fixture
def contact(customer, contact_factory):
    return contact_factory(customer=customer, name="王总", email="wang@rongming.example")


def test_a_mail_sent_from_the_crm_reaches_the_server_and_the_timeline(smtp_sink, sales_rep, customer, contact):
    # given a rep writing to a contact of his customer, with an attachment
    quote = SimpleUploadedFile("报价单.txt", "单价 100 元".encode(), content_type="text/plain")
    # when he sends it
    interaction = email_send(actor=sales_rep, customer=customer, contact=contact, subject="报价单",
                             body="王总您好，报价单见附件。", attachments=[quote])
    # then the SMTP server received it from the rep, to the contact, with the Message-ID kept on the timeline
    (received,) = smtp_sink.messages
    assert received.rcpt_tos == ["wang@rongming.example"]
    assert received.mail_from == sales_rep.email
    sent = message_from_bytes(received.content, policy=policy.default)
    assert sent["Subject"] == "报价单"
    assert sent["To"].addresses[0].display_name == "王总"
    assert sent["Message-ID"] == interaction.mail.message_id
    assert sent.get_body(("plain",)).get_content().strip() == "王总您好，报价单见附件。"
    assert [part.get_filename() for part in sent.iter_attachments()] == ["报价单.txt"]
    assert (interaction.customer, interaction.contact, interaction.author) == (customer, contact, sales_rep)
    assert (interaction.channel, interaction.direction) == ("email", "out")
    assert interaction.mail.filed
    assert [a.name for a in interaction.attachments.all()] == ["报价单.txt"]
    customer.refresh_from_db()
    assert customer.last_contacted_at == interaction.occurred_at


def test_without_a_contact_it_goes_to_the_customers_own_address(smtp_sink, sales_rep, customer):
    email_send(actor=sales_rep, customer=customer, contact=None, subject="问候", body="您好")
    assert smtp_sink.messages[0].rcpt_tos == ["info@rongming.example"]


def test_from_the_default_address_with_reply_to_the_user(smtp_sink, settings, sales_rep, customer, contact):
    # given an installation whose server only sends from its own address
    settings.CRM_EMAIL_FROM_USER = False
    settings.DEFAULT_FROM_EMAIL = "CRM <crm@company.example>"
    # when a rep sends a mail
    email_send(actor=sales_rep, customer=customer, contact=contact, subject="问候", body="您好")
    # then it comes from the CRM's address and answers go to the rep
    sent = message_from_bytes(smtp_sink.messages[0].content, policy=policy.default)
    assert sent["From"].addresses[0].addr_spec == "crm@company.example"
    assert sent["Reply-To"].addresses[0].addr_spec == sales_rep.email


def test_a_copy_read_later_from_the_sent_folder_is_not_filed_twice(smtp_sink, imap, mailbox_factory, sales_rep,
                                                                   customer, contact):
    # given a mail sent from the CRM, and the rep's sent folder holding the copy his server kept
    interaction = email_send(actor=sales_rep, customer=customer, contact=contact, subject="合同", body="请查收")
    imap.put(smtp_sink.messages[0].content)
    mailbox = mailbox_factory(owner=sales_rep, address=sales_rep.email, **imap.mailbox_fields())
    # when the sent folder is read
    assert mail.mailbox_sync(mailbox) == 1
    # then the copy is recognised by its Message-ID: one message, one interaction
    assert MailMessage.objects.count() == 1
    assert list(Interaction.objects.values_list("pk", flat=True)) == [interaction.pk]


def test_a_server_that_refuses_leaves_nothing_behind(settings, sales_rep, customer, contact):
    # given an SMTP server that cannot be reached
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 5
    # when the rep sends a mail
    with pytest.raises(ValidationError) as error:
        email_send(actor=sales_rep, customer=customer, contact=contact, subject="报价", body="您好",
                   attachments=[SimpleUploadedFile("a.txt", b"x")])
    # then he is told, and nothing claims it was sent
    assert "did not take the message" in " ".join(error.value.messages)
    assert not MailMessage.objects.exists()
    assert not Interaction.objects.exists()
    customer.refresh_from_db()
    assert customer.last_contacted_at is None


def test_nobody_sends_to_a_customer_he_cannot_see(smtp_sink, other_rep, customer, contact):
    from django.http import Http404

    with pytest.raises(Http404):
        email_send(actor=other_rep, customer=customer, contact=contact, subject="x", body="y")
    assert smtp_sink.messages == []


def test_a_contact_of_another_customer_is_refused(smtp_sink, sales_rep, customer, customer_factory, contact_factory):
    stranger = contact_factory(customer=customer_factory(owner=sales_rep))
    with pytest.raises(ValidationError):
        email_send(actor=sales_rep, customer=customer, contact=stranger, subject="x", body="y")
    assert smtp_sink.messages == []
