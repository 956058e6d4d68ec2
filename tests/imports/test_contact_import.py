"""Importing contacts (联系人) with the same machinery as customers: each row finds its customer by name,
company or mobile within the importer's scope; duplicates are per customer; one primary contact a customer;
undo. Steps run as the worker runs them."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.imports import resources, services
from crm.imports.forms import UploadForm
from customers.models import Contact, Customer
from tests.factories import ContactFactory, CustomerFactory

from .conftest import commit, run_to_preview, undo, upload, xlsx_bytes

CONTACTS = "customers.contact"
pytestmark = pytest.mark.usefixtures("english")
HEADERS = ["客户名称", "客户手机", "联系人", "职位", "手机", "邮箱", "主联系人", "备注"]


def sheet(*rows, headers=HEADERS):
    return xlsx_bytes([headers, *rows], sheet="联系人")


def contact_row(customer="", customer_mobile="", name="", title="", mobile="", email="", primary="", notes=""):
    return [customer, customer_mobile, name, title, mobile, email, primary, notes]


def preview(actor, *rows, **choices):
    return run_to_preview(actor, sheet(*rows), name="联系人名单.xlsx", resource=CONTACTS, **choices)


def rows_of(job):
    return {r.row_number: r for r in job.rows.all()}


def problems(job):
    return {r.row_number: [(e["column"], e["message"]) for e in r.errors] for r in job.rows.filter(action="invalid")}


def contacts_of(customer):
    return sorted(Contact.objects.filter(customer=customer).values_list("name", flat=True))


# ------------------------------------------------------------------------------------- finding customers


def test_contacts_are_attached_to_customers_found_by_name_company_or_mobile(importer, sales_rep):
    # given an individual customer at a company, a company customer, and a third one known by its mobile
    zhang = CustomerFactory(owner=sales_rep, name="张三", company="甲公司", mobile="+8613800000001")
    yi = CustomerFactory(owner=sales_rep, name="乙公司", company="", mobile="+8613800000002")
    wang = CustomerFactory(owner=sales_rep, name="王五", company="丙公司", mobile="+8613800000003")
    # when a contact list names them by name, by company, by mobile and by both
    job = preview(importer,
                  contact_row("张三", "", "李经理", "采购经理", "13911110001", "li@example.com", "", "老朋友"),
                  contact_row("甲公司", "", "赵会计", "会计", "13911110002"),
                  contact_row("", "138 0000 0003", "钱助理", "", "", "qian@example.com"),
                  contact_row("乙公司", "13800000002", "孙总", "总经理", "", "", "是"))
    # then the columns are recognised and every row finds its customer
    assert [job.mapping[str(i)] for i in range(8)] == ["customer", "customer_mobile", "name", "title", "mobile",
                                                       "email", "is_primary", "notes"]
    assert (job.counts["create"], job.counts["invalid"]) == (4, 0)
    commit(importer, job)
    assert contacts_of(zhang) == ["李经理", "赵会计"] and contacts_of(wang) == ["钱助理"]
    li = Contact.objects.get(name="李经理")
    assert (li.title, str(li.mobile), li.email, li.notes, li.is_primary) == (
        "采购经理", "+8613911110001", "li@example.com", "老朋友", False)
    sun = Contact.objects.get(name="孙总")
    assert sun.customer == yi and sun.is_primary


def test_english_headers_and_yes_no_spellings(importer, sales_rep):
    customer = CustomerFactory(owner=sales_rep, name="ACME Ltd", company="")
    content = xlsx_bytes([["Company", "Name", "Title", "Mobile", "Phone", "Email", "WeChat", "Primary", "Notes"],
                          ["ACME Ltd", "Alice", "Buyer", "13911110001", "010-12345678", "", "wx_alice", "yes", ""],
                          ["ACME Ltd", "Bob", "", "13911110002", "", "", "", "0", ""],
                          ["ACME Ltd", "Carol", "", "13911110003", "", "", "", "maybe", ""]])
    job = run_to_preview(importer, content, resource=CONTACTS, skip_invalid=True)
    assert sorted(job.mapping.values()) == sorted(["customer", "name", "title", "mobile", "phone", "email", "wechat",
                                                   "is_primary", "notes"])
    assert problems(job) == {4: [("Primary", "maybe is neither yes nor no; write 是 or 否.")]}
    commit(importer, job)
    alice = Contact.objects.get(name="Alice")
    assert (alice.customer, str(alice.phone), alice.wechat, alice.is_primary) == (customer, "+861012345678",
                                                                                  "wx_alice", True)
    assert not Contact.objects.get(name="Bob").is_primary


def test_a_row_whose_customer_is_unknown_or_ambiguous_is_invalid_and_names_it(importer, sales_rep):
    # given two customers with the same name, and one in the recycle bin
    CustomerFactory(owner=sales_rep, name="同名公司", company="", mobile="+8613800000001")
    second = CustomerFactory(owner=sales_rep, name="同名公司", company="", mobile="+8613800000002")
    CustomerFactory(owner=sales_rep, name="已删除公司", deleted_at=timezone.now())
    # when rows name them
    job = preview(importer,
                  contact_row("同名公司", "", "甲"),
                  contact_row("同名公司", "13800000002", "乙"),  # the mobile tells them apart
                  contact_row("不存在公司", "", "丙"),
                  contact_row("", "13900009999", "丁"),
                  contact_row("同名公司", "13900009999", "戊"),  # name and mobile of no single customer
                  contact_row("已删除公司", "", "己"),
                  contact_row("", "", "庚", "", "13911110001"),
                  contact_row("同名公司", "13800000002", ""))
    # then each row that does not find exactly one customer is invalid, saying which value failed
    assert problems(job) == {
        2: [("客户名称", "2 customers match 同名公司; give the customer's name and mobile so that the row finds one.")],
        4: [("客户名称", "No customer 不存在公司 was found.")],
        5: [("客户名称", "No customer 139 0000 9999 was found.")],
        6: [("客户名称", "No customer 同名公司 / 139 0000 9999 was found.")],
        7: [("客户名称", "No customer 已删除公司 was found.")],
        8: [("客户名称", "No customer: give the customer's name, company or mobile.")],
        9: [("联系人", "The contact name is empty.")],
    }
    assert rows_of(job)[3].data["customer_id"] == second.pk


def test_customers_outside_the_importers_scope_are_refused(sales_manager, sales_rep, south_rep):
    # given a manager allowed to import; a customer of his department, one of another, and one in the pool
    sales_manager.user_permissions.add(Permission.objects.get(codename="import_customer"))
    manager = type(sales_manager).objects.get(pk=sales_manager.pk)  # fresh permission cache
    ours = CustomerFactory(owner=sales_rep, name="华东客户")
    CustomerFactory(owner=south_rep, name="华南客户")
    CustomerFactory(owner=None, name="公海客户")
    # when his file names all three
    job = preview(manager, contact_row("华东客户", "", "甲"), contact_row("华南客户", "", "乙"),
                  contact_row("公海客户", "", "丙"), skip_invalid=True)
    # then the customer he cannot see is not found (no hint that it exists), the one he can only see is refused
    assert problems(job) == {
        3: [("客户名称", "No customer 华南客户 was found.")],
        4: [("客户名称", "You may not change the customer 公海客户, so you cannot import its contacts.")],
    }
    commit(manager, job)
    assert list(Contact.objects.values_list("customer", "name")) == [(ours.pk, "甲")]


def test_the_customers_of_a_file_are_found_in_a_few_queries_whatever_its_length(importer):
    Customer.objects.bulk_create([Customer(name=f"客户{i:03d}", mobile=f"+86137{i:08d}") for i in range(200)])
    content = sheet(*[contact_row(f"客户{i % 200:03d}", "", f"联系人{i}", "", f"139{i:08d}") for i in range(1000)])
    job = services.import_job_create(actor=importer, resource_key=CONTACTS, upload=upload(content, "联系人.xlsx"))
    services.import_job_parse(job.pk)
    job.refresh_from_db()
    services.import_job_configure(actor=importer, job=job, sheet="", header_row=None, mapping=job.mapping,
                                  duplicate_mode="skip", owner_mode="me", owner=None, skip_invalid=False)
    with CaptureQueriesContext(connection) as queries:
        services.import_job_validate(job.pk)
    job.refresh_from_db()
    assert job.counts["create"] == 1000
    assert len(queries) < 40
    assert sum("customers_customer" in q["sql"] for q in queries) <= 2


# ------------------------------------------------------------------------------------------ duplicates


def test_duplicates_are_found_per_customer(importer, sales_rep):
    # given two customers, the first with a contact
    a = CustomerFactory(owner=sales_rep, name="甲公司", company="")
    b = CustomerFactory(owner=sales_rep, name="乙公司", company="")
    ContactFactory(customer=a, name="老李", mobile="+8613911110001", email="li@example.com")
    ContactFactory(customer=a, name="老王", mobile="", email="")
    # when the file holds him again, the same mobile at another customer, repeats, and a name-only row
    job = preview(importer,
                  contact_row("甲公司", "", "李四", "", "139 1111 0001"),  # same mobile, same customer
                  contact_row("甲公司", "", "李", "", "", "LI@example.com"),  # same email, same customer
                  contact_row("乙公司", "", "李四", "", "13911110001"),  # same mobile, other customer: new
                  contact_row("乙公司", "", "李四二", "", "13911110001"),  # repeats the row above
                  contact_row("乙公司", "", "赵六", "", "", "zhao@example.com"),
                  contact_row("乙公司", "", "赵六", "", "", "zhao@example.com"),  # repeats the row above
                  contact_row("甲公司", "", "老王"),  # no mobile or email: the name finds him
                  contact_row("乙公司", "", "老王"))  # the same name at another customer: new
    rows = rows_of(job)
    assert {n: r.action for n, r in rows.items()} == {
        2: "skip", 3: "skip", 4: "create", 5: "file_duplicate", 6: "create", 7: "file_duplicate", 8: "skip",
        9: "create"}
    assert (rows[5].duplicate_of_row, rows[7].duplicate_of_row) == (4, 6)
    commit(importer, job)
    assert contacts_of(a) == ["老李", "老王"] and contacts_of(b) == ["李四", "老王", "赵六"]


def test_overwrite_and_fill_update_the_existing_contact(importer, sales_rep):
    customer = CustomerFactory(owner=sales_rep, name="甲公司", company="")
    li = ContactFactory(customer=customer, name="老李", title="", mobile="+8613911110001", email="li@example.com",
                        notes="原来的备注")
    row = contact_row("甲公司", "", "李经理", "采购经理", "13911110001", "", "", "新备注")
    job = commit(importer, preview(importer, row, duplicate_mode="fill"))
    assert job.counts["update"] == 1
    li.refresh_from_db()
    assert (li.name, li.title, li.email, li.notes) == ("老李", "采购经理", "li@example.com", "原来的备注")
    commit(importer, preview(importer, contact_row("甲公司", "", "李经理", "总监", "13911110001", "", "", "新备注"),
                             duplicate_mode="overwrite"))
    li.refresh_from_db()
    assert (li.name, li.title, li.email, li.notes) == ("李经理", "总监", "li@example.com", "新备注")
    assert Contact.objects.count() == 1


def test_create_anyway_adds_a_second_contact(importer, sales_rep):
    customer = CustomerFactory(owner=sales_rep, name="甲公司", company="")
    ContactFactory(customer=customer, name="老李", mobile="+8613911110001")
    job = preview(importer, contact_row("甲公司", "", "老李", "", "13911110001"), duplicate_mode="create")
    assert job.counts["create"] == 1
    commit(importer, job)
    assert Contact.objects.filter(customer=customer, mobile="+8613911110001").count() == 2


def test_importing_the_same_contact_list_twice_creates_nothing_the_second_time(importer, sales_rep):
    CustomerFactory(owner=sales_rep, name="甲公司", company="")
    content = sheet(contact_row("甲公司", "", "李四", "", "13911110001"), contact_row("甲公司", "", "只有名字"))
    commit(importer, run_to_preview(importer, content, resource=CONTACTS))
    second = run_to_preview(importer, content, resource=CONTACTS)
    assert (second.counts["create"], second.counts["skip"]) == (0, 2)


# ------------------------------------------------------------------------------------- primary contact


def test_a_new_primary_contact_takes_over_from_the_current_one(importer, sales_rep):
    customer = CustomerFactory(owner=sales_rep, name="甲公司", company="")
    old = ContactFactory(customer=customer, name="老主联系人", is_primary=True)
    commit(importer, preview(importer, contact_row("甲公司", "", "新主联系人", "", "13911110001", "", "√"),
                             contact_row("甲公司", "", "普通联系人", "", "13911110002", "", "否")))
    primaries = list(Contact.objects.filter(customer=customer, is_primary=True).values_list("name", flat=True))
    assert primaries == ["新主联系人"]
    old.refresh_from_db()
    assert not old.is_primary


def test_two_primaries_for_one_customer_the_first_wins(importer, sales_rep):
    CustomerFactory(owner=sales_rep, name="甲公司", company="")
    CustomerFactory(owner=sales_rep, name="乙公司", company="")
    job = preview(importer,
                  contact_row("甲公司", "", "张三", "", "13911110001", "", "是"),
                  contact_row("乙公司", "", "李四", "", "13911110002", "", "是"),  # another customer: fine
                  contact_row("甲公司", "", "王五", "", "13911110003", "", "是"),
                  contact_row("甲公司", "", "张三", "", "13911110001", "", "是"),  # the first one again: a repeat
                  skip_invalid=True)
    assert problems(job) == {4: [("主联系人", "张三 is already the primary contact of 甲公司 in an earlier row; "
                                          "a customer has one primary contact.")]}
    assert rows_of(job)[5].action == "file_duplicate"
    commit(importer, job)
    assert sorted(Contact.objects.filter(is_primary=True).values_list("name", flat=True)) == ["张三", "李四"]


def test_overwrite_can_make_an_existing_contact_primary_and_fill_leaves_the_flag(importer, sales_rep):
    customer = CustomerFactory(owner=sales_rep, name="甲公司", company="")
    old = ContactFactory(customer=customer, name="老主联系人", is_primary=True)
    li = ContactFactory(customer=customer, name="老李", mobile="+8613911110001")
    row = contact_row("甲公司", "", "老李", "", "13911110001", "", "是")
    commit(importer, preview(importer, row, duplicate_mode="fill"))
    assert list(Contact.objects.filter(is_primary=True)) == [old]
    commit(importer, preview(importer, row, duplicate_mode="overwrite"))
    assert list(Contact.objects.filter(is_primary=True)) == [li]


# ------------------------------------------------------------------------------------------------ undo


def test_undo_deletes_new_contacts_and_restores_updated_ones_and_the_old_primary(importer, sales_rep):
    # given a customer with a primary contact and another contact
    customer = CustomerFactory(owner=sales_rep, name="甲公司", company="")
    old = ContactFactory(customer=customer, name="老主联系人", is_primary=True)
    li = ContactFactory(customer=customer, name="老李", title="采购", mobile="+8613911110001")
    # when an import adds a new primary contact and overwrites the other one, then is undone
    job = commit(importer, preview(importer, contact_row("甲公司", "", "新主联系人", "", "13911110009", "", "是"),
                                   contact_row("甲公司", "", "老李", "总监", "13911110001"),
                                   duplicate_mode="overwrite"))
    li.refresh_from_db()
    assert li.title == "总监" and services.changed_since(job) == 0
    job = undo(importer, job)
    # then the new contact is gone (its history stays), the other has its title back, the old primary is primary
    assert contacts_of(customer) == ["老主联系人", "老李"]
    li.refresh_from_db()
    old.refresh_from_db()
    assert li.title == "采购" and old.is_primary
    assert job.status == "undone" and job.counts["undo"] == {"deleted": 1, "binned": 0, "restored": 1, "kept": 0}
    events = apps.get_model("customers", "ContactEvent").objects.filter(name="新主联系人")
    assert sorted(events.values_list("pgh_label", flat=True)) == ["delete", "insert"]


def test_undo_keeps_contacts_changed_after_the_import(importer, sales_rep):
    customer = CustomerFactory(owner=sales_rep, name="甲公司", company="")
    li = ContactFactory(customer=customer, name="老李", title="采购", mobile="+8613911110001")
    job = commit(importer, preview(importer, contact_row("甲公司", "", "老李", "总监", "13911110001"),
                                   duplicate_mode="overwrite"))
    Contact.objects.filter(pk=li.pk).update(title="销售后来改的", updated_at=timezone.now())
    assert services.changed_since(job) == 1
    job = undo(importer, job)
    li.refresh_from_db()
    assert li.title == "销售后来改的" and job.counts["undo"]["kept"] == 1


# ------------------------------------------------------------------------------------------------ pages


def test_the_upload_form_offers_customers_contacts_and_leads(importer):
    choices = dict(UploadForm(user=importer).fields["resource"].choices)
    assert list(choices) == ["customers.customer", CONTACTS, "sales.lead"]
    assert resources.get(CONTACTS).has_owner is False and resources.get("customers.customer").has_owner


def test_the_mapping_page_of_a_contact_list_has_no_owner_options(client_as, importer, sales_rep):
    CustomerFactory(owner=sales_rep, name="甲公司", company="")
    job = services.import_job_create(actor=importer, resource_key=CONTACTS,
                                     upload=upload(sheet(contact_row("甲公司", "", "张三"))))
    services.import_job_parse(job.pk)
    job.refresh_from_db()
    client = client_as(importer)
    page = client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert 'name="owner_mode" value="me"' in page and 'type="radio" name="owner_mode"' not in page
    assert 'name="owner"' not in page
    customers = services.import_job_create(actor=importer, resource_key="customers.customer",
                                           upload=upload(sheet(contact_row("甲公司", "", "张三"))))
    services.import_job_parse(customers.pk)
    customer_page = client.get(reverse("imports:detail", args=[customers.pk])).content.decode()
    assert 'type="radio" name="owner_mode"' in customer_page and 'name="owner"' in customer_page
    # and the form goes through without them
    response = client.post(reverse("imports:configure", args=[job.pk]),
                           {f"col_{i}": name for i, name in job.mapping.items()}
                           | {"duplicate_mode": "skip", "owner_mode": "me"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "validating"


def test_the_preview_of_a_contact_list(client_as, importer, sales_rep):
    CustomerFactory(owner=sales_rep, name="张三", company="甲公司")
    job = preview(importer, contact_row("甲公司", "", "李经理", "采购经理", "13911110001", "", "是"),
                  contact_row("不存在公司", "", "赵六"))
    page = client_as(importer).get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert 'data-count="create">1<' in page and 'data-count="invalid">1<' in page
    assert "张三（甲公司）" in page and "李经理" in page and "139 1111 0001" in page and ">Yes<" in page
    assert "No customer 不存在公司 was found." in page


# ------------------------------------------------------------------------------------------------ size


def test_a_20000_row_contact_list_is_checked_and_imported(importer):
    # given 500 customers and a list of 40 contacts each, half naming the customer, half giving its mobile
    Customer.objects.bulk_create([Customer(name=f"客户{i:03d}", mobile=f"+86137{i:08d}") for i in range(500)])
    rows = [
        contact_row(f"客户{i % 500:03d}" if i % 2 else "", "" if i % 2 else f"137{i % 500:08d}", f"联系人{i:05d}",
                    "经理", f"139{i:08d}", f"c{i}@example.com", "是" if i < 500 else "")
        for i in range(20_000)
    ]
    # when it is checked and imported
    job = preview(importer, *rows)
    assert (job.counts["create"], job.counts["invalid"]) == (20_000, 0)
    commit(importer, job)
    # then every contact sits at its customer, one primary each
    assert Contact.objects.count() == 20_000
    per_customer = Customer.objects.filter(contacts__isnull=False).distinct().count()
    assert per_customer == 500 and Contact.objects.filter(is_primary=True).count() == 500
    sample = Contact.objects.select_related("customer").get(name="联系人12345")
    assert sample.customer.name == f"客户{12345 % 500:03d}" and sample.email == "c12345@example.com"
