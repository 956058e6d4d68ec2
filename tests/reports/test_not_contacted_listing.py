"""The not-contacted list read in two index orders (reports.not_contacted.listed_customers: never contacted by id,
then contacted by last contact and id) instead of one ORDER BY … NULLS FIRST: page after page, across the boundary
between the never contacted and the others, and in the .xlsx, the customers and their order are exactly those of
the single ORDER BY, for an admin, a manager and a rep."""

from datetime import datetime, time, timedelta
from io import BytesIO

import openpyxl
import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from reports import not_contacted
from reports.filters import ReportFilterForm
from tests.factories import CustomerFactory

URL = reverse("reports:report", args=["not_contacted"])
PEOPLE = ("admin_user", "sales_manager", "sales_rep")


def days_ago(days: int):
    return timezone.make_aware(datetime.combine(timezone.localdate() - timedelta(days=days), time(12)))


@pytest.fixture
def book(sales_rep, other_rep, south_rep):
    # Never contacted and contacted customers interleaved by id, equal contact days (ties broken by id).
    for index, days in enumerate([None, 40, None, 31, 200, None, 40, 35, None, 5, 60, None, 31]):
        for owner in (sales_rep, other_rep, south_rep):
            CustomerFactory(owner=owner, name=f"c{index}-{owner.username}",
                            last_contacted_at=days_ago(days) if days is not None else None)
    CustomerFactory(owner=None)  # the pool: never listed


def walk(client) -> list[str]:
    """Every page's customer names, following "next"."""
    names, response = [], client.get(URL)
    while True:
        assert response.status_code == 200
        names += [row[0] for row in next(t for t in response.context["tables"] if t.key == "customers").rows]
        following = response.context["pager"] and response.context["pager"]["next"]
        if not following:
            return names
        response = client.get(following)


@pytest.mark.parametrize("who", PEOPLE)
def test_every_page_and_the_export_list_the_customers_in_the_single_orders_order(client_as, request, who, book,
                                                                                 monkeypatch):
    user = request.getfixturevalue(who)
    filters = ReportFilterForm({}, user=user).filters()
    expected = list(not_contacted.not_contacted_customers(user, filters, days=30, today=timezone.localdate())
                    .order_by(F("last_contacted_at").asc(nulls_first=True), "pk").values_list("name", flat=True))
    assert len(expected) >= 9
    monkeypatch.setattr(not_contacted, "PAGE_SIZE", 4)
    client = client_as(user)
    assert walk(client) == expected
    response = client.get(reverse("reports:export", args=["not_contacted", "customers"]))
    if response.status_code == 200:  # for those who may export customers
        rows = list(openpyxl.load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))
        assert [row[0] for row in rows[1:]] == expected


def test_an_export_cut_at_its_limit_keeps_the_order(client_as, admin_user, book, monkeypatch):
    monkeypatch.setattr(not_contacted, "EXPORT_LIMIT", 7)
    filters = ReportFilterForm({}, user=admin_user).filters()
    expected = list(not_contacted.not_contacted_customers(admin_user, filters, days=30, today=timezone.localdate())
                    .order_by(F("last_contacted_at").asc(nulls_first=True), "pk").values_list("name", flat=True))
    response = client_as(admin_user).get(reverse("reports:export", args=["not_contacted", "customers"]))
    rows = list(openpyxl.load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))
    assert [row[0] for row in rows[1:]] == expected[:7]
