"""Payment plans and payments (回款): instalments never plan more than the amount, a payment raises its instalment's
paid amount in the same transaction, overpayments are refused with what is still open, and each overdue instalment
is reminded once to the owner, in his language, and flagged on the pages."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from crm.notifications.models import Notification, NotificationKind
from sales import commerce_payments as payments
from sales import commerce_services as services
from sales.models import ContractStatus, OrderStatus, Payment, PaymentPlan
from sales.tasks import remind_overdue_payments
from tests.factories import CustomerFactory, UserFactory
from tests.factories.sales_commerce import make_contract, make_order, pay, plan

D = Decimal
DAY = timedelta(days=1)


@pytest.fixture
def customer(sales_rep):
    return CustomerFactory(owner=sales_rep, name="宁波海联贸易")


@pytest.fixture
def contract(sales_rep, customer):
    return make_contract(actor=sales_rep, customer=customer, amount="10000.00")


# ------------------------------------------------------------------------------------------------ plans


def test_instalments_may_not_plan_more_than_the_amount(sales_rep, contract):
    today = timezone.localdate()
    payments.payment_plan_add(actor=sales_rep, parent=contract, due_on=today + 30 * DAY, amount=D("6000"))
    payments.payment_plan_add(actor=sales_rep, parent=contract, due_on=today + 60 * DAY, amount=D("4000"))
    with pytest.raises(ValidationError) as error:
        payments.payment_plan_add(actor=sales_rep, parent=contract, due_on=today + 90 * DAY, amount=D("0.01"))
    assert "amount" in error.value.message_dict
    assert PaymentPlan.objects.filter(contract=contract).count() == 2


def test_an_orders_instalments_follow_its_total(sales_rep, customer):
    order = make_order(actor=sales_rep, customer=customer)  # 1,000.00
    with pytest.raises(ValidationError):
        payments.payment_plan_add(actor=sales_rep, parent=order, due_on=timezone.localdate(), amount=D("1000.01"))
    payments.payment_plan_add(actor=sales_rep, parent=order, due_on=timezone.localdate(), amount=D("1000.00"))


def test_a_contracts_amount_cannot_drop_below_its_instalments(sales_rep, contract):
    payments.payment_plan_add(actor=sales_rep, parent=contract, due_on=timezone.localdate(), amount=D("8000"))
    with pytest.raises(ValidationError):
        services.contract_update(actor=sales_rep, contract=contract, data={"amount": D("7999.99")})


def test_an_instalment_with_payments_is_not_removed(sales_rep, contract):
    instalment = payments.payment_plan_add(actor=sales_rep, parent=contract, due_on=timezone.localdate(),
                                           amount=D("5000"))
    pay(actor=sales_rep, parent=contract, amount="100", plan=instalment)
    with pytest.raises(ValidationError):
        payments.payment_plan_delete(actor=sales_rep, plan=instalment)


@pytest.mark.django_db(transaction=True)
def test_concurrent_instalments_still_add_up(sales_rep, customer):
    # given a 10,000 contract and four people planning 3,000 at the same moment
    contract = make_contract(actor=sales_rep, customer=customer, amount="10000")
    barrier, refused = threading.Barrier(4), []

    def add():
        try:
            barrier.wait()
            payments.payment_plan_add(actor=sales_rep, parent=contract, due_on=timezone.localdate(), amount=D("3000"))
        except ValidationError:
            refused.append(1)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then three fit and the fourth is refused
    assert PaymentPlan.objects.filter(contract=contract).count() == 3 and len(refused) == 1


# --------------------------------------------------------------------------------------------- payments


def test_a_payment_raises_its_instalments_paid_amount(sales_rep, contract):
    first = payments.payment_plan_add(actor=sales_rep, parent=contract, due_on=timezone.localdate(), amount=D("4000"))
    pay(actor=sales_rep, parent=contract, amount="1500.50", plan=first)
    pay(actor=sales_rep, parent=contract, amount="2499.50", plan=first)
    first.refresh_from_db()
    assert first.paid_amount == D("4000.00") and first.outstanding == 0
    assert Payment.objects.filter(contract=contract, plan=first).count() == 2


def test_an_overpayment_of_an_instalment_is_refused_with_what_is_open(sales_rep, contract, client_as):
    first = payments.payment_plan_add(actor=sales_rep, parent=contract, due_on=timezone.localdate(), amount=D("4000"))
    pay(actor=sales_rep, parent=contract, amount="3000", plan=first)
    with pytest.raises(ValidationError) as error:
        pay(actor=sales_rep, parent=contract, amount="1000.01", plan=first)
    assert "1,000.00" in " ".join(error.value.messages)  # what is still outstanding
    first.refresh_from_db()
    assert first.paid_amount == D("3000.00") and Payment.objects.count() == 1
    # and the page says so next to the amount
    response = client_as(sales_rep).post(reverse("sales:contract_payment_add", args=[contract.pk]), {
        "plan": first.pk, "amount": "1000.01", "received_on": timezone.localdate().isoformat()},
        HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Overpayment" in response.content.decode()
    assert Payment.objects.count() == 1


def test_an_overpayment_of_the_contract_is_refused(sales_rep, contract):
    pay(actor=sales_rep, parent=contract, amount="9000")
    with pytest.raises(ValidationError) as error:
        pay(actor=sales_rep, parent=contract, amount="1000.01")
    assert "Overpayment" in " ".join(error.value.messages)
    pay(actor=sales_rep, parent=contract, amount="1000.00")
    assert sum(p.amount for p in Payment.objects.all()) == D("10000.00")


def test_with_instalments_a_payment_names_one(sales_rep, contract):
    payments.payment_plan_add(actor=sales_rep, parent=contract, due_on=timezone.localdate(), amount=D("4000"))
    with pytest.raises(ValidationError) as error:
        pay(actor=sales_rep, parent=contract, amount="100")
    assert "plan" in error.value.message_dict


def test_a_payment_cannot_be_received_in_the_future(sales_rep, contract):
    with pytest.raises(ValidationError):
        pay(actor=sales_rep, parent=contract, amount="100", received_on=timezone.localdate() + DAY)


def test_a_paid_order_is_not_cancelled(sales_rep, customer):
    order = make_order(actor=sales_rep, customer=customer)
    pay(actor=sales_rep, parent=order, amount="10")
    with pytest.raises(ValidationError):
        services.order_set_status(actor=sales_rep, order=order, status=OrderStatus.CANCELLED)


def test_deleting_a_payment_reopens_the_instalment(admin_user, sales_rep, contract):
    first = payments.payment_plan_add(actor=sales_rep, parent=contract, due_on=timezone.localdate(), amount=D("4000"))
    payment = pay(actor=sales_rep, parent=contract, amount="4000", plan=first)
    payments.payment_delete(actor=admin_user, payment=payment)
    first.refresh_from_db()
    assert first.paid_amount == 0 and not Payment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_never_overpay(sales_rep, customer):
    contract = make_contract(actor=sales_rep, customer=customer, amount="1000")
    first = plan(contract, due_on=timezone.localdate(), amount="1000")
    barrier, refused = threading.Barrier(5), []

    def record():
        try:
            barrier.wait()
            pay(actor=sales_rep, parent=contract, amount="300", plan=first)
        except ValidationError:
            refused.append(1)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=record) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first.refresh_from_db()
    assert first.paid_amount == D("900.00") and len(refused) == 2


# ------------------------------------------------------------------------------------- overdue reminders


def _reminders(user):
    return list(Notification.objects.filter(user=user, kind=NotificationKind.REMINDER,
                                            dedupe_key__startswith="payment-overdue:"))


def test_each_overdue_instalment_is_reminded_once_to_the_owner(sales_rep, other_rep, customer, contract):
    # given a contract with an overdue, a partly paid overdue, a paid and a future instalment, and an order of
    # another rep with an overdue one
    today = timezone.localdate()
    overdue = plan(contract, due_on=today - 3 * DAY, amount="2000")
    partly = plan(contract, due_on=today - DAY, amount="2000", paid="500")
    plan(contract, due_on=today - 10 * DAY, amount="1000", paid="1000")
    plan(contract, due_on=today, amount="1000")  # due today: not overdue yet
    order = make_order(actor=other_rep, customer=CustomerFactory(owner=other_rep))
    order_plan = plan(order, due_on=today - DAY, amount="500")
    # when the morning scan runs, twice
    assert payments.payments_remind_overdue(today=today) == 3
    assert payments.payments_remind_overdue(today=today) == 0
    remind_overdue_payments.apply()  # the beat task: nothing new either
    # then each overdue instalment was reminded once, to its contract's or order's owner
    keys = sorted(n.dedupe_key for n in _reminders(sales_rep))
    assert keys == sorted([f"payment-overdue:{overdue.pk}", f"payment-overdue:{partly.pk}"])
    assert [n.dedupe_key for n in _reminders(other_rep)] == [f"payment-overdue:{order_plan.pk}"]
    reminder = Notification.objects.get(dedupe_key=f"payment-overdue:{partly.pk}")
    assert contract.number in reminder.title and "1,500.00" in reminder.title  # what is outstanding
    assert reminder.url == contract.get_absolute_url() + "#payments"
    assert PaymentPlan.objects.filter(reminded_on=today).count() == 3


def test_reminders_come_in_the_owners_language(teams, customer_factory, monkeypatch):
    # given owners who read Chinese, English, and one who never chose (the site's language, Chinese)
    from django.utils import translation

    chinese, english, unset = (UserFactory(team=teams.shanghai) for _ in range(3))
    for user, language in ((chinese, "zh-hans"), (english, "en"), (unset, "")):
        user.language = language
        user.save(update_fields=["language"])
    yesterday = timezone.localdate() - DAY
    for owner in (chinese, english, unset):
        contract = make_contract(actor=owner, customer=customer_factory(owner=owner))
        plan(contract, due_on=yesterday, amount="100")
    # (the catalogue may not have these texts yet: mark each with the language active when it was translated)
    monkeypatch.setattr(payments, "_", lambda text: f"[{translation.get_language()}] {text}")
    # when the scan runs in a worker whose own language is English
    with translation.override("en"):
        payments.payments_remind_overdue()
    # then each reminder was written in its owner's language
    assert _reminders(chinese)[0].title.startswith("[zh-hans] Payment overdue")
    assert _reminders(english)[0].title.startswith("[en] Payment overdue")
    assert _reminders(unset)[0].title.startswith("[zh-hans] ")
    assert _reminders(english)[0].body.startswith("[en] ")


def test_draft_terminated_and_cancelled_are_not_overdue(sales_rep, customer):
    yesterday = timezone.localdate() - DAY
    draft = make_contract(actor=sales_rep, customer=customer, status=ContractStatus.DRAFT)
    terminated = make_contract(actor=sales_rep, customer=customer, status=ContractStatus.TERMINATED)
    cancelled = make_order(actor=sales_rep, customer=customer)
    services.order_set_status(actor=sales_rep, order=cancelled, status=OrderStatus.CANCELLED)
    for parent in (draft, terminated, cancelled):
        plan(parent, due_on=yesterday, amount="100")
    assert payments.payments_remind_overdue() == 0


def test_overdue_instalments_are_flagged_on_the_pages(client_as, sales_rep, customer, contract):
    plan(contract, due_on=timezone.localdate() - DAY, amount="2000")
    on_time = make_contract(actor=sales_rep, customer=customer)
    plan(on_time, due_on=timezone.localdate() + DAY, amount="2000")
    client = client_as(sales_rep)
    detail = client.get(reverse("sales:contract_detail", args=[contract.pk])).content.decode()
    assert "data-overdue" in detail
    assert "data-overdue" not in client.get(reverse("sales:contract_detail", args=[on_time.pk])).content.decode()
    listing = client.get(reverse("sales:contract_list"), {"overdue": "true"}).content.decode()
    assert contract.number in listing and on_time.number not in listing


def test_payment_form_on_the_page_records_against_the_instalment(client_as, sales_rep, contract):
    first = plan(contract, due_on=timezone.localdate(), amount="2500")
    response = client_as(sales_rep).post(reverse("sales:contract_payment_add", args=[contract.pk]), {
        "plan": first.pk, "amount": "2500", "received_on": timezone.localdate().isoformat(), "method": "银行转账",
        "reference": "HX2026-0001"})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.paid_amount == D("2500.00")
    assert Payment.objects.get().recorded_by == sales_rep


def test_plan_form_on_the_page_refuses_too_much(client_as, sales_rep, contract):
    response = client_as(sales_rep).post(reverse("sales:contract_plan_add", args=[contract.pk]), {
        "due_on": timezone.localdate().isoformat(), "amount": "10000.01"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and not PaymentPlan.objects.exists()
    assert "at most 10,000.00" in response.content.decode()  # the page is in English here
