"""Writes on what is sold: products and price lists, quotes (and a won quote becoming a contract and/or an order),
contracts with their attachments, and orders. Payment plans and payments (回款) are in commerce_payments.

One function per business action, the acting user passed explicitly. Each checks the module permission and takes
its record from the policy's scope under a row lock (PermissionDenied outside it: views have answered 404 before
calling), validates, and writes in one transaction; pghistory's triggers put every write in the audit trail.
"""

import mimetypes
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from customers import permissions as customer_policy
from customers import services as customer_services

from . import permissions as policy
from . import pipeline_services
from .commerce_totals import HUNDRED, ZERO, compute_totals, money, next_number
from .models import (
    Contract,
    ContractAttachment,
    ContractStatus,
    Opportunity,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentPlan,
    PriceList,
    PriceListItem,
    Product,
    Quote,
    QuoteLine,
    QuoteStatus,
    Stage,
    StageKind,
)

CHANGE = policy.CHANGE


def display_money(value) -> str:
    """An amount as the active language writes it, with grouping: 12,345.60."""
    return number_format(value, 2, force_grouping=True)


def require(actor, permission: str) -> None:
    if not actor.has_perm(permission):
        raise PermissionDenied


def locked(queryset, pk):
    """The row of a ``*_for`` queryset, locked for this transaction; PermissionDenied outside the scope."""
    try:
        return queryset.select_for_update(of=("self",)).get(pk=pk)
    except queryset.model.DoesNotExist:
        raise PermissionDenied from None


def _check_customer(actor, customer) -> None:
    """Quotes, contracts and orders are written for customers the actor may change (his, his teams', shared
    for change); a pool customer is claimed first."""
    if not customer_policy.customers_for(actor, customer_policy.CHANGE).filter(pk=customer.pk).exists():
        raise PermissionDenied


def _check_opportunity(customer, opportunity) -> None:
    if opportunity is not None and opportunity.customer_id != customer.pk:
        raise ValidationError({"opportunity": _("Choose one of this customer's opportunities.")})


# ----------------------------------------------------------------------------------------------- catalogue

PRODUCT_FIELDS = ["code", "name", "unit", "price", "active", "description"]


@transaction.atomic
def product_create(*, actor, data: dict) -> Product:
    require(actor, "sales.add_product")
    product = Product(**{k: v for k, v in data.items() if k in PRODUCT_FIELDS})
    product.full_clean()
    product.save()
    return product


@transaction.atomic
def product_update(*, actor, product: Product, data: dict) -> Product:
    require(actor, "sales.change_product")
    product = Product.objects.select_for_update().get(pk=product.pk)
    for name in PRODUCT_FIELDS:
        if name in data:
            setattr(product, name, data[name])
    product.full_clean()
    product.save()
    return product


PRICE_LIST_FIELDS = ["name", "currency", "active"]


@transaction.atomic
def price_list_save(*, actor, data: dict, items: list[dict], price_list: PriceList | None = None) -> PriceList:
    """Create or change a price list and set its prices: ``items`` ({product, price}) replace the ones it had."""
    require(actor, "sales.change_pricelist" if price_list else "sales.add_pricelist")
    price_list = PriceList.objects.select_for_update().get(pk=price_list.pk) if price_list else PriceList()
    for name in PRICE_LIST_FIELDS:
        if name in data:
            setattr(price_list, name, data[name])
    price_list.full_clean()
    price_list.save()
    prices = {}
    for item in items:
        product = item["product"]
        if product.pk in prices:
            raise ValidationError(_("%(product)s is listed twice.") % {"product": product})
        if item["price"] < 0:
            raise ValidationError(_("A price cannot be negative."))
        prices[product.pk] = item["price"]
    price_list.items.exclude(product_id__in=prices).delete()
    for product_id, price in prices.items():
        PriceListItem.objects.update_or_create(price_list=price_list, product_id=product_id,
                                               defaults={"price": price})
    return price_list


def prices_for(products, price_list: PriceList | None) -> dict[int, object]:
    """Each product's price: the price list's where it lists one, the product's list price otherwise."""
    prices = {p.pk: p.price for p in products}
    if price_list is not None and prices:
        listed = PriceListItem.objects.filter(price_list=price_list, product_id__in=prices)
        prices.update(listed.values_list("product_id", "price"))
    return prices


# ------------------------------------------------------------------------------------------------ lines


def prepare_lines(lines: list[dict], *, price_list=None, with_discount: bool = True) -> list[dict]:
    """Complete and check lines given as dicts (product, description, quantity, unit_price, discount_percent):
    a line without a unit price takes its product's price (from ``price_list``), without a description the
    product's name."""
    if not lines:
        raise ValidationError(_("Add at least one line."))
    prices = prices_for([line["product"] for line in lines if line.get("product")], price_list)
    prepared = []
    for number, line in enumerate(lines, start=1):
        product = line.get("product")
        unit_price = line.get("unit_price")
        if unit_price is None:
            if product is None:
                raise ValidationError(_("Line %(number)s: give a unit price.") % {"number": number})
            unit_price = prices[product.pk]
        description = (line.get("description") or "").strip() or (product.name if product else "")
        if not description:
            raise ValidationError(_("Line %(number)s: choose a product or describe the item.") % {"number": number})
        quantity = line.get("quantity")
        quantity = None if quantity is None else money(quantity)
        if quantity is None or quantity <= 0:
            raise ValidationError(_("Line %(number)s: the quantity must be more than zero.") % {"number": number})
        if unit_price < 0:
            raise ValidationError(_("Line %(number)s: the unit price cannot be negative.") % {"number": number})
        discount_percent = (line.get("discount_percent") or ZERO) if with_discount else ZERO
        if not ZERO <= discount_percent <= HUNDRED:
            raise ValidationError(_("Line %(number)s: a discount is between 0 and 100%%.") % {"number": number})
        # Stored with two decimals: computed from exactly what is stored (rounded half up, as the totals are).
        prepared.append({"product": product, "description": description[:300], "quantity": quantity,
                         "unit_price": money(unit_price), "discount_percent": money(discount_percent)})
    return prepared


# ------------------------------------------------------------------------------------------------ quotes

QUOTE_FIELDS = ["opportunity", "price_list", "valid_until", "discount", "tax_rate", "notes"]
EDITABLE_QUOTE = (QuoteStatus.DRAFT, QuoteStatus.SENT)


def _fill_quote(quote: Quote, data: dict, lines: list[dict]) -> list[dict]:
    previous_price_list_id = quote.price_list_id if quote.pk else None  # a retired list it already uses may stay
    for name in QUOTE_FIELDS:
        if name in data:
            setattr(quote, name, data[name])
    _check_opportunity(quote.customer, quote.opportunity)
    if quote.price_list is not None:
        if not quote.price_list.active and quote.price_list_id != previous_price_list_id:
            raise ValidationError({"price_list": _("This price list is no longer in use.")})
        quote.currency = quote.price_list.currency
    prepared = prepare_lines(lines, price_list=quote.price_list)
    if not ZERO <= quote.tax_rate <= HUNDRED:
        raise ValidationError({"tax_rate": _("A tax rate is between 0 and 100%.")})
    totals = compute_totals(prepared, discount=quote.discount, tax_rate=quote.tax_rate)
    if totals.discount < 0 or totals.discount > totals.subtotal:
        raise ValidationError({"discount": _("The discount must be between 0 and the subtotal (%(subtotal)s).")
                               % {"subtotal": display_money(totals.subtotal)}})
    quote.discount, quote.subtotal, quote.tax, quote.total = (totals.discount, totals.subtotal, totals.tax,
                                                              totals.total)
    for line, amount in zip(prepared, totals.amounts, strict=True):
        line["amount"] = amount
    return prepared


def _write_quote_lines(quote: Quote, lines: list[dict]) -> None:
    quote.lines.all().delete()
    QuoteLine.objects.bulk_create([QuoteLine(quote=quote, position=i, **line) for i, line in enumerate(lines)])


@transaction.atomic
def quote_create(*, actor, customer, data: dict, lines: list[dict]) -> Quote:
    """A draft quote for ``customer``, owned by the actor, numbered Q-<year>-<counter>."""
    require(actor, "sales.add_quote")
    _check_customer(actor, customer)
    quote = Quote(customer=customer, owner=actor)
    prepared = _fill_quote(quote, data, lines)
    quote.full_clean(exclude=["number"])
    quote.number = next_number("quote")  # after validation: a refused quote uses up no number
    quote.save()
    _write_quote_lines(quote, prepared)
    return quote


@transaction.atomic
def quote_update(*, actor, quote: Quote, data: dict, lines: list[dict]) -> Quote:
    """Change a draft or sent quote: its header, and its lines replaced by ``lines``; totals recomputed."""
    require(actor, "sales.change_quote")
    quote = locked(policy.quotes_for(actor, CHANGE), quote.pk)
    if quote.status not in EDITABLE_QUOTE:
        raise ValidationError(_("An accepted or rejected quote can no longer be changed."))
    prepared = _fill_quote(quote, data, lines)
    quote.full_clean()
    quote.save()
    _write_quote_lines(quote, prepared)
    return quote


def _quote_status(actor, quote: Quote, status: str, allowed_from) -> Quote:
    require(actor, "sales.change_quote")
    quote = locked(policy.quotes_for(actor, CHANGE), quote.pk)
    if quote.status not in allowed_from:
        raise ValidationError(_("This quote is %(status)s already.") % {"status": quote.get_status_display()})
    quote.status = status
    quote.save(update_fields=["status", "updated_at"])
    return quote


@transaction.atomic
def quote_mark_sent(*, actor, quote: Quote) -> Quote:
    return _quote_status(actor, quote, QuoteStatus.SENT, [QuoteStatus.DRAFT])


@transaction.atomic
def quote_reject(*, actor, quote: Quote) -> Quote:
    return _quote_status(actor, quote, QuoteStatus.REJECTED, EDITABLE_QUOTE)


@transaction.atomic
def quote_reopen(*, actor, quote: Quote) -> Quote:
    """A rejected quote back to draft, to revise it."""
    return _quote_status(actor, quote, QuoteStatus.DRAFT, [QuoteStatus.REJECTED])


@dataclass
class Accepted:
    quote: Quote
    contract: Contract | None
    order: Order | None
    opportunity_moved: bool


# (actor, opportunity, won stage) -> anything: moves the opportunity, writing its stage history.
OpportunityMover = Callable[..., object]


def _pipeline_mover(actor, opportunity, stage):
    return pipeline_services.opportunity_move(actor=actor, opportunity=opportunity, stage=stage)


@transaction.atomic
def quote_accept(*, actor, quote: Quote, create_contract: bool, create_order: bool, contract_data: dict | None = None,
                 ordered_on=None, move_opportunity: OpportunityMover | None = None) -> Accepted:
    """The customer accepted the quote: in one step mark it accepted, make a contract (amount = the quote's total)
    and/or an order (the quote's lines and total), and move its opportunity to its pipeline's won stage.

    ``move_opportunity(actor, opportunity, stage)`` moves the opportunity; by default the pipeline part's
    ``opportunity_move`` (stage history, closed_at). An opportunity already won, without a won stage, or that the
    actor may not move is left where it is: the quote is accepted all the same (``opportunity_moved`` False)."""
    require(actor, "sales.change_quote")
    if not (create_contract or create_order):
        raise ValidationError(_("Make a contract, an order, or both."))
    if create_contract:
        require(actor, "sales.add_contract")
    if create_order:
        require(actor, "sales.add_order")
    quote = locked(policy.quotes_for(actor, CHANGE), quote.pk)
    if quote.status not in EDITABLE_QUOTE:
        raise ValidationError(_("This quote is %(status)s already.") % {"status": quote.get_status_display()})
    customer = quote.customer
    contract = order = None
    if create_contract:
        contract_data = dict(contract_data or {})
        contract = Contract(
            customer=customer, opportunity_id=quote.opportunity_id, quote=quote, owner=quote.owner,
            amount=quote.total, currency=quote.currency,
            title=contract_data.get("title") or _("%(customer)s: quote %(number)s") % {
                "customer": customer.name, "number": quote.number},
            starts_on=contract_data.get("starts_on"), ends_on=contract_data.get("ends_on"),
            signed_on=contract_data.get("signed_on"),
            status=ContractStatus.ACTIVE if contract_data.get("signed_on") else ContractStatus.DRAFT,
        )
        _check_period(contract)
        contract.title = contract.title[:200]
        contract.full_clean(exclude=["number"])
        contract.number = next_number("contract")
        contract.save()
    if create_order:
        order = Order(customer=customer, contract=contract, quote=quote, opportunity_id=quote.opportunity_id,
                      owner=quote.owner, ordered_on=ordered_on or timezone.localdate(), currency=quote.currency,
                      total=quote.total)
        order.full_clean(exclude=["number"])
        order.number = next_number("order")
        order.save()
        OrderLine.objects.bulk_create([
            OrderLine(order=order, product_id=line.product_id, description=line.description, quantity=line.quantity,
                      unit_price=line.unit_price, amount=line.amount)
            for line in quote.lines.all()
        ])
        customer_services.customer_mark_deal(customer_id=customer.pk)
    quote.status = QuoteStatus.ACCEPTED
    quote.save(update_fields=["status", "updated_at"])
    moved = _win_opportunity(actor, quote.opportunity_id, move_opportunity or _pipeline_mover)
    return Accepted(quote=quote, contract=contract, order=order, opportunity_moved=moved)


def _win_opportunity(actor, opportunity_id, mover) -> bool:
    if opportunity_id is None:
        return False
    opportunity = Opportunity.objects.select_related("stage").get(pk=opportunity_id)
    if opportunity.stage.kind == StageKind.WON:
        return False
    won = Stage.objects.filter(pipeline_id=opportunity.pipeline_id, kind=StageKind.WON).order_by("position", "pk")
    stage = won.first()
    if stage is None:
        return False
    try:
        with transaction.atomic():  # a savepoint: a refused move undoes itself, not the acceptance
            mover(actor, opportunity, stage)
    except (PermissionDenied, ValidationError):
        return False
    return True


# --------------------------------------------------------------------------------------------- contracts

CONTRACT_FIELDS = ["title", "opportunity", "amount", "currency", "starts_on", "ends_on", "signed_on", "status"]


def _check_period(contract: Contract) -> None:
    if contract.starts_on and contract.ends_on and contract.ends_on < contract.starts_on:
        raise ValidationError({"ends_on": _("The contract cannot end before it starts.")})
    if contract.amount is not None and contract.amount < 0:
        raise ValidationError({"amount": _("The amount cannot be negative.")})


@transaction.atomic
def contract_create(*, actor, customer, data: dict) -> Contract:
    require(actor, "sales.add_contract")
    _check_customer(actor, customer)
    contract = Contract(customer=customer, owner=actor, **{k: v for k, v in data.items() if k in CONTRACT_FIELDS})
    _check_opportunity(customer, contract.opportunity)
    _check_period(contract)
    contract.full_clean(exclude=["number"])
    contract.number = next_number("contract")
    contract.save()
    return contract


@transaction.atomic
def contract_update(*, actor, contract: Contract, data: dict) -> Contract:
    """Change a contract. Its amount cannot drop below what its instalments plan or what was received."""
    require(actor, "sales.change_contract")
    contract = locked(policy.contracts_for(actor, CHANGE), contract.pk)
    for name in CONTRACT_FIELDS:
        if name in data:
            setattr(contract, name, data[name])
    _check_opportunity(contract.customer, contract.opportunity)
    _check_period(contract)
    planned = PaymentPlan.objects.filter(contract=contract).aggregate(s=Sum("amount"))["s"] or ZERO
    received = Payment.objects.filter(contract=contract).aggregate(s=Sum("amount"))["s"] or ZERO
    floor = max(planned, received)
    if contract.amount < floor:
        raise ValidationError({"amount": _("The instalments and payments of this contract come to %(amount)s; "
                                           "the amount cannot be less.") % {"amount": display_money(floor)}})
    contract.full_clean()
    contract.save()
    return contract


# Attachments: what a signed contract comes as. The kind is read from the content, and must be what the name says.
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
_KIND_OF_EXTENSION = {
    ".pdf": "pdf", ".ofd": "zip", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp",
    ".docx": "zip", ".xlsx": "zip", ".pptx": "zip", ".zip": "zip", ".doc": "ole", ".xls": "ole", ".ppt": "ole",
    ".txt": "text",
}


def _kind_of_content(head: bytes) -> str:
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if b"\x00" not in head:
        return "text"
    return "other"


def attachment_problem(upload) -> str | None:
    """Why an uploaded file cannot be attached to a contract, or None."""
    name = PurePath(upload.name or "").name
    if upload.size > MAX_ATTACHMENT_BYTES:
        return _("%(name)s is larger than 20 MB.") % {"name": name}
    expected = _KIND_OF_EXTENSION.get(PurePath(name).suffix.lower())
    if expected is None:
        return _("%(name)s: attach PDF, OFD, images, Word, Excel, PowerPoint, ZIP or text files.") % {"name": name}
    upload.seek(0)
    head = upload.read(4096)
    upload.seek(0)
    kind = _kind_of_content(head)
    if expected == "text":
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            try:
                head.decode("gb18030")
            except UnicodeDecodeError:
                kind = "other"
    if kind != expected:
        return _("%(name)s is not what its name says it is.") % {"name": name}
    return None


def attachment_content_type(attachment: ContractAttachment) -> str:
    return mimetypes.guess_type(attachment.name)[0] or "application/octet-stream"


@transaction.atomic
def contract_attachments_add(*, actor, contract: Contract, files) -> list[ContractAttachment]:
    """Attach files to a contract. Stored under MEDIA_ROOT with random names (never the uploaded ones), served
    only by the contract's scoped attachment view."""
    require(actor, "sales.change_contract")
    contract = locked(policy.contracts_for(actor, CHANGE), contract.pk)
    problems = [p for p in (attachment_problem(f) for f in files) if p]
    if problems:
        raise ValidationError(problems)
    added = []
    try:
        for upload in files:
            name = PurePath(upload.name).name[-255:]
            attachment = ContractAttachment(contract=contract, name=name, size=upload.size)
            attachment.file.save(f"{uuid.uuid4().hex}{PurePath(name).suffix.lower()}", upload, save=False)
            added.append(attachment)
            attachment.save()
    except BaseException:
        for attachment in added:  # no file without its row
            attachment.file.storage.delete(attachment.file.name)
        raise
    return added


@transaction.atomic
def contract_attachment_delete(*, actor, attachment: ContractAttachment) -> None:
    require(actor, "sales.change_contract")
    locked(policy.contracts_for(actor, CHANGE), attachment.contract_id)
    storage, name = attachment.file.storage, attachment.file.name
    attachment.delete()
    transaction.on_commit(lambda: storage.delete(name))


# ------------------------------------------------------------------------------------------------ orders

ORDER_FIELDS = ["ordered_on", "opportunity", "contract", "currency"]


@transaction.atomic
def order_create(*, actor, customer, data: dict, lines: list[dict], price_list: PriceList | None = None) -> Order:
    """An order (purchase) of ``customer``: its lines (prices from ``price_list`` or the products' list prices
    where a line gives none) and their total."""
    require(actor, "sales.add_order")
    _check_customer(actor, customer)
    order = Order(customer=customer, owner=actor, **{k: v for k, v in data.items() if k in ORDER_FIELDS})
    if order.ordered_on is None:
        order.ordered_on = timezone.localdate()
    _check_opportunity(customer, order.opportunity)
    if order.contract is not None and order.contract.customer_id != customer.pk:
        raise ValidationError({"contract": _("Choose one of this customer's contracts.")})
    if price_list is not None:
        order.currency = price_list.currency
    prepared = prepare_lines(lines, price_list=price_list, with_discount=False)
    totals = compute_totals(prepared)
    order.total = totals.total
    order.full_clean(exclude=["number"])
    order.number = next_number("order")
    order.save()
    OrderLine.objects.bulk_create([
        OrderLine(order=order, product=line["product"], description=line["description"], quantity=line["quantity"],
                  unit_price=line["unit_price"], amount=amount)
        for line, amount in zip(prepared, totals.amounts, strict=True)
    ])
    customer_services.customer_mark_deal(customer_id=customer.pk)
    return order


@transaction.atomic
def order_set_status(*, actor, order: Order, status: str) -> Order:
    """Mark an order delivered or cancelled (or confirmed again). An order that was paid for is not cancelled."""
    require(actor, "sales.change_order")
    order = locked(policy.orders_for(actor, CHANGE), order.pk)
    if status not in OrderStatus.values:
        raise ValidationError(_("Choose a status."))
    if status == OrderStatus.CANCELLED and Payment.objects.filter(order=order).exists():
        raise ValidationError(_("Payments were received for this order; it cannot be cancelled."))
    order.status = status
    order.save(update_fields=["status"])
    return order
