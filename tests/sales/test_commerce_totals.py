"""Quote arithmetic (line discounts, discount on the total, tax; Decimal rounded half up to cents) and numbering
(Q-2026-000123 from a sequence, unique when many quotes are written at once)."""

import re
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.utils import timezone

from sales.commerce_totals import compute_totals, line_amount, money
from sales.models import Contract, Order, Quote, QuoteLine
from tests.factories import CustomerFactory
from tests.factories.sales_commerce import (
    PriceListFactory,
    ProductFactory,
    line,
    make_contract,
    make_order,
    make_quote,
    price,
)

D = Decimal


def test_money_rounds_half_up_not_to_even():
    assert money(D("0.005")) == D("0.01")
    assert money(D("0.015")) == D("0.02")
    assert money(D("0.025")) == D("0.03")  # banker's rounding would give 0.02
    assert money(D("-0.005")) == D("-0.01")


def test_line_amount_applies_the_discount_then_rounds():
    assert line_amount(D("3"), D("0.335")) == D("1.01")  # 1.005
    assert line_amount(D("1"), D("99.99"), D("12.5")) == D("87.49")  # 87.49125
    assert line_amount(D("2.5"), D("19.90"), D("10")) == D("44.78")  # 44.775
    assert line_amount(D("1"), D("100"), D("100")) == D("0.00")


def test_totals_sum_rounded_lines_then_discount_then_tax():
    # given three lines, 50 off the total and 13% tax
    lines = [
        {"quantity": D("3"), "unit_price": D("0.335"), "discount_percent": D("0")},  # 1.005 → 1.01
        {"quantity": D("7"), "unit_price": D("142.86"), "discount_percent": D("5")},  # 950.019 → 950.02
        {"quantity": D("1"), "unit_price": D("1000"), "discount_percent": D("12.5")},  # 875.00
    ]
    totals = compute_totals(lines, discount=D("50"), tax_rate=D("13"))
    # then the subtotal is the sum of the rounded line amounts, and the tax is on what is left after the discount
    assert totals.amounts == [D("1.01"), D("950.02"), D("875.00")]
    assert totals.subtotal == D("1826.03")
    assert totals.tax == D("230.88")  # 1776.03 × 13% = 230.8839
    assert totals.total == D("2006.91")
    assert totals.total == totals.subtotal - totals.discount + totals.tax


def test_tax_rounds_half_up():
    totals = compute_totals([{"quantity": D("1"), "unit_price": D("0.50")}], tax_rate=D("13"))
    assert totals.tax == D("0.07")  # 0.065
    assert totals.total == D("0.57")


def test_quote_stores_lines_and_totals(sales_rep):
    # given a price list that lists one of two products
    customer = CustomerFactory(owner=sales_rep)
    listed, unlisted = ProductFactory(price=D("200.00")), ProductFactory(price=D("80.00"))
    price_list = PriceListFactory()
    price(price_list, listed, "180.00")
    # when a quote is written with prices left blank, a line discount, a discount on the total and 6% tax
    quote = make_quote(actor=sales_rep, customer=customer, price_list=price_list, discount=D("10.00"),
                       tax_rate=D("6"), lines=[line(listed, quantity="3", discount_percent="10"),
                                               line(unlisted, quantity="2"),
                                               line(None, description="上门安装", unit_price="99.995")])
    # then the listed product takes the price list's price, the other its list price
    stored = list(QuoteLine.objects.filter(quote=quote).order_by("position"))
    assert [li.unit_price for li in stored] == [D("180.00"), D("80.00"), D("100.00")]  # 99.995 stored as 100.00
    assert [li.amount for li in stored] == [D("486.00"), D("160.00"), D("100.00")]
    assert stored[0].description == listed.name
    quote.refresh_from_db()
    assert (quote.subtotal, quote.discount, quote.tax, quote.total) == (D("746.00"), D("10.00"), D("44.16"),
                                                                        D("780.16"))
    assert quote.currency == price_list.currency


def test_a_discount_larger_than_the_subtotal_is_refused(sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    with pytest.raises(ValidationError) as error:
        make_quote(actor=sales_rep, customer=customer, discount=D("1000"),
                   lines=[line(ProductFactory(price=D("10")), quantity="1")])
    assert "discount" in error.value.message_dict
    assert not Quote.objects.exists()


def test_quote_contract_and_order_numbers_have_the_year_and_a_counter(sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    year = timezone.localdate().year
    quote = make_quote(actor=sales_rep, customer=customer)
    contract = make_contract(actor=sales_rep, customer=customer)
    order = make_order(actor=sales_rep, customer=customer)
    assert re.fullmatch(rf"Q-{year}-\d{{6}}", quote.number)
    assert re.fullmatch(rf"C-{year}-\d{{6}}", contract.number)
    assert re.fullmatch(rf"SO-{year}-\d{{6}}", order.number)
    second = make_quote(actor=sales_rep, customer=customer)
    assert int(second.number[-6:]) == int(quote.number[-6:]) + 1


def test_a_refused_quote_uses_up_no_number(sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    first = make_quote(actor=sales_rep, customer=customer)
    with pytest.raises(ValidationError):
        make_quote(actor=sales_rep, customer=customer, discount=D("99999"))
    second = make_quote(actor=sales_rep, customer=customer)
    assert int(second.number[-6:]) == int(first.number[-6:]) + 1


@pytest.mark.django_db(transaction=True)
def test_numbers_stay_unique_when_many_are_written_at_once(sales_rep):
    # given one customer and a product
    customer = CustomerFactory(owner=sales_rep)
    product = ProductFactory()
    barrier = threading.Barrier(8)
    numbers, errors = [], []

    def write():
        try:
            barrier.wait()
            for _ in range(5):
                quote = make_quote(actor=sales_rep, customer=customer, lines=[line(product)])
                order = make_order(actor=sales_rep, customer=customer, lines=[line(product)])
                contract = make_contract(actor=sales_rep, customer=customer)
                numbers.extend([quote.number, order.number, contract.number])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    # when eight people write quotes, orders and contracts at the same moment
    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then every one was saved under a number of its own
    assert not errors
    assert len(numbers) == len(set(numbers)) == 120
    assert Quote.objects.count() == Order.objects.count() == Contract.objects.count() == 40
