"""Writes on interactions and follow-ups: one function per business action, the acting user passed in."""

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Greatest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.accounts.selectors import assignable_users
from crm.notifications.models import NotificationKind
from crm.notifications.services import notify
from customers import permissions as customer_policy
from customers.models import Contact, Customer

from . import permissions as policy
from .models import CONTACT_CHANNELS, Attachment, FollowUp, FollowUpStatus, Interaction

INTERACTION_FIELDS = ["channel", "direction", "occurred_at", "subject", "body"]


def customer_touch(*, customer_id: int, when: datetime) -> None:
    """Move the customer's "last contacted" forward to ``when`` (never back): it drives the public pool's
    return rule. A plain UPDATE, so that concurrent logs cannot lose the later time."""
    Customer.objects.filter(pk=customer_id).filter(
        Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=when)
    ).update(last_contacted_at=Greatest("last_contacted_at", when))


@transaction.atomic
def interaction_log(*, actor, customer: Customer, data: dict, contact: Contact | None = None, files=(),
                    next_step: dict | None = None) -> Interaction:
    """Log a touch point on ``customer`` (any customer ``actor`` may see: a support agent logs calls on
    customers he cannot edit), optionally with the follow-up it promised ("next step")."""
    if not actor.has_perm("interactions.add_interaction"):
        raise ValidationError(_("You may not log interactions."))
    customer_policy.get_customer_or_404(actor, customer.pk, customer_policy.VIEW)
    if contact is not None and contact.customer_id != customer.pk:
        raise ValidationError({"contact": _("This contact belongs to another customer.")})
    interaction = Interaction(customer=customer, contact=contact, author=actor,
                              **{k: v for k, v in data.items() if k in INTERACTION_FIELDS})
    if not interaction.occurred_at:
        interaction.occurred_at = timezone.now()
    interaction.full_clean()
    interaction.save()
    for upload in files:
        Attachment.objects.create(interaction=interaction, file=upload, name=upload.name[:255], size=upload.size)
    if interaction.channel in CONTACT_CHANNELS and interaction.occurred_at <= timezone.now():
        customer_touch(customer_id=customer.pk, when=interaction.occurred_at)
    if next_step:
        followup_create(actor=actor, customer=customer, interaction=interaction, **next_step)
    return interaction


@transaction.atomic
def followup_create(*, actor, customer: Customer, title: str, due_at: datetime, remind_at: datetime | None = None,
                    assignee=None, priority: str = "normal", notes: str = "",
                    interaction: Interaction | None = None) -> FollowUp:
    if not actor.has_perm("interactions.add_followup"):
        raise ValidationError(_("You may not plan follow-ups."))
    customer_policy.get_customer_or_404(actor, customer.pk, customer_policy.VIEW)
    assignee = assignee or actor
    if assignee.pk != actor.pk:
        _check_assignable(actor, assignee, customer)
    # Nothing forgotten: without a reminder time of its own, a follow-up reminds when it is due.
    remind_at = remind_at or due_at
    followup = FollowUp(customer=customer, title=title, due_at=due_at, remind_at=remind_at, assignee=assignee,
                        priority=priority, notes=notes, interaction=interaction, created_by=actor)
    followup.full_clean()
    followup.save()
    if assignee.pk != actor.pk:
        _tell_assignee(followup, actor)
    return followup


def _check_assignable(actor, assignee, customer) -> None:
    """The actor may hand work to the assignee, and the assignee can see the customer it is about."""
    if not assignable_users(user=actor).filter(pk=assignee.pk).exists():
        raise ValidationError({"assignee": _("You may not give follow-ups to %(user)s.") % {"user": assignee}})
    if not customer_policy.can(assignee, customer_policy.VIEW, customer):
        raise ValidationError({"assignee": _("%(user)s cannot see this customer; share it with him first.")
                                % {"user": assignee}})


def _tell_assignee(followup: FollowUp, actor) -> None:
    assignee = followup.assignee
    with translation.override(assignee.language or settings.LANGUAGE_CODE):  # his language, not the actor's
        title = _("%(user)s gave you a follow-up: %(title)s") % {"user": actor, "title": followup.title}
    notify(
        user=assignee, kind=NotificationKind.ASSIGNMENT, title=title,
        body=str(followup.customer), url=followup.customer.get_absolute_url() + "?tab=timeline",
        dedupe_key=f"followup-assigned:{followup.pk}:{followup.assignee_id}:{timezone.now().timestamp():.0f}",
    )


def _locked(actor, followup_id: int) -> FollowUp:
    followup = policy.followups_for(actor, policy.CHANGE).select_for_update(of=("self",)).filter(
        pk=followup_id).first()
    if followup is None:
        raise ValidationError(_("You may not change this follow-up."))
    return followup


@transaction.atomic
def followup_complete(*, actor, followup: FollowUp) -> FollowUp:
    followup = _locked(actor, followup.pk)
    if followup.status != FollowUpStatus.OPEN:
        return followup
    followup.status = FollowUpStatus.DONE
    followup.completed_at = timezone.now()
    followup.save(update_fields=["status", "completed_at", "updated_at"])
    return followup


@transaction.atomic
def followup_cancel(*, actor, followup: FollowUp) -> FollowUp:
    followup = _locked(actor, followup.pk)
    if followup.status == FollowUpStatus.OPEN:
        followup.status = FollowUpStatus.CANCELLED
        followup.save(update_fields=["status", "updated_at"])
    return followup


@transaction.atomic
def followup_snooze(*, actor, followup: FollowUp, until: datetime) -> FollowUp:
    """Move the reminder (and the due time, if it would come before it) to ``until``; it fires again then."""
    followup = _locked(actor, followup.pk)
    if followup.status != FollowUpStatus.OPEN:
        raise ValidationError(_("Only an open follow-up can be snoozed."))
    if until <= timezone.now():
        raise ValidationError({"until": _("Choose a time in the future.")})
    followup.remind_at = until
    followup.reminded_at = None
    followup.due_at = max(followup.due_at, until)
    followup.escalated_at = None
    followup.save(update_fields=["remind_at", "reminded_at", "due_at", "escalated_at", "updated_at"])
    return followup


@transaction.atomic
def followup_reassign(*, actor, followup: FollowUp, assignee) -> FollowUp:
    followup = _locked(actor, followup.pk)
    if assignee.pk == followup.assignee_id:
        return followup
    _check_assignable(actor, assignee, followup.customer)
    followup.assignee = assignee
    followup.escalated_at = None
    followup.save(update_fields=["assignee", "escalated_at", "updated_at"])
    if assignee.pk != actor.pk:
        _tell_assignee(followup, actor)
    return followup
