"""What is sold and paid: products and price lists, quotes, contracts, orders, payment plans and payments (回款).

Orders are the customer's purchase history. Amounts are Decimal; totals are stored (computed by the services
from the lines) so that lists and reports sum them in SQL.
"""

from decimal import Decimal

import pghistory
from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="ProductEvent")
class Product(models.Model):
    code = models.CharField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    unit = models.CharField(_("unit"), max_length=20, default="件")
    price = models.DecimalField(_("list price"), default=Decimal("0"), **MONEY)
    active = models.BooleanField(_("on sale"), default=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="PriceListEvent")
class PriceList(models.Model):
    name = models.CharField(_("name"), max_length=100)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("price list")
        verbose_name_plural = _("price lists")
        ordering = ["name"]

    def __str__(self):
        return self.name


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="PriceListItemEvent")
class PriceListItem(models.Model):
    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="+")
    price = models.DecimalField(_("price"), **MONEY)

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        constraints = [models.UniqueConstraint(fields=["price_list", "product"], name="price_list_item_unique")]

    def __str__(self):
        return f"{self.product}: {self.price}"


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), model_name="QuoteEvent")
class Quote(models.Model):
    number = models.CharField(_("number"), max_length=30, unique=True)
    customer = models.ForeignKey("customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT,
                                 related_name="quotes")
    opportunity = models.ForeignKey("sales.Opportunity", verbose_name=_("opportunity"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="quotes")
    price_list = models.ForeignKey(PriceList, verbose_name=_("price list"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT,
                              related_name="quotes")
    status = models.CharField(_("status"), max_length=10, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    discount = models.DecimalField(_("discount on the total"), default=Decimal("0"), **MONEY)
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=Decimal("13"))
    subtotal = models.DecimalField(_("subtotal"), default=Decimal("0"), **MONEY)
    tax = models.DecimalField(_("tax"), default=Decimal("0"), **MONEY)
    total = models.DecimalField(_("total"), default=Decimal("0"), **MONEY)
    notes = models.TextField(_("terms and notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="quote_customer")]

    def __str__(self):
        return self.number

    def get_absolute_url(self):
        return reverse("sales:quote_detail", args=[self.pk])


# Trigger names of their own: the default ones hash to a function name another model's trigger already has.
@pghistory.track(pghistory.InsertEvent(trigger_name="quote_line_insert"),
                 pghistory.UpdateEvent(trigger_name="quote_line_update"),
                 pghistory.DeleteEvent(trigger_name="quote_line_delete"), model_name="QuoteLineEvent")
class QuoteLine(models.Model):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, verbose_name=_("product"), null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    description = models.CharField(_("description"), max_length=300)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=2, default=Decimal("1"))
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    discount_percent = models.DecimalField(_("discount (%)"), max_digits=5, decimal_places=2, default=Decimal("0"))
    amount = models.DecimalField(_("amount"), default=Decimal("0"), **MONEY)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        ordering = ["position", "pk"]

    def __str__(self):
        return self.description


class ContractStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("In force")
    COMPLETED = "completed", _("Completed")
    TERMINATED = "terminated", _("Terminated")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), model_name="ContractEvent")
class Contract(models.Model):
    number = models.CharField(_("number"), max_length=30, unique=True)
    title = models.CharField(_("title"), max_length=200)
    customer = models.ForeignKey("customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT,
                                 related_name="contracts")
    opportunity = models.ForeignKey("sales.Opportunity", null=True, blank=True, verbose_name=_("opportunity"),
        on_delete=models.SET_NULL,
                                    related_name="contracts")
    quote = models.ForeignKey(Quote, null=True, blank=True, verbose_name=_("quote"), on_delete=models.SET_NULL,
        related_name="contracts")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT,
                              related_name="contracts")
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    starts_on = models.DateField(_("from"), null=True, blank=True)
    ends_on = models.DateField(_("to"), null=True, blank=True)
    signed_on = models.DateField(_("signed"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=ContractStatus.choices,
                              default=ContractStatus.DRAFT)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="contract_customer")]

    def __str__(self):
        return f"{self.number} {self.title}"

    def get_absolute_url(self):
        return reverse("sales:contract_detail", args=[self.pk])


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="ContractAttachmentEvent")
class ContractAttachment(models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="contracts/%Y/%m/")
    name = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self):
        return self.name


class OrderStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), model_name="OrderEvent")
class Order(models.Model):
    number = models.CharField(_("number"), max_length=30, unique=True)
    customer = models.ForeignKey("customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT,
                                 related_name="orders")
    contract = models.ForeignKey(Contract, verbose_name=_("contract"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="orders")
    quote = models.ForeignKey(Quote, null=True, blank=True, verbose_name=_("quote"), on_delete=models.SET_NULL,
        related_name="orders")
    opportunity = models.ForeignKey("sales.Opportunity", null=True, blank=True, verbose_name=_("opportunity"),
        on_delete=models.SET_NULL,
                                    related_name="orders")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT,
                              related_name="orders")
    ordered_on = models.DateField(_("ordered on"))
    status = models.CharField(_("status"), max_length=12, choices=OrderStatus.choices,
                              default=OrderStatus.CONFIRMED)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    total = models.DecimalField(_("total"), default=Decimal("0"), **MONEY)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-ordered_on", "-pk"]
        permissions = [("export_order", _("Can export orders"))]
        indexes = [models.Index(fields=["customer", "-ordered_on"], name="order_customer")]

    def __str__(self):
        return self.number

    def get_absolute_url(self):
        return reverse("sales:order_detail", args=[self.pk])


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="OrderLineEvent")
class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, verbose_name=_("product"), null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    description = models.CharField(_("description"), max_length=300)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=2, default=Decimal("1"))
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    amount = models.DecimalField(_("amount"), default=Decimal("0"), **MONEY)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["pk"]

    def __str__(self):
        return self.description


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="PaymentPlanEvent")
class PaymentPlan(models.Model):
    """An instalment expected for a contract or an order (回款计划)."""

    contract = models.ForeignKey(Contract, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="payment_plans")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="payment_plans")
    due_on = models.DateField(_("due"))
    amount = models.DecimalField(_("amount"), **MONEY)
    paid_amount = models.DecimalField(_("received"), default=Decimal("0"), **MONEY)
    reminded_on = models.DateField(null=True, blank=True)  # the overdue reminder, sent once

    class Meta:
        verbose_name = _("payment plan")
        verbose_name_plural = _("payment plans")
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["due_on"], name="payment_plan_due")]

    def __str__(self):
        return f"{self.due_on}: {self.amount}"

    @property
    def outstanding(self) -> Decimal:
        return max(self.amount - self.paid_amount, Decimal("0"))


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="PaymentEvent")
class Payment(models.Model):
    """Money received (回款) for a contract or an order, optionally against one instalment."""

    contract = models.ForeignKey(Contract, null=True, blank=True, verbose_name=_("contract"),
        on_delete=models.PROTECT, related_name="payments")
    order = models.ForeignKey(Order, null=True, blank=True, verbose_name=_("order"), on_delete=models.PROTECT,
        related_name="payments")
    plan = models.ForeignKey(PaymentPlan, null=True, blank=True, verbose_name=_("payment plan"),
        on_delete=models.SET_NULL, related_name="payments")
    amount = models.DecimalField(_("amount"), **MONEY)
    received_on = models.DateField(_("received on"))
    method = models.CharField(_("method"), max_length=30, blank=True)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, verbose_name=_("recorded by"),
        on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-received_on", "-pk"]

    def __str__(self):
        return f"{self.received_on}: {self.amount}"
