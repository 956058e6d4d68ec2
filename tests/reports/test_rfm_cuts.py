"""The RFM report's scores from cut values (reports.rfm.RFM_SQL: counted per value for recency and frequency, sorted
cents for amounts) against the RANK() windows they replace (REFERENCE_SQL below, the query as it was, over
orders_per_customer): on orders full of ties (one-order customers, equal amounts, equal days) and for every viewer,
every segment's figures and every customer's scores are the same, on the page, in its .xlsx and in rfm_figures; and
small counts of customers (1 to 7, where the cuts' integer arithmetic is most fragile) score as RANK() scores them."""

import random
from datetime import timedelta
from decimal import Decimal
from io import BytesIO

import openpyxl
import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from reports import rfm
from reports.filters import ReportFilterForm
from sales.models import Order
from tests.factories import CustomerFactory

REFERENCE_SQL = """
WITH per_customer AS ({orders}),
ranked AS (
    SELECT customer_id, last_on, frequency, monetary, other, COUNT(*) OVER () AS n,
           RANK() OVER (ORDER BY last_on) AS r_rank,
           RANK() OVER (ORDER BY frequency) AS f_rank,
           RANK() OVER (ORDER BY monetary) AS m_rank
    FROM per_customer),
scored AS (
    SELECT customer_id, last_on, frequency, monetary, other,
           1 + 5 * (r_rank - 1) / n AS r, 1 + 5 * (f_rank - 1) / n AS f, 1 + 5 * (m_rank - 1) / n AS m
    FROM ranked),
segmented AS (
    SELECT *, CASE WHEN r >= {high} THEN 4 ELSE 0 END + CASE WHEN f >= {high} THEN 2 ELSE 0 END
              + CASE WHEN m >= {high} THEN 1 ELSE 0 END AS segment
    FROM scored)
SELECT 'segment', segment, GROUPING(segment), COUNT(*), SUM(monetary), AVG(%s::date - last_on), AVG(frequency),
       SUM(other), NULL::bigint, NULL::date, NULL::int, NULL::int, NULL::int
FROM segmented GROUP BY GROUPING SETS ((segment), ())
UNION ALL (
SELECT 'customer', segment, 0, 1, monetary, %s::date - last_on, frequency, other, customer_id, last_on, r, f, m
FROM segmented WHERE segment = %s ORDER BY monetary DESC, customer_id LIMIT %s OFFSET %s)
"""
YEAR = {"period": "last_12_months"}
PEOPLE = ("admin_user", "sales_manager", "sales_rep")


def orders(owners, count, seed):
    """``count`` customers spread over ``owners`` with 1–4 orders each: amounts from a few values (ties), days from a
    few dates (ties), some orders in USD, some cancelled."""
    rng = random.Random(seed)
    today = timezone.localdate()
    for index in range(count):
        owner = owners[index % len(owners)]
        customer = CustomerFactory(owner=owner)
        for number in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
            Order.objects.create(
                number=f"S{seed}-{index}-{number}", customer=customer, owner=owner,
                ordered_on=today - timedelta(days=rng.choice([0, 3, 3, 40, 90, 90, 200])),
                total=Decimal(rng.choice(["100", "100", "250.50", "999", "5000"])),
                currency=rng.choice(["CNY"] * 6 + ["USD"]), status=rng.choice(["confirmed"] * 8 + ["cancelled"]))


def reference_figures(user, filters, *, segment, limit, offset=0) -> dict:
    """rfm_figures as it was computed, with RANK() windows."""
    per_customer = rfm.orders_per_customer(user, filters)
    sql, params = per_customer.query.sql_with_params()
    reference = min(filters.end, timezone.localdate())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{rfm.WORK_MEM}'")
        cursor.execute(REFERENCE_SQL.format(orders=sql, high=rfm.HIGH_SCORE),
                       (*params, reference, reference, segment.code, limit, offset))
        return rfm.figures_from_rows(cursor.fetchall())


def every_segment(user, filters) -> dict:
    return {segment.key: rfm.rfm_figures(user, filters, segment=segment, limit=10_000) for segment in rfm.SEGMENTS}


def rendered(client, segment) -> dict:
    response = client.get(reverse("reports:report", args=["rfm"]), {**YEAR, "segment": segment})
    assert response.status_code == 200
    return {table.key: (table.rows, table.totals) for table in response.context["tables"]}


def sheet(client, table_key, segment) -> list[tuple]:
    response = client.get(reverse("reports:export", args=["rfm", table_key]), {**YEAR, "segment": segment})
    assert response.status_code == 200
    return list(openpyxl.load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))


@pytest.fixture
def buyers(sales_rep, other_rep, south_rep):
    orders([sales_rep, other_rep, south_rep, sales_rep], 90, seed=6)


@pytest.mark.parametrize("who", PEOPLE)
def test_the_cuts_score_every_customer_as_rank_did(request, who, buyers, monkeypatch):
    user = request.getfixturevalue(who)
    filters = ReportFilterForm(YEAR, user=user).filters()
    now = every_segment(user, filters)
    assert now["important_value"]["total"]["count"] > 0
    monkeypatch.setattr(rfm, "rfm_figures", reference_figures)
    assert now == every_segment(user, filters)


@pytest.mark.parametrize("who", PEOPLE)
def test_the_page_and_its_spreadsheets_show_what_rank_showed(client_as, request, who, buyers, monkeypatch):
    user = request.getfixturevalue(who)
    client = client_as(user)
    exporting = rfm_report_may_export(user)
    segments = [segment.key for segment in rfm.SEGMENTS]
    now = {key: rendered(client, key) for key in segments}
    sheets = {(key, table): sheet(client, table, key) for key in segments for table in ("segments", "customers")
              if exporting}
    monkeypatch.setattr(rfm, "rfm_figures", reference_figures)
    assert now == {key: rendered(client, key) for key in segments}
    assert sheets == {(key, table): sheet(client, table, key) for key in segments
                      for table in ("segments", "customers") if exporting}


def rfm_report_may_export(user) -> bool:
    from reports import registry

    return registry.get("rfm").may_export(user)


@pytest.mark.parametrize("count", range(1, 8))
def test_a_handful_of_customers_scores_as_rank_scored_them(admin_user, sales_rep, count, monkeypatch):
    orders([sales_rep], count, seed=count)
    filters = ReportFilterForm(YEAR, user=admin_user).filters()
    now = every_segment(admin_user, filters)
    monkeypatch.setattr(rfm, "rfm_figures", reference_figures)
    assert now == every_segment(admin_user, filters)


def test_no_order_gives_empty_figures(admin_user):
    filters = ReportFilterForm(YEAR, user=admin_user).filters()
    figures = rfm.rfm_figures(admin_user, filters, segment=rfm.SEGMENTS[0], limit=50)
    assert figures == {"segments": {}, "total": rfm.EMPTY, "customers": []}
