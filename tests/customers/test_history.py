"""The history tab: who changed what, when, from what to what."""

import re
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.customers.pages import form_data
from tests.factories import CustomerFactory, TagFactory


def _edit(client, customer, **changes):
    form = client.get(reverse("customers:update", args=[customer.pk])).context["form"]
    response = client.post(reverse("customers:update", args=[customer.pk]), {**form_data(form), **changes})
    assert response.status_code == 302, response.context["form"].errors
    return response


def _history(client, customer) -> str:
    return client.get(customer.get_absolute_url(), {"tab": "history"}).content.decode()


def test_edit_records_who_when_and_old_to_new_with_labels(client_as, sales_rep):
    # given a level B customer
    customer = CustomerFactory(owner=sales_rep, level="B")
    client = client_as(sales_rep)
    # when the rep raises it to level A through the edit form
    before = timezone.now()
    _edit(client, customer, level="A")
    page = _history(client, customer)
    # then the history names him, the change's time, and the levels by their labels
    assert "<del>B · Regular</del> → <ins>A · Key account</ins>" in page
    assert "<strong>张伟</strong>" in page
    times = [datetime.fromisoformat(t) for t in re.findall(r'<time [^>]*datetime="([^"]+)"', page)]
    recent = [t for t in times if abs(t - before) < timedelta(minutes=1)]
    assert recent
    assert timezone.localtime(recent[0]).strftime("%Y-%m-%d %H:%M:%S") in page  # shown in Beijing time


def test_owner_change_shows_people_by_name(client_as, sales_manager, sales_rep, other_rep):
    customer = CustomerFactory(owner=sales_rep)
    client = client_as(sales_manager)
    _edit(client, customer, owner=other_rep.pk)
    page = _history(client, customer)
    assert "<del>张伟</del> → <ins>李芳</ins>" in page
    assert "<del>上海组</del> → <ins>杭州组</ins>" in page
    assert "<strong>王经理</strong>" in page


def test_tags_added_and_removed_are_recorded(client_as, sales_rep):
    vip, partner = TagFactory(name="VIP"), TagFactory(name="渠道伙伴")
    customer = CustomerFactory(owner=sales_rep, tags=[partner])
    client = client_as(sales_rep)
    # when the rep swaps the tags
    _edit(client, customer, tags=[vip.pk])
    page = _history(client, customer)
    # then the history shows VIP added and 渠道伙伴 removed, by him
    assert re.search(r"<strong>张伟</strong>\s*added tag\s*VIP", page)
    assert re.search(r"<strong>张伟</strong>\s*removed tag\s*渠道伙伴", page)


def test_contact_creation_is_recorded(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    client = client_as(sales_rep)
    client.post(reverse("customers:contact_create", args=[customer.pk]), {"name": "李四", "title": "采购总监"})
    page = _history(client, customer)
    assert re.search(r"<strong>张伟</strong>\s*created\s*Contact 李四", page)
    assert "<ins>采购总监</ins>" in page


def test_custom_field_changes_use_the_field_label(client_as, sales_rep, custom_field_factory):
    custom_field_factory(key="budget", label="年度预算", label_en="Annual budget", field_type="number")
    customer = CustomerFactory(owner=sales_rep, custom={"budget": 10})
    client = client_as(sales_rep)
    _edit(client, customer, cf_budget="25")
    assert "Annual budget: <del>10</del> → <ins>25</ins>" in _history(client, customer)


@pytest.mark.django_db(transaction=True)
def test_history_is_newest_first(client_as, teams, sales_rep):
    # (each request commits on its own, so each change has its own time, as in production)
    customer = CustomerFactory(owner=sales_rep, level="C")
    client = client_as(sales_rep)
    _edit(client, customer, level="B")
    _edit(client, customer, level="A")
    page = _history(client, customer)
    assert page.index("<ins>A · Key account</ins>") < page.index("<ins>B · Regular</ins>")


def test_times_in_changes_are_local_and_readable(client_as, sales_manager, sales_rep, other_rep):
    customer = CustomerFactory(owner=sales_rep)
    client = client_as(sales_manager)
    _edit(client, customer, owner=other_rep.pk)
    customer.refresh_from_db()
    page = _history(client, customer)
    assert f"<ins>{timezone.localtime(customer.owned_since):%Y-%m-%d %H:%M}</ins>" in page
    assert "+00:00" not in page


def test_history_of_a_customer_outside_scope_is_404(client_as, sales_rep, other_rep):
    theirs = CustomerFactory(owner=other_rep)
    assert client_as(sales_rep).get(theirs.get_absolute_url(), {"tab": "history"}).status_code == 404
