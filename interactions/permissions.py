"""Who may see and change interactions and follow-ups. Both follow their customer (customers.permissions);
a follow-up is also always visible to, and changeable by, the user it is assigned to."""

from django.db.models import Q, QuerySet
from django.http import Http404

from crm.accounts.roles import is_admin
from customers import permissions as customer_policy

from .models import FollowUp, Interaction, Mailbox, MailMessage

VIEW, CHANGE = customer_policy.VIEW, customer_policy.CHANGE


def _customers(user, action) -> Q:
    condition = customer_policy.scope_condition(user, action)
    if condition is None:
        return Q(customer__deleted_at__isnull=True)
    return Q(customer__in=customer_policy.customers_for(user, action).values("pk"))


def interactions_for(user, action: str = VIEW) -> QuerySet[Interaction]:
    if not user.is_authenticated or not user.has_perm(f"interactions.{action}_interaction"):
        return Interaction.objects.none()
    return Interaction.objects.filter(_customers(user, action))


def followups_for(user, action: str = VIEW) -> QuerySet[FollowUp]:
    if not user.is_authenticated or not user.has_perm(f"interactions.{action}_followup"):
        return FollowUp.objects.none()
    return FollowUp.objects.filter(_customers(user, action) | Q(assignee=user, customer__deleted_at__isnull=True))


def get_followup_or_404(user, pk, action: str = VIEW) -> FollowUp:
    followup = followups_for(user, action).filter(pk=pk).first()
    if followup is None:
        raise Http404
    return followup


def get_interaction_or_404(user, pk, action: str = VIEW) -> Interaction:
    interaction = interactions_for(user, action).filter(pk=pk).first()
    if interaction is None:
        raise Http404
    return interaction


# ------------------------------------------------------------------------------------------ mailboxes
# Mailboxes and the mail read from them belong to their owner; administrators see all. Anything else is 404.


def mailboxes_for(user) -> QuerySet[Mailbox]:
    if not user.is_authenticated or not user.has_perm("interactions.view_mailmessage"):
        return Mailbox.objects.none()
    return Mailbox.objects.all() if is_admin(user) else Mailbox.objects.filter(owner=user)


def get_mailbox_or_404(user, pk) -> Mailbox:
    mailbox = mailboxes_for(user).select_related("owner").filter(pk=pk).first()
    if mailbox is None:
        raise Http404
    return mailbox


def unfiled_for(user) -> QuerySet[MailMessage]:
    return MailMessage.objects.filter(filed=False, mailbox__in=mailboxes_for(user).values("pk"))


def get_mail_or_404(user, pk) -> MailMessage:
    message = MailMessage.objects.filter(pk=pk, mailbox__in=mailboxes_for(user).values("pk")).first()
    if message is None:
        raise Http404
    return message
