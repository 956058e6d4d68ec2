import pghistory
from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from phonenumber_field.modelfields import PhoneNumberField

from .choices import CustomFieldType, Industry, Kind, Level, Source, Status
from .querysets import CustomerQuerySet
from .search import name_keys


def _digits_of(field_name):
    """Digits of a stored E.164 number without China's +86, so that "138 1234 5678",
    "+86 138-1234-5678" and "13812345678" all find the same customer. Computed by PostgreSQL, so bulk
    loads (COPY) get it too."""
    return models.GeneratedField(
        expression=models.Func(
            models.F(field_name), models.Value(r"^\+86|\D"), models.Value(""), models.Value("g"),
            function="regexp_replace", output_field=models.CharField(),
        ),
        output_field=models.CharField(max_length=32),
        db_persist=True,
    )


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), model_name="TagEvent")
class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    color = models.CharField(_("colour"), max_length=20, default="secondary", help_text=_("Bootstrap colour name"))

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self):
        return self.name


# Field types whose values may be encrypted at rest: free text (ID numbers, bank accounts). Numbers, dates and
# choices are filtered by range or option in SQL, which ciphertext cannot serve.
ENCRYPTABLE_TYPES = (CustomFieldType.TEXT,)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="CustomFieldDefinitionEvent")
class CustomFieldDefinition(models.Model):
    """A field an admin adds to every customer; values live in Customer.custom under ``key``."""

    key = models.SlugField(
        _("key"), max_length=50, unique=True, help_text=_("Letters, digits and _ only; never change it once used.")
    )
    label = models.CharField(_("label (Chinese)"), max_length=100)
    label_en = models.CharField(_("label (English)"), max_length=100, blank=True)
    field_type = models.CharField(_("type"), max_length=20, choices=CustomFieldType.choices)
    choices = models.JSONField(
        _("choices"), default=list, blank=True, help_text=_("For choice fields: a list of options.")
    )
    required = models.BooleanField(_("required"), default=False)
    filterable = models.BooleanField(_("show as list filter"), default=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    # Values are stored as crm.fieldcrypto envelopes (ciphertext + blind index), never as text; see
    # customers.field_encryption for turning it on or off on a field that already has values.
    encrypted = models.BooleanField(
        _("sensitive: encrypted at rest"), default=False,
        help_text=_("For ID numbers, bank accounts and the like (text fields only): values are stored encrypted, "
                    "shown masked to users who may not see sensitive data, and found by their exact value only."),
    )

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["position", "id"]

    def __str__(self):
        return self.label

    def clean(self):
        from django.core.exceptions import ValidationError

        has_choices = self.field_type in (CustomFieldType.CHOICE, CustomFieldType.MULTI_CHOICE)
        if has_choices and (
            not isinstance(self.choices, list)
            or not self.choices
            or not all(isinstance(c, str) and c for c in self.choices)
        ):
            raise ValidationError({"choices": _('Give the options as a list of texts, e.g. ["VIP", "Partner"].')})
        if not has_choices and self.choices:
            raise ValidationError({"choices": _("Only choice fields have options.")})
        if self.encrypted and self.field_type not in ENCRYPTABLE_TYPES:
            raise ValidationError({"encrypted": _(
                "Only text fields can be encrypted: numbers, dates and choices are compared and filtered by their "
                "value, which encryption would hide."
            )})


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="PoolSettingsEvent")
class PoolSettings(models.Model):
    """The public pool's rules, one row, edited by an admin."""

    return_after_days = models.PositiveIntegerField(
        _("return to pool after days without contact"), default=30,
        help_text=_("Customers whose owner has not contacted them for this many days go back to the pool."),
    )
    claim_limit = models.PositiveIntegerField(
        _("maximum customers a rep may hold"), default=200,
        help_text=_("A rep holding this many customers cannot claim more from the pool."),
    )

    class Meta:
        verbose_name = _("public pool settings")
        verbose_name_plural = _("public pool settings")

    def __str__(self):
        return str(self._meta.verbose_name)

    @classmethod
    def current(cls):
        return cls.objects.get_or_create(pk=1)[0]


ALIVE = Q(deleted_at__isnull=True)


@pghistory.track(
    pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
    exclude=["mobile_digits", "phone_digits", "updated_at", "last_contacted_at"],
    model_name="CustomerEvent",
)
class Customer(models.Model):
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.COMPANY)
    name = models.CharField(_("customer name"), max_length=200)
    company = models.CharField(_("company"), max_length=200, blank=True)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    mobile = PhoneNumberField(_("mobile"), blank=True)
    phone = PhoneNumberField(_("phone"), blank=True)
    mobile_digits = _digits_of("mobile")
    phone_digits = _digits_of("phone")
    province = models.CharField(_("province"), max_length=30, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    level = models.CharField(_("level"), max_length=2, choices=Level.choices, default=Level.B)
    status = models.CharField(_("lifecycle status"), max_length=20, choices=Status.choices, default=Status.POTENTIAL)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, blank=True)
    industry = models.CharField(_("industry"), max_length=20, choices=Industry.choices, blank=True)
    tags = models.ManyToManyField(
        Tag, verbose_name=_("tags"), through="CustomerTag", blank=True, related_name="customers"
    )
    notes = models.TextField(_("notes"), blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    # No owner means the customer is in the public pool (公海).
    # No index of their own on owner, team, created_by and deleted_by: the partial indexes below serve every
    # query on live customers, and each index costs every insert (an import of 100,000 rows spent ~20 % of
    # its time on these; users and teams are deactivated, rarely deleted).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="owned_customers", db_index=False,
    )
    team = models.ForeignKey(
        "accounts.Team", verbose_name=_("team"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="customers", db_index=False,
    )
    owned_since = models.DateTimeField(_("owned since"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    last_contacted_at = models.DateTimeField(_("last contacted"), null=True, blank=True)
    # Deleting moves a customer to the recycle bin; an admin can restore it.
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("deleted by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", db_index=False,
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [
            ("share_customer", _("Can share customers")),
            ("claim_customer", _("Can claim customers from the public pool")),
            ("assign_customer", _("Can assign customers to other users")),
            ("view_sensitive_customer", _("Can see unmasked mobile numbers and emails")),
            ("export_customer", _("Can export customers")),
            ("import_customer", _("Can import customers from Excel and CSV files")),
        ]
        indexes = [
            models.Index(fields=["owner", "-updated_at"], condition=ALIVE, name="cust_owner_updated"),
            models.Index(fields=["team", "-updated_at"], condition=ALIVE, name="cust_team_updated"),
            models.Index(fields=["-updated_at"], condition=ALIVE & Q(owner__isnull=True), name="cust_pool_updated"),
            models.Index(fields=["-updated_at"], condition=ALIVE, name="cust_updated"),
            models.Index(fields=["-created_at"], condition=ALIVE, name="cust_created"),
            # Sorting by name.
            models.Index(fields=["name"], condition=ALIVE, name="cust_name_sort"),
            models.Index(fields=["last_contacted_at"], name="cust_last_contacted"),
            models.Index(fields=["deleted_at"], condition=Q(deleted_at__isnull=False), name="cust_recycle_bin"),
            models.Index(fields=["province", "city"], name="cust_region"),
            # Search (customers.search): the keys of name and company, trigrams of phones and email.
            GinIndex(name_keys(), name="cust_name_keys"),
            GinIndex(OpClass("mobile_digits", name="gin_trgm_ops"), name="cust_mobile_trgm"),
            GinIndex(OpClass("phone_digits", name="gin_trgm_ops"), name="cust_phone_trgm"),
            GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name="cust_email_trgm"),
            models.Index(fields=["mobile_digits"], name="cust_mobile_exact"),
            models.Index(Upper("email"), name="cust_email_exact"),
            GinIndex(OpClass("custom", name="jsonb_path_ops"), name="cust_custom"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("customers:detail", args=[self.pk])

    @property
    def in_pool(self):
        return self.owner_id is None

    @property
    def is_deleted(self):
        return self.deleted_at is not None


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent(), model_name="CustomerTagEvent")
class CustomerTag(models.Model):
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, verbose_name=_("tag"), on_delete=models.CASCADE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "customer"], name="customer_tag_unique")]
        indexes = [models.Index(fields=["customer"], name="customer_tag_customer")]

    def __str__(self):
        return f"{self.customer_id}:{self.tag_id}"


@pghistory.track(
    pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
    exclude=["mobile_digits", "updated_at"], model_name="ContactEvent",
)
class Contact(models.Model):
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(_("name"), max_length=100)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    mobile = PhoneNumberField(_("mobile"), blank=True)
    phone = PhoneNumberField(_("phone"), blank=True)
    mobile_digits = _digits_of("mobile")
    email = models.EmailField(_("email"), blank=True)
    wechat = models.CharField(_("WeChat"), max_length=100, blank=True)
    is_primary = models.BooleanField(_("primary contact"), default=False)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-is_primary", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_primary=True), name="contact_one_primary_per_customer"
            )
        ]
        indexes = [
            models.Index(fields=["mobile_digits"], name="contact_mobile"),
            # Filing mail looks contacts up by address, case-insensitively.
            models.Index(Upper("email"), name="contact_email"),
        ]

    def __str__(self):
        return self.name


# Shares are permission changes: who was given or lost access to which customer lands in the audit trail.
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="CustomerUserShareEvent")
class CustomerUserShare(UserObjectPermissionBase):
    """A customer shared with one user (django-guardian, direct foreign key for indexed scope queries)."""

    content_object = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="user_shares")
    audit_verbs = {"insert": _("shared"), "delete": _("unshared")}  # the audit log's words (crm.audit.log_values)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("customer shared with a user")


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(),
                 model_name="CustomerTeamShareEvent")
class CustomerTeamShare(GroupObjectPermissionBase):
    """A customer shared with a team, through the team's auth group."""

    content_object = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="team_shares")
    audit_verbs = {"insert": _("shared"), "delete": _("unshared")}

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = _("customer shared with a team")
