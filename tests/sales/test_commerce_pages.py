"""The commerce pages: every list and detail is scoped (another rep's records are 404, and absent from lists), contract
attachments are served only through the scoped view, the customer page shows lifetime value and last purchase,
lists stay within a bounded number of queries, and the order list exports what it shows."""

import re
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm.exports import services as exports
from sales import commerce_payments as payments
from sales import commerce_services as services
from sales.models import ContractAttachment, Order, OrderStatus, Product
from tests.exports.conftest import as_dicts, read_job
from tests.factories import CustomerFactory
from tests.factories.sales_commerce import ProductFactory, line, make_contract, make_order, make_quote, pay, plan

D = Decimal
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _records(owner, name):
    customer = CustomerFactory(owner=owner, name=name)
    quote = make_quote(actor=owner, customer=customer)
    contract = make_contract(actor=owner, customer=customer)
    services.contract_attachments_add(actor=owner, contract=contract,
                                      files=[SimpleUploadedFile("合同.pdf", PDF, "application/pdf")])
    order = make_order(actor=owner, customer=customer)
    instalment = plan(contract, due_on=timezone.localdate(), amount="1000")
    payment = pay(actor=owner, parent=contract, amount="400", plan=instalment)
    return SimpleNamespace(customer=customer, quote=quote, contract=contract, order=order, plan=instalment,
                           payment=payment, attachment=contract.attachments.get())


@pytest.fixture
def hangzhou(other_rep):
    """Records of another rep (杭州组): his manager sees them, the 上海组 rep and 华南 do not."""
    return _records(other_rep, "杭州组的客户")


@pytest.fixture
def mine(sales_rep):
    return _records(sales_rep, "上海组的客户")


def _detail_urls(r) -> list[str]:
    return [
        reverse("sales:quote_detail", args=[r.quote.pk]), reverse("sales:quote_print", args=[r.quote.pk]),
        reverse("sales:quote_update", args=[r.quote.pk]), reverse("sales:quote_accept", args=[r.quote.pk]),
        reverse("sales:contract_detail", args=[r.contract.pk]), reverse("sales:contract_update", args=[r.contract.pk]),
        reverse("sales:contract_attachment", args=[r.contract.pk, r.attachment.pk]),
        reverse("sales:order_detail", args=[r.order.pk]),
        reverse("sales:quote_create") + f"?customer={r.customer.pk}",
        reverse("sales:contract_create") + f"?customer={r.customer.pk}",
        reverse("sales:order_create") + f"?customer={r.customer.pk}",
    ]


def _post_urls(r) -> list[str]:
    return [
        reverse("sales:quote_send", args=[r.quote.pk]), reverse("sales:quote_reject", args=[r.quote.pk]),
        reverse("sales:quote_accept", args=[r.quote.pk]),
        reverse("sales:contract_attachment_add", args=[r.contract.pk]),
        reverse("sales:contract_attachment_delete", args=[r.contract.pk, r.attachment.pk]),
        reverse("sales:contract_plan_add", args=[r.contract.pk]),
        reverse("sales:contract_payment_add", args=[r.contract.pk]),
        reverse("sales:order_plan_add", args=[r.order.pk]), reverse("sales:order_payment_add", args=[r.order.pk]),
        reverse("sales:order_status", args=[r.order.pk]), reverse("sales:plan_delete", args=[r.plan.pk]),
    ]


# ------------------------------------------------------------------------------------------------- scope


def test_another_reps_records_are_404_to_a_rep_of_another_team(client_as, sales_rep, south_rep, hangzhou):
    for user in (sales_rep, south_rep):
        client = client_as(user)
        for url in _detail_urls(hangzhou):
            assert client.get(url).status_code == 404, url
        for url in _post_urls(hangzhou):
            assert client.post(url, {"status": "cancelled"}).status_code == 404, url
    # and nothing was changed on the way
    hangzhou.order.refresh_from_db()
    assert hangzhou.order.status == OrderStatus.CONFIRMED and ContractAttachment.objects.count() == 1


def test_the_manager_sees_his_teams_records(client_as, sales_manager, hangzhou):
    client = client_as(sales_manager)
    for url in _detail_urls(hangzhou):
        assert client.get(url).status_code == 200, url


def test_payment_removal_is_scoped(client_as, admin_user, sales_manager, hangzhou):
    # the manager may not remove payments at all (403); an admin may
    url = reverse("sales:payment_delete", args=[hangzhou.payment.pk])
    assert client_as(sales_manager).post(url).status_code == 403
    assert client_as(admin_user).post(url).status_code == 302


@pytest.mark.parametrize("name", ["sales:quote_list", "sales:contract_list", "sales:order_list"])
def test_lists_show_only_what_is_in_scope(client_as, sales_rep, sales_manager, hangzhou, mine, name):
    own = client_as(sales_rep).get(reverse(name)).content.decode()
    numbers = {"sales:quote_list": "quote", "sales:contract_list": "contract", "sales:order_list": "order"}
    kind = numbers[name]
    assert getattr(mine, kind).number in own and getattr(hangzhou, kind).number not in own
    managed = client_as(sales_manager).get(reverse(name)).content.decode()
    assert getattr(mine, kind).number in managed and getattr(hangzhou, kind).number in managed


def test_lists_filter_and_answer_htmx_with_the_results_alone(client_as, sales_rep, mine):
    client = client_as(sales_rep)
    response = client.get(reverse("sales:order_list"), {"q": mine.order.number[-6:]}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="listing-results">') and mine.order.number in html
    other = client.get(reverse("sales:order_list"), {"q": "不存在的客户名"}).content.decode()
    assert mine.order.number not in other
    by_customer = client.get(reverse("sales:order_list"), {"customer": mine.customer.pk}).content.decode()
    assert mine.order.number in by_customer and mine.customer.name in by_customer


def test_support_reads_orders_and_contracts_of_customers_it_sees_but_no_quotes(client_as, support_agent, hangzhou):
    client = client_as(support_agent)
    assert client.get(reverse("sales:order_list")).status_code == 200
    assert client.get(reverse("sales:quote_list")).status_code == 403
    assert client.get(reverse("sales:order_detail", args=[hangzhou.order.pk])).status_code == 404


@pytest.mark.parametrize("name", ["sales:quote_list", "sales:contract_list", "sales:order_list"])
def test_a_list_page_costs_a_bounded_number_of_queries(client_as, sales_manager, other_rep, name,
                                                        django_assert_max_num_queries):
    product = ProductFactory()
    for index in range(30):
        customer = CustomerFactory(owner=other_rep)
        make_quote(actor=other_rep, customer=customer, lines=[line(product)])
        contract = make_contract(actor=other_rep, customer=customer)
        plan(contract, due_on=timezone.localdate() - timedelta(days=index), amount="100")
        make_order(actor=other_rep, customer=customer, lines=[line(product)])
    client = client_as(sales_manager)
    client.get(reverse(name))  # sessions, permissions cached
    with django_assert_max_num_queries(14):
        response = client.get(reverse(name))
    assert response.status_code == 200 and len(re.findall(r"-2\d{3}-\d{6}", response.content.decode())) >= 25


# --------------------------------------------------------------------------------------------- attachments


def test_attachments_are_stored_under_media_with_random_names_and_served_scoped(
        client_as, sales_rep, south_rep, mine, media_root):
    attachment = mine.attachment
    # stored under MEDIA_ROOT, but not under the name it was uploaded with
    assert (media_root / attachment.file.name).exists()
    assert "合同" not in attachment.file.name and attachment.file.name.endswith(".pdf")
    # the owner downloads it under its own name
    response = client_as(sales_rep).get(reverse("sales:contract_attachment", args=[mine.contract.pk,
                                                                                     attachment.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf" and "attachment" in response["Content-Disposition"]
    # another team's rep gets 404, also through another contract of his own
    assert client_as(south_rep).get(reverse("sales:contract_attachment",
                                            args=[mine.contract.pk, attachment.pk])).status_code == 404
    his = make_contract(actor=south_rep, customer=CustomerFactory(owner=south_rep))
    assert client_as(south_rep).get(reverse("sales:contract_attachment",
                                            args=[his.pk, attachment.pk])).status_code == 404


def test_an_attachment_must_be_what_its_name_says(client_as, sales_rep, mine):
    client = client_as(sales_rep)
    url = reverse("sales:contract_attachment_add", args=[mine.contract.pk])
    fake = SimpleUploadedFile("扫描件.pdf", b"MZ\x90\x00\x03 not a pdf", "application/pdf")
    response = client.post(url, {"files": [fake]})
    assert response.status_code == 200 and "is not what its name says" in response.content.decode()
    script = SimpleUploadedFile("合同.html", b"<script>alert(1)</script>", "text/html")
    assert client.post(url, {"files": [script]}).status_code == 200
    assert ContractAttachment.objects.filter(contract=mine.contract).count() == 1


def test_an_attachment_over_the_size_limit_is_refused(sales_rep, mine, monkeypatch):
    monkeypatch.setattr(services, "MAX_ATTACHMENT_BYTES", 10)
    with pytest.raises(services.ValidationError):
        services.contract_attachments_add(actor=sales_rep, contract=mine.contract,
                                          files=[SimpleUploadedFile("大文件.pdf", PDF, "application/pdf")])


def test_removing_an_attachment_removes_its_file(client_as, sales_rep, mine, media_root,
                                                 django_capture_on_commit_callbacks):
    path = media_root / mine.attachment.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as(sales_rep).post(reverse("sales:contract_attachment_delete",
                                                     args=[mine.contract.pk, mine.attachment.pk]))
    assert response.status_code == 302 and not path.exists() and not ContractAttachment.objects.exists()


# ------------------------------------------------------------------------------------------ customer page


def test_customer_page_shows_lifetime_value_last_purchase_and_open_contracts(client_as, sales_rep):
    # given three orders of the customer, one of them cancelled (and the latest), and an open contract part paid
    customer = CustomerFactory(owner=sales_rep, name="苏州恒达机械")
    product = ProductFactory()
    make_order(actor=sales_rep, customer=customer, ordered_on=date(2026, 1, 5),
               lines=[line(product, quantity="2", unit_price="1500.50")])  # 3,001.00
    make_order(actor=sales_rep, customer=customer, ordered_on=date(2026, 3, 9),
               lines=[line(product, quantity="1", unit_price="999.99")])
    cancelled = make_order(actor=sales_rep, customer=customer, ordered_on=date(2026, 4, 1),
                           lines=[line(product, quantity="1", unit_price="50000")])
    services.order_set_status(actor=sales_rep, order=cancelled, status=OrderStatus.CANCELLED)
    contract = make_contract(actor=sales_rep, customer=customer, amount="20000")
    pay(actor=sales_rep, parent=contract, amount="5000")
    make_order(actor=sales_rep, customer=CustomerFactory(owner=sales_rep), ordered_on=date(2026, 5, 1))  # another's
    # when the rep opens the customer's timeline tab
    response = client_as(sales_rep).get(reverse("customers:detail", args=[customer.pk]), {"tab": "timeline"})
    html = response.content.decode()
    # then the panel shows the lifetime value of the non-cancelled orders and their last purchase date
    assert re.search(r'data-lifetime-value>4,?000\.99<', html)
    assert re.search(r'data-last-purchase>2026-03-09<', html)
    assert contract.number in html and re.search(r'data-outstanding>15,?000\.00<', html)
    # and the timeline has the orders and the payment
    assert 'data-kind="order"' in html and 'data-kind="payment"' in html


def test_customer_panel_is_left_out_for_those_without_orders(client_as, marketing_user):
    customer = CustomerFactory(owner=None)  # the pool, which marketing may see
    html = client_as(marketing_user).get(reverse("customers:detail", args=[customer.pk]),
                                         {"tab": "timeline"}).content.decode()
    assert "customer-purchases" not in html


# -------------------------------------------------------------------------------------- forms and catalogue


def test_new_quote_asks_for_the_customer_first(client_as, sales_rep, mine):
    client = client_as(sales_rep)
    picker = client.get(reverse("sales:quote_create"), {"find": "上海组"}).content.decode()
    assert mine.customer.name in picker and f"?customer={mine.customer.pk}" in picker
    form = client.get(reverse("sales:quote_create"), {"customer": mine.customer.pk}).content.decode()
    assert 'id="line-items"' in form and mine.customer.name in form


def test_only_admins_write_products_and_price_lists(client_as, admin_user, sales_rep):
    assert client_as(sales_rep).get(reverse("sales:product_list")).status_code == 200
    assert client_as(sales_rep).get(reverse("sales:product_create")).status_code == 403
    response = client_as(admin_user).post(reverse("sales:product_create"), {
        "code": "CRM-PRO", "name": "CRM 专业版", "unit": "套", "price": "19800", "active": "on", "description": ""})
    assert response.status_code == 302
    product = Product.objects.get(code="CRM-PRO")
    response = client_as(admin_user).post(reverse("sales:pricelist_create"), {
        "name": "2026 经销商价", "currency": "CNY", "active": "on", "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0", "items-0-product": product.pk, "items-0-price": "15800"})
    assert response.status_code == 302
    assert client_as(sales_rep).get(response.url).status_code == 200


def test_order_form_creates_an_order_with_its_lines(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    product = ProductFactory(price=D("120.00"))
    response = client_as(sales_rep).post(reverse("sales:order_create"), {
        "customer": customer.pk, "ordered_on": "2026-06-18", "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0",
        "lines-0-product": product.pk, "lines-0-description": "", "lines-0-quantity": "5", "lines-0-unit_price": ""})
    order = Order.objects.get()
    assert response.status_code == 302 and response.url == order.get_absolute_url()
    assert order.total == D("600.00") and order.lines.get().description == product.name


# ------------------------------------------------------------------------------------------------- export


def test_only_roles_with_the_export_permission_see_the_export_menus(client_as, sales_manager, sales_rep):
    # managers may export opportunities and orders (the role grants it), reps may not
    for url in (reverse("sales:order_list"), reverse("sales:opportunity_list")):
        assert 'id="export-form"' in client_as(sales_manager).get(url).content.decode()
        assert 'id="export-form"' not in client_as(sales_rep).get(url).content.decode()


def test_the_order_export_holds_the_lists_rows_only(sales_rep, mine, hangzhou):
    # given the export permission, which an admin may give a rep's role
    sales_rep.user_permissions.add(Permission.objects.get(codename="export_order"))
    rep = type(sales_rep).objects.get(pk=sales_rep.pk)
    # when the rep exports his order list
    job = exports.export_job_create(actor=rep, model_key="sales.order", query="", fmt="csv", language="en")
    exports.export_job_run(job.pk)  # what the worker does
    job.refresh_from_db()
    assert job.status == "done", job.error
    rows = as_dicts(read_job(job))
    # then only his order is in it, with what was received on it
    assert [r["Number"] for r in rows] == [mine.order.number]
    assert rows[0]["Customer"] == mine.customer.name and rows[0]["Total"] == "1000.00"


def test_overdue_flag_follows_payments(sales_rep, mine):
    # an instalment due yesterday is overdue until it is paid
    overdue = plan(mine.order, due_on=timezone.localdate() - timedelta(days=1), amount="300")
    assert payments.payments_remind_overdue() == 1
    pay(actor=sales_rep, parent=mine.order, amount="300", plan=overdue)
    from sales.commerce_selectors import order_list

    assert not order_list(user=sales_rep).get(pk=mine.order.pk).overdue
