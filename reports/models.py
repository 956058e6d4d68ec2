"""What reports keep: sales targets (quotas) that managers set, scheduled report mails, and a record of every
report table taken out as a spreadsheet (who, which figures, when)."""

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="SalesTargetEvent")
class SalesTarget(models.Model):
    """A month's target (won amount, CNY) for one rep or one team."""

    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("rep"), null=True, blank=True,
                             on_delete=models.CASCADE, related_name="sales_targets")
    team = models.ForeignKey("accounts.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.CASCADE, related_name="sales_targets")
    amount = models.DecimalField(_("target amount"), max_digits=16, decimal_places=2)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("sales target")
        verbose_name_plural = _("sales targets")
        constraints = [
            models.CheckConstraint(condition=Q(user__isnull=True) ^ Q(team__isnull=True), name="target_user_xor_team"),
            models.UniqueConstraint(fields=["user", "month"], condition=Q(user__isnull=False),
                                    name="target_one_per_user_month"),
            models.UniqueConstraint(fields=["team", "month"], condition=Q(team__isnull=False),
                                    name="target_one_per_team_month"),
        ]

    def __str__(self):
        return f"{self.user or self.team} {self.month:%Y-%m}: {self.amount}"


class Frequency(models.TextChoices):
    DAILY = "daily", _("Every day")
    WEEKLY = "weekly", _("Every Monday")
    MONTHLY = "monthly", _("On the first of each month")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="ReportSubscriptionEvent")
class ReportSubscription(models.Model):
    """A report mailed on a schedule to chosen users, each getting the figures he may see, in his language."""

    report = models.CharField(_("report"), max_length=50)
    query = models.CharField(_("filters"), max_length=500, blank=True)  # the report URL's query string
    frequency = models.CharField(_("frequency"), max_length=10, choices=Frequency.choices, default=Frequency.WEEKLY)
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("recipients"),
                                        related_name="report_subscriptions")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    active = models.BooleanField(_("active"), default=True)
    last_sent_on = models.DateField(_("last sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("scheduled report")
        verbose_name_plural = _("scheduled reports")

    def __str__(self):
        return f"{self.report} ({self.get_frequency_display()})"


class ReportExport(models.Model):
    """A report table downloaded as .xlsx: the audit record of figures that left the CRM."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    report = models.CharField(max_length=50)
    table = models.CharField(max_length=50)
    query = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("report export")
        verbose_name_plural = _("report exports")
        indexes = [models.Index(fields=["user", "-created_at"], name="report_export_user")]

    def __str__(self):
        return f"{self.report}/{self.table} {self.created_at:%Y-%m-%d %H:%M}"


class SalesMonth(models.Model):
    """The deals won and lost in one month (of closing, in TIME_ZONE) by one owner, in one team and currency: what
    the performance report reads for the months before the current one instead of grouping up to a year of closed
    deals on every view (bench/RESULTS.md, reports). Derived data, rewritten by reports.summaries; never edited."""

    month = models.DateField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("accounts.Team", null=True, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    won_count = models.PositiveIntegerField(default=0)
    lost_count = models.PositiveIntegerField(default=0)
    won_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    won_cycle = models.DurationField(null=True)  # the won deals' created-to-closed times, summed

    class Meta:
        indexes = [models.Index(fields=["month", "team"], name="sales_month_team"),
                   models.Index(fields=["owner", "month"], name="sales_month_owner")]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.owner_id} {self.currency}"


class SummaryState(models.Model):
    """How far a summary table is computed: its months from ``first_month`` to ``last_month`` hold every record of
    theirs as of ``refreshed_at`` (one row per summary, locked while it is rewritten)."""

    key = models.CharField(max_length=50, unique=True)
    first_month = models.DateField()
    last_month = models.DateField()
    refreshed_at = models.DateTimeField()

    def __str__(self):
        return f"{self.key}: {self.first_month:%Y-%m}..{self.last_month:%Y-%m} at {self.refreshed_at:%Y-%m-%d %H:%M}"


class CustomerMonth(models.Model):
    """The customers created in one month (in TIME_ZONE) by one owner in one team, counted per value of one attribute
    (source, province or industry; "" is not set): what the new customers report reads for whole months instead of
    grouping up to a year of the customer table on every view (bench/RESULTS.md, reports). Derived data, rewritten
    by reports.customer_summaries; never edited. Pool customers have no owner."""

    month = models.DateField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("accounts.Team", null=True, on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=20)
    value = models.CharField(max_length=50)
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["month", "team"], name="customer_month_team"),
                   models.Index(fields=["owner", "month"], name="customer_month_owner")]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.owner_id} {self.field}={self.value}: {self.count}"


class CustomerStanding(models.Model):
    """The customers created in one month (in TIME_ZONE) by one owner in one team, counted per level and lifecycle
    status as they were when summed: the customer base report adds these up instead of grouping the whole customer
    table, and the new customers report takes its month totals from them. Derived data (reports.customer_summaries)."""

    month = models.DateField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("accounts.Team", null=True, on_delete=models.CASCADE, related_name="+")
    level = models.CharField(max_length=2)
    status = models.CharField(max_length=20)
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["month", "team"], name="customer_standing_team"),
                   models.Index(fields=["owner", "month"], name="customer_standing_owner")]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.owner_id} {self.level}/{self.status}: {self.count}"
