"""Writes on leads (线索): one function per business action, the acting user passed explicitly.

Every write lands in the audit trail through pghistory's triggers. Assignments go through
``sales.assignment.assign_lead_to``, which records each one (LeadAssignment) and words the assignee's notification;
new leads without an owner are routed by the assignment rules in a worker once they are committed.
"""

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.accounts.selectors import assignable_users
from crm.notifications.models import NotificationKind
from crm.notifications.services import NewNotification, notify_many
from customers import permissions as customer_policy
from customers import services as customer_services
from customers.choices import Kind, Source
from customers.custom_fields import active_definitions
from customers.models import Contact, Customer
from customers.search import phone_digits

from . import lead_campaigns, pipeline_services
from . import permissions as policy
from .assignment import CLAIMED, MANUAL, assign_lead_to, province_name
from .models import Lead, LeadAssignment, LeadStatus, Opportunity
from .models.leads import OPEN_LEAD

LEAD_FIELDS = ["name", "company", "title", "mobile", "phone", "email", "province", "city", "source", "industry",
               "campaign", "marketing_campaign", "message", "custom"]
# What an owner may set by hand; "converted" comes only from lead_convert, "assigned" from an assignment.
STATUS_CHOICES = [LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.DISQUALIFIED]
REOPEN = "reopen"
CONVERT_LOCK_NAMESPACE = 7303  # pg_advisory_xact_lock(7303, hashtext(key)): one conversion per phone/email at once


class ClaimError(ValidationError):
    pass


def route_on_commit(lead_ids) -> None:
    """Queue the rules for these leads once the transaction that made them commits."""
    from . import tasks

    ids = list(lead_ids)
    if len(ids) == 1:
        transaction.on_commit(lambda: tasks.route_lead.delay(ids[0]))
    elif ids:
        transaction.on_commit(lambda: tasks.route_leads.delay(ids))


def _clean_data(data: dict) -> dict:
    values = {k: v for k, v in data.items() if k in LEAD_FIELDS}
    for name in ("mobile", "phone"):
        if name in values:
            values[name] = values[name] or ""
    if "email" in values:
        values["email"] = (values["email"] or "").strip().lower()
    if "province" in values:
        values["province"] = province_name(values["province"])
    return values


def may_hold_leads(user) -> bool:
    return user.is_active and user.has_perm("sales.change_lead")


def _check_assignable(actor, owner) -> None:
    if not actor.has_perm("sales.assign_lead"):
        raise PermissionDenied
    if not assignable_users(user=actor).filter(pk=owner.pk).exists() or not may_hold_leads(owner):
        raise ValidationError(_("You may not assign leads to %(user)s.") % {"user": owner})


@transaction.atomic
def lead_create(*, actor, data: dict, owner=None) -> Lead:
    """A lead entered by hand. Who may assign leads chooses its owner, or none (the rules then route it); a rep
    owns what he enters; someone who cannot work on leads (marketing) hands them to the rules."""
    if not actor.has_perm("sales.add_lead"):
        raise PermissionDenied
    if owner is not None and owner.pk != actor.pk:
        _check_assignable(actor, owner)
    elif owner is None and not actor.has_perm("sales.assign_lead") and may_hold_leads(actor):
        owner = actor
    lead = Lead(**_clean_data(data), created_by=actor)
    lead.full_clean()
    lead.save()
    if owner is None:
        route_on_commit([lead.pk])
        return lead
    _assignment, note = assign_lead_to(lead, owner, reason=MANUAL, assigned_by=actor, touched=owner.pk == actor.pk)
    notify_many([note] if note else [])
    return lead


def web_lead_create(*, data: dict, campaign: str = "", client_address: str = "") -> Lead:
    """A lead from the public web form (no user): source "website", routed by the rules once committed."""
    with pghistory.context(reason="web_form", ip=client_address), transaction.atomic():
        values = _clean_data(data)
        # The campaign code comes from the form's address, which the embedding site (or anybody) writes: it is cut
        # to its column and rid of NUL, which PostgreSQL cannot store (a 500 for the visitor otherwise).
        values.update(source=Source.WEBSITE, campaign=(campaign or "").replace("\x00", "")[:100])
        # A code that names a recorded campaign (marketing.Campaign.code) counts the lead for it.
        campaigns = lead_campaigns.hooks()
        if values["campaign"].strip() and campaigns is not None:
            values["marketing_campaign"] = campaigns.by_code(values["campaign"].strip())
        lead = Lead(**values)
        lead.full_clean()
        lead.save()
        route_on_commit([lead.pk])
    return lead


def _locked(actor, lead_id: int, action: str = policy.CHANGE) -> Lead:
    lead = policy.leads_for(actor, action).select_for_update(of=("self",)).filter(pk=lead_id).first()
    if lead is None:
        raise ValidationError(_("You may not change this lead."))
    return lead


def _touch(lead: Lead, actor, now=None) -> list[str]:
    """The owner's first action on his lead: from now on it is his to keep (no re-assignment when untouched)."""
    if lead.owner_id == actor.pk and lead.touched_at is None:
        lead.touched_at = now or timezone.now()
        return ["touched_at"]
    return []


@transaction.atomic
def lead_update(*, actor, lead: Lead, data: dict) -> Lead:
    locked = _locked(actor, lead.pk)
    for name, value in _clean_data(data).items():
        setattr(locked, name, value)
    _touch(locked, actor)
    locked.full_clean()
    locked.save()
    return locked


@transaction.atomic
def lead_set_status(*, actor, lead: Lead, status: str, reason: str = "") -> Lead:
    """Contacted, qualified, disqualified (with a reason), or reopen a disqualified lead."""
    locked = _locked(actor, lead.pk)
    reason = (reason or "").strip()
    if status == REOPEN:
        if locked.status != LeadStatus.DISQUALIFIED:
            raise ValidationError(_("Only a disqualified lead can be reopened."))
        locked.status = LeadStatus.ASSIGNED if locked.owner_id else LeadStatus.NEW
        locked.disqualified_reason = ""
    else:
        if status not in STATUS_CHOICES:
            raise ValidationError(_("Unknown status."))
        if not locked.is_open:
            raise ValidationError(_("This lead is closed: it was converted or disqualified."))
        if status == LeadStatus.DISQUALIFIED and not reason:
            raise ValidationError({"reason": _("Say why the lead is disqualified.")})
        locked.status = status
        locked.disqualified_reason = reason[:200] if status == LeadStatus.DISQUALIFIED else ""
    fields = ["status", "disqualified_reason", "updated_at", *_touch(locked, actor)]
    locked.save(update_fields=fields)
    return locked


@transaction.atomic
def lead_claim(*, actor, lead_id: int) -> Lead:
    """Take a lead from the lead pool. Of two reps claiming at once, exactly one wins: the loser's UPDATE waits
    for the winner's row lock, then re-reads "owner IS NULL" and finds nothing."""
    if not actor.has_perm("sales.claim_lead") or not may_hold_leads(actor):
        raise PermissionDenied
    lead = Lead.objects.select_for_update().filter(OPEN_LEAD, pk=lead_id, owner__isnull=True).first()
    if lead is None:
        raise ClaimError(_("This lead is no longer in the lead pool; someone else has taken it."))
    assign_lead_to(lead, actor, reason=CLAIMED, assigned_by=actor, touched=True)
    return lead


def assignable_leads(actor):
    """Leads ``actor`` may hand to someone: those he may change, and the pool."""
    if not actor.has_perm("sales.assign_lead"):
        return Lead.objects.none()
    return Lead.objects.filter(
        Q(pk__in=policy.leads_for(actor, policy.CHANGE).values("pk")) | Q(owner__isnull=True)
    )


@transaction.atomic
def leads_assign(*, actor, lead_ids, owner) -> int:
    """Hand open leads to ``owner``; leads outside the actor's scope, closed, or his already are left out. The new
    owner is told once (about one lead, or how many)."""
    _check_assignable(actor, owner)
    leads = list(assignable_leads(actor).filter(OPEN_LEAD, pk__in=list(lead_ids)).exclude(owner=owner)
                 .select_for_update(of=("self",)).order_by("pk"))
    if not leads:
        return 0
    if len(leads) == 1:
        _assignment, note = assign_lead_to(leads[0], owner, reason=MANUAL, assigned_by=actor,
                                           touched=owner.pk == actor.pk)
        notify_many([note] if note else [])
        return 1
    now = timezone.now()
    ids = [lead.pk for lead in leads]
    Lead.objects.filter(pk__in=ids).update(
        owner=owner, team_id=owner.team_id, assigned_at=now, touched_at=now if owner.pk == actor.pk else None,
        status=Case(When(status=LeadStatus.NEW, then=Value(LeadStatus.ASSIGNED)), default=F("status")), updated_at=now,
    )
    LeadAssignment.objects.bulk_create(
        [LeadAssignment(lead_id=pk, user=owner, assigned_by=actor, reason=MANUAL) for pk in ids]
    )
    if owner.pk != actor.pk:
        with translation.override(owner.language or settings.LANGUAGE_CODE):
            title = ngettext("%(user)s assigned you %(count)s lead.", "%(user)s assigned you %(count)s leads.",
                             len(ids)) % {"user": actor, "count": len(ids)}
        notify_many([NewNotification(
            user_id=owner.pk, kind=NotificationKind.ASSIGNMENT, title=title,
            url=reverse("sales:lead_list") + "?view=mine",
            dedupe_key=f"leads-assigned:{actor.pk}:{owner.pk}:{ids[0]}:{now.timestamp():.6f}",
        )])
    return len(ids)


def lead_assign(*, actor, lead: Lead, owner) -> Lead:
    if not leads_assign(actor=actor, lead_ids=[lead.pk], owner=owner):
        if lead.owner_id == owner.pk:
            return lead
        raise ValidationError(_("This lead cannot be assigned: it is closed or no longer yours to assign."))
    lead.refresh_from_db()
    return lead


# ----------------------------------------------------------------------------------------------- conversion


def matching_customer(lead: Lead) -> Customer | None:
    """The live customer a lead is already: one with its mobile or phone (in the customer's own fields, then in
    one of its contacts'), else one with its email. None when the lead is someone new."""
    digits = sorted({phone_digits(str(number)) for number in (lead.mobile, lead.phone) if number} - {""})
    alive = Customer.objects.alive().select_related("owner")
    if digits:
        found = (alive.filter(Q(mobile_digits__in=digits) | Q(phone_digits__in=digits)).order_by("pk").first()
                 or alive.filter(pk__in=Contact.objects.filter(mobile_digits__in=digits).values("customer_id"))
                 .order_by("pk").first())
        if found is not None:
            return found
    if lead.email:
        return (alive.filter(email__iexact=lead.email).order_by("pk").first()
                or alive.filter(pk__in=Contact.objects.filter(email__iexact=lead.email).values("customer_id"))
                .order_by("pk").first())
    return None


def _lock_keys(lead: Lead) -> None:
    """Serialise conversions of leads that share a phone or email, so that two of them cannot both find no customer
    and create two."""
    keys = sorted({phone_digits(str(n)) for n in (lead.mobile, lead.phone) if n} | {lead.email.lower()} - {""})
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [CONVERT_LOCK_NAMESPACE, key])


def _join_existing(*, actor, owner, customer: Customer) -> Customer | None:
    """The live customer the lead is already, locked, once the lead may join it: a customer in the public pool
    becomes ``owner``'s (within his claim limit, as if he claimed it); one held by someone only when ``actor`` may
    change it (an admin, a manager over its team, a change share), otherwise the conversion is refused without
    naming the customer. None when it was deleted meanwhile."""
    checked = customer.owner_id is None
    if checked:  # the owner's row before the customer's, in the order customer_claim takes them
        customer_services.check_claim_limit(owner, actor=actor)
    customer = Customer.objects.alive().select_for_update(of=("self",)).select_related("owner").filter(
        pk=customer.pk).first()
    if customer is None:
        return None
    if customer.owner_id is None:
        if not checked:  # released to the pool a moment ago
            customer_services.check_claim_limit(owner, actor=actor)
        customer.owner, customer.team_id, customer.owned_since = owner, owner.team_id, timezone.now()
        customer.save(update_fields=["owner", "team", "owned_since", "updated_at"])
        return customer
    if not customer_policy.customers_for(actor, customer_policy.CHANGE).filter(pk=customer.pk).exists():
        raise ValidationError(
            _("A customer with this lead's phone number or email already exists and is held by another rep "
              "(%(owner)s). Ask him or your manager to share it with you or to transfer it, then convert the lead.")
            % {"owner": customer.owner}
        )
    return customer


def _open_opportunity(*, actor, customer: Customer, owner, lead: Lead, values: dict) -> Opportunity:
    """The conversion's opportunity, through the pipeline's own service; its errors said on the form as a whole."""
    data = {"name": values.get("name") or default_opportunity_name(lead), "amount": values.get("amount"),
            "expected_close": values.get("expected_close")}
    try:
        return pipeline_services.opportunity_create(
            actor=actor, customer=customer, owner=owner, lead=lead,
            data={key: value for key, value in data.items() if value is not None},
        )
    except ValidationError as error:
        raise ValidationError(error.messages) from error


def _customer_data(lead: Lead) -> dict:
    defined = {d.key for d in active_definitions()}
    company = lead.company.strip()
    return {
        "kind": Kind.COMPANY if company else Kind.INDIVIDUAL, "name": company or lead.name, "company": company,
        "title": "" if company else lead.title, "mobile": lead.mobile or "", "phone": lead.phone or "",
        "email": lead.email, "province": lead.province, "city": lead.city, "source": lead.source,
        "industry": lead.industry, "notes": lead.message,
        "custom": {k: v for k, v in (lead.custom or {}).items() if k in defined},
    }


def _contact_for(customer: Customer, lead: Lead) -> Contact | None:
    """The customer's contact this lead is, created unless one with the lead's mobile or email exists."""
    digits = [phone_digits(str(lead.mobile))] if lead.mobile else []
    same = Q(pk__in=[])
    if digits:
        same |= Q(mobile_digits__in=digits)
    if lead.email:
        same |= Q(email__iexact=lead.email)
    existing = Contact.objects.filter(same, customer=customer).first()
    if existing is not None:
        return existing
    contact = Contact(
        customer=customer, name=lead.name[:100], title=lead.title, mobile=lead.mobile or "", phone=lead.phone or "",
        email=lead.email, is_primary=not Contact.objects.filter(customer=customer, is_primary=True).exists(),
    )
    contact.full_clean()
    contact.save()
    return contact


def lead_convert(*, actor, lead: Lead, opportunity: dict | None = None) -> Lead:
    """Turn a lead into customer + contact + opportunity, in one transaction. The customer is the live customer
    with the lead's phone or email when there is one (never a duplicate: a customer in the public pool becomes the
    owner's, within his claim limit; one held by someone else keeps its owner, and the new opportunity is the lead
    owner's, but only when the converting user may change that customer: otherwise the conversion is refused),
    otherwise a new one owned by the lead's owner. ``opportunity``: name, amount, expected_close; None to create
    none."""
    if not (actor.has_perm("customers.add_customer") and (opportunity is None or actor.has_perm(
            "sales.add_opportunity"))):
        raise PermissionDenied
    with pghistory.context(reason="lead_convert"), transaction.atomic():
        locked = _locked(actor, lead.pk)
        if not locked.is_open:
            raise ValidationError(_("This lead is closed: it was converted or disqualified."))
        owner = locked.owner or actor
        _lock_keys(locked)
        customer = matching_customer(locked)
        if customer is not None:
            customer = _join_existing(actor=actor, owner=owner, customer=customer)
        if customer is None:
            customer = customer_services.customer_create(actor=actor, data=_customer_data(locked), owner=owner)
        _contact_for(customer, locked)
        now = timezone.now()
        if opportunity is not None:
            locked.opportunity = _open_opportunity(actor=actor, customer=customer, owner=owner, lead=locked,
                                                   values=opportunity)
        if locked.owner_id is None:
            locked.owner, locked.team_id, locked.assigned_at = owner, owner.team_id, now
            LeadAssignment.objects.create(lead=locked, user=owner, assigned_by=actor, reason=MANUAL)
        locked.customer, locked.status, locked.converted_at = customer, LeadStatus.CONVERTED, now
        fields = ["customer", "opportunity", "status", "converted_at", "owner", "team", "assigned_at", "updated_at"]
        fields += _touch(locked, actor, now)
        locked.save(update_fields=fields)
    return locked


def default_opportunity_name(lead: Lead) -> str:
    return _("%(name)s: new business") % {"name": lead.company or lead.name}
