"""The customer list's exporter, registered with crm.exports in CustomersConfig.ready().

Rows are the list page's rows for the same query string (the policy's scope narrowed by CustomerFilter),
in the same order. Sensitive values (and custom fields marked sensitive, which are decrypted here) are masked the
way the list page masks them for roles without ``customers.view_sensitive_customer``.
"""

import datetime
import re

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import CharField, DateTimeField, ExpressionWrapper, F, Func, OuterRef, Value
from django.http import QueryDict
from django.utils.text import capfirst

from crm.accounts.models import Team
from crm.exports.registry import Column, Exporter
from crm.web.templatetags.crm_tags import masked, phone

from . import custom_fields, selectors
from .choices import CustomFieldType, Industry, Level, Source, Status
from .filters import CustomerFilter
from .models import Customer, CustomerTag

User = get_user_model()

# A mainland mobile in E.164, as stored. phonenumbers needs ~30 µs to parse and format a number, 3 s per
# 100,000 customers for mobiles alone; mobiles, the vast majority, are cut into the same 3-4-4 groups
# directly, and other +86 numbers skip the parse (E.164 text is country code + national number). Everything
# is still shown by crm_tags.phone's rules: tests/exports check that both give the same text.
_CN_MOBILE = re.compile(r"\+861[3-9]\d{9}")


def phone_text(raw: str) -> str:
    """A stored number as crm_tags.phone shows it."""
    if not raw:
        return ""
    if len(raw) == 14 and _CN_MOBILE.fullmatch(raw):
        return f"{raw[3:6]} {raw[6:10]} {raw[10:]}"
    if raw.startswith("+86") and raw[3:4] != "0" and raw[3:].isdigit():
        return phone(phonenumbers.PhoneNumber(country_code=86, national_number=int(raw[3:])))
    return phone(raw)


def _local_time(field: str) -> Func:
    return Func(Value(settings.TIME_ZONE), F(field), function="timezone", output_field=DateTimeField())


def _label(name: str) -> str:
    return capfirst(str(Customer._meta.get_field(name).verbose_name))


def _choice_labels(choices) -> dict:
    return {value: str(label) for value, label in choices.choices}


class CustomerExporter(Exporter):
    model_key = "customers.customer"
    permission = "customers.export_customer"
    verbose_name_plural = Customer._meta.verbose_name_plural
    list_url_name = "customers:list"
    fields = (
        "name", "company", "title", "mobile_text", "phone_text", "email", "province", "city", "district", "address",
        "level", "status", "source", "industry", "tag_names", "owner_id", "team_id", "created_local",
        "last_contacted_local", "custom",
    )

    def has_sensitive_filters(self, query: QueryDict) -> bool:
        # The search box also finds an ID number through the blind index; a sensitive field has its own filter too.
        sensitive = [d.key for d in custom_fields.active_definitions() if d.encrypted]
        names = ["q", *(custom_fields.PREFIX + key for key in sensitive)]
        return bool(sensitive) and any(query.get(name) for name in names)

    def queryset(self, user, query: QueryDict):
        # The list view's own construction: same scope, same filters, same order.
        filterset = CustomerFilter(query or None, queryset=selectors.customer_list(user=user), user=user)
        return filterset.qs if filterset.is_bound else filterset.queryset.order_by("-updated_at", "-pk")

    def annotate(self, queryset):
        return queryset.annotate(
            # The stored E.164 text: PhoneNumberField would parse every value into an object first.
            mobile_text=ExpressionWrapper(F("mobile"), output_field=CharField()),
            phone_text=ExpressionWrapper(F("phone"), output_field=CharField()),
            # Wall-clock times in settings.TIME_ZONE, computed by PostgreSQL (spreadsheets have no time zones).
            created_local=_local_time("created_at"),
            last_contacted_local=_local_time("last_contacted_at"),
            tag_names=ArraySubquery(
                CustomerTag.objects.filter(customer_id=OuterRef("pk")).order_by("tag__name").values("tag__name")
            ),
        )

    def prepare_chunk(self, records, cache):
        """Owner and team names, one query each per chunk for the ones not seen yet."""
        owners = cache.setdefault("owners", {})
        teams = cache.setdefault("teams", {})
        owner_ids = {r["owner_id"] for r in records} - owners.keys() - {None}
        team_ids = {r["team_id"] for r in records} - teams.keys() - {None}
        if owner_ids:
            owners.update((u.pk, str(u)) for u in User.objects.filter(pk__in=owner_ids))
        if team_ids:
            teams.update((t.pk, str(t)) for t in Team.objects.filter(pk__in=team_ids))
        for record in records:
            record["owner_name"] = owners.get(record["owner_id"], "")
            record["team_name"] = teams.get(record["team_id"], "")

    def columns(self, user) -> list[Column]:
        sensitive = user.has_perm("customers.view_sensitive_customer")
        level, status = _choice_labels(Level), _choice_labels(Status)
        source, industry = _choice_labels(Source), _choice_labels(Industry)

        columns = [
            Column(_label("name"), lambda r: r["name"]),
            Column(_label("company"), lambda r: r["company"]),
            Column(_label("title"), lambda r: r["title"]),
            Column(_label("mobile"), lambda r: masked(phone_text(r["mobile_text"]), sensitive)),
            Column(_label("phone"), lambda r: masked(phone_text(r["phone_text"]), sensitive)),
            Column(_label("email"), lambda r: masked(r["email"], sensitive)),
            Column(_label("province"), lambda r: r["province"]),
            Column(_label("city"), lambda r: r["city"]),
            Column(_label("district"), lambda r: r["district"]),
            Column(_label("address"), lambda r: r["address"]),
            Column(_label("level"), lambda r: level.get(r["level"], r["level"])),
            Column(_label("status"), lambda r: status.get(r["status"], r["status"])),
            Column(_label("source"), lambda r: source.get(r["source"], r["source"])),
            Column(_label("industry"), lambda r: industry.get(r["industry"], r["industry"])),
            # 、 joins several values in one cell, as custom_fields.display does for multiple choices.
            Column(_label("tags"), lambda r: "、".join(r["tag_names"] or ())),
            Column(_label("owner"), lambda r: r["owner_name"]),
            Column(_label("team"), lambda r: r["team_name"]),
            Column(_label("created_at"), lambda r: r["created_local"]),
            Column(_label("last_contacted_at"), lambda r: r["last_contacted_local"]),
        ]
        columns += [Column(custom_fields.label_of(d), _custom_value(d, sensitive))
                    for d in custom_fields.active_definitions()]
        return columns


def _custom_of(record) -> dict:
    custom = record["custom"]
    return custom if isinstance(custom, dict) else {}


def _custom_value(definition, sensitive: bool):
    key = definition.key

    def number(record):
        value = _custom_of(record).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value  # a number cell, so that it sums in a spreadsheet
        return custom_fields.display(definition, value)

    def date(record):
        value = _custom_of(record).get(key)
        try:
            return datetime.date.fromisoformat(value)
        except (TypeError, ValueError):
            return custom_fields.display(definition, value)

    def text(record):
        # A sensitive (encrypted) field decrypted, masked without view_sensitive like the phones above.
        return custom_fields.display(definition, _custom_of(record).get(key), may_view_sensitive=sensitive)

    return {CustomFieldType.NUMBER: number, CustomFieldType.DATE: date}.get(definition.field_type, text)
