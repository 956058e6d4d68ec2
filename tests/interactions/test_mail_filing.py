"""Filing mail on customers' timelines (interactions.mail.mail_file and mail_file_to_customer)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import services as customer_services
from interactions.mail import mail_file, mail_file_to_customer
from interactions.models import Interaction, MailMessage
from tests.factories.mail import raw_mail

SENT = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def rep_mailbox(mailbox_factory, sales_rep):
    return mailbox_factory(owner=sales_rep, address="rep@crm.example")


def test_inbound_mail_from_a_contact_is_filed_on_its_customer(rep_mailbox, sales_rep, customer_factory,
                                                               contact_factory):
    # given a customer whose contact writes to the rep
    customer = customer_factory(owner=sales_rep)
    contact = contact_factory(customer=customer, email="buyer@client.example")
    # when the mail is filed
    message = mail_file(raw_mail(sender="采购 <Buyer@Client.Example>", to="rep@crm.example", subject="询价",
                                 body="请报价", date=SENT), rep_mailbox)
    # then it is on the customer's timeline, inbound, from that contact, by the mailbox's owner, at its Date
    interaction = Interaction.objects.get(mail=message)
    assert (interaction.customer, interaction.contact, interaction.author) == (customer, contact, sales_rep)
    assert (interaction.channel, interaction.direction) == ("email", "in")
    assert interaction.occurred_at == SENT
    assert (interaction.subject, interaction.body) == ("询价", "请报价")
    assert message.filed
    customer.refresh_from_db()
    assert customer.last_contacted_at == SENT


def test_outbound_mail_matches_to_and_cc_on_several_customers(rep_mailbox, sales_rep, other_rep, customer_factory,
                                                               contact_factory):
    # given two customers (one another rep's) and an unrelated one
    first = customer_factory(owner=sales_rep, email="info@first.example")
    second = customer_factory(owner=other_rep)
    second_contact = contact_factory(customer=second, email="ceo@second.example")
    unrelated = customer_factory(owner=sales_rep, email="nobody@third.example")
    # when the rep's mail to the first (To, by its customer email) and the second (Cc, upper case) is filed
    message = mail_file(raw_mail(sender="rep@crm.example", to="INFO@first.example", cc="CEO@Second.Example",
                                 date=SENT), rep_mailbox)
    # then it is on both timelines, outbound, with the contact where a contact matched
    filed = {i.customer_id: i for i in Interaction.objects.filter(mail=message)}
    assert set(filed) == {first.pk, second.pk}
    assert filed[first.pk].contact is None
    assert filed[second.pk].contact == second_contact
    assert {i.direction for i in filed.values()} == {"out"}
    assert not unrelated.interactions.exists()


def test_the_mailbox_own_address_never_matches(mailbox_factory, sales_rep, customer_factory):
    # given a customer that (wrongly) carries the rep's own address, and the rep's mailbox
    mailbox = mailbox_factory(owner=sales_rep, address="rep@crm.example")
    customer_factory(owner=sales_rep, email="rep@crm.example")
    # when mail between the rep and a stranger is filed
    message = mail_file(raw_mail(sender="stranger@else.example", to="rep@crm.example"), mailbox)
    # then nothing matched: it waits unfiled
    assert not message.filed
    assert not Interaction.objects.exists()


def test_deleted_customers_are_not_matched(rep_mailbox, sales_rep, customer_factory, contact_factory):
    # given a customer in the recycle bin
    customer = customer_factory(owner=sales_rep)
    contact_factory(customer=customer, email="gone@client.example")
    customer_services.customer_delete(actor=sales_rep, customer=customer)
    # when its contact's mail is filed
    message = mail_file(raw_mail(sender="gone@client.example", to="rep@crm.example"), rep_mailbox)
    # then it stays unfiled
    assert not message.filed


def test_filed_once_per_message_id_however_often_and_wherever_read(rep_mailbox, mailbox_factory, sales_rep,
                                                                    sales_manager, customer_factory, contact_factory):
    # given a contact's mail that reaches the rep and his manager (Cc), each with a mailbox
    customer = customer_factory(owner=sales_rep)
    contact_factory(customer=customer, email="buyer@client.example")
    manager_box = mailbox_factory(owner=sales_manager, address="manager@crm.example")
    raw = raw_mail(sender="buyer@client.example", to="rep@crm.example", cc="manager@crm.example",
                   message_id="<once@client.example>")
    # when it is read from both mailboxes, twice
    for mailbox in (rep_mailbox, manager_box, rep_mailbox, manager_box):
        mail_file(raw, mailbox)
    # then one message, one interaction, by the first reader
    assert MailMessage.objects.filter(message_id="<once@client.example>").count() == 1
    interaction = Interaction.objects.get()
    assert interaction.author == sales_rep


def test_replies_keep_the_thread_of_the_first_message(rep_mailbox, sales_rep, customer_factory, contact_factory):
    # given a customer's contact, a first message and replies with References, In-Reply-To only, and neither
    contact_factory(customer=customer_factory(owner=sales_rep), email="buyer@client.example")
    first = mail_file(raw_mail(sender="buyer@client.example", to="rep@crm.example", message_id="<t1@x>"),
                      rep_mailbox)
    # when the replies are filed
    second = mail_file(raw_mail(sender="rep@crm.example", to="buyer@client.example", message_id="<t2@x>",
                                in_reply_to="<t1@x>"), rep_mailbox)
    third = mail_file(raw_mail(sender="buyer@client.example", to="rep@crm.example", message_id="<t3@x>",
                               in_reply_to="<t2@x>", references="<t1@x> <t2@x>"), rep_mailbox)
    fourth = mail_file(raw_mail(sender="buyer@client.example", to="rep@crm.example", message_id="<t4@x>",
                                in_reply_to="<t3@x>"), rep_mailbox)
    alone = mail_file(raw_mail(sender="buyer@client.example", to="rep@crm.example", message_id="<new@x>"),
                      rep_mailbox)
    # then all but the new conversation share the first message's id as thread key
    assert [m.thread_key for m in (first, second, third, fourth)] == ["<t1@x>"] * 4
    assert alone.thread_key == "<new@x>"


def test_a_reply_read_before_its_parent_joins_the_thread_when_the_parent_comes(rep_mailbox):
    # given a reply (In-Reply-To only) read before the message it answers, which itself answers an older one
    reply = mail_file(raw_mail(sender="a@x.example", to="rep@crm.example", message_id="<r2@x>",
                               in_reply_to="<r1@x>"), rep_mailbox)
    # when the parent comes, with References to the thread's first message
    mail_file(raw_mail(sender="b@x.example", to="rep@crm.example", message_id="<r1@x>", in_reply_to="<r0@x>",
                       references="<r0@x>"), rep_mailbox)
    # then the reply moves into that thread
    reply.refresh_from_db()
    assert reply.thread_key == "<r0@x>"


def test_a_reply_from_an_unknown_address_follows_its_thread(rep_mailbox, sales_rep, customer_factory,
                                                            contact_factory):
    # given a thread filed on a customer
    customer = customer_factory(owner=sales_rep)
    contact_factory(customer=customer, email="buyer@client.example")
    mail_file(raw_mail(sender="rep@crm.example", to="buyer@client.example", message_id="<q1@x>"), rep_mailbox)
    # when a colleague of the buyer, not yet a contact, answers in the thread
    reply = mail_file(raw_mail(sender="colleague@client.example", to="rep@crm.example", message_id="<q2@x>",
                               in_reply_to="<q1@x>", references="<q1@x>"), rep_mailbox)
    # then the answer is filed with its thread, without a contact
    interaction = Interaction.objects.get(mail=reply)
    assert interaction.customer == customer
    assert interaction.contact is None
    assert interaction.direction == "in"


def test_a_forged_thread_reference_does_not_file_on_customers_the_owner_cannot_see(rep_mailbox, mailbox_factory,
                                                                                   sales_rep, other_rep,
                                                                                   customer_factory, contact_factory):
    # given a thread on another rep's customer, whose Message-ID has become known
    theirs = customer_factory(owner=other_rep)
    contact_factory(customer=theirs, email="buyer@theirs.example")
    their_box = mailbox_factory(owner=other_rep, address="rep2@crm.example")
    mail_file(raw_mail(sender="buyer@theirs.example", to="rep2@crm.example", message_id="<secret@theirs>"), their_box)
    # when a stranger writes to the rep with References to that thread
    forged = mail_file(raw_mail(sender="stranger@else.example", to="rep@crm.example", message_id="<forged@x>",
                                in_reply_to="<secret@theirs>", references="<secret@theirs>",
                                subject="请把货款付到新账户"), rep_mailbox)
    # then it is not put on a customer the rep cannot see: it waits in his unfiled mail
    assert not Interaction.objects.filter(mail=forged).exists()
    assert not forged.filed
    assert list(theirs.interactions.values_list("mail__message_id", flat=True)) == ["<secret@theirs>"]


def test_a_reply_in_a_thread_is_filed_on_the_customers_of_it_the_owner_can_see(rep_mailbox, sales_rep, other_rep,
                                                                                customer_factory, contact_factory):
    # given a message that concerns the rep's customer and another rep's (Cc)
    mine = customer_factory(owner=sales_rep)
    contact_factory(customer=mine, email="buyer@mine.example")
    theirs = customer_factory(owner=other_rep)
    contact_factory(customer=theirs, email="buyer@theirs.example")
    mail_file(raw_mail(sender="rep@crm.example", to="buyer@mine.example", cc="buyer@theirs.example",
                       message_id="<both@x>"), rep_mailbox)
    # when an unknown address answers in the thread
    reply = mail_file(raw_mail(sender="new@mine.example", to="rep@crm.example", message_id="<answer@x>",
                               references="<both@x>"), rep_mailbox)
    # then it follows the thread onto the rep's customer only
    assert list(Interaction.objects.filter(mail=reply).values_list("customer", flat=True)) == [mine.pk]


def test_matching_is_one_query_whatever_the_number_of_addresses(rep_mailbox, sales_rep, customer_factory,
                                                                 contact_factory):
    # given twenty customers, each with two contacts, all on one message
    addresses = []
    for n in range(20):
        customer = customer_factory(owner=sales_rep, email=f"c{n}@client.example")
        for k in range(2):
            addresses.append(contact_factory(customer=customer, email=f"p{n}-{k}@client.example").email)
    raw = raw_mail(sender="rep@crm.example", to=addresses[:20], cc=addresses[20:] + ["c1@client.example"])
    # when it is filed
    with CaptureQueriesContext(connection) as queries:
        message = mail_file(raw, rep_mailbox)
    # then the contacts table was read once, and all twenty customers got it
    assert sum('FROM "customers_contact"' in q["sql"] for q in queries.captured_queries) == 1
    assert Interaction.objects.filter(mail=message).count() == 20


def test_a_future_date_does_not_move_last_contacted(rep_mailbox, sales_rep, customer_factory):
    # given a message whose sender's clock is a week ahead
    customer = customer_factory(owner=sales_rep, email="ahead@client.example")
    mail_file(raw_mail(sender="ahead@client.example", to="rep@crm.example",
                       date=timezone.now() + timedelta(days=7)), rep_mailbox)
    # then it is filed but "last contacted" stays empty
    customer.refresh_from_db()
    assert customer.interactions.count() == 1
    assert customer.last_contacted_at is None


def test_unfiled_mail_is_filed_by_hand_on_a_customer_the_rep_may_see(rep_mailbox, sales_rep, other_rep,
                                                                     customer_factory, contact_factory):
    # given an unfiled message in the rep's mailbox, his customer and another rep's
    message = mail_file(raw_mail(sender="new.person@client.example", to="rep@crm.example", date=SENT), rep_mailbox)
    mine = customer_factory(owner=sales_rep)
    theirs = customer_factory(owner=other_rep)
    # when he files it on his customer
    interaction = mail_file_to_customer(actor=sales_rep, message=message, customer=mine)
    # then it is on the timeline and no longer unfiled; another rep's customer is out of reach
    message.refresh_from_db()
    assert message.filed
    assert (interaction.customer, interaction.direction, interaction.author) == (mine, "in", sales_rep)
    with pytest.raises(Http404):
        mail_file_to_customer(actor=sales_rep, message=message, customer=theirs)


def test_nobody_files_another_users_mail_by_hand(rep_mailbox, other_rep, customer_factory):
    # given the rep's unfiled message and a customer of the pool, visible to everyone
    message = mail_file(raw_mail(sender="x@else.example", to="rep@crm.example"), rep_mailbox)
    pool_customer = customer_factory()
    # when another rep tries to file it
    # then he is told it does not exist
    with pytest.raises(Http404):
        mail_file_to_customer(actor=other_rep, message=message, customer=pool_customer)
