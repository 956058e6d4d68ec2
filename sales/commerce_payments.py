"""Payment plans (回款计划) and payments received (回款) of contracts and orders, and the overdue reminder.

Every write locks the contract or order first, so that two people recording money for it at once add up
correctly: the instalments never plan more than its amount, and what was received never exceeds it, nor an
instalment's outstanding amount (an overpayment is refused with the amount still open). A payment against an
instalment raises its paid amount in the same transaction.

An instalment is overdue when its due date has passed and it is not fully paid, unless its contract is a draft
(not signed: nothing is owed yet) or terminated, or its order cancelled. ``payments_remind_overdue`` (beat, each
morning) tells the contract's or order's owner, in his language, once per instalment.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.notifications.models import NotificationKind
from crm.notifications.services import NewNotification, notify_many

from . import permissions as policy
from .commerce_services import CHANGE, display_money, locked, require
from .commerce_totals import ZERO
from .models import Contract, ContractStatus, Order, OrderStatus, Payment, PaymentPlan

BATCH = 1000


def overdue_condition(today) -> Q:
    """The instalments (PaymentPlan rows) overdue on ``today``."""
    return (
        Q(due_on__lt=today, paid_amount__lt=F("amount"))
        & ~Q(contract__status__in=[ContractStatus.DRAFT, ContractStatus.TERMINATED])
        & ~Q(order__status=OrderStatus.CANCELLED)
    )


def amount_of(parent) -> object:
    return parent.amount if isinstance(parent, Contract) else parent.total


def _of(parent) -> dict:
    return {"contract": parent} if isinstance(parent, Contract) else {"order": parent}


def _lock_parent(actor, parent):
    if isinstance(parent, Contract):
        return locked(policy.contracts_for(actor, CHANGE), parent.pk)
    if isinstance(parent, Order):
        return locked(policy.orders_for(actor, CHANGE), parent.pk)
    raise TypeError(parent)


def _check_open(parent) -> None:
    if isinstance(parent, Order) and parent.status == OrderStatus.CANCELLED:
        raise ValidationError(_("This order was cancelled."))


@transaction.atomic
def payment_plan_add(*, actor, parent: Contract | Order, due_on, amount) -> PaymentPlan:
    """An instalment of a contract or an order. All its instalments together may not exceed its amount."""
    require(actor, "sales.add_paymentplan")
    parent = _lock_parent(actor, parent)
    _check_open(parent)
    if amount is None or amount <= 0:
        raise ValidationError({"amount": _("An instalment is more than zero.")})
    planned = PaymentPlan.objects.filter(**_of(parent)).aggregate(s=Sum("amount"))["s"] or ZERO
    total = amount_of(parent)
    if planned + amount > total:
        raise ValidationError({"amount": _(
            "The instalments would come to %(planned)s, more than the amount of %(total)s: at most %(left)s can "
            "still be planned.") % {"planned": display_money(planned + amount), "total": display_money(total),
                                    "left": display_money(max(total - planned, ZERO))}})
    plan = PaymentPlan(**_of(parent), due_on=due_on, amount=amount)
    plan.full_clean()
    plan.save()
    return plan


@transaction.atomic
def payment_plan_delete(*, actor, plan: PaymentPlan) -> None:
    """Remove an instalment nothing was paid against (to reschedule it, remove it and plan it again)."""
    require(actor, "sales.change_paymentplan")
    parent = _lock_parent(actor, plan.contract or plan.order)
    plan = PaymentPlan.objects.select_for_update().get(pk=plan.pk, **_of(parent))
    if plan.paid_amount > 0 or plan.payments.exists():
        raise ValidationError(_("Payments were received against this instalment; it cannot be removed."))
    plan.delete()


@transaction.atomic
def payment_record(*, actor, parent: Contract | Order, amount, received_on, plan: PaymentPlan | None = None,
                   method: str = "", reference: str = "") -> Payment:
    """Money received for a contract or an order. Where it has instalments the payment is for one of them, whose
    paid amount rises with it; it may not exceed what is outstanding there, nor on the contract or order."""
    require(actor, "sales.add_payment")
    parent = _lock_parent(actor, parent)
    _check_open(parent)
    if amount is None or amount <= 0:
        raise ValidationError({"amount": _("A payment is more than zero.")})
    if received_on is None or received_on > timezone.localdate():
        raise ValidationError({"received_on": _("A payment cannot be received in the future.")})
    plans = PaymentPlan.objects.filter(**_of(parent))
    if plan is None and plans.exists():
        raise ValidationError({"plan": _("Choose the instalment this payment is for.")})
    if plan is not None:
        plan = plans.select_for_update().filter(pk=plan.pk).first()
        if plan is None:
            raise ValidationError({"plan": _("Choose one of this contract's or order's instalments.")})
        if amount > plan.outstanding:
            raise ValidationError({"amount": _(
                "Overpayment: the instalment due %(due)s has %(outstanding)s outstanding; record at most that."
            ) % {"due": plan.due_on.isoformat(), "outstanding": display_money(plan.outstanding)}})
    received = Payment.objects.filter(**_of(parent)).aggregate(s=Sum("amount"))["s"] or ZERO
    total = amount_of(parent)
    if received + amount > total:
        raise ValidationError({"amount": _(
            "Overpayment: %(received)s of %(total)s was received already; at most %(left)s is outstanding."
        ) % {"received": display_money(received), "total": display_money(total),
             "left": display_money(max(total - received, ZERO))}})
    payment = Payment(**_of(parent), plan=plan, amount=amount, received_on=received_on, method=method,
                      reference=reference, recorded_by=actor)
    payment.full_clean()
    payment.save()
    if plan is not None:
        PaymentPlan.objects.filter(pk=plan.pk).update(paid_amount=F("paid_amount") + amount)
    return payment


@transaction.atomic
def payment_delete(*, actor, payment: Payment) -> None:
    """Take back a payment recorded by mistake; its instalment's paid amount falls with it."""
    require(actor, "sales.delete_payment")
    parent = _lock_parent(actor, payment.contract or payment.order)
    payment = Payment.objects.select_for_update().get(pk=payment.pk, **_of(parent))
    if payment.plan_id:
        PaymentPlan.objects.filter(pk=payment.plan_id).update(paid_amount=F("paid_amount") - payment.amount)
    payment.delete()


# --------------------------------------------------------------------------------------------- reminders


def payments_remind_overdue(*, today=None, batch: int = BATCH) -> int:
    """Tell the owner of each contract or order with an overdue instalment, once per instalment (``reminded_on``
    under a row lock, and the notification's dedupe key). How many were sent."""
    today = today or timezone.localdate()
    sent = 0
    while True:
        with transaction.atomic():
            due = list(
                PaymentPlan.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(overdue_condition(today), reminded_on__isnull=True)
                .select_related("contract__owner", "contract__customer", "order__owner", "order__customer")
                .order_by("due_on", "pk")[:batch]
            )
            if not due:
                return sent
            notify_many([_reminder(plan) for plan in due])
            PaymentPlan.objects.filter(pk__in=[plan.pk for plan in due]).update(reminded_on=today)
            sent += len(due)


def _reminder(plan: PaymentPlan) -> NewNotification:
    parent = plan.contract or plan.order
    owner = parent.owner
    with translation.override(owner.language or settings.LANGUAGE_CODE):
        title = _("Payment overdue: %(number)s, %(amount)s due %(due)s") % {
            "number": parent.number, "amount": display_money(plan.outstanding), "due": plan.due_on.isoformat()}
        body = _("%(customer)s has not paid the instalment of %(amount)s due %(due)s (%(outstanding)s "
                 "outstanding).") % {
            "customer": parent.customer.name, "amount": display_money(plan.amount), "due": plan.due_on.isoformat(),
            "outstanding": display_money(plan.outstanding)}
    return NewNotification(user_id=owner.pk, kind=NotificationKind.REMINDER, title=title, body=body,
                           url=parent.get_absolute_url() + "#payments", dedupe_key=f"payment-overdue:{plan.pk}")
