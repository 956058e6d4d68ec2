"""Leads (线索): people or companies not yet customers, and the rules that hand them to reps."""

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from phonenumber_field.modelfields import PhoneNumberField

from customers.choices import Industry, Source


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    ASSIGNED = "assigned", _("Assigned")
    CONTACTED = "contacted", _("Contacted")
    QUALIFIED = "qualified", _("Qualified")
    CONVERTED = "converted", _("Converted")
    DISQUALIFIED = "disqualified", _("Disqualified")


OPEN_LEAD = Q(status__in=[LeadStatus.NEW, LeadStatus.ASSIGNED, LeadStatus.CONTACTED, LeadStatus.QUALIFIED])


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), model_name="LeadEvent")
class Lead(models.Model):
    name = models.CharField(_("name"), max_length=200)
    company = models.CharField(_("company"), max_length=200, blank=True)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    mobile = PhoneNumberField(_("mobile"), blank=True)
    phone = PhoneNumberField(_("phone"), blank=True)
    email = models.EmailField(_("email"), blank=True)
    province = models.CharField(_("province"), max_length=30, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    source = models.CharField(pgettext_lazy("lead", "source"), max_length=20, choices=Source.choices, blank=True)
    industry = models.CharField(_("industry"), max_length=20, choices=Industry.choices, blank=True)
    # The code as it arrived (web form ?campaign=, import column); free text, matched by the assignment rules.
    campaign = models.CharField(_("campaign code"), max_length=100, blank=True)
    # The campaign the lead is counted for in acquisition cost. SET_NULL, not PROTECT: deleting a campaign (a
    # mistyped one, a cancelled one) must not be blocked by the hundreds of leads it brought, and the leads
    # themselves stay; they only stop counting for it. The code above keeps where they came from.
    marketing_campaign = models.ForeignKey("marketing.Campaign", verbose_name=_("campaign"), null=True, blank=True,
                                           on_delete=models.SET_NULL, related_name="leads", db_index=False)
    message = models.TextField(pgettext_lazy("lead", "message"), blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW)
    # No owner: the lead waits in the lead pool (线索池) for the assignment rules or a rep to take it.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="leads")
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="leads")
    assigned_at = models.DateTimeField(_("assigned"), null=True, blank=True)
    # The owner's first action on it (a status change, an interaction): until then it may be re-assigned.
    touched_at = models.DateTimeField(_("first handled"), null=True, blank=True)
    # When the assignment rules last ran on it (placed or left in the pool). A new lead still without it a few
    # minutes after it was made lost its routing task (or the task failed): the sweep routes it once more.
    routed_at = models.DateTimeField(_("routed"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, verbose_name=_("created by"),
        on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    converted_at = models.DateTimeField(_("converted"), null=True, blank=True)
    customer = models.ForeignKey("customers.Customer", verbose_name=_("customer"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="leads")
    opportunity = models.ForeignKey("sales.Opportunity", verbose_name=_("opportunity"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    disqualified_reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("import_lead", _("Can import leads")),
            ("assign_lead", _("Can assign leads to other users")),
            ("claim_lead", _("Can take leads from the lead pool")),
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="lead_owner"),
            models.Index(fields=["team", "-created_at"], name="lead_team"),
            models.Index(fields=["-created_at"], condition=Q(owner__isnull=True), name="lead_pool"),
            # Least-loaded assignment counts open leads per rep.
            models.Index(fields=["owner"], condition=OPEN_LEAD, name="lead_open_per_owner"),
            # The re-assignment scan: assigned, never handled.
            models.Index(fields=["assigned_at"], condition=Q(touched_at__isnull=True, owner__isnull=False),
                         name="lead_untouched"),
            models.Index(fields=["mobile"], name="lead_mobile"),
            # Acquisition cost counts a campaign's leads by creation date; most leads have no campaign.
            models.Index(fields=["marketing_campaign", "created_at"], condition=Q(marketing_campaign__isnull=False),
                         name="lead_campaign"),
        ]

    def __str__(self):
        return f"{self.name}（{self.company}）" if self.company and self.company != self.name else self.name

    def get_absolute_url(self):
        return reverse("sales:lead_detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status not in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED)


class AssignmentMethod(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round-robin")
    LEAST_LOADED = "least_loaded", _("Least loaded (fewest open leads)")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="AssignmentRuleEvent")
class AssignmentRule(models.Model):
    """Ordered rules: the first active rule whose conditions a lead meets decides who gets it."""

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(pgettext_lazy("position in a list", "order"), default=0)
    active = models.BooleanField(_("active"), default=True)
    # Conditions: an empty list matches anything.
    provinces = models.JSONField(_("provinces"), default=list, blank=True)
    sources = models.JSONField(_("sources"), default=list, blank=True)
    industries = models.JSONField(_("industries"), default=list, blank=True)
    campaigns = models.JSONField(_("campaigns"), default=list, blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True,
                              help_text=_('Custom field values the lead must have, '
                                          'e.g. {"company_size": "500人以上"}.'))
    # Target: a user, or a team whose members share the leads.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True,
                             on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.CASCADE, related_name="+")
    method = models.CharField(_("within the team"), max_length=20, choices=AssignmentMethod.choices,
                              default=AssignmentMethod.ROUND_ROBIN)
    capacity = models.PositiveIntegerField(_("open leads per rep at most"), null=True, blank=True,
                                           help_text=_("Reps holding this many open leads are passed over."))
    # Round-robin's memory: whose turn was last. Locked with the rule's row, so a burst stays fair.
    last_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", editable=False)

    class Meta:
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")
        ordering = ["position", "pk"]

    def __str__(self):
        return self.name


class LeadAssignment(models.Model):
    """Every assignment of a lead, with the rule (or person) that made it."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="assignments")
    # No user: the lead went back to the lead pool (nobody of its rule was free to take it over).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    rule = models.ForeignKey(AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reason = models.CharField(max_length=30)  # sales.assignment.REASON_LABELS
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="lead_assignment_lead")]

    def __str__(self):
        return f"{self.lead_id} → {self.user_id}"
