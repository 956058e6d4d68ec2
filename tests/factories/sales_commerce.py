"""Products, price lists, and quotes, contracts and orders made through sales.commerce_services (numbers from their
sequences, totals computed), plus instalments written straight to the table for tests that set up a state."""

from datetime import date
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from sales import commerce_payments, commerce_services
from sales.models import PaymentPlan, PriceList, PriceListItem, Product


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"P{n:04d}")
    name = factory.Sequence(lambda n: f"产品{n:04d}")
    unit = "套"
    price = Decimal("100.00")


class PriceListFactory(DjangoModelFactory):
    class Meta:
        model = PriceList

    name = factory.Sequence(lambda n: f"价目表{n}")


def price(price_list: PriceList, product: Product, amount) -> PriceListItem:
    return PriceListItem.objects.create(price_list=price_list, product=product, price=Decimal(str(amount)))


def line(product=None, *, quantity="1", unit_price=None, discount_percent="0", description="") -> dict:
    """A line as the services take it."""
    return {"product": product, "description": description, "quantity": Decimal(str(quantity)),
            "unit_price": None if unit_price is None else Decimal(str(unit_price)),
            "discount_percent": Decimal(str(discount_percent))}


def make_quote(*, actor, customer, lines=None, **data):
    data.setdefault("tax_rate", Decimal("13"))
    data.setdefault("discount", Decimal("0"))
    lines = lines or [line(ProductFactory(), quantity="2")]
    return commerce_services.quote_create(actor=actor, customer=customer, data=data, lines=lines)


def make_contract(*, actor, customer, amount="10000.00", status="active", **data):
    data = {"title": "年度服务合同", "amount": Decimal(str(amount)), "status": status, **data}
    return commerce_services.contract_create(actor=actor, customer=customer, data=data)


def make_order(*, actor, customer, lines=None, **data):
    lines = lines or [line(ProductFactory(), quantity="1", unit_price="1000.00")]
    return commerce_services.order_create(actor=actor, customer=customer, data=data, lines=lines)


def plan(parent, *, due_on: date, amount, paid="0") -> PaymentPlan:
    """An instalment written straight to the table (any due date, also in the past)."""
    of = {"contract": parent} if parent._meta.model_name == "contract" else {"order": parent}
    return PaymentPlan.objects.create(**of, due_on=due_on, amount=Decimal(str(amount)), paid_amount=Decimal(str(paid)))


def pay(*, actor, parent, amount, received_on=None, plan=None):
    from django.utils import timezone

    return commerce_payments.payment_record(actor=actor, parent=parent, amount=Decimal(str(amount)),
                                            received_on=received_on or timezone.localdate(), plan=plan)
