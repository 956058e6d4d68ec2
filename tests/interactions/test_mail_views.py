"""The mail pages: one's mailboxes, unfiled mail and filing it by hand, writing to a customer; and their scope."""

import pytest
from django.urls import reverse

from interactions import mail, tasks
from interactions.models import Interaction, Mailbox, MailMessage
from tests.factories.mail import raw_mail


@pytest.fixture
def queued(monkeypatch):
    """The mailbox ids whose reading was queued (after commit)."""
    ids = []
    monkeypatch.setattr(tasks.sync_mailbox, "delay", lambda mailbox_id: ids.append(mailbox_id))
    return ids


@pytest.fixture
def rep_mailbox(mailbox_factory, sales_rep):
    return mailbox_factory(owner=sales_rep, name="张伟的邮箱", address="rep@crm.example", password="Stored-secret-1")


@pytest.fixture
def others_mailbox(mailbox_factory, other_rep):
    return mailbox_factory(owner=other_rep, name="李芳的邮箱", address="rep2@crm.example")


def _unfiled(mailbox, subject="陌生来信", sender="stranger@else.example"):
    return mail.mail_file(raw_mail(sender=sender, to=mailbox.address, subject=subject), mailbox)


# ------------------------------------------------------------------------------------------ mailboxes


def test_a_rep_lists_his_own_mailboxes_only(client_as, sales_rep, rep_mailbox, others_mailbox):
    response = client_as(sales_rep).get(reverse("interactions:mailbox_list"))
    assert response.status_code == 200
    assert "张伟的邮箱" in response.text
    assert "李芳的邮箱" not in response.text


def test_an_admin_lists_everyones(client_as, admin_user, rep_mailbox, others_mailbox):
    response = client_as(admin_user).get(reverse("interactions:mailbox_list"))
    assert "张伟的邮箱" in response.text and "李芳的邮箱" in response.text


def test_adding_a_mailbox_queues_its_first_read(client_as, sales_rep, queued, django_capture_on_commit_callbacks):
    # given the form filled in
    data = {"name": "工作邮箱", "address": "rep@crm.example", "host": "imap.crm.example", "port": 993,
            "use_ssl": "on", "username": "rep@crm.example", "password": "Imap-pass-1", "folder": "INBOX",
            "enabled": "on"}
    # when it is sent
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as(sales_rep).post(reverse("interactions:mailbox_create"), data)
    # then the mailbox is the rep's, and reading it is queued
    assert response.status_code == 302
    mailbox = Mailbox.objects.get(name="工作邮箱")
    assert (mailbox.owner, mailbox.password) == (sales_rep, "Imap-pass-1")
    assert queued == [mailbox.pk]


def test_a_new_mailbox_needs_a_password(client_as, sales_rep):
    response = client_as(sales_rep).post(reverse("interactions:mailbox_create"), {
        "name": "x", "host": "imap.crm.example", "port": 993, "username": "u", "password": "", "folder": "INBOX"})
    assert response.status_code == 200
    assert response.context["form"].errors["password"]
    assert not Mailbox.objects.exists()


def test_the_edit_form_never_shows_the_stored_password_and_keeps_it_when_left_empty(client_as, sales_rep,
                                                                                    rep_mailbox, queued):
    client = client_as(sales_rep)
    url = reverse("interactions:mailbox_update", args=[rep_mailbox.pk])
    # when the rep opens the edit form
    page = client.get(url)
    # then the password is nowhere in the page
    assert page.status_code == 200
    assert "Stored-secret-1" not in page.text
    # and when he saves other changes without typing a password, the stored one stays
    data = {"name": "改名", "address": rep_mailbox.address, "host": rep_mailbox.host, "port": rep_mailbox.port,
            "username": rep_mailbox.username, "password": "", "folder": rep_mailbox.folder, "enabled": "on"}
    assert client.post(url, data).status_code == 302
    rep_mailbox.refresh_from_db()
    assert (rep_mailbox.name, rep_mailbox.password) == ("改名", "Stored-secret-1")


def test_pointing_a_mailbox_elsewhere_reads_it_from_the_start(sales_rep, rep_mailbox):
    # given a mailbox read up to UID 40
    Mailbox.objects.filter(pk=rep_mailbox.pk).update(uid_validity=7, last_uid=40, last_error="old")
    rep_mailbox.refresh_from_db()
    # when its folder changes
    rep_mailbox.folder = "Sent"
    mail.mailbox_save(actor=sales_rep, mailbox=rep_mailbox)
    # then it starts again
    rep_mailbox.refresh_from_db()
    assert (rep_mailbox.uid_validity, rep_mailbox.last_uid, rep_mailbox.last_error) == (None, 0, "")


def test_deleting_asks_first_then_keeps_filed_mail_and_drops_unfiled(client_as, sales_rep, rep_mailbox,
                                                                     customer_factory):
    # given one filed and one unfiled message from the mailbox
    customer_factory(owner=sales_rep, email="buyer@client.example")
    filed = mail.mail_file(raw_mail(sender="buyer@client.example", to="rep@crm.example"), rep_mailbox)
    unfiled = _unfiled(rep_mailbox)
    client = client_as(sales_rep)
    url = reverse("interactions:mailbox_delete", args=[rep_mailbox.pk])
    # when the rep asks to delete it, he is asked to confirm
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "1 unfiled message" in confirm.text
    assert Mailbox.objects.filter(pk=rep_mailbox.pk).exists()
    # and when he confirms
    assert client.post(url).status_code == 302
    # then the mailbox and its unfiled mail are gone; the filed mail stays on the timeline
    assert not Mailbox.objects.filter(pk=rep_mailbox.pk).exists()
    assert not MailMessage.objects.filter(pk=unfiled.pk).exists()
    assert Interaction.objects.filter(mail=filed).exists()


def test_read_now_queues_a_read_and_answers_htmx_with_the_row(client_as, sales_rep, rep_mailbox, queued,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as(sales_rep).post(reverse("interactions:mailbox_sync", args=[rep_mailbox.pk]),
                                             HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="mailbox-{rep_mailbox.pk}"' in response.text
    assert "Reading…" in response.text
    assert queued == [rep_mailbox.pk]


def test_the_list_shows_the_last_read_and_its_error(client_as, sales_rep, rep_mailbox):
    Mailbox.objects.filter(pk=rep_mailbox.pk).update(last_error="The mail server refused the user name or password")
    response = client_as(sales_rep).get(reverse("interactions:mailbox_list"))
    assert "The mail server refused the user name or password" in response.text


@pytest.mark.parametrize("name", ["interactions:mailbox_update", "interactions:mailbox_delete"])
def test_another_reps_mailbox_is_not_found(client_as, sales_rep, others_mailbox, name):
    assert client_as(sales_rep).get(reverse(name, args=[others_mailbox.pk])).status_code == 404


def test_another_reps_mailbox_cannot_be_read_or_deleted(client_as, sales_rep, others_mailbox, queued):
    client = client_as(sales_rep)
    assert client.post(reverse("interactions:mailbox_sync", args=[others_mailbox.pk])).status_code == 404
    assert client.post(reverse("interactions:mailbox_delete", args=[others_mailbox.pk])).status_code == 404
    assert Mailbox.objects.filter(pk=others_mailbox.pk).exists()
    assert queued == []


def test_marketing_has_no_mailboxes(client_as, marketing_user):
    assert client_as(marketing_user).get(reverse("interactions:mailbox_list")).status_code == 403


# ------------------------------------------------------------------------------------ unfiled mail


def test_unfiled_mail_is_listed_and_searched(client_as, sales_rep, rep_mailbox, others_mailbox):
    # given unfiled mail in the rep's mailbox and in another rep's
    _unfiled(rep_mailbox, subject="展会邀请")
    _unfiled(rep_mailbox, subject="发票问题", sender="finance@partner.example")
    _unfiled(others_mailbox, subject="别人的信")
    client = client_as(sales_rep)
    url = reverse("interactions:mail_unfiled")
    # when he lists it, and searches it (htmx swaps the results)
    listed = client.get(url)
    searched = client.get(url, {"search": "partner"}, HTTP_HX_REQUEST="true")
    # then he sees his own only, and the search narrows it
    assert "展会邀请" in listed.text and "发票问题" in listed.text
    assert "别人的信" not in listed.text
    assert "发票问题" in searched.text and "展会邀请" not in searched.text
    assert "<html" not in searched.text


def test_filing_by_hand_finds_visible_customers_and_files_the_message(client_as, sales_rep, other_rep, rep_mailbox,
                                                                      customer_factory):
    # given an unfiled message, the rep's customer and another rep's of a similar name
    message = _unfiled(rep_mailbox)
    mine = customer_factory(owner=sales_rep, name="镕铭科技上海")
    customer_factory(owner=other_rep, name="镕铭科技杭州")
    client = client_as(sales_rep)
    url = reverse("interactions:mail_file", args=[message.pk])
    # when he searches for the customer
    found = client.get(url, {"find": "镕铭科技"}, HTTP_HX_REQUEST="true")
    # then only the one he may see is offered
    assert "镕铭科技上海" in found.text and "镕铭科技杭州" not in found.text
    # and when he files it there
    response = client.post(url, {"customer": mine.pk})
    # then it is on that customer's timeline and leaves the unfiled list
    assert response.status_code == 302
    assert Interaction.objects.get(mail=message).customer == mine
    assert message.pk not in mail.unfiled_for(sales_rep).values_list("pk", flat=True)


def test_filing_on_a_customer_out_of_sight_is_refused(client_as, sales_rep, other_rep, rep_mailbox,
                                                      customer_factory):
    message = _unfiled(rep_mailbox)
    theirs = customer_factory(owner=other_rep)
    response = client_as(sales_rep).post(reverse("interactions:mail_file", args=[message.pk]), {"customer": theirs.pk})
    assert response.status_code == 200
    assert response.context["form"].errors["customer"]
    assert not Interaction.objects.exists()


def test_another_reps_unfiled_mail_is_not_found(client_as, sales_rep, others_mailbox, customer_factory):
    message = _unfiled(others_mailbox)
    client = client_as(sales_rep)
    url = reverse("interactions:mail_file", args=[message.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"customer": customer_factory(owner=sales_rep).pk}).status_code == 404
    assert not Interaction.objects.exists()


# -------------------------------------------------------------------------------------- writing mail


def test_the_customer_page_offers_to_write_an_email(client_as, sales_rep, customer_factory, contact_factory):
    customer = customer_factory(owner=sales_rep)
    contact_factory(customer=customer, email="buyer@client.example")
    response = client_as(sales_rep).get(reverse("customers:detail", args=[customer.pk]), {"tab": "timeline"})
    assert reverse("interactions:mail_compose", args=[customer.pk]) in response.text


def test_writing_from_the_crm_sends_and_puts_it_on_the_timeline(client_as, smtp_sink, sales_rep, customer_factory,
                                                                contact_factory):
    # given a customer with a primary contact
    customer = customer_factory(owner=sales_rep)
    contact = contact_factory(customer=customer, name="王总", email="wang@client.example", is_primary=True)
    client = client_as(sales_rep)
    url = reverse("interactions:mail_compose", args=[customer.pk])
    # when the rep opens the form, the contact is offered first, and he sends it
    page = client.get(url)
    assert page.context["form"]["to"].initial == str(contact.pk)
    response = client.post(url, {"to": str(contact.pk), "subject": "拜访安排", "body": "王总，周三下午拜访可好？"})
    # then it went out and the timeline shows it
    assert response.status_code == 302
    assert response.url == reverse("customers:detail", args=[customer.pk]) + "?tab=timeline"
    assert smtp_sink.messages[0].rcpt_tos == ["wang@client.example"]
    timeline = client.get(response.url)
    assert "拜访安排" in timeline.text


def test_a_refused_mail_keeps_the_text_in_the_form(client_as, settings, sales_rep, customer_factory):
    from tests.interactions.conftest import _free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 5
    customer = customer_factory(owner=sales_rep, email="info@client.example")
    response = client_as(sales_rep).post(reverse("interactions:mail_compose", args=[customer.pk]),
                                         {"to": "customer", "subject": "报价", "body": "请查收"})
    assert response.status_code == 200
    assert "did not take the message" in response.text
    assert "请查收" in response.text
    assert not Interaction.objects.exists()


def test_writing_to_a_customer_out_of_sight_is_not_found(client_as, sales_rep, other_rep, customer_factory):
    theirs = customer_factory(owner=other_rep)
    assert client_as(sales_rep).get(reverse("interactions:mail_compose", args=[theirs.pk])).status_code == 404


def test_marketing_may_not_write_from_the_crm(client_as, marketing_user, customer_factory):
    customer = customer_factory()
    assert client_as(marketing_user).get(reverse("interactions:mail_compose", args=[customer.pk])).status_code == 403
