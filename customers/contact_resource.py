"""Contacts as an import resource: a contact list names each contact's customer by its name, company or
mobile; contacts then follow their customer (scope, owner). Same machinery as customers (crm.imports)."""

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db.models import BooleanField, Case, Value, When
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.imports import cells, files
from crm.imports.models import DuplicateMode
from crm.imports.resources import Field, Resource
from crm.imports.sql import (
    allocate_ids,
    count_changed,
    match_rows,
    restore_updated,
    update_assignments,
    update_from_rows,
)
from crm.web.templatetags.crm_tags import phone as phone_display

from . import permissions as policy
from .models import Contact, Customer
from .resources import _SPELLINGS, _text
from .search import phone_digits

User = get_user_model()


_YES_NO = {cells.choice_key(s): True for s in ["是", "y", "yes", "true", "1", "√", "✓", "✔", "主", "primary"]} | {
    cells.choice_key(s): False for s in ["否", "n", "no", "false", "0", "×", "✗", "✘", "非", "不是"]
}
# Text columns of a contact, as the table orders them.
CONTACT_COLUMNS = ["name", "title", "mobile", "phone", "email", "wechat", "notes"]


def _yes_no(value):
    """True or False from 是/否, yes/no, 1/0, √/× (and Excel's TRUE/FALSE); "" for an empty cell."""
    try:
        return cells.choice(value, _YES_NO)
    except cells.CellError:
        message = _("%(value)s is neither yes nor no; write 是 or 否.")
        raise cells.CellError(message % {"value": cells.text(value)}) from None


def _customer_label(name: str, company: str) -> str:
    return f"{name}（{company}）" if company and company != name else name


class _CustomerFinder:
    """The live customers an importer can see whose name, company or mobile a file names, read in one query
    (whether he may change each comes with it), and which one a row means."""

    def __init__(self, user, names: set[str], mobiles: set[str]):
        self.by_name, self.by_mobile = defaultdict(set), defaultdict(set)
        self.labels, self.changeable, self.found = {}, set(), {}
        if not names and not mobiles:
            return
        table = Customer._meta.db_table
        named = RawSQL(
            f"""({table}.name = ANY(%s::text[]) OR {table}.company = ANY(%s::text[])
                 OR {table}.mobile_digits = ANY(%s::text[]))""",
            (sorted(names), sorted(names), sorted(mobiles)), output_field=BooleanField(),
        )
        condition = policy.scope_condition(user, policy.CHANGE)
        may_change = Value(True) if condition is None else Case(
            When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()
        )
        rows = (policy.customers_for(user, policy.VIEW).filter(named).annotate(may_change=may_change)
                .values_list("id", "name", "company", "mobile_digits", "may_change"))
        for pk, name, company, digits, changeable in rows:
            self.by_name[name].add(pk)
            if company:
                self.by_name[company].add(pk)
            if digits:
                self.by_mobile[digits].add(pk)
            self.labels[pk] = _customer_label(name, company)
            if changeable:
                self.changeable.add(pk)

    def find(self, name: str, mobile: str) -> tuple[int | None, str]:
        """(the customer's id, its label), or (None, why no customer is found) in the job's language."""
        if (name, mobile) not in self.found:
            self.found[name, mobile] = self._find(name, mobile)
        return self.found[name, mobile]

    def _find(self, name: str, mobile: str) -> tuple[int | None, str]:
        if not name and not mobile:
            return None, _("No customer: give the customer's name, company or mobile.")
        ids = None
        if name:
            ids = self.by_name.get(name, set())
        if mobile:
            by_mobile = self.by_mobile.get(phone_digits(mobile), set())
            ids = by_mobile if ids is None else ids & by_mobile
        written = " / ".join(v for v in [name, phone_display(mobile) if mobile else ""] if v)
        if not ids:
            return None, _("No customer %(customer)s was found.") % {"customer": written}
        if len(ids) > 1:
            return None, (_("%(count)s customers match %(customer)s; give the customer's name and mobile so that "
                            "the row finds one.") % {"count": len(ids), "customer": written})
        (pk,) = ids
        if pk not in self.changeable:
            return None, (_("You may not change the customer %(customer)s, so you cannot import its contacts.")
                          % {"customer": written})
        return pk, self.labels[pk]


class ContactResource(Resource):
    """Contacts (联系人) of existing customers. A row names its customer by name or company and/or the customer's
    mobile, and must find one the importer may change. A contact is the one of that customer with the same mobile
    or email (a row with neither: the same name). Contacts follow their customer's owner, so the job's owner
    settings do not apply."""

    key = "customers.contact"
    table = Contact._meta.db_table
    label = gettext_lazy("Contacts")
    permission = "customers.import_customer"
    has_owner = False
    duplicate_rule = gettext_lazy("the same customer, and the same mobile, email or (without either) name")
    undo_bins_created = False

    def fields(self) -> list[Field]:
        return [
            Field("customer", gettext_lazy("customer"), ["客户名称", "客户", "客户名", "所属客户", "客户全称",
                                                        "customer", "customer name", *_SPELLINGS["company"]],
                  _text(200)),
            Field("customer_mobile", gettext_lazy("customer's mobile"), ["客户手机", "客户手机号", "客户手机号码",
                                                                         "customer mobile", "customer's mobile"],
                  cells.phone),
            Field("name", gettext_lazy("contact name"), ["联系人", "联系人姓名", "联系人名称", "姓名", "名字", "name",
                                                        "contact", "contact name", "full name"], _text(100),
                  required=True),
            Field("title", gettext_lazy("job title"), _SPELLINGS["title"], _text(100)),
            Field("mobile", gettext_lazy("mobile"), [*_SPELLINGS["mobile"], "联系人手机"], cells.phone),
            Field("phone", gettext_lazy("phone"), [*_SPELLINGS["phone"], "联系人电话"], cells.phone),
            Field("email", gettext_lazy("email"), [*_SPELLINGS["email"], "联系人邮箱"], cells.email),
            Field("wechat", gettext_lazy("WeChat"), ["微信", "微信号", "wechat", "wechat id", "weixin"], _text(100)),
            Field("is_primary", gettext_lazy("primary contact"), ["主联系人", "是否主联系人", "首要联系人", "primary",
                                                                 "primary contact", "is primary"], _yes_no),
            Field("notes", gettext_lazy("notes"), _SPELLINGS["notes"], _text(10_000)),
        ]

    # ------------------------------------------------------------------------------- one row

    def prepare(self, job) -> dict:
        """The customers the file names, found together before its rows are checked (one query a row would take
        minutes at 100,000 rows): the file's customer columns are read once more for it."""
        fields = {f.name: f for f in self.fields()}
        columns = {name: int(col) for col, name in job.mapping.items() if name in ("customer", "customer_mobile")}
        written = {"customer": set(), "customer_mobile": set()}
        if columns:
            for row_number, row in files.read_rows(job.file.path, job.file_type, job.sheet):
                if row_number <= job.header_row:
                    continue
                for name, col in columns.items():
                    if col < len(row):
                        try:
                            written[name].add(fields[name].clean(row[col]))
                        except cells.CellError:
                            pass  # the row's check says what is wrong with it
        mobiles = {phone_digits(m) for m in written["customer_mobile"] if m}
        return {
            "customers": _CustomerFinder(job.created_by, written["customer"] - {""}, mobiles),
            "customer_field": "customer" if "customer" in columns else "customer_mobile",
            "primaries": {},  # customer id -> (keys, name) of the file's first row marking its primary contact
        }

    def clean_row(self, values: dict, job, context: dict) -> tuple[dict, list[tuple[str, str]]]:
        cleaned, errors = cells.clean_cells(values)
        data = {name: value for name, value in cleaned.items() if value not in ("", None)}
        failed = {name for name, _m in errors}
        if not data.get("name") and "name" not in failed:
            errors.append(("name", _("The contact name is empty.")))
        if not failed & {"customer", "customer_mobile"}:
            customer_id, found = context["customers"].find(data.get("customer", ""), data.get("customer_mobile", ""))
            if customer_id is None:
                errors.append((context["customer_field"], found))
            else:
                data["customer_id"], data["customer"] = customer_id, found
        if data.get("is_primary") and not errors:
            # One primary contact a customer: the file's first row marking one wins, unless a later row is the
            # same contact again (a repeat, found as such by its keys).
            keys = {k for k in self.keys(data) if k}
            first_keys, first_name = context["primaries"].setdefault(data["customer_id"], (keys, data["name"]))
            if first_keys is not keys and not first_keys & keys:
                errors.append(("is_primary", _("%(name)s is already the primary contact of %(customer)s in an earlier "
                                               "row; a customer has one primary contact.")
                               % {"name": first_name, "customer": data["customer"]}))
        return data, errors

    def keys(self, data: dict) -> tuple[str, str, str]:
        """Keys within the customer: the same mobile at two customers is two contacts."""
        mobile = phone_digits(data["mobile"]) if data.get("mobile") else ""
        email = (data.get("email") or "").lower()
        name = data.get("name", "") if not mobile and not email else ""
        customer = data["customer_id"]
        return tuple(f"{customer}\x1f{key}" if key else "" for key in (mobile, email, name))

    # ------------------------------------------------------------------------------ set-based SQL

    def match_existing(self, cursor, job) -> None:
        """Point each row at its customer's contact with the same mobile, else email, else name."""
        of_customer = "c.customer_id = split_part(k.key, chr(31), 1)::bigint AND "
        match_rows(cursor, job, self.table, [
            ("key_mobile", of_customer + "c.mobile_digits = split_part(k.key, chr(31), 2)"),
            ("key_email", of_customer + "UPPER(c.email) = UPPER(split_part(k.key, chr(31), 2))"),
            ("key_name", of_customer + "c.name = split_part(k.key, chr(31), 2)"),
        ])

    def changeable_sql(self, actor) -> tuple[str, list]:
        """SQL of the ids of contacts ``actor`` may change: those of the customers he may change."""
        contacts = Contact.objects.filter(customer__in=policy.customers_for(actor, policy.CHANGE))
        sql, params = contacts.values("id").query.sql_with_params()
        return sql, list(params)

    def commit(self, cursor, job) -> None:
        table = self.table
        mapped = set(job.mapping.values())
        fill = job.duplicate_mode == DuplicateMode.FILL
        allocate_ids(cursor, job, table)
        snapshot = ", ".join(f"'{c}', c.{c}" for c in [*CONTACT_COLUMNS, "is_primary", "updated_at"])
        cursor.execute(
            f"""UPDATE imports_importrow r SET before = jsonb_build_object({snapshot})
                FROM {table} c WHERE c.id = r.object_id AND r.job_id = %s AND r.action = 'update'""",
            [job.pk],
        )
        # Like level and status of a customer, the primary flag always has a value: "fill" leaves it alone.
        primary_updates = "is_primary" in mapped and not fill
        if "is_primary" in mapped:
            self._unmark_primaries(cursor, job, ["create", "update"] if primary_updates else ["create"])
        values = ", ".join(f"COALESCE(r.data->>'{c}', '')" for c in CONTACT_COLUMNS)
        cursor.execute(
            f"""
            INSERT INTO {table} (id, customer_id, {", ".join(CONTACT_COLUMNS)}, is_primary, created_at, updated_at)
            SELECT r.object_id, (r.data->>'customer_id')::bigint, {values},
                   COALESCE((r.data->>'is_primary')::boolean, false), now(), now()
            FROM imports_importrow r
            WHERE r.job_id = %s AND r.action = 'create'
            ORDER BY r.row_number
            """,
            [job.pk],
        )
        assignments = update_assignments([c for c in CONTACT_COLUMNS if c in mapped], fill=fill)
        if primary_updates:
            assignments.append("is_primary = COALESCE((r.data->>'is_primary')::boolean, c.is_primary)")
        if assignments:
            update_from_rows(cursor, job, table, assignments)

    def _unmark_primaries(self, cursor, job, actions: list[str]) -> None:
        """Unmark the primary contact of each customer the file gives a new one (the table holds one a customer),
        noting it in the row that takes its place, for undo."""
        table = self.table
        cursor.execute(
            f"""
            WITH taken AS (
                SELECT r.id AS row_id, c.id AS contact_id
                FROM imports_importrow r
                JOIN {table} c ON c.customer_id = (r.data->>'customer_id')::bigint AND c.is_primary
                WHERE r.job_id = %s AND r.action = ANY(%s) AND (r.data->>'is_primary')::boolean
                  AND c.id <> r.object_id
            ), noted AS (
                UPDATE imports_importrow r
                SET before = COALESCE(r.before, '{{}}'::jsonb) || jsonb_build_object('unmarked_primary', t.contact_id)
                FROM taken t WHERE r.id = t.row_id
            )
            UPDATE {table} c SET is_primary = false, updated_at = now() FROM taken t WHERE c.id = t.contact_id
            """,
            [job.pk, actions],
        )

    def undo(self, cursor, job, actor) -> dict:
        """Contacts the import created are deleted (contacts have no recycle bin; the audit trail keeps them);
        updated ones get their values back unless someone changed them after the import; a primary contact the
        import unmarked is primary again, unless changed since or its customer has another one by then."""
        table = self.table
        cursor.execute(
            f"""
            SELECT c.id FROM {table} c JOIN imports_importrow r ON c.id = (r.before->>'unmarked_primary')::bigint
            WHERE r.job_id = %s AND NOT c.is_primary AND c.updated_at <= %s
            UNION
            SELECT c.id FROM {table} c JOIN imports_importrow r ON c.id = r.object_id
            WHERE r.job_id = %s AND r.action = 'update' AND (r.before->>'is_primary')::boolean
              AND NOT c.is_primary AND c.updated_at <= %s
            """,
            [job.pk, job.committed_at, job.pk, job.committed_at],
        )
        primaries = [pk for (pk,) in cursor.fetchall()]
        cursor.execute(
            f"""DELETE FROM {table} c USING imports_importrow r
                WHERE c.id = r.object_id AND r.job_id = %s AND r.action = 'create'""",
            [job.pk],
        )
        deleted = cursor.rowcount
        kept = count_changed(cursor, job, table, actions=["update"])
        mapped = set(job.mapping.values())
        assignments = [f"{c} = r.before->>'{c}'" for c in CONTACT_COLUMNS if c in mapped]
        if "is_primary" in mapped:  # only unmarks here; marking waits until every other change is made
            assignments.append("is_primary = c.is_primary AND (r.before->>'is_primary')::boolean")
        restored = restore_updated(cursor, job, table, assignments)
        cursor.execute(
            f"""
            UPDATE {table} c SET is_primary = true, updated_at = now()
            WHERE c.id IN (SELECT DISTINCT ON (customer_id) id FROM {table} WHERE id = ANY(%s) ORDER BY customer_id, id)
              AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.customer_id = c.customer_id AND o.is_primary)
            """,
            [primaries],
        )
        # "binned" is what the job page reports for customers; nothing goes to a recycle bin here.
        return {"deleted": deleted, "binned": 0, "restored": restored, "kept": kept}

    def display(self, name: str, value) -> str:
        if name == "is_primary" and isinstance(value, bool):
            return _("Yes") if value else _("No")
        if name in ("mobile", "phone", "customer_mobile") and value:
            return phone_display(value)
        return super().display(name, value)

    def changed_since(self, cursor, job) -> int:
        return count_changed(cursor, job, self.table)
