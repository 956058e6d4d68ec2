"""The application's database role (crm/audit/app_role.py, ``manage.py grant_app_role``): through it the business
tables are written and audited as usual, but no audit row can be changed or deleted, and auditing cannot be turned
off.

The tests run as the owner of the test database (crm, a superuser); here a second role, created on first use and
kept (roles belong to the whole cluster, grants to the test database, which is dropped afterwards), is granted its
privileges by the command and used over a second psycopg connection, and once as the Django connection itself."""

import contextlib
import io
import json
import uuid

import psycopg
import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from pghistory.models import Context

from crm.audit.models import LoginEvent
from tests.factories import PASSWORD, CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROLE = "crm_test_app"
ROLE_PASSWORD = "crm-test-app-password"
INSUFFICIENT_PRIVILEGE = "42501"

CUSTOMER_EVENT = apps.get_model("customers", "CustomerEvent")
TAG_EVENT = apps.get_model("customers", "CustomerTagEvent")


@pytest.fixture
def app_role(settings):
    """Grant the role on the test database (creating it when missing) and return a connect() as that role."""
    settings.CRM_DB_APP_PASSWORD = ROLE_PASSWORD
    call_command("grant_app_role", role=ROLE, stdout=io.StringIO())
    database = connection.settings_dict
    opened = []

    def connect() -> psycopg.Connection:
        conn = psycopg.connect(host=database["HOST"], port=database["PORT"], dbname=database["NAME"], user=ROLE,
                               password=ROLE_PASSWORD)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


def _with_context(cursor, **metadata) -> str:
    """What pghistory.context does before each statement of the application: the context's id and metadata."""
    context_id = str(uuid.uuid4())
    cursor.execute("SELECT set_config('pghistory.context_id', %s, true), "
                   "set_config('pghistory.context_metadata', %s, true)", [context_id, json.dumps(metadata)])
    return context_id


def _refused(conn, sql, params=None) -> None:
    with pytest.raises(psycopg.Error) as error:
        conn.execute(sql, params)
    conn.rollback()
    assert error.value.sqlstate == INSUFFICIENT_PRIVILEGE, f"{sql}: {error.value}"


# ------------------------------------------------------------------------------------ business writes are audited


def test_business_writes_as_the_app_role_work_and_are_audited(app_role, sales_rep):
    customer = CustomerFactory(name="旧名")
    tag = TagFactory()
    conn = app_role()
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == ROLE
        context_id = _with_context(cursor, user=sales_rep.pk, url="/customers/1/edit/", ip="203.0.113.7")
        cursor.execute("UPDATE customers_customer SET name = %s WHERE id = %s", ["新名", customer.pk])
        cursor.execute("INSERT INTO customers_customertag (customer_id, tag_id) VALUES (%s, %s)", [customer.pk, tag.pk])
        cursor.execute("DELETE FROM customers_customertag WHERE customer_id = %s", [customer.pk])
    conn.commit()

    customer.refresh_from_db()
    assert customer.name == "新名"
    update = CUSTOMER_EVENT.objects.get(pgh_obj_id=customer.pk, pgh_label="update")
    assert update.name == "新名" and str(update.pgh_context_id) == context_id
    assert Context.objects.get(pk=context_id).metadata == {"user": sales_rep.pk, "url": "/customers/1/edit/",
                                                           "ip": "203.0.113.7"}
    assert sorted(TAG_EVENT.objects.filter(customer_id=customer.pk).values_list("pgh_label", flat=True)) == [
        "delete", "insert"]


@contextlib.contextmanager
def _django_connects_as(role, password):
    database = connection.settings_dict
    saved = database["USER"], database["PASSWORD"]
    connection.close()
    database["USER"], database["PASSWORD"] = role, password
    try:
        yield
    finally:
        connection.close()
        database["USER"], database["PASSWORD"] = saved


def test_the_application_runs_as_the_app_role(app_role, sales_rep):
    """The web process's own code, connected as the role: a sign-in (session, lockout bookkeeping, login event) and
    a customer saved through the ORM inside an audit context."""
    import pghistory

    customer = CustomerFactory(name="旧名")
    with _django_connects_as(ROLE, ROLE_PASSWORD):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == ROLE
        client = Client()
        client.post(reverse("login"), {"username": sales_rep.username, "password": PASSWORD},
                    REMOTE_ADDR="203.0.113.8")
        assert LoginEvent.objects.filter(kind=LoginEvent.Kind.LOGIN, user=sales_rep, address="203.0.113.8").exists()
        with pghistory.context(user=sales_rep.pk):
            customer.name = "经由应用角色"
            customer.save(update_fields=["name"])
        event = CUSTOMER_EVENT.objects.select_related("pgh_context").get(pgh_obj_id=customer.pk, pgh_label="update")
        assert event.pgh_context.metadata["user"] == sales_rep.pk
        # ...and the ORM cannot delete the event it just wrote.
        with pytest.raises(Exception, match="permission denied"):
            CUSTOMER_EVENT.objects.filter(pk=event.pk).delete()


# ---------------------------------------------------------------------------- audit rows cannot be changed


def test_event_and_login_rows_cannot_be_updated_deleted_or_truncated(app_role, admin_user):
    customer = CustomerFactory(name="甲")
    customer.name = "乙"
    customer.save(update_fields=["name"])
    login = LoginEvent.objects.create(kind=LoginEvent.Kind.LOGIN, user=admin_user, username="admin",
                                      address="203.0.113.9")
    events = CUSTOMER_EVENT._meta.db_table
    conn = app_role()

    for table, column, value in [(events, "name", "伪造"), ("audit_loginevent", "address", "127.0.0.1")]:
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0  # readable
        conn.rollback()
        _refused(conn, f"UPDATE {table} SET {column} = %s", [value])
        _refused(conn, f"DELETE FROM {table}")
        _refused(conn, f"TRUNCATE {table}")

    assert set(CUSTOMER_EVENT.objects.filter(pgh_obj_id=customer.pk).values_list("name", flat=True)) == {"甲", "乙"}
    login.refresh_from_db()
    assert login.address == "203.0.113.9"


def test_a_context_keeps_what_it_recorded(app_role, sales_rep, other_rep):
    customer = CustomerFactory()
    conn = app_role()
    with conn.cursor() as cursor:
        context_id = _with_context(cursor, user=sales_rep.pk, ip="203.0.113.7")
        cursor.execute("UPDATE customers_customer SET name = '改' WHERE id = %s", [customer.pk])
    conn.commit()

    # Rewriting who did it is ignored; a key the request adds while it runs is kept.
    conn.execute("UPDATE pghistory_context SET metadata = %s WHERE id = %s",
                 [json.dumps({"user": other_rep.pk, "ip": "10.0.0.1", "reason": "import"}), context_id])
    conn.commit()
    assert Context.objects.get(pk=context_id).metadata == {"user": sales_rep.pk, "ip": "203.0.113.7",
                                                           "reason": "import"}
    _refused(conn, "UPDATE pghistory_context SET id = gen_random_uuid() WHERE id = %s", [context_id])
    _refused(conn, "UPDATE pghistory_context SET created_at = NOW() WHERE id = %s", [context_id])
    _refused(conn, "DELETE FROM pghistory_context WHERE id = %s", [context_id])
    _refused(conn, "TRUNCATE pghistory_context")

    # An old context (a system task's, without a user) cannot be given one afterwards.
    old_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO pghistory_context (id, metadata, created_at, updated_at) "
                       "VALUES (%s, '{\"reason\": \"pool_return\"}', NOW() - INTERVAL '2 hours', NOW())",
                       [old_id])
    conn.execute("UPDATE pghistory_context SET metadata = metadata || %s WHERE id = %s",
                 [json.dumps({"user": other_rep.pk}), old_id])
    conn.commit()
    assert Context.objects.get(pk=old_id).metadata == {"reason": "pool_return"}


# ------------------------------------------------------------------------------- auditing cannot be turned off


def test_the_app_role_cannot_alter_drop_or_switch_off_auditing(app_role):
    customer = CustomerFactory()
    events = CUSTOMER_EVENT._meta.db_table
    conn = app_role()
    triggers = [name for (name,) in conn.execute(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'customers_customer'::regclass AND NOT tgisinternal")]
    conn.rollback()
    assert triggers, "the customer table has its audit triggers"

    for table in (events, "audit_loginevent", "pghistory_context"):
        _refused(conn, f"ALTER TABLE {table} ADD COLUMN forged TEXT")
        _refused(conn, f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        _refused(conn, f"DROP TABLE {table}")
    # Business tables: writable, but their triggers stay on.
    _refused(conn, "ALTER TABLE customers_customer DISABLE TRIGGER ALL")
    _refused(conn, f"ALTER TABLE customers_customer DISABLE TRIGGER {triggers[0]}")
    _refused(conn, f"DROP TRIGGER {triggers[0]} ON customers_customer")
    _refused(conn, "CREATE TRIGGER forged BEFORE INSERT ON customers_customer "
                   "FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()")
    _refused(conn, "SET session_replication_role = replica")  # replica mode skips every trigger
    _refused(conn, "CREATE OR REPLACE FUNCTION _pgh_attach_context() RETURNS UUID AS 'SELECT NULL::UUID' "
                   "LANGUAGE sql")
    # A temporary table or a schema of its own named first in the search path would take the triggers' rows.
    _refused(conn, f"CREATE TEMP TABLE {events} (LIKE public.{events})")
    _refused(conn, "CREATE SCHEMA forged")
    _refused(conn, "CREATE TABLE public.forged (id INT)")

    # pgtrigger's own switch, which any role can set, is not honoured for this role.
    with conn.cursor() as cursor:
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, false)", ["{" + ",".join(triggers) + "}"])
        cursor.execute("UPDATE customers_customer SET name = '无人知晓' WHERE id = %s", [customer.pk])
    conn.commit()
    assert CUSTOMER_EVENT.objects.filter(pgh_obj_id=customer.pk, pgh_label="update", name="无人知晓").exists()


def test_granting_again_is_harmless_and_refuses_the_owner(app_role, settings):
    from django.core.management.base import CommandError

    call_command("grant_app_role", role=ROLE, stdout=io.StringIO())
    conn = app_role()
    _refused(conn, f"DELETE FROM {CUSTOMER_EVENT._meta.db_table}")
    assert conn.execute("SELECT COUNT(*) FROM customers_customer").fetchone()[0] >= 0
    with pytest.raises(CommandError, match="owner"):
        call_command("grant_app_role", role=connection.settings_dict["USER"])
