"""The mail pages: one's mailboxes, unfiled mail and filing it by hand, writing to a customer; and their scope."""

import pytest
from django.urls import reverse

from interactions import mail, tasks
from interactions.models import Interaction, Mailbox, MailMessage
from interactions.permissions import unfiled_for
from tests.factories.mail import raw_mail


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


def test_adding_a_mailbox_queues_its_first_read(client_as, sales_rep, queued, dns, django_capture_on_commit_callbacks):
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
                                                                                    rep_mailbox, queued, dns):
    client = client_as(sales_rep)
    url = reverse("interactions:mailbox_update", args=[rep_mailbox.pk])
    # when the rep opens the edit form
    page = client.get(url)
    # then the password is nowhere in the page
    assert page.status_code == 200
    assert "Stored-secret-1" not in page.text
    # and when he saves other changes without typing a password, the stored one stays
    assert client.post(url, _edit(rep_mailbox, name="改名")).status_code == 302
    rep_mailbox.refresh_from_db()
    assert (rep_mailbox.name, rep_mailbox.password) == ("改名", "Stored-secret-1")


def _edit(mailbox, **changes):
    data = {"name": mailbox.name, "address": mailbox.address, "host": mailbox.host, "port": mailbox.port,
            "use_ssl": "on" if mailbox.use_ssl else "", "username": mailbox.username, "password": "",
            "folder": mailbox.folder, "enabled": "on"}
    return {key: value for key, value in (data | changes).items() if value != ""}


@pytest.mark.parametrize("changes", [{"host": "imap.attacker.example"}, {"port": 143, "use_ssl": ""},
                                     {"username": "someone-else@crm.example"}])
def test_pointing_a_mailbox_at_another_server_or_account_needs_the_password_again(client_as, sales_rep, rep_mailbox,
                                                                                  queued, dns, changes):
    # given a mailbox with a stored password, and a server the rep may use
    dns["imap.attacker.example"] = ["93.184.216.35"]
    client = client_as(sales_rep)
    url = reverse("interactions:mailbox_update", args=[rep_mailbox.pk])
    # when he points it elsewhere without typing the password
    response = client.post(url, _edit(rep_mailbox, **changes))
    # then the stored password does not follow it there: he is asked for it
    assert response.status_code == 200
    assert response.context["form"].errors["password"] == [
        "You changed the server or the user name: enter the password again."]
    assert Mailbox.objects.get(pk=rep_mailbox.pk).host == "imap.crm.example"
    # and with the password typed again it is saved
    assert client.post(url, _edit(rep_mailbox, password="New-secret-2", **changes)).status_code == 302
    rep_mailbox.refresh_from_db()
    assert rep_mailbox.password == "New-secret-2"


def test_another_folder_on_the_same_account_keeps_the_password(client_as, sales_rep, rep_mailbox, queued, dns):
    response = client_as(sales_rep).post(reverse("interactions:mailbox_update", args=[rep_mailbox.pk]),
                                         _edit(rep_mailbox, folder="已发送"))
    assert response.status_code == 302
    rep_mailbox.refresh_from_db()
    assert (rep_mailbox.folder, rep_mailbox.password) == ("已发送", "Stored-secret-1")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost.crm.example", "10.1.2.3", "169.254.169.254", "::1",
                                  "0.0.0.0", "intranet.crm.example"])
def test_a_server_inside_the_network_is_refused_when_saving(client_as, sales_rep, dns, host):
    # given names that resolve to loopback and to a private address
    dns["localhost.crm.example"] = ["127.0.0.1"]
    dns["intranet.crm.example"] = ["93.184.216.34", "192.168.1.20"]  # one address inside is enough
    # when a rep saves a mailbox there
    response = client_as(sales_rep).post(reverse("interactions:mailbox_create"), {
        "name": "x", "host": host, "port": 993, "use_ssl": "on", "username": "u", "password": "p", "folder": "INBOX"})
    # then the form says why, in his language, and nothing is saved
    assert response.status_code == 200
    (error,) = response.context["form"].errors["host"]
    assert "not a mail server on the internet" in error
    assert not Mailbox.objects.exists()


@pytest.mark.parametrize("port", [22, 25, 80, 6379])
def test_ports_other_than_imaps_are_refused_when_saving(client_as, sales_rep, dns, port):
    response = client_as(sales_rep).post(reverse("interactions:mailbox_create"), {
        "name": "x", "host": "imap.crm.example", "port": port, "username": "u", "password": "p", "folder": "INBOX"})
    assert response.status_code == 200
    assert "port 993" in response.context["form"].errors["port"][0]
    assert not Mailbox.objects.exists()


def test_an_unknown_server_is_refused_when_saving(client_as, sales_rep, dns):
    response = client_as(sales_rep).post(reverse("interactions:mailbox_create"), {
        "name": "x", "host": "no-such-host.crm.example", "port": 993, "username": "u", "password": "p",
        "folder": "INBOX"})
    assert response.context["form"].errors["host"] == ["The mail server no-such-host.crm.example is unknown: check "
                                                       "its name."]


@pytest.mark.parametrize("allowed", [["10.8.0.0/24"], ["imap.corp.internal"], ["IMAP.corp.internal."]])
def test_an_administrator_allows_servers_inside_the_network(client_as, settings, sales_rep, queued, dns, allowed):
    # given the company's own mail server, inside the network on a port of its own, allowed by the administrator
    dns["imap.corp.internal"] = ["10.8.0.25"]
    settings.CRM_MAILBOX_ALLOWED_HOSTS = allowed
    # when a rep saves a mailbox there
    response = client_as(sales_rep).post(reverse("interactions:mailbox_create"), {
        "name": "公司邮箱", "host": "imap.corp.internal", "port": 1143, "username": "u", "password": "p",
        "folder": "INBOX"})
    # then it is accepted
    assert response.status_code == 302
    assert Mailbox.objects.get().host == "imap.corp.internal"


def test_pointing_a_mailbox_elsewhere_reads_it_from_the_start(sales_rep, rep_mailbox, dns):
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
    assert message.pk not in unfiled_for(sales_rep).values_list("pk", flat=True)


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


def test_writing_from_the_crm_queues_the_mail_and_puts_it_on_the_timeline(client_as, smtp_sink, sales_rep,
                                                                          customer_factory, contact_factory,
                                                                          monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    # given a customer with a primary contact
    customer = customer_factory(owner=sales_rep)
    contact = contact_factory(customer=customer, name="王总", email="wang@client.example", is_primary=True)
    sends = []
    monkeypatch.setattr(tasks.send_email, "delay", lambda mail_id: sends.append(mail_id))
    client = client_as(sales_rep)
    url = reverse("interactions:mail_compose", args=[customer.pk])
    # when the rep opens the form, the contact is offered first, and he sends it
    page = client.get(url)
    assert page.context["form"]["to"].initial == str(contact.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"to": str(contact.pk), "subject": "拜访安排", "body": "王总，周三下午拜访可好？"})
    # then the request only stored it and queued its sending; the timeline shows it
    assert response.status_code == 302
    assert response.url == reverse("customers:detail", args=[customer.pk]) + "?tab=timeline"
    interaction = Interaction.objects.get(customer=customer)
    assert interaction.mail.send_status == "queued"
    assert sends == [interaction.mail.pk]
    assert smtp_sink.messages == []
    timeline = client.get(response.url)
    assert "拜访安排" in timeline.text


@pytest.mark.parametrize("subject", ["报价\nBcc: everyone@example.com", "报价\r\n第二行", "a\rb"])
def test_a_subject_with_a_line_break_is_refused_by_the_form(client_as, sales_rep, customer_factory, subject):
    customer = customer_factory(owner=sales_rep, email="info@client.example")
    response = client_as(sales_rep).post(reverse("interactions:mail_compose", args=[customer.pk]),
                                         {"to": "customer", "subject": subject, "body": "请查收"})
    assert response.status_code == 200
    assert response.context["form"].errors["subject"] == ["The subject must be one line."]
    assert "请查收" in response.text
    assert not Interaction.objects.exists()


def test_writing_to_a_customer_out_of_sight_is_not_found(client_as, sales_rep, other_rep, customer_factory):
    theirs = customer_factory(owner=other_rep)
    assert client_as(sales_rep).get(reverse("interactions:mail_compose", args=[theirs.pk])).status_code == 404


def test_marketing_may_not_write_from_the_crm(client_as, marketing_user, customer_factory):
    customer = customer_factory()
    assert client_as(marketing_user).get(reverse("interactions:mail_compose", args=[customer.pk])).status_code == 403
