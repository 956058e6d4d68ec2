"""Logging an interaction from the customer page, the next step it promises, and the customer timeline."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from customers import services as customer_services
from customers.models import Customer
from customers.timeline import Cursor, timeline
from interactions import services
from interactions.models import FollowUp, Interaction
from tests.factories import ContactFactory, CustomerFactory


def _log_url(customer):
    return reverse("interactions:log", args=[customer.pk])


def _timeline(client, customer, headers=None, **params):
    return client.get(reverse("customers:detail", args=[customer.pk]), {"tab": "timeline", **params},
                      headers=headers)


def test_a_logged_call_appears_on_the_timeline_and_moves_last_contacted(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    client = client_as(sales_rep)
    when = timezone.localtime() - timedelta(hours=2)
    # when the rep logs a call from the customer page, through htmx
    response = client.post(_log_url(customer), {
        "channel": "call", "direction": "out", "occurred_at": when.strftime("%Y-%m-%dT%H:%M"),
        "subject": "电话沟通", "body": "客户要下周的报价", "next_priority": "normal",
    }, HTTP_HX_REQUEST="true")
    # then the customer page's tabs are reloaded in place, and the call is on the timeline
    assert response.status_code == 204 and "customer-tabs" in response["HX-Location"]
    page = _timeline(client, customer).content.decode()
    assert "电话沟通" in page and "客户要下周的报价" in page
    customer.refresh_from_db()
    assert customer.last_contacted_at == when.replace(second=0, microsecond=0)


def test_a_note_does_not_count_as_contact_and_an_older_call_does_not_move_it_back(sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    now = timezone.now()
    services.interaction_log(actor=sales_rep, customer=customer, data={"channel": "note", "body": "内部备注"})
    customer.refresh_from_db()
    assert customer.last_contacted_at is None
    services.interaction_log(actor=sales_rep, customer=customer, data={"channel": "call", "occurred_at": now})
    services.interaction_log(actor=sales_rep, customer=customer,
                             data={"channel": "visit", "occurred_at": now - timedelta(days=3)})
    customer.refresh_from_db()
    assert customer.last_contacted_at == now


def test_the_next_step_becomes_a_follow_up_in_the_same_step(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    due = (timezone.localtime() + timedelta(days=2)).replace(second=0, microsecond=0)
    client_as(sales_rep).post(_log_url(customer), {
        "channel": "visit", "direction": "out", "subject": "上门拜访", "next_step": "发送报价单",
        "next_due": due.strftime("%Y-%m-%dT%H:%M"),
        "next_remind": (due - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "next_assignee": sales_rep.pk, "next_priority": "high",
    })
    followup = FollowUp.objects.get()
    assert (followup.title, followup.due_at, followup.assignee, followup.priority) == (
        "发送报价单", due, sales_rep, "high"
    )
    assert followup.remind_at == due - timedelta(hours=1)
    assert followup.interaction == Interaction.objects.get()


def test_the_quick_log_form_shows_its_errors_in_place(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    response = client_as(sales_rep).post(_log_url(customer), {"channel": "call", "next_step": "回访"},
                                         HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and page.lstrip().startswith('<form id="quick-log"')
    assert "Say what happened" in page and "When is the next step due?" in page
    assert not Interaction.objects.exists()


def test_attachments_are_kept_and_served_only_to_those_who_see_the_customer(client_as, sales_rep, other_rep):
    customer = CustomerFactory(owner=sales_rep)
    client_as(sales_rep).post(_log_url(customer), {
        "channel": "meeting", "direction": "out", "subject": "签约会议", "next_priority": "normal",
        "files": [SimpleUploadedFile("会议纪要.txt", "纪要内容".encode()), SimpleUploadedFile("b.txt", b"x")],
    })
    interaction = Interaction.objects.get()
    attachment = interaction.attachments.get(name="会议纪要.txt")
    url = reverse("interactions:attachment", args=[interaction.pk, attachment.pk])
    response = client_as(sales_rep).get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == "纪要内容".encode()
    assert client_as(other_rep).get(url).status_code == 404


def test_a_rep_cannot_log_on_a_customer_he_cannot_see(client_as, sales_rep, south_rep):
    theirs = CustomerFactory(owner=south_rep)
    response = client_as(sales_rep).post(_log_url(theirs), {"channel": "call", "subject": "x"})
    assert response.status_code == 404
    with pytest.raises(Exception):  # noqa: B017 (Http404 from the policy)
        services.interaction_log(actor=sales_rep, customer=theirs, data={"channel": "call", "subject": "x"})
    assert not Interaction.objects.exists()


def test_a_contact_of_another_customer_is_refused(sales_rep):
    customer, other = CustomerFactory(owner=sales_rep), CustomerFactory(owner=sales_rep)
    with pytest.raises(ValidationError):
        services.interaction_log(actor=sales_rep, customer=customer, data={"channel": "call", "subject": "x"},
                                 contact=ContactFactory(customer=other))


def test_a_support_agent_may_log_on_a_customer_he_can_see_but_not_edit(support_agent):
    pool_customer = CustomerFactory(owner=None)
    services.interaction_log(actor=support_agent, customer=pool_customer, data={"channel": "call", "subject": "来电"})
    assert Interaction.objects.get().author == support_agent


# -------------------------------------------------------------------------------------------- timeline


def _entries(customer, user, **kwargs):
    return timeline(customer=customer, user=user, **kwargs)


def test_the_timeline_mixes_interactions_follow_ups_and_changes_newest_first(sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    now = timezone.now()
    services.interaction_log(actor=sales_rep, customer=customer,
                             data={"channel": "call", "subject": "昨天的电话", "occurred_at": now - timedelta(days=1)})
    done = services.followup_create(actor=sales_rep, customer=customer, title="上周的回访", due_at=now)
    services.followup_complete(actor=sales_rep, followup=done)
    services.followup_create(actor=sales_rep, customer=customer, title="明天回访", due_at=now + timedelta(days=1))
    Customer.objects.filter(pk=customer.pk).update(notes="改过")  # a change in the audit trail
    entries, more = _entries(customer, sales_rep)
    kinds = [e.kind for e in entries]
    assert "interaction" in kinds and "history" in kinds
    # the done follow-up is on the timeline; the open one stands above it, in its own panel
    assert [e.title for e in entries if e.kind == "followup"] == ["上周的回访"]
    assert [e.when for e in entries] == sorted((e.when for e in entries), reverse=True)
    assert more is None


def test_the_timeline_filters_by_kind(sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    services.interaction_log(actor=sales_rep, customer=customer, data={"channel": "call", "subject": "电话"})
    entries, _more = _entries(customer, sales_rep, only=["interaction"])
    assert {e.kind for e in entries} == {"interaction"}


def test_the_timeline_pages_through_every_entry_exactly_once(sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    base = timezone.now() - timedelta(days=1)
    for i in range(70):
        # pairs sharing a time: the cursor must neither skip nor repeat them
        Interaction.objects.create(customer=customer, author=sales_rep, channel="call", subject=f"第{i}次",
                                   occurred_at=base + timedelta(minutes=i // 2))
    seen, cursor = [], None
    while True:
        entries, cursor = _entries(customer, sales_rep, only=["interaction"], before=cursor, limit=30)
        seen += [e.id for e in entries]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 70


def test_the_older_entries_link_loads_the_next_page_as_a_fragment(client_as, sales_rep, django_assert_max_num_queries):
    customer = CustomerFactory(owner=sales_rep)
    base = timezone.now() - timedelta(days=1)
    Interaction.objects.bulk_create([
        Interaction(customer=customer, author=sales_rep, channel="call", subject=f"通话{i:03d}",
                    occurred_at=base + timedelta(minutes=i)) for i in range(45)
    ])
    client = client_as(sales_rep)
    page = _timeline(client, customer, kind="interaction").content.decode()
    assert "通话044" in page and "通话010" not in page and 'id="timeline-more"' in page
    cursor = Cursor(base + timedelta(minutes=15), "interaction", Interaction.objects.get(subject="通话015").pk)
    with django_assert_max_num_queries(25):
        more = _timeline(client, customer, kind="interaction", before=cursor.encode(), part="entries",
                         headers={"HX-Request": "true"})
    fragment = more.content.decode()
    assert "<html" not in fragment and "通话014" in fragment and "通话015" not in fragment


def test_open_follow_ups_stand_above_the_timeline_overdue_first(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    now = timezone.now()
    services.followup_create(actor=sales_rep, customer=customer, title="下周拜访", due_at=now + timedelta(days=7))
    services.followup_create(actor=sales_rep, customer=customer, title="昨天就该打的电话",
                             due_at=now - timedelta(days=1))
    page = _timeline(client_as(sales_rep), customer).content.decode()
    panel = page[page.index('id="open-followups"'):page.index('id="quick-log"')]
    assert panel.index("昨天就该打的电话") < panel.index("下周拜访")


def test_the_timeline_tab_is_404_outside_the_customers_scope(client_as, sales_rep, south_rep):
    theirs = CustomerFactory(owner=south_rep)
    assert _timeline(client_as(sales_rep), theirs).status_code == 404


# -------------------------------------------------------------------------------------------- follow-ups


def test_snooze_moves_the_reminder_and_a_past_time_is_refused(sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    now = timezone.now()
    followup = services.followup_create(actor=sales_rep, customer=customer, title="回访",
                                        due_at=now + timedelta(hours=1), remind_at=now - timedelta(minutes=5))
    FollowUp.objects.filter(pk=followup.pk).update(reminded_at=now)
    later = now + timedelta(hours=3)
    followup = services.followup_snooze(actor=sales_rep, followup=followup, until=later)
    assert (followup.remind_at, followup.reminded_at, followup.due_at) == (later, None, later)
    with pytest.raises(ValidationError):
        services.followup_snooze(actor=sales_rep, followup=followup, until=now - timedelta(minutes=1))


def test_a_rep_cannot_hand_a_follow_up_to_another_rep_but_a_manager_can(sales_rep, other_rep, sales_manager):
    customer = CustomerFactory(owner=sales_rep)
    followup = services.followup_create(actor=sales_rep, customer=customer, title="回访",
                                        due_at=timezone.now() + timedelta(days=1))
    with pytest.raises(ValidationError):
        services.followup_reassign(actor=sales_rep, followup=followup, assignee=other_rep)
    # (the new assignee must be able to see the customer: it is shared with him)
    customer_services.customer_share(actor=sales_rep, customer=customer, level="view_customer", user=other_rep)
    followup = services.followup_reassign(actor=sales_manager, followup=followup, assignee=other_rep)
    assert followup.assignee == other_rep
    # the new assignee is told
    assert other_rep.notifications.get().kind == "assignment"


def test_completing_from_the_timeline_swaps_the_tabs_in_place(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    followup = services.followup_create(actor=sales_rep, customer=customer, title="回访",
                                        due_at=timezone.now() + timedelta(days=1))
    next_url = reverse("customers:detail", args=[customer.pk]) + "?tab=timeline"
    response = client_as(sales_rep).post(reverse("interactions:followup_complete", args=[followup.pk]),
                                         {"next": next_url}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and next_url in response["HX-Location"]
    followup.refresh_from_db()
    assert followup.status == "done" and followup.completed_at is not None
