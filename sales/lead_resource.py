"""Leads as an import resource (key "sales.lead"): trade-show lists, purchased lists, old spreadsheets. Same machinery
as customers (crm.imports): rows are cleaned by the shared cell cleaners, matched and written with set-based SQL.

A row is the same lead as an existing one when it has its mobile or its email. Leads imported without an owner (the
job's owner choice "the public pool") are routed by the assignment rules once the import has committed, in a worker
(sales.tasks.route_imported_leads). Registered from sales.lead_setup.
"""

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm.imports import cells
from crm.imports.models import DuplicateMode, OwnerMode
from crm.imports.resources import Field, Resource
from crm.imports.sql import (
    allocate_ids,
    count_changed,
    match_rows,
    restore_updated,
    update_assignments,
    update_from_rows,
)
from crm.notifications.models import NotificationKind
from crm.notifications.services import NewNotification, notify_many
from crm.web.templatetags.crm_tags import phone as phone_display
from customers.choices import Industry, Source
from customers.custom_fields import active_definitions, definitions_signature, owners_signature
from customers.resources import _SPELLINGS, CUSTOM_PREFIX, _choice, _custom_cleaner, _text
from customers.search import phone_digits

from . import lead_campaigns
from . import permissions as policy
from .assignment import IMPORTED, province_name
from .lead_selectors import lead_owner_choices
from .lead_services import may_hold_leads
from .models import Lead, LeadAssignment, Opportunity

User = get_user_model()

TEXT_COLUMNS = ["name", "company", "title", "mobile", "phone", "email", "province", "city", "source", "industry",
                "campaign", "message"]
# What a new lead gets where its row has no value. Applied by the INSERT, not by clean_row: a row that updates an
# existing lead must leave its value alone (a lead from the website stays one), and an update writes what the row holds.
NEW_LEAD_DEFAULTS = {"source": Source.IMPORT.value}


def _province(value):
    return province_name(cells.text(value))[:30]


class LeadResource(Resource):
    key = "sales.lead"
    table = Lead._meta.db_table
    label = gettext_lazy("Leads")
    permission = "sales.import_lead"
    duplicate_rule = gettext_lazy("the same mobile or email")
    undo_bins_created = False

    def fields(self) -> list[Field]:
        result = [
            Field("name", gettext_lazy("name"), ["姓名", "联系人", "名字", "客户姓名", "线索名称", "name", "full name",
                                                "contact", "contact name", "lead", "lead name"], _text(200)),
            Field("company", gettext_lazy("company"), _SPELLINGS["company"], _text(200)),
            Field("title", gettext_lazy("job title"), _SPELLINGS["title"], _text(100)),
            Field("mobile", gettext_lazy("mobile"), _SPELLINGS["mobile"], cells.phone),
            Field("phone", gettext_lazy("phone"), _SPELLINGS["phone"], cells.phone),
            Field("email", gettext_lazy("email"), _SPELLINGS["email"], cells.email),
            Field("province", gettext_lazy("province"), ["省", "省份", "所在省", "地区", "province", "state", "region"],
                  _province),
            Field("city", gettext_lazy("city"), ["市", "城市", "所在城市", "city"], _text(50)),
            Field("source", gettext_lazy("source"), ["线索来源", "来源", "渠道", "获客渠道", "source", "lead source",
                                                    "channel"], _choice(Source)),
            Field("industry", gettext_lazy("industry"), ["行业", "所属行业", "行业类别", "industry", "sector"],
                  _choice(Industry)),
            Field("campaign", gettext_lazy("campaign"), ["活动", "市场活动", "活动名称", "活动编号", "campaign",
                                                        "campaign name", "utm_campaign"], _text(100)),
            Field("message", gettext_lazy("message"), ["留言", "需求", "需求描述", "咨询内容", "message", "inquiry",
                                                      *_SPELLINGS["notes"]], _text(10_000)),
            Field("owner", gettext_lazy("owner"), ["负责人", "归属人", "所属销售", "销售", "业务员", "跟进人", "owner",
                                                  "sales rep", "lead owner", "salesperson"], cells.text),
        ]
        for definition in active_definitions():
            result.append(Field(
                CUSTOM_PREFIX + definition.key, definition.label,
                [definition.key, definition.label_en] if definition.label_en else [definition.key],
                _custom_cleaner(definition), sensitive=definition.encrypted,
            ))
        return result

    # ------------------------------------------------------------------------------- one row

    def check_signature(self, job) -> str:
        owners = lead_owner_choices(user=job.created_by) if job.owner_mode == OwnerMode.COLUMN else []
        return definitions_signature() + owners_signature(owners)

    def prepare(self, job) -> dict:
        owners = {}
        if job.owner_mode == OwnerMode.COLUMN:
            for user in lead_owner_choices(user=job.created_by):
                for spelling in {user.username, str(user), user.get_full_name(), user.email}:
                    if spelling:
                        owners.setdefault(spelling.strip().lower(), user)
        fixed = {OwnerMode.ME: job.created_by, OwnerMode.USER: job.owner}.get(job.owner_mode)
        problem = ""
        if fixed is not None and not may_hold_leads(fixed):
            problem = (_("You cannot hold leads yourself: choose the public pool, and the assignment rules will hand "
                         "the leads to sales reps.") if fixed.pk == job.created_by_id
                       else _("%(user)s cannot hold leads; choose someone else.") % {"user": fixed})
        return {"owners": owners, "fixed_owner": fixed, "owner_problem": problem}

    def clean_row(self, values: dict, job, context: dict) -> tuple[dict, list[tuple[str, str]]]:
        cleaned, errors = cells.clean_cells(values)
        data = {}
        for name, value in cleaned.items():
            if name.startswith(CUSTOM_PREFIX):
                if value not in (None, "", []):
                    data.setdefault("custom", {})[name.removeprefix(CUSTOM_PREFIX)] = value
            elif value not in ("", None):
                data[name] = value
        failed = {name for name, _m in errors}
        if not data.get("name") and data.get("company"):
            data["name"] = data["company"]
        if not data.get("name") and "name" not in failed:
            errors.append(("name", _("The name is empty.")))
        if not any(data.get(f) for f in ("mobile", "phone", "email")) and not failed & {"mobile", "phone", "email"}:
            errors.append(("mobile", _("No mobile, phone or email: give at least one way to reach the lead.")))

        owner = context["fixed_owner"]
        if context["owner_problem"]:
            errors.append(("owner", context["owner_problem"]))
        if job.owner_mode == OwnerMode.COLUMN:
            written = (data.pop("owner", "") or "").strip()
            owner = context["owners"].get(written.lower()) if written else None
            if written and owner is None:  # named as the file writes it: "Zhang Wei", not "zhang wei"
                errors.append(("owner", _("There is no user %(name)s you may assign leads to.") % {"name": written}))
        else:
            data.pop("owner", None)
        data["owner_id"] = owner.pk if owner is not None else None
        return data, errors

    def keys(self, data: dict) -> tuple[str, str, str]:
        mobile = phone_digits(data["mobile"]) if data.get("mobile") else ""
        return mobile, (data.get("email") or "").lower(), ""

    # ------------------------------------------------------------------------------ set-based SQL

    def match_existing(self, cursor, job) -> None:
        """Point each row at the lead with its mobile (stored in E.164: the lead_mobile index), else its email."""
        match_rows(cursor, job, self.table, [
            ("key_mobile", "c.mobile IN ('+86' || k.key, '+' || k.key)"),
            ("key_email", "UPPER(c.email) = UPPER(k.key)"),
        ])

    def changeable_sql(self, actor) -> tuple[str, list]:
        sql, params = policy.leads_for(actor, policy.CHANGE).values("id").query.sql_with_params()
        return sql, list(params)

    def commit(self, cursor, job) -> None:
        table, users = self.table, User._meta.db_table
        allocate_ids(cursor, job, table)
        values = ", ".join(f"COALESCE(r.data->>'{c}', '{NEW_LEAD_DEFAULTS.get(c, '')}')" for c in TEXT_COLUMNS)
        cursor.execute(
            f"""
            INSERT INTO {table} (id, {", ".join(TEXT_COLUMNS)}, custom, status, owner_id, team_id, assigned_at,
                                 disqualified_reason, created_by_id, created_at, updated_at)
            SELECT r.object_id, {values}, COALESCE(r.data->'custom', '{{}}'::jsonb),
                   CASE WHEN u.id IS NULL THEN 'new' ELSE 'assigned' END, u.id, u.team_id,
                   CASE WHEN u.id IS NULL THEN NULL ELSE now() END, '', %s, now(), now()
            FROM imports_importrow r
            LEFT JOIN {users} u ON u.id = (r.data->>'owner_id')::bigint
            WHERE r.job_id = %s AND r.action = 'create'
            ORDER BY r.row_number
            """,
            [job.created_by_id, job.pk],
        )
        cursor.execute(
            f"""
            INSERT INTO {LeadAssignment._meta.db_table} (lead_id, user_id, assigned_by_id, reason, created_at)
            SELECT r.object_id, (r.data->>'owner_id')::bigint, %s, %s, now()
            FROM imports_importrow r
            WHERE r.job_id = %s AND r.action = 'create' AND r.data->>'owner_id' IS NOT NULL
            ORDER BY r.row_number
            """,
            [job.created_by_id, IMPORTED, job.pk],
        )
        self._tell_owners(cursor, job)
        campaigns = lead_campaigns.hooks()
        if campaigns is not None:  # a campaign code in the file counts the lead for that campaign
            campaigns.link_imported(cursor, job)
        mapped = set(job.mapping.values())
        if any(c in mapped for c in TEXT_COLUMNS) or any(m.startswith(CUSTOM_PREFIX) for m in mapped):
            self._update(cursor, job, mapped)
        job_id = job.pk
        cursor.execute(
            """SELECT EXISTS (SELECT 1 FROM imports_importrow
                              WHERE job_id = %s AND action = 'create' AND data->>'owner_id' IS NULL)""",
            [job_id],
        )
        if cursor.fetchone()[0]:
            from .tasks import route_imported_leads

            transaction.on_commit(lambda: route_imported_leads.delay(job_id))

    def _tell_owners(self, cursor, job) -> None:
        """One notification per owner the import gave leads to (not one per lead), in his language."""
        cursor.execute(
            """SELECT (data->>'owner_id')::bigint, count(*) FROM imports_importrow
               WHERE job_id = %s AND action = 'create' AND data->>'owner_id' IS NOT NULL GROUP BY 1""",
            [job.pk],
        )
        counts = dict(cursor.fetchall())
        counts.pop(job.created_by_id, None)
        notes = []
        for user in User.objects.filter(pk__in=counts):
            with translation.override(user.language or job.language):
                title = ngettext("%(user)s imported %(count)s lead for you.",
                                 "%(user)s imported %(count)s leads for you.",
                                 counts[user.pk]) % {"user": job.created_by, "count": counts[user.pk]}
            notes.append(NewNotification(user_id=user.pk, kind=NotificationKind.ASSIGNMENT, title=title,
                                         url=reverse("sales:lead_list") + "?view=mine",
                                         dedupe_key=f"lead-import:{job.pk}:{user.pk}"))
        notify_many(notes)

    def _update(self, cursor, job, mapped) -> None:
        table = self.table
        columns = [c for c in TEXT_COLUMNS if c in mapped]
        snapshot = ", ".join(f"'{c}', c.{c}" for c in columns)
        cursor.execute(
            f"""UPDATE imports_importrow r SET before = jsonb_build_object({snapshot + ", " if snapshot else ""}
                    'custom', c.custom, 'updated_at', c.updated_at)
                FROM {table} c WHERE c.id = r.object_id AND r.job_id = %s AND r.action = 'update'""",
            [job.pk],
        )
        fill = job.duplicate_mode == DuplicateMode.FILL
        assignments = update_assignments(columns, fill=fill)
        custom = "COALESCE(r.data->'custom', '{}'::jsonb)"
        assignments.append(f"custom = {custom} || c.custom" if fill else f"custom = c.custom || {custom}")
        update_from_rows(cursor, job, table, assignments)

    def undo(self, cursor, job, actor) -> dict:
        """Leads the import created are deleted (leads have no recycle bin; the audit trail keeps them), unless
        someone has worked on them since (handled, converted, disqualified); updated leads get their values back
        unless changed after the import."""
        table, assignments_table = self.table, LeadAssignment._meta.db_table
        untouched = f"""SELECT c.id FROM {table} c JOIN imports_importrow r ON c.id = r.object_id
                        WHERE r.job_id = %s AND r.action = 'create' AND c.touched_at IS NULL
                          AND c.status IN ('new', 'assigned')
                          AND NOT EXISTS (SELECT 1 FROM {Opportunity._meta.db_table} o WHERE o.lead_id = c.id)"""
        cursor.execute(f"DELETE FROM {assignments_table} WHERE lead_id IN ({untouched})", [job.pk])
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({untouched})", [job.pk])
        deleted = cursor.rowcount
        cursor.execute("SELECT count(*) FROM imports_importrow WHERE job_id = %s AND action = 'create'", [job.pk])
        worked = cursor.fetchone()[0] - deleted
        kept = count_changed(cursor, job, table, actions=["update"])
        mapped = set(job.mapping.values())
        restore = [f"{c} = r.before->>'{c}'" for c in TEXT_COLUMNS if c in mapped] + ["custom = r.before->'custom'"]
        restored = restore_updated(cursor, job, table, restore)
        return {"deleted": deleted, "binned": 0, "restored": restored, "kept": kept + worked}

    def display(self, name: str, value) -> str:
        labels = {"source": dict(Source.choices), "industry": dict(Industry.choices)}
        if name in labels:
            return str(labels[name].get(value, value or ""))
        if name in ("mobile", "phone") and value:
            return phone_display(value)
        return super().display(name, value)

    def changed_since(self, cursor, job) -> int:
        return count_changed(cursor, job, self.table)


def imported_pool_lead_ids(job_id: int) -> list[int]:
    """The leads an import created without an owner, for the rules to route."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT object_id FROM imports_importrow
               WHERE job_id = %s AND action = 'create' AND object_id IS NOT NULL AND data->>'owner_id' IS NULL
               ORDER BY row_number""",
            [job_id],
        )
        return [row[0] for row in cursor.fetchall()]
