"""Sensitive custom fields (ID numbers, bank accounts): encrypted at rest wherever the database keeps them, shown
to those who may see them and masked for others, found by exact value through the blind index, and re-encrypted
by key rotation."""

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from crm import fieldcrypto
from crm.accounts import roles
from crm.imports.models import ImportRow
from customers.choices import CustomFieldType
from customers.field_encryption import custom_values_sync
from customers.models import Customer, CustomFieldDefinition
from tests.customers.pages import form_data, listed_ids
from tests.exports.conftest import as_dicts, read_job
from tests.exports.test_customer_export import export
from tests.factories import CustomerFactory, CustomFieldDefinitionFactory
from tests.imports.conftest import commit, run_to_preview, xlsx_bytes

pytestmark = pytest.mark.django_db

ID_NUMBER = "11010519491231002X"
ID_MASKED = "110****002X"
KEY_A, KEY_B, KEY_C = (Fernet.generate_key().decode() for _ in range(3))
BLIND_OLD = "old-blind-index-key-for-this-test-only-0123456789"
BLIND_NEW = "new-blind-index-key-for-this-test-only-9876543210"
BASE = {"kind": "individual", "name": "王小明", "mobile": "13812345678", "level": "B", "status": "potential"}


@pytest.fixture
def id_field(db):
    return CustomFieldDefinitionFactory(key="id_no", label="身份证号", label_en="ID number",
                                        field_type=CustomFieldType.TEXT, encrypted=True)


@pytest.fixture
def rep_without_sensitive(sales_rep):
    """A sales rep whose role an administrator has taken "see sensitive data" from."""
    Group.objects.get(name=roles.SALES_REP).permissions.remove(
        Permission.objects.get(content_type__app_label="customers", codename="view_sensitive_customer"))
    return get_user_model().objects.get(pk=sales_rep.pk)


def raw_texts(sql: str) -> str:
    """Every value a query returns, as the database holds it (no model, no decryption)."""
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return "\n".join(str(value) for row in cursor.fetchall() for value in row)


def create_through_form(client, **values) -> Customer:
    response = client.post(reverse("customers:create"), {**BASE, **values})
    assert response.status_code == 302, response.context["form"].errors
    return Customer.objects.get(name=values.get("name", BASE["name"]))


def edit_through_form(client, customer, **changes):
    form = client.get(reverse("customers:update", args=[customer.pk])).context["form"]
    response = client.post(reverse("customers:update", args=[customer.pk]), {**form_data(form), **changes})
    assert response.status_code == 302, response.context["form"].errors


# ----------------------------------------------------------------------------------------------- storage


def test_the_database_holds_no_plain_id_number_neither_in_the_customer_nor_in_its_history(client_as, sales_rep,
                                                                                        id_field):
    # given a rep who enters a customer with an ID number, then corrects it
    client = client_as(sales_rep)
    customer = create_through_form(client, cf_id_no="110105194912310021")
    edit_through_form(client, customer, cf_id_no=ID_NUMBER)
    # then neither value is anywhere in the customers table or its audit event table, as the database holds them
    stored = raw_texts("SELECT custom::text FROM customers_customer") + raw_texts(
        "SELECT custom::text FROM customers_customerevent")
    assert "110105194912310021" not in stored and ID_NUMBER not in stored and "19491231" not in stored
    assert raw_texts("SELECT count(*) FROM customers_customerevent WHERE custom ? 'id_no'") == "2"
    # and what is stored is ciphertext with its blind index, which decrypts to the value entered
    customer.refresh_from_db()
    assert set(customer.custom["id_no"]) == {"c", "b"}
    assert fieldcrypto.open_envelope(customer.custom["id_no"]) == ID_NUMBER


def test_saving_the_form_unchanged_keeps_the_stored_ciphertext(client_as, sales_rep, id_field):
    client = client_as(sales_rep)
    customer = create_through_form(client, cf_id_no=ID_NUMBER)
    before = Customer.objects.get(pk=customer.pk).custom["id_no"]
    edit_through_form(client, customer, notes="只改备注")
    assert Customer.objects.get(pk=customer.pk).custom["id_no"] == before


def test_only_text_fields_can_be_encrypted():
    field = CustomFieldDefinition(key="budget", label="预算", field_type=CustomFieldType.NUMBER, encrypted=True)
    with pytest.raises(ValidationError) as error:
        field.full_clean()
    assert "Only text fields can be encrypted" in str(error.value.message_dict["encrypted"])


# ----------------------------------------------------------------------------------------------- reading


def test_the_detail_page_shows_the_id_number_to_a_rep_allowed_and_masks_it_for_one_without_the_permission(
        client_as, sales_rep, sales_manager, id_field):
    customer = CustomerFactory(owner=sales_rep, custom={"id_no": fieldcrypto.seal(ID_NUMBER)})
    allowed = client_as(sales_manager).get(customer.get_absolute_url()).content.decode()
    assert ID_NUMBER in allowed and "gAAAA" not in allowed

    rep = Group.objects.get(name=roles.SALES_REP)
    rep.permissions.remove(Permission.objects.get(codename="view_sensitive_customer"))
    masked = client_as(get_user_model().objects.get(pk=sales_rep.pk)).get(customer.get_absolute_url())
    page = masked.content.decode()
    assert ID_MASKED in page and ID_NUMBER not in page and "gAAAA" not in page


def test_the_edit_form_shows_the_value_only_to_those_allowed_and_an_empty_answer_keeps_it(
        client_as, sales_manager, rep_without_sensitive, id_field):
    customer = CustomerFactory(owner=rep_without_sensitive, custom={"id_no": fieldcrypto.seal(ID_NUMBER)})
    url = reverse("customers:update", args=[customer.pk])
    assert f'value="{ID_NUMBER}"' in client_as(sales_manager).get(url).content.decode()
    # a rep without the permission sees the masked value as a hint, not in the field
    rep_client = client_as(rep_without_sensitive)
    page = rep_client.get(url).content.decode()
    assert ID_NUMBER not in page and f'placeholder="{ID_MASKED}"' in page
    # and saving his other changes leaves the ID number as it was
    edit_through_form(rep_client, customer, notes="电话回访")
    customer.refresh_from_db()
    assert customer.notes == "电话回访" and fieldcrypto.open_envelope(customer.custom["id_no"]) == ID_NUMBER


def test_the_history_shows_the_change_to_those_allowed_masked_to_others_and_never_ciphertext(
        client_as, sales_manager, rep_without_sensitive, id_field):
    customer = CustomerFactory(owner=rep_without_sensitive, custom={"id_no": fieldcrypto.seal("110105194912310021")})
    edit_through_form(client_as(sales_manager), customer, cf_id_no=ID_NUMBER)
    allowed = client_as(sales_manager).get(customer.get_absolute_url(), {"tab": "history"}).content.decode()
    assert f"ID number: <del>110105194912310021</del> → <ins>{ID_NUMBER}</ins>" in allowed
    other = client_as(rep_without_sensitive).get(customer.get_absolute_url(), {"tab": "history"}).content.decode()
    assert f"ID number: <del>110****0021</del> → <ins>{ID_MASKED}</ins>" in other
    assert "gAAAA" not in allowed + other and ID_NUMBER not in other


def test_the_admin_audit_log_says_encrypted_instead_of_showing_ciphertext(client_as, admin_user, sales_manager,
                                                                          id_field):
    customer = CustomerFactory(owner=sales_manager, custom={"id_no": fieldcrypto.seal("110105194912310021")})
    edit_through_form(client_as(sales_manager), customer, cf_id_no=ID_NUMBER)
    page = client_as(admin_user).get(reverse("audit:log")).content.decode()
    assert "(encrypted)" in page and "gAAAA" not in page and ID_NUMBER not in page


# ------------------------------------------------------------------------------------------ duplicates


def test_the_same_id_number_written_differently_is_found_through_the_blind_index(client_as, sales_manager,
                                                                                 sales_rep, id_field):
    # given two customers whose ID number was typed differently: plain, and with spaces, full-width digits and x
    first = create_through_form(client_as(sales_rep), name="王小明", cf_id_no=ID_NUMBER)
    second = create_through_form(client_as(sales_rep), name="王晓明", mobile="13912345678",
                                 cf_id_no="１１０１０５ １９４９１２ ３１００２ｘ")
    other = create_through_form(client_as(sales_rep), name="李四", mobile="13712345678", cf_id_no="310101198001010011")
    assert first.custom["id_no"]["b"] == second.custom["id_no"]["b"] != other.custom["id_no"]["b"]
    client = client_as(sales_manager)
    # when someone looks for the number, written a third way, in the list's ID number filter or the search box
    by_filter = listed_ids(client.get(reverse("customers:list"), {"cf_id_no": "110105 19491231 002x"}))
    by_search = listed_ids(client.get(reverse("customers:list"), {"q": ID_NUMBER.lower()}))
    # then both customers are found, and only they
    assert sorted(by_filter) == sorted(by_search) == sorted([first.pk, second.pk])


def test_the_exact_match_uses_the_gin_index_on_custom():
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        sql, params = Customer.objects.filter(custom__contains={"id_no": {"b": "0" * 64}}).query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "cust_custom" in plan


# ----------------------------------------------------------------------------------------- import, export


def test_an_imported_column_mapped_to_the_id_number_is_stored_encrypted(admin_user, id_field):
    content = xlsx_bytes([["姓名", "手机", "身份证号"], ["张三", "13812345678", ID_NUMBER]])
    job = run_to_preview(admin_user, content, skip_invalid=True)
    assert {job.headers[int(c)]: f for c, f in job.mapping.items()}["身份证号"] == "custom.id_no"
    # the staging row keeps the cell already encrypted
    assert ID_NUMBER not in raw_texts(f"SELECT data::text FROM imports_importrow WHERE job_id = {job.pk}")
    commit(admin_user, job)
    customer = Customer.objects.get(name="张三")
    assert fieldcrypto.open_envelope(customer.custom["id_no"]) == ID_NUMBER
    stored = raw_texts("SELECT custom::text FROM customers_customer") + raw_texts(
        "SELECT custom::text FROM customers_customerevent") + raw_texts("SELECT data::text FROM imports_importrow")
    assert ID_NUMBER not in stored


def test_an_export_decrypts_for_roles_with_view_sensitive_and_masks_for_others(sales_manager, marketing_user,
                                                                              id_field):
    CustomerFactory(owner=None, name="公海客户", custom={"id_no": fieldcrypto.seal(ID_NUMBER)})
    assert as_dicts(read_job(export(sales_manager)))[0]["ID number"] == ID_NUMBER
    assert as_dicts(read_job(export(marketing_user)))[0]["ID number"] == ID_MASKED


# ---------------------------------------------------------------------------- turning encryption on and off


@pytest.mark.django_db(transaction=True)
def test_marking_a_field_sensitive_in_the_admin_asks_first_then_a_worker_encrypts_existing_values(
        client_as, admin_user, sales_rep, live_celery_worker):
    field = CustomFieldDefinitionFactory(key="bank_account", label="银行账号", label_en="Bank account")
    customer = CustomerFactory(owner=sales_rep, custom={"bank_account": "6222 0202 0000 1234 567"})
    client = client_as(admin_user)
    url = reverse("admin:customers_customfielddefinition_change", args=[field.pk])
    data = {"key": "bank_account", "label": "银行账号", "label_en": "Bank account", "field_type": "text",
            "choices": "[]", "filterable": "on", "position": "0", "is_active": "on", "encrypted": "on"}
    # when the admin marks it sensitive, he is asked to confirm first, and nothing changes
    response = client.post(url, data)
    assert response.status_code == 200
    assert "1 customer has a value in this field. It will be encrypted" in response.content.decode()
    assert not CustomFieldDefinition.objects.get(pk=field.pk).encrypted
    # and once he confirms, a worker encrypts the values
    response = client.post(url, {**data, "confirm_encryption": "on"})
    assert response.status_code == 302

    def encrypted():
        customer.refresh_from_db()
        return fieldcrypto.is_envelope(customer.custom["bank_account"])

    deadline = time.monotonic() + 60
    while not encrypted():
        assert time.monotonic() < deadline, "the worker did not encrypt the value"
        time.sleep(0.1)
    assert fieldcrypto.open_envelope(customer.custom["bank_account"]) == "6222 0202 0000 1234 567"
    assert "6222" not in raw_texts("SELECT custom::text FROM customers_customer")
    # the history the application may only add to keeps what it recorded until the owner rewrites it
    assert "6222" in raw_texts("SELECT custom::text FROM customers_customerevent")
    call_command("rotate_field_keys", "--field", "bank_account", stdout=io.StringIO())
    assert "6222" not in raw_texts("SELECT custom::text FROM customers_customerevent")
    # and the account number, typed without spaces, finds the customer
    assert list(Customer.objects.filter(
        custom__contains={"bank_account": {"b": fieldcrypto.blind_index("6222020200001234567")}})) == [customer]


def test_turning_sensitive_off_decrypts_the_values_everywhere(sales_rep, id_field):
    customer = CustomerFactory(owner=sales_rep, custom={"id_no": fieldcrypto.seal(ID_NUMBER)})
    id_field.encrypted = False
    id_field.save()
    custom_values_sync(definitions=[id_field], include_audit=True)
    customer.refresh_from_db()
    assert customer.custom == {"id_no": ID_NUMBER}
    assert "gAAAA" not in raw_texts("SELECT custom::text FROM customers_customerevent")


# ------------------------------------------------------------------------------------------- key rotation


def test_rotation_re_encrypts_every_copy_so_that_the_old_key_can_be_dropped(settings, admin_user, id_field):
    # given values encrypted with key A: a customer (and its history) and an import's staging row
    settings.CRM_FIELD_ENCRYPTION_KEYS = [KEY_A]
    customer = CustomerFactory(custom={"id_no": fieldcrypto.seal(ID_NUMBER)})
    job = run_to_preview(admin_user, xlsx_bytes([["姓名", "手机", "身份证号"], ["张三", "13812345678",
                                                                             "310101198001010011"]]))
    commit(admin_user, job)
    # when key B is put first and the values rotated
    settings.CRM_FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    call_command("rotate_field_keys", stdout=open(os.devnull, "w"))  # noqa: SIM115
    # then with key B alone every copy still decrypts
    settings.CRM_FIELD_ENCRYPTION_KEYS = [KEY_B]
    customer.refresh_from_db()
    assert fieldcrypto.open_envelope(customer.custom["id_no"]) == ID_NUMBER
    for event in customer.events.all():
        assert fieldcrypto.open_envelope(event.custom["id_no"]) == ID_NUMBER
    imported = Customer.objects.get(name="张三")
    assert fieldcrypto.open_envelope(imported.custom["id_no"]) == "310101198001010011"
    for row in ImportRow.objects.filter(job=job):
        assert fieldcrypto.open_envelope(row.data["custom"]["id_no"]) == "310101198001010011"
    # and a second run finds nothing left to do
    assert sum(custom_values_sync().values()) == 0


def test_an_interrupted_rotation_goes_on_where_it_stopped(settings, id_field):
    settings.CRM_FIELD_ENCRYPTION_KEYS = [KEY_A]
    customers = [CustomerFactory(custom={"id_no": fieldcrypto.seal(f"3101011980010100{n:02d}")}) for n in range(5)]
    settings.CRM_FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    # the first batch of two is done, then the run stops (the worker is killed, say)
    stopped = {}

    def stop_after_first_batch(label, changed):
        stopped[label] = changed
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        custom_values_sync(batch_size=2, report=stop_after_first_batch, include_audit=True)
    assert stopped == {"customers.Customer.custom": 2}
    # the re-run re-encrypts only the three left
    result = custom_values_sync(batch_size=2, include_audit=True)
    assert result["customers.Customer.custom"] == 3
    settings.CRM_FIELD_ENCRYPTION_KEYS = [KEY_B]
    for n, customer in enumerate(customers):
        customer.refresh_from_db()
        assert fieldcrypto.open_envelope(customer.custom["id_no"]) == f"3101011980010100{n:02d}"


def test_a_new_blind_index_key_re_indexes_every_value(settings, client_as, sales_manager, id_field):
    settings.CRM_BLIND_INDEX_KEY = BLIND_OLD
    customer = CustomerFactory(owner=sales_manager, custom={"id_no": fieldcrypto.seal(ID_NUMBER)})
    call_command("rotate_field_keys", "--new-blind-index-key", BLIND_NEW, stdout=open(os.devnull, "w"))  # noqa: SIM115
    settings.CRM_BLIND_INDEX_KEY = BLIND_NEW
    customer.refresh_from_db()
    assert customer.custom["id_no"]["b"] == fieldcrypto.blind_index(ID_NUMBER)
    found = listed_ids(client_as(sales_manager).get(reverse("customers:list"), {"cf_id_no": ID_NUMBER}))
    assert found == [customer.pk]
    assert sum(custom_values_sync().values()) == 0


# ---------------------------------------------------------------------------------------- missing keys


def test_a_value_no_configured_key_opens_is_a_clear_error_never_garbage(settings, client_as, sales_manager,
                                                                        id_field):
    settings.CRM_FIELD_ENCRYPTION_KEYS = [KEY_A]
    customer = CustomerFactory(owner=sales_manager, custom={"id_no": fieldcrypto.seal(ID_NUMBER)})
    settings.CRM_FIELD_ENCRYPTION_KEYS = [KEY_C]  # key A was dropped before rotating
    with pytest.raises(fieldcrypto.DecryptionError, match="No key in CRM_FIELD_ENCRYPTION_KEYS decrypts"):
        fieldcrypto.open_envelope(customer.custom["id_no"])
    page = client_as(sales_manager).get(customer.get_absolute_url()).content.decode()
    assert "cannot be decrypted: encryption key missing" in page and "gAAAA" not in page
    with pytest.raises(CommandError, match=f"customers.Customer #{customer.pk}.*No key"):
        call_command("rotate_field_keys", stdout=open(os.devnull, "w"))  # noqa: SIM115


def test_without_keys_nothing_is_encrypted(settings):
    settings.CRM_FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(fieldcrypto.FieldKeysMissing, match="CRM_FIELD_ENCRYPTION_KEYS is not set"):
        fieldcrypto.seal(ID_NUMBER)


def test_production_refuses_to_start_without_keys_or_with_the_development_keys():
    root = Path(__file__).resolve().parents[2]
    env = {key: value for key, value in os.environ.items()
           if key not in ("CRM_FIELD_ENCRYPTION_KEYS", "CRM_BLIND_INDEX_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env |= {"DJANGO_SETTINGS_MODULE": "crm.settings.production", "DJANGO_ALLOWED_HOSTS": "crm.example.com",
            "DJANGO_SECRET_KEY": "a-long-random-secret-for-this-test-only-7f3k2m9q1z8x4c6v5b0n3m2l1k9j8h7g6f5"}

    def check(**extra):
        return subprocess.run([sys.executable, "manage.py", "check"], cwd=root, env=env | extra,
                              capture_output=True, text=True, timeout=120)

    missing = check()
    assert missing.returncode != 0 and "CRM_FIELD_ENCRYPTION_KEYS" in missing.stderr
    dev = check(CRM_FIELD_ENCRYPTION_KEYS=fieldcrypto.DEV_ENCRYPTION_KEY, CRM_BLIND_INDEX_KEY=BLIND_NEW)
    assert dev.returncode != 0 and "development keys" in dev.stderr
    good = check(CRM_FIELD_ENCRYPTION_KEYS=f"{KEY_A}, {KEY_B}", CRM_BLIND_INDEX_KEY=BLIND_NEW)
    assert good.returncode == 0, good.stderr


# ------------------------------------------------------------------------------------------------- leads


def test_a_lead_keeps_the_id_number_encrypted_and_its_customer_gets_it_still_encrypted(client_as, sales_rep,
                                                                                      sales_manager, id_field):
    from sales import assignment, lead_services
    from sales.models import AssignmentRule, Lead

    # given a lead entered by a rep with an ID number
    client_as(sales_rep).post(reverse("sales:lead_create"), {
        "name": "赵六", "mobile": "13700001111", "source": "phone", "cf_id_no": ID_NUMBER})
    lead = Lead.objects.get()
    assert ID_NUMBER not in raw_texts("SELECT custom::text FROM sales_lead") + raw_texts(
        "SELECT custom::text FROM sales_leadevent")
    # then its page shows the number to his manager, and masked to him once his role may not see sensitive data
    assert ID_NUMBER in client_as(sales_manager).get(lead.get_absolute_url()).content.decode()
    Group.objects.get(name=roles.SALES_REP).permissions.remove(Permission.objects.get(codename="view_sensitive_customer"))
    rep_page = client_as(get_user_model().objects.get(pk=sales_rep.pk)).get(lead.get_absolute_url()).content.decode()
    assert ID_MASKED in rep_page and ID_NUMBER not in rep_page
    # and an assignment rule on the field compares the decrypted value
    assert assignment.rule_matches(AssignmentRule(custom={"id_no": ID_NUMBER.lower()}), lead)
    # and converting it gives the customer the same encrypted value
    converted = lead_services.lead_convert(actor=sales_rep, lead=lead,
                                           opportunity={"name": "", "amount": None, "expected_close": None})
    assert fieldcrypto.open_envelope(converted.customer.custom["id_no"]) == ID_NUMBER


def test_an_id_number_typed_into_the_filters_of_an_export_is_kept_sealed(sales_manager, id_field):
    customer = CustomerFactory(owner=None, name="公海客户", custom={"id_no": fieldcrypto.seal(ID_NUMBER)})
    CustomerFactory(owner=None, name="另一个客户")
    job = export(sales_manager, query=f"q={ID_NUMBER}")
    # the export has the customer the search found
    assert [row["Customer name"] for row in as_dicts(read_job(job))] == [customer.name]
    # and the number is neither in the export's row nor in its audit copy
    assert ID_NUMBER not in raw_texts("SELECT query FROM exports_exportjob")
    assert ID_NUMBER not in raw_texts("SELECT query FROM exports_exportjobevent")
