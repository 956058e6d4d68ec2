"""Quotes: writing them on the page (the htmx line editor recomputes on the server), their statuses, the printable
view, and accepting one, which makes a contract and/or an order and wins the opportunity."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from sales import commerce_services as services
from sales import pipeline_services
from sales.models import (
    Contract,
    ContractStatus,
    Order,
    OrderLine,
    Pipeline,
    Quote,
    QuoteStatus,
    Stage,
    StageHistory,
    StageKind,
)
from tests.factories import CustomerFactory
from tests.factories.sales_commerce import PriceListFactory, ProductFactory, line, make_quote, price

D = Decimal


@pytest.fixture
def pipeline(db):
    pipeline = Pipeline.objects.create(name="测试流程", position=99)
    for position, (name, kind) in enumerate([("接洽", StageKind.OPEN), ("报价", StageKind.OPEN),
                                             ("赢单", StageKind.WON), ("输单", StageKind.LOST)]):
        Stage.objects.create(pipeline=pipeline, name=name, position=position, kind=kind, probability=50)
    return pipeline


@pytest.fixture
def customer(sales_rep):
    return CustomerFactory(owner=sales_rep, name="杭州云帆科技")


def _quote_with_three_lines(actor, customer, **data):
    a, b = ProductFactory(price=D("1200.00")), ProductFactory(price=D("300.00"))
    return make_quote(actor=actor, customer=customer, discount=D("100"), tax_rate=D("13"), lines=[
        line(a, quantity="2", discount_percent="5"), line(b, quantity="10"),
        line(None, description="实施服务", unit_price="800")], **data)


# ------------------------------------------------------------------------------------------------ accept


def test_accepting_makes_a_contract_and_an_order_with_the_quotes_lines_and_totals(sales_rep, customer, pipeline):
    # given a sent quote on an open opportunity
    opportunity = pipeline_services.opportunity_create(actor=sales_rep, customer=customer, pipeline=pipeline,
                                                       data={"name": "云帆 ERP", "amount": D("5000")})
    quote = _quote_with_three_lines(sales_rep, customer, opportunity=opportunity)
    services.quote_mark_sent(actor=sales_rep, quote=quote)
    # when the customer accepts it, signed today
    accepted = services.quote_accept(actor=sales_rep, quote=quote, create_contract=True, create_order=True,
                                     contract_data={"title": "云帆 ERP 合同", "signed_on": None})
    # then the quote is accepted, and a contract for its total and an order with its lines exist, tied together
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED
    contract, order = accepted.contract, accepted.order
    assert (contract.amount, contract.customer, contract.quote, contract.opportunity) == (
        quote.total, customer, quote, opportunity)
    assert contract.title == "云帆 ERP 合同" and contract.status == ContractStatus.DRAFT  # not signed yet
    assert (order.total, order.contract, order.quote, order.owner) == (quote.total, contract, quote, sales_rep)
    copied = [(li.product_id, li.description, li.quantity, li.unit_price, li.amount)
              for li in OrderLine.objects.filter(order=order).order_by("pk")]
    original = [(li.product_id, li.description, li.quantity, li.unit_price, li.amount) for li in quote.lines.all()]
    assert copied == original
    # and the opportunity moved to its pipeline's won stage, with its stage history
    assert accepted.opportunity_moved
    opportunity.refresh_from_db()
    assert opportunity.stage.kind == StageKind.WON and opportunity.closed_at is not None
    assert StageHistory.objects.filter(opportunity=opportunity, stage=opportunity.stage, moved_by=sales_rep).exists()


def test_a_signed_contract_is_in_force(sales_rep, customer):
    from django.utils import timezone

    quote = _quote_with_three_lines(sales_rep, customer)
    accepted = services.quote_accept(actor=sales_rep, quote=quote, create_contract=True, create_order=False,
                                     contract_data={"signed_on": timezone.localdate()})
    assert accepted.contract.status == ContractStatus.ACTIVE
    assert accepted.order is None and not Order.objects.exists()
    assert not accepted.opportunity_moved  # the quote has no opportunity


def test_accepting_only_an_order(sales_rep, customer):
    quote = _quote_with_three_lines(sales_rep, customer)
    accepted = services.quote_accept(actor=sales_rep, quote=quote, create_contract=False, create_order=True)
    assert accepted.contract is None and not Contract.objects.exists()
    assert accepted.order.lines.count() == 3 and accepted.order.contract is None


def test_the_opportunity_mover_is_a_parameter(sales_rep, customer, pipeline):
    opportunity = pipeline_services.opportunity_create(actor=sales_rep, customer=customer, pipeline=pipeline,
                                                       data={"name": "云帆 CRM"})
    quote = _quote_with_three_lines(sales_rep, customer, opportunity=opportunity)
    moves = []
    accepted = services.quote_accept(actor=sales_rep, quote=quote, create_contract=False, create_order=True,
                                     move_opportunity=lambda actor, opp, stage: moves.append((actor, opp, stage)))
    won = Stage.objects.get(pipeline=pipeline, kind=StageKind.WON)
    assert moves == [(sales_rep, opportunity, won)] and accepted.opportunity_moved


def test_a_quote_is_accepted_once(sales_rep, customer):
    quote = _quote_with_three_lines(sales_rep, customer)
    services.quote_accept(actor=sales_rep, quote=quote, create_contract=False, create_order=True)
    with pytest.raises(ValidationError):
        services.quote_accept(actor=sales_rep, quote=quote, create_contract=False, create_order=True)
    assert Order.objects.count() == 1


def test_accepting_needs_a_contract_or_an_order(sales_rep, customer):
    quote = _quote_with_three_lines(sales_rep, customer)
    with pytest.raises(ValidationError):
        services.quote_accept(actor=sales_rep, quote=quote, create_contract=False, create_order=False)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT


def test_another_reps_quote_cannot_be_accepted(sales_rep, other_rep, customer):
    quote = _quote_with_three_lines(sales_rep, customer)
    with pytest.raises(PermissionDenied):
        services.quote_accept(actor=other_rep, quote=quote, create_contract=True, create_order=True)


def test_accept_page_makes_both_and_goes_to_the_contract(client_as, sales_rep, customer):
    quote = _quote_with_three_lines(sales_rep, customer)
    response = client_as(sales_rep).post(reverse("sales:quote_accept", args=[quote.pk]), {
        "create_contract": "on", "create_order": "on", "title": "", "ordered_on": "2026-03-01"})
    contract = Contract.objects.get()
    assert response.status_code == 302 and response.url == contract.get_absolute_url()
    assert Order.objects.get().ordered_on.isoformat() == "2026-03-01"


# -------------------------------------------------------------------------------------------- statuses


def test_an_accepted_quote_can_no_longer_be_changed(sales_rep, customer):
    quote = _quote_with_three_lines(sales_rep, customer)
    services.quote_accept(actor=sales_rep, quote=quote, create_contract=False, create_order=True)
    with pytest.raises(ValidationError):
        services.quote_update(actor=sales_rep, quote=quote, data={}, lines=[line(ProductFactory())])


def test_update_replaces_the_lines_and_recomputes(sales_rep, customer):
    quote = _quote_with_three_lines(sales_rep, customer)
    product = ProductFactory(price=D("50.00"))
    services.quote_update(actor=sales_rep, quote=quote, data={"discount": D("0"), "tax_rate": D("0")},
                          lines=[line(product, quantity="3")])
    quote.refresh_from_db()
    assert quote.lines.count() == 1
    assert (quote.subtotal, quote.tax, quote.total) == (D("150.00"), D("0.00"), D("150.00"))


def test_send_reject_and_reopen(client_as, sales_rep, customer):
    quote = _quote_with_three_lines(sales_rep, customer)
    client = client_as(sales_rep)
    client.post(reverse("sales:quote_send", args=[quote.pk]))
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT
    client.post(reverse("sales:quote_reject", args=[quote.pk]))
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.REJECTED
    client.post(reverse("sales:quote_reopen", args=[quote.pk]))
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT


# ------------------------------------------------------------------------------------- the quote form


def _management(count: int) -> dict:
    return {"lines-TOTAL_FORMS": str(count), "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "200"}


def test_the_quote_form_creates_a_quote(client_as, sales_rep, customer):
    product = ProductFactory(price=D("999.00"))
    data = {"customer": customer.pk, "valid_until": "2026-12-31", "discount": "0", "tax_rate": "13", "notes": "",
            "price_list": "", "opportunity": "", **_management(2),
            "lines-0-product": product.pk, "lines-0-description": "", "lines-0-quantity": "2",
            "lines-0-unit_price": "", "lines-0-discount_percent": "0",
            # an untouched blank row is left out, not an error
            "lines-1-product": "", "lines-1-description": "", "lines-1-quantity": "1", "lines-1-unit_price": "",
            "lines-1-discount_percent": "0"}
    response = client_as(sales_rep).post(reverse("sales:quote_create"), data)
    quote = Quote.objects.get()
    assert response.status_code == 302 and response.url == quote.get_absolute_url()
    assert quote.owner == sales_rep and quote.lines.count() == 1
    assert quote.total == D("2257.74")  # 1998 + 13%


def test_the_quote_form_shows_field_errors(client_as, sales_rep, customer):
    data = {"customer": customer.pk, "discount": "-5", "tax_rate": "13", **_management(1),
            "lines-0-product": "", "lines-0-description": "咨询", "lines-0-quantity": "0",
            "lines-0-unit_price": "10", "lines-0-discount_percent": "0"}
    response = client_as(sales_rep).post(reverse("sales:quote_create"), data)
    assert response.status_code == 200 and not Quote.objects.exists()
    assert b"form-errors" in response.content


def test_the_line_editor_prices_a_chosen_product_and_recomputes(client_as, sales_rep):
    # given a price list with a price for the product
    product = ProductFactory(price=D("200.00"), name="云存储 1TB")
    price_list = PriceListFactory()
    price(price_list, product, "150.00")
    client = client_as(sales_rep)
    # when the user picks the product on a line of a quote priced from the list (htmx posts the form)
    response = client.post(reverse("sales:quote_lines"), {
        "price_list": price_list.pk, "priced_list": price_list.pk, "discount": "10", "tax_rate": "13",
        **_management(1), "lines-0-product": product.pk, "lines-0-description": "", "lines-0-quantity": "3",
        "lines-0-unit_price": "", "lines-0-discount_percent": "0", "lines-0-priced_for": ""},
        HTTP_HX_REQUEST="true")
    # then the line comes back with the list's price and the product's name, and the totals with them
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="150.00"' in html and 'value="云存储 1TB"' in html
    assert "450.00" in html  # the line and the subtotal
    assert "57.20" in html  # tax: (450 − 10) × 13%
    assert "497.20" in html


def test_the_line_editor_adds_removes_and_reprices_on_a_new_price_list(client_as, sales_rep):
    product = ProductFactory(price=D("200.00"))
    price_list = PriceListFactory()
    price(price_list, product, "120.00")
    client = client_as(sales_rep)
    base = {"discount": "0", "tax_rate": "0", **_management(2),
            "lines-0-product": product.pk, "lines-0-description": product.name, "lines-0-quantity": "1",
            "lines-0-unit_price": "200.00", "lines-0-discount_percent": "0", "lines-0-priced_for": product.pk,
            "lines-1-product": "", "lines-1-description": "运费", "lines-1-quantity": "1",
            "lines-1-unit_price": "30", "lines-1-discount_percent": "0", "lines-1-priced_for": ""}
    # adding a line: three rows
    added = client.post(reverse("sales:quote_lines"), {**base, "add_line": "1"}).content.decode()
    assert 'name="lines-TOTAL_FORMS" value="3"' in added
    # removing the second: one row, the total without it
    removed = client.post(reverse("sales:quote_lines"), {**base, "lines-1-DELETE": "on"}).content.decode()
    assert 'name="lines-TOTAL_FORMS" value="1"' in removed and "运费" not in removed
    # choosing the price list prices the product line again, and leaves the free line alone
    repriced = client.post(reverse("sales:quote_lines"), {**base, "price_list": price_list.pk,
                                                          "priced_list": ""}).content.decode()
    assert 'value="120.00"' in repriced and 'value="30"' in repriced
    assert "150.00" in repriced  # 120 + 30


def test_the_line_editor_is_for_those_who_write_quotes(client_as, marketing_user):
    assert client_as(marketing_user).post(reverse("sales:quote_lines"), {}).status_code == 403


# ---------------------------------------------------------------------------------------- printable view


def test_printable_view_has_the_company_the_lines_and_totals(client_as, sales_rep, customer, settings):
    settings.CRM_COMPANY_NAME = "上海示例信息技术有限公司"
    quote = _quote_with_three_lines(sales_rep, customer, notes="付款方式：合同签订后 30 日内付清。")
    response = client_as(sales_rep, language="zh-hans").get(reverse("sales:quote_print", args=[quote.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "上海示例信息技术有限公司" in html and quote.number in html and customer.company in html
    assert "实施服务" in html and f"{quote.total:,.2f}" in html
    assert "d-print-none" in html  # the toolbar stays off the paper
    assert 'id="sidebar"' not in html  # a page of its own, without the menus


def test_printable_view_is_scoped(client_as, sales_rep, south_rep, customer):
    quote = _quote_with_three_lines(sales_rep, customer)
    assert client_as(south_rep).get(reverse("sales:quote_print", args=[quote.pk])).status_code == 404
