"""The application's database role: what web, worker and beat may do in the database, so that the audit trail
cannot be rewritten through them.

A real install has two PostgreSQL roles. The owner (``crm``) creates the tables (``migrate``) and runs
``grant_app_role``; the application role (``crm_app``) owns nothing and is what the processes connect as. It may
read and write the business tables, but on the audit tables (every pghistory event table and crm.audit's own,
LoginEvent) only read and insert: a stolen password or an SQL injection can add rows there, never change or
remove the ones written. Only an owner may ALTER, DROP or disable triggers on a table, so the role can neither
turn auditing off on a business table nor touch an audit table's definition.

pghistory's triggers run as the role that writes (SECURITY INVOKER), so the role needs INSERT on the event tables,
and INSERT and UPDATE on the context table (``pghistory_context``), which the triggers upsert: one row per request
or task, its metadata (user, URL, address, reason) rewritten whenever the request adds a key. The UPDATE is granted
on the metadata and updated_at columns only, and a trigger installed by migration (crm/audit/migrations/0002) keeps
every key already recorded: an update can add keys, during the context's first hour, never change or drop one.

Three other ways around the triggers are closed here too:
- ``SET pgtrigger.ignore`` (pgtrigger's per-session switch, settable by any role): its function is replaced by one
  that honours it only for the owner's roles (superusers included).
- a temporary table named like an event table shadows it (pg_temp comes first in the search path for tables):
  TEMPORARY is revoked on the database, from PUBLIC too, and CREATE on the schema and database (no schema of
  one's own to put first in the search path).
- ``SET session_replication_role = replica`` (which skips triggers) needs a superuser, which the role must not be:
  the command refuses a superuser, a role that bypasses row security or a member of the owner.

pgtrigger recreates its ignore function whenever a migration installs a trigger, and new tables get only the
default privileges below (read and insert, the audit tables' share), so ``grant_app_role`` is run again after each
``migrate``: scripts/dev.sh run does, and so must a deployment (see the README).
"""

import re
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connection, transaction
from pghistory import core
from pghistory.models import Context

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# What the role may do to an audit table: read it, and add rows (the triggers write as the role).
AUDIT_PRIVILEGES = "SELECT, INSERT"
BUSINESS_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


class AppRoleError(Exception):
    pass


@dataclass
class GrantReport:
    role: str
    created: bool = False
    business_tables: list[str] = field(default_factory=list)
    audit_tables: list[str] = field(default_factory=list)
    context_table: str = ""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def audit_tables() -> list[str]:
    """Every table the application role may only read and insert into: pghistory's event tables and crm.audit's own
    (login events). pghistory's context table is apart (the triggers update it)."""
    tables = {model._meta.db_table for model in core.event_models()}
    tables |= {
        model._meta.db_table for model in apps.get_app_config("audit").get_models()
        if model._meta.managed and not model._meta.proxy
    }
    return sorted(tables)


def context_table() -> str:
    return Context._meta.db_table


# Replaces pgtrigger's function (same name and signature, called by every pgtrigger trigger): pgtrigger.ignore is
# honoured only for a role that is, or is a member of, the owner that ran grant_app_role; anyone else's setting is
# disregarded and the trigger runs.
_IGNORE_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}._pgtrigger_should_ignore(trigger_name NAME)
RETURNS BOOLEAN AS $$
    DECLARE
        _pgtrigger_ignore TEXT[];
        _result BOOLEAN;
    BEGIN
        IF NOT pg_has_role(current_user, {owner}, 'MEMBER') THEN
            RETURN FALSE;
        END IF;
        BEGIN
            SELECT INTO _pgtrigger_ignore CURRENT_SETTING('pgtrigger.ignore');
            EXCEPTION WHEN OTHERS THEN
        END;
        IF _pgtrigger_ignore IS NOT NULL THEN
            SELECT trigger_name = ANY(_pgtrigger_ignore) INTO _result;
            RETURN _result;
        ELSE
            RETURN FALSE;
        END IF;
    END;
$$ LANGUAGE plpgsql;
"""


def _role_row(cursor, role: str):
    cursor.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, pg_has_role(%s, current_user, 'MEMBER') "
        "FROM pg_roles WHERE rolname = %s",
        [role, role],
    )
    return cursor.fetchone()


def _ensure_role(cursor, role: str, password: str) -> bool:
    """Create the role when it is missing (True), or bring its password up to date; refuse a role that could
    get around the grants."""
    created = False
    if _role_row(cursor, role) is None:
        if not password:
            raise AppRoleError(
                f"The role {role} does not exist. Set CRM_DB_APP_PASSWORD so that grant_app_role creates it, "
                f"or create it first (CREATE ROLE {role} LOGIN PASSWORD '...')."
            )
        try:
            with transaction.atomic():  # a savepoint: another run may create it at the same moment
                # CREATEDB: the weekly restore drill (crm.backups) restores into a scratch database of its own, whose
                # public schema it may use as the database's owner (pg_database_owner: INHERIT, the default, needed).
                cursor.execute(
                    f"CREATE ROLE {_q(role)} LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                    f"PASSWORD %s",
                    [password],
                )
            created = True
        except Exception as error:  # noqa: BLE001  (the same role made concurrently: go on as if it existed)
            if _role_row(cursor, role) is None:
                raise AppRoleError(f"Could not create the role {role}: {error}") from error
    if password and not created:
        cursor.execute(f"ALTER ROLE {_q(role)} PASSWORD %s", [password])
    superuser, bypass_rls, create_role, member_of_owner = _role_row(cursor, role)
    if superuser or bypass_rls or create_role or member_of_owner:
        raise AppRoleError(
            f"The role {role} is a superuser, bypasses row security, may create roles or is a member of the owner: "
            "through it the audit trail could be changed. Give the application a role of its own."
        )
    return created


def grant_app_role(role: str, *, password: str = "") -> GrantReport:
    """Give ``role`` what the application needs and no more (see the module's docstring). Idempotent: every grant
    is first revoked, so a table that moved into the audit set loses its UPDATE and DELETE. Run as the owner of the
    tables, after each migrate."""
    if not ROLE_NAME.match(role):
        raise AppRoleError(f"{role!r} is not a plain role name (lower-case letters, digits and _).")
    report = GrantReport(role=role)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database(), current_schema()")
        owner, database, schema = cursor.fetchone()
        if role == owner:
            raise AppRoleError(f"{role} is the role running this command, the owner: name another role.")
        report.created = _ensure_role(cursor, role, password)
        r, db, s = _q(role), _q(database), _q(schema)

        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            [schema],
        )
        existing = [name for (name,) in cursor.fetchall()]
        audit = [t for t in audit_tables() if t in existing]
        context = context_table() if context_table() in existing else ""
        report.audit_tables, report.context_table = audit, context
        report.business_tables = [t for t in existing if t not in audit and t != context]

        statements = [
            f"GRANT CONNECT ON DATABASE {db} TO {r}",
            # No temporary tables (one named like an event table would take the trigger's rows), for anyone but
            # the owner and superusers; no schema of its own either.
            f"REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC",
            f"REVOKE TEMPORARY, CREATE ON DATABASE {db} FROM {r}",
            f"REVOKE CREATE ON SCHEMA {s} FROM PUBLIC",
            f"REVOKE CREATE ON SCHEMA {s} FROM {r}",
            f"GRANT USAGE ON SCHEMA {s} TO {r}",
            # Start from nothing, then grant: a table that became an audit table loses UPDATE and DELETE.
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        ]
        business = [t for t in report.business_tables if t != "django_migrations"]
        if business:
            statements.append(f"GRANT {BUSINESS_PRIVILEGES} ON {', '.join(_q(t) for t in business)} TO {r}")
        if "django_migrations" in existing:  # the processes read it (runserver's check), never write it
            statements.append(f"GRANT SELECT ON django_migrations TO {r}")
        if audit:
            statements.append(f"GRANT {AUDIT_PRIVILEGES} ON {', '.join(_q(t) for t in audit)} TO {r}")
        if context:
            statements += [
                f"GRANT SELECT, INSERT ON {_q(context)} TO {r}",
                # The triggers' upsert sets these two; id and created_at stay as written.
                f"GRANT UPDATE (metadata, updated_at) ON {_q(context)} TO {r}",
            ]
        statements += [
            # Tables a later migration creates start as an audit table does: readable and insertable only, until
            # this command runs again and gives the business ones UPDATE and DELETE.
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {_q(owner)} IN SCHEMA {s} GRANT {AUDIT_PRIVILEGES} ON TABLES TO {r}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {_q(owner)} IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
            _IGNORE_FUNCTION.format(schema=s, owner="'" + owner.replace("'", "''") + "'"),
        ]
        for statement in statements:
            cursor.execute(statement)
    return report
