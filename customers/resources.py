"""Customers as an import resource: the columns people keep in their Excel lists, and set-based SQL to
match, insert, update and undo them (100,000 rows in seconds: no model instance per row).

Registered in CustomersConfig.ready(); the job machinery is crm.imports.
"""

import re

from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.accounts.selectors import assignable_users
from crm.imports import cells
from crm.imports.models import OwnerMode
from crm.imports.resources import Field, Resource
from crm.imports.sql import (
    allocate_ids,
    count_changed,
    match_rows,
    replan_audit_triggers,
    restore_updated,
    update_assignments,
    update_from_rows,
)
from crm.web.templatetags.crm_tags import phone as phone_display

from . import permissions as policy
from .choices import PROVINCES, CustomFieldType, Industry, Kind, Level, Source, Status
from .custom_fields import active_definitions, definitions_signature, owners_signature, stored_value
from .models import Customer, CustomerTag, Tag
from .search import phone_digits

User = get_user_model()

CUSTOM_PREFIX = "custom."
TEXT_LIMITS = {
    "name": 200, "company": 200, "title": 100, "province": 30, "city": 50, "district": 50, "address": 300,
    "notes": 10_000,
}
# Columns an update may change, in the order of the table; level and status always have a value, so
# "fill empty fields" never changes them.
UPDATABLE = ["kind", "name", "company", "title", "email", "mobile", "phone", "province", "city", "district",
             "address", "level", "status", "source", "industry", "notes"]
_BLANK_DEFAULTS = {"level": Level.B, "status": Status.POTENTIAL, "kind": Kind.COMPANY}

# 广东 → 广东省, 上海 → 上海市, 内蒙古 → 内蒙古自治区: lists often drop the suffix.
_PROVINCE_NAMES = {p: p for p in PROVINCES} | {
    p.removesuffix("省").removesuffix("市").removesuffix("特别行政区").removesuffix("自治区")
    .removesuffix("壮族").removesuffix("回族").removesuffix("维吾尔"): p
    for p in PROVINCES
}


_ORGANISATION = re.compile(r"(公司|集团|厂|店|中心|研究院|研究所|事务所|学校|大学|医院|协会|银行|工作室|"
                           r"\b(ltd|inc|co|llc|gmbh|corp|company|group)\b\.?)", re.IGNORECASE)


# Header spellings of the columns customer and contact lists share.
_SPELLINGS = {
    "company": ["公司", "公司名称", "公司全称", "单位", "单位名称", "企业", "企业名称", "工作单位", "company",
                "company name", "organization", "organisation", "account", "account name"],
    "title": ["职位", "职务", "岗位", "头衔", "title", "job title", "position"],
    "mobile": ["手机", "手机号", "手机号码", "移动电话", "联系手机", "mobile", "mobile phone", "mobile number", "cell",
               "cellphone", "cell phone"],
    "phone": ["电话", "座机", "固话", "固定电话", "办公电话", "联系电话", "电话号码", "phone", "tel", "telephone",
              "landline", "office phone", "phone number"],
    "email": ["邮箱", "电子邮件", "电子邮箱", "邮件", "邮箱地址", "email", "e-mail", "mail", "email address",
              "e-mail address"],
    "notes": ["备注", "说明", "描述", "notes", "note", "remark", "remarks", "comments", "memo", "description"],
}


def _guess_kind(name: str, company: str) -> str:
    """A person at a company is an individual customer; a name that is the company, or reads like one,
    is a company."""
    if company and name != company:
        return Kind.INDIVIDUAL
    return Kind.COMPANY if (company or _ORGANISATION.search(name)) else Kind.INDIVIDUAL


def _options(choices) -> dict[str, str]:
    """Every spelling of a choice: its value, its Chinese and English labels, and each part of a label
    written as "A · 重要客户"."""
    spellings = {}
    for value, _label in choices.choices:
        spellings[cells.choice_key(value)] = value
        for language in ("zh-hans", "en"):
            with translation.override(language):
                label = str(choices(value).label)
            for part in [label, *label.split("·"), *label.split("/")]:
                if part.strip():
                    spellings.setdefault(cells.choice_key(part), value)
    return spellings


def _text(limit):
    def clean(value):
        result = cells.text(value)
        if len(result) > limit:
            raise cells.CellError(_("Longer than %(limit)s characters.") % {"limit": limit})
        return result

    return clean


def _choice(choices):
    options = _options(choices)
    seen = {}  # a column of a list holds a handful of spellings, 100,000 times

    def clean(value):
        key = value if isinstance(value, str) else repr(value)
        if key not in seen:
            try:
                seen[key] = (cells.choice(value, options), None)
            except cells.CellError as error:
                seen[key] = (None, error)
        result, error = seen[key]
        if error is not None:
            raise error
        return result

    return clean


def _province(value):
    result = cells.text(value)
    return _PROVINCE_NAMES.get(result, result)[:30] if result else ""


def _tags(value):
    names = cells.split_list(value)
    too_long = [n for n in names if len(n) > 50]
    if too_long:
        raise cells.CellError(_("Tag %(name)s is longer than 50 characters.") % {"name": too_long[0][:60]})
    return names


def _custom_cleaner(definition):
    options = {cells.choice_key(c): c for c in definition.choices}
    match definition.field_type:
        case CustomFieldType.NUMBER:
            def clean(value):
                result = cells.number(value)
                if not result:
                    return None
                as_float = float(result)
                return int(as_float) if as_float.is_integer() else as_float
        case CustomFieldType.DATE:
            def clean(value):
                return cells.date(value) or None
        case CustomFieldType.CHOICE:
            def clean(value):
                return cells.choice(value, options) or None
        case CustomFieldType.MULTI_CHOICE:
            def clean(value):
                return [cells.choice(part, options) for part in cells.split_list(value)] or None
        case _ if definition.encrypted:
            # Encrypted here, in the worker, so that the staging rows (ImportRow.data, kept for undo) and the
            # customers written from them by SQL never hold the text; the preview shows it masked.
            def clean(value):
                return stored_value(definition, _text(500)(value) or None)
        case _:
            def clean(value):
                return _text(500)(value) or None
    return clean


# ------------------------------------------------------------------- set-based SQL shared by the resources
class CustomerResource(Resource):
    key = "customers.customer"
    table = Customer._meta.db_table
    label = gettext_lazy("Customers")
    permission = "customers.import_customer"
    duplicate_rule = gettext_lazy("the same mobile, email, or name and company")

    def fields(self) -> list[Field]:
        result = [
            Field("name", gettext_lazy("customer name"), ["客户名称", "客户名", "客户姓名", "姓名", "联系人", "名称",
                                                          "客户", "name", "customer", "customer name", "full name",
                                                          "contact", "contact name"], _text(200)),
            Field("company", gettext_lazy("company"), _SPELLINGS["company"], _text(200)),
            Field("title", gettext_lazy("job title"), _SPELLINGS["title"], _text(100)),
            Field("mobile", gettext_lazy("mobile"), _SPELLINGS["mobile"], cells.phone),
            Field("phone", gettext_lazy("phone"), _SPELLINGS["phone"], cells.phone),
            Field("email", gettext_lazy("email"), _SPELLINGS["email"], cells.email),
            Field("province", gettext_lazy("province"), ["省", "省份", "所在省", "province", "state"], _province),
            Field("city", gettext_lazy("city"), ["市", "城市", "所在城市", "city"], _text(50)),
            Field("district", gettext_lazy("district"), ["区", "区县", "县区", "区/县", "district", "county"],
                  _text(50)),
            Field("address", gettext_lazy("address"), ["地址", "详细地址", "通讯地址", "联系地址", "公司地址",
                                                      "办公地址", "address", "street", "street address"], _text(300)),
            Field("level", gettext_lazy("level"), ["客户等级", "等级", "级别", "客户级别", "level", "grade", "rating"],
                  _choice(Level)),
            Field("status", gettext_lazy("lifecycle status"), ["客户状态", "状态", "生命周期", "阶段", "status",
                                                              "lifecycle", "lifecycle stage", "stage"],
                  _choice(Status)),
            Field("source", gettext_lazy("source"), ["客户来源", "来源", "渠道", "获客渠道", "source", "lead source",
                                                    "channel"], _choice(Source)),
            Field("industry", gettext_lazy("industry"), ["行业", "所属行业", "行业类别", "industry", "sector"],
                  _choice(Industry)),
            Field("kind", gettext_lazy("type"), ["客户类型", "类型", "type", "customer type"], _choice(Kind)),
            Field("tags", gettext_lazy("tags"), ["标签", "客户标签", "tags", "tag", "labels"], _tags),
            Field("notes", gettext_lazy("notes"), _SPELLINGS["notes"], _text(10_000)),
            Field("owner", gettext_lazy("owner"), ["负责人", "归属人", "所属销售", "销售", "业务员", "跟进人", "owner",
                                                  "sales rep", "account owner", "salesperson"], cells.text),
        ]
        for definition in active_definitions():
            result.append(Field(
                CUSTOM_PREFIX + definition.key, definition.label,
                [definition.key, definition.label_en] if definition.label_en else [definition.key],
                _custom_cleaner(definition), required=definition.required, sensitive=definition.encrypted,
            ))
        return result

    # ------------------------------------------------------------------------------- one row

    def check_signature(self, job) -> str:
        owners = assignable_users(user=job.created_by) if job.owner_mode == OwnerMode.COLUMN else []
        return definitions_signature() + owners_signature(owners)

    def prepare(self, job) -> dict:
        """What every row of the job needs, read once: owners by name, the mapped fields."""
        owners = {}
        if job.owner_mode == OwnerMode.COLUMN:
            for user in assignable_users(user=job.created_by):
                for spelling in {user.username, str(user), user.get_full_name(), user.email}:
                    if spelling:
                        owners.setdefault(spelling.strip().lower(), user)
        fixed_owner = {OwnerMode.ME: job.created_by, OwnerMode.USER: job.owner}.get(job.owner_mode)
        mapped = set(job.mapping.values())
        required_custom = [(d.key, CUSTOM_PREFIX + d.key) for d in active_definitions()
                           if d.required and CUSTOM_PREFIX + d.key in mapped]
        return {"owners": owners, "fixed_owner": fixed_owner, "required_custom": required_custom}

    def clean_row(self, values: dict, job, context: dict) -> tuple[dict, list[tuple[str, str]]]:
        cleaned, errors = cells.clean_cells(values)
        data = {}
        for name, value in cleaned.items():
            if name.startswith(CUSTOM_PREFIX):
                if value not in (None, "", []):
                    data.setdefault("custom", {})[name.removeprefix(CUSTOM_PREFIX)] = value
            elif value not in ("", [], None) or name in ("name", "company"):
                data[name] = value

        # A company list often has no separate name: the customer is the company.
        if not data.get("name") and data.get("company"):
            data["name"] = data["company"]
        if not data.get("name") and not any(name == "name" for name, _m in errors):
            errors.append(("name", _("The customer name is empty.")))
        if "kind" not in data:
            data["kind"] = _guess_kind(data.get("name") or "", data.get("company") or "")
        if not any(data.get(f) for f in ("mobile", "phone", "email")) and not any(
            name in ("mobile", "phone", "email") for name, _m in errors
        ):
            errors.append(("mobile", _("No mobile, phone or email: give at least one way to reach the customer.")))
        for definition_key, field_name in context["required_custom"]:
            if definition_key not in data.get("custom", {}) and not any(n == field_name for n, _m in errors):
                errors.append((field_name, _("This field is required.")))
        data.setdefault("source", Source.IMPORT)

        owner = context["fixed_owner"]
        if job.owner_mode == OwnerMode.COLUMN:
            written = (data.pop("owner", "") or "").strip().lower()
            owner = context["owners"].get(written) if written else None
            if written and owner is None:
                errors.append(("owner", _("There is no user %(name)s you may assign customers to.")
                               % {"name": data.get("owner") or written}))
        else:
            data.pop("owner", None)
        data["owner_id"] = owner.pk if owner is not None else None
        return data, errors

    def keys(self, data: dict) -> tuple[str, str, str]:
        mobile = phone_digits(data["mobile"]) if data.get("mobile") else ""
        email = (data.get("email") or "").lower()
        company = data.get("company") or ""
        name = f"{data.get('name', '')}\x1f{company}" if company and data.get("name") else ""
        return mobile, email, name

    # ------------------------------------------------------------------------------ set-based SQL

    def match_existing(self, cursor, job) -> None:
        """Point each row at the live customer it duplicates, by mobile, then email, then name + company."""
        match_rows(cursor, job, self.table, [
            ("key_mobile", "c.mobile_digits = k.key AND c.deleted_at IS NULL"),
            ("key_email", "UPPER(c.email) = UPPER(k.key) AND c.deleted_at IS NULL"),
            ("key_name", "c.name = split_part(k.key, chr(31), 1) AND c.company = split_part(k.key, chr(31), 2)"
                         " AND c.deleted_at IS NULL"),
        ])

    def changeable_sql(self, actor) -> tuple[str, list]:
        """SQL of the ids of customers ``actor`` may change (for rows that would update a customer)."""
        sql, params = policy.customers_for(actor, policy.CHANGE).values("id").query.sql_with_params()
        return sql, list(params)

    def commits_in_parts(self, job) -> bool:
        # Tags are shared rows: two parts creating the same new tag would wait for each other.
        return "tags" not in job.mapping.values()

    def commit(self, cursor, job, part=None) -> None:
        table = self.table
        mapped = set(job.mapping.values())
        if part is None:
            allocate_ids(cursor, job, table)
        text_columns = ["kind", "name", "company", "title", "email", "mobile", "phone", "province", "city",
                        "district", "address", "level", "status", "source", "industry", "notes"]
        values = ", ".join(
            f"COALESCE(r.data->>'{c}', '{_BLANK_DEFAULTS.get(c, '')}')" for c in text_columns
        )
        cursor.execute(
            f"""
            INSERT INTO {table} (id, {", ".join(text_columns)}, custom, owner_id, team_id, owned_since,
                                 created_by_id, created_at, updated_at)
            SELECT r.object_id, {values}, COALESCE(r.data->'custom', '{{}}'::jsonb), u.id, u.team_id,
                   CASE WHEN u.id IS NULL THEN NULL ELSE now() END, %s, now(), now()
            FROM imports_importrow r
            LEFT JOIN {User._meta.db_table} u ON u.id = (r.data->>'owner_id')::bigint
            WHERE r.job_id = %s AND r.action = 'create' {"" if part is None else part.rows_sql}
            ORDER BY r.row_number
            """,
            [job.created_by_id, job.pk, *([] if part is None else part.rows_params)],
        )
        if part is not None and not part.first:
            return  # the updates go with the first part
        if any(row_field in mapped for row_field in UPDATABLE) or any(m.startswith(CUSTOM_PREFIX) for m in mapped):
            self._update(cursor, job, mapped)
        if "tags" in mapped:
            self._tag(cursor, job)

    def _update(self, cursor, job, mapped) -> None:
        table = self.table
        columns = [c for c in UPDATABLE if c in mapped]
        tag_table, link_table = Tag._meta.db_table, CustomerTag._meta.db_table
        snapshot = ", ".join(f"'{c}', c.{c}" for c in columns)
        cursor.execute(
            f"""
            UPDATE imports_importrow r SET before = jsonb_build_object({snapshot + ", " if snapshot else ""}
                'custom', c.custom, 'updated_at', c.updated_at,
                'tags', (SELECT COALESCE(jsonb_agg(t.name), '[]'::jsonb) FROM {link_table} ct
                         JOIN {tag_table} t ON t.id = ct.tag_id WHERE ct.customer_id = c.id))
            FROM {table} c WHERE c.id = r.object_id AND r.job_id = %s AND r.action = 'update'
            """,
            [job.pk],
        )
        fill = job.duplicate_mode == "fill"
        assignments = update_assignments(columns, fill=fill)
        custom = "COALESCE(r.data->'custom', '{}'::jsonb)"
        assignments.append(f"custom = {custom} || c.custom" if fill else f"custom = c.custom || {custom}")
        update_from_rows(cursor, job, table, assignments)

    def _tag(self, cursor, job) -> None:
        tag_table, link_table = Tag._meta.db_table, CustomerTag._meta.db_table
        cursor.execute(
            f"""
            INSERT INTO {tag_table} (name, color)
            SELECT DISTINCT t.name, 'secondary'
            FROM imports_importrow r, jsonb_array_elements_text(r.data->'tags') AS t(name)
            WHERE r.job_id = %s AND r.action IN ('create', 'update')
            ON CONFLICT (name) DO NOTHING
            """,
            [job.pk],
        )
        cursor.execute(
            f"""
            INSERT INTO {link_table} (customer_id, tag_id)
            SELECT DISTINCT r.object_id, tg.id
            FROM imports_importrow r, jsonb_array_elements_text(r.data->'tags') AS t(name)
            JOIN {tag_table} tg ON tg.name = t.name
            WHERE r.job_id = %s AND r.action IN ('create', 'update')
            ON CONFLICT (tag_id, customer_id) DO NOTHING
            """,
            [job.pk],
        )

    def undo(self, cursor, job, actor) -> dict:
        """Created customers go to the recycle bin (an admin can still restore one); updated customers get
        their values back unless someone changed them after the import."""
        table = self.table
        tag_table, link_table = Tag._meta.db_table, CustomerTag._meta.db_table
        replan_audit_triggers(cursor)
        cursor.execute(
            f"""UPDATE {table} c SET deleted_at = now(), deleted_by_id = %s
                FROM imports_importrow r
                WHERE c.id = r.object_id AND r.job_id = %s AND r.action = 'create' AND c.deleted_at IS NULL""",
            [actor.pk, job.pk],
        )
        binned = cursor.rowcount
        kept = count_changed(cursor, job, table, actions=["update"])
        mapped = set(job.mapping.values())
        columns = [c for c in UPDATABLE if c in mapped]
        assignments = [f"{c} = r.before->>'{c}'" for c in columns] + ["custom = r.before->'custom'"]
        restored = restore_updated(cursor, job, table, assignments)
        if "tags" in mapped:
            cursor.execute(
                f"""
                DELETE FROM {link_table} ct USING imports_importrow r, {tag_table} tg
                WHERE r.job_id = %s AND r.action = 'update' AND ct.customer_id = r.object_id
                  AND ct.tag_id = tg.id AND r.data->'tags' ? tg.name AND NOT (r.before->'tags' ? tg.name)
                """,
                [job.pk],
            )
        return {"binned": binned, "restored": restored, "kept": kept}

    def display(self, name: str, value) -> str:
        if name in self._labels():
            return self._labels()[name].get(value, value or "")
        if name in ("mobile", "phone") and value:
            return phone_display(value)
        return super().display(name, value)

    def _labels(self) -> dict:
        return {"level": dict(Level.choices), "status": dict(Status.choices), "source": dict(Source.choices),
                "industry": dict(Industry.choices), "kind": dict(Kind.choices)}

    def changed_since(self, cursor, job) -> int:
        return count_changed(cursor, job, self.table, "c.deleted_at IS NULL")
