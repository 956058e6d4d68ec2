"""What an import does with the rows of a file: duplicates, owners, all-or-nothing commit, idempotence,
undo, the rejected-rows report and remembered mappings. Steps run as the worker runs them."""

import io

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.imports import services
from crm.imports.models import ImportJob, ImportTemplate
from customers.history import customer_history
from customers.models import Customer
from tests.factories import CustomerFactory, TagFactory

from .conftest import commit, run_to_preview, upload, xlsx_bytes

HEADERS = ["客户名称", "公司", "手机", "邮箱", "标签", "备注"]


def sheet(*rows):
    return xlsx_bytes([HEADERS, *rows])


def rows_of(job):
    return {r.row_number: r for r in job.rows.all()}


# ------------------------------------------------------------------------------------------ duplicates


def test_rows_repeated_in_the_file_are_imported_once(importer):
    job = run_to_preview(importer, sheet(
        ["张三", "甲公司", "13812345678", "", "", ""],
        ["张三丰", "乙公司", "138 1234 5678", "", "", ""],  # same mobile, typed differently
        ["李四", "丙公司", "13900000001", "LISI@EXAMPLE.COM", "", ""],
        ["李四", "丙公司", "13900000002", "lisi@example.com", "", ""],  # same email
        ["王五", "丁公司", "13900000003", "", "", ""],
        ["王五", "丁公司", "13900000004", "", "", ""],  # same name and company
    ))
    rows = rows_of(job)
    assert job.counts["create"] == 3 and job.counts["file_duplicate"] == 3
    assert [(n, rows[n].duplicate_of_row) for n in (3, 5, 7)] == [(3, 2), (5, 4), (7, 6)]
    commit(importer, job)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["张三", "李四", "王五"]


def test_existing_customers_are_skipped_by_default(importer, sales_rep):
    CustomerFactory(owner=sales_rep, name="老客户", mobile="+8613812345678", email="")
    job = run_to_preview(importer, sheet(["老客户", "甲公司", "13812345678", "", "", "新的备注"],
                                         ["新客户", "乙公司", "13900000009", "", "", ""]))
    assert (job.counts["skip"], job.counts["create"]) == (1, 1)
    commit(importer, job)
    assert Customer.objects.count() == 2
    assert Customer.objects.get(name="老客户").notes == ""


def test_fill_mode_fills_only_empty_fields(importer, sales_rep):
    existing = CustomerFactory(owner=sales_rep, name="老客户", company="老公司", mobile="+8613812345678",
                               email="", notes="")
    job = run_to_preview(importer, sheet(["老客户", "新公司", "13812345678", "old@example.com", "", "补上的备注"]),
                         duplicate_mode="fill")
    assert job.counts["update"] == 1
    commit(importer, job)
    existing.refresh_from_db()
    assert (existing.company, existing.email, existing.notes) == ("老公司", "old@example.com", "补上的备注")
    assert existing.owner == sales_rep  # an update does not take the customer away from its owner


def test_overwrite_mode_takes_the_files_values_but_keeps_what_the_file_leaves_empty(importer, sales_rep):
    existing = CustomerFactory(owner=sales_rep, name="老客户", company="老公司", mobile="+8613812345678",
                               email="keep@example.com")
    job = run_to_preview(importer, sheet(["老客户", "新公司", "13812345678", "", "", "覆盖"]),
                         duplicate_mode="overwrite")
    commit(importer, job)
    existing.refresh_from_db()
    assert (existing.company, existing.email, existing.notes) == ("新公司", "keep@example.com", "覆盖")


def test_create_anyway_mode_creates_a_second_customer(importer, sales_rep):
    CustomerFactory(owner=sales_rep, name="老客户", mobile="+8613812345678")
    job = run_to_preview(importer, sheet(["老客户", "甲公司", "13812345678", "", "", ""]), duplicate_mode="create")
    assert job.counts["create"] == 1
    commit(importer, job)
    assert Customer.objects.filter(mobile="+8613812345678").count() == 2


def test_an_importer_cannot_update_customers_outside_his_scope(sales_manager, south_rep):
    # given a manager allowed to import, and a customer of another department with the same mobile
    sales_manager.user_permissions.add(Permission.objects.get(codename="import_customer"))
    theirs = CustomerFactory(owner=south_rep, name="华南的客户", mobile="+8613812345678", notes="原样")
    manager = type(sales_manager).objects.get(pk=sales_manager.pk)  # fresh permission cache
    # when his file would overwrite it
    job = run_to_preview(manager, sheet(["华南的客户", "甲", "13812345678", "", "", "改掉"]),
                         duplicate_mode="overwrite")
    # then the row is skipped and the customer left alone
    assert (job.counts["update"], job.counts["skip"]) == (0, 1)
    commit(manager, job)
    theirs.refresh_from_db()
    assert theirs.notes == "原样"


# ---------------------------------------------------------------------------------------------- owners


def test_owner_is_the_importer_by_default(importer):
    commit(importer, run_to_preview(importer, sheet(["张三", "甲", "13812345678", "", "", ""])))
    customer = Customer.objects.get()
    assert (customer.owner, customer.team) == (importer, importer.team)
    assert customer.source == "import"


def test_owner_can_be_one_user_for_the_whole_file(importer, sales_rep):
    commit(importer, run_to_preview(importer, sheet(["张三", "甲", "13812345678", "", "", ""]),
                                    owner_mode="user", owner=sales_rep))
    customer = Customer.objects.get()
    assert (customer.owner, customer.team) == (sales_rep, sales_rep.team)


def test_owner_from_a_column_by_user_name_or_full_name(importer, sales_rep, other_rep):
    content = xlsx_bytes([["客户名称", "手机", "负责人"],
                          ["甲", "13800000001", "rep"],
                          ["乙", "13800000002", "李芳"],
                          ["丙", "13800000003", "不存在的人"]])
    job = run_to_preview(importer, content, owner_mode="column")
    rows = rows_of(job)
    assert rows[4].errors == [
        {"column": "负责人", "message": "There is no user 不存在的人 you may assign customers to."}
    ]
    commit(importer, run_to_preview(importer, content, owner_mode="column", skip_invalid=True))
    owners = dict(Customer.objects.values_list("name", "owner__username"))
    assert owners == {"甲": "rep", "乙": "rep2"}


def test_pool_mode_leaves_customers_without_owner(importer):
    commit(importer, run_to_preview(importer, sheet(["张三", "甲", "13812345678", "", "", ""]), owner_mode="pool"))
    customer = Customer.objects.get()
    assert customer.in_pool and customer.team is None


def test_a_rep_may_not_import_for_someone_else(sales_rep, other_rep):
    sales_rep.user_permissions.add(Permission.objects.get(codename="import_customer"))
    rep = type(sales_rep).objects.get(pk=sales_rep.pk)
    job = services.import_job_create(actor=rep, resource_key="customers.customer",
                                     upload=upload(
                                         sheet(["张三", "甲", "13812345678", "", "", ""])))
    services.import_job_parse(job.pk)
    job.refresh_from_db()
    with pytest.raises(ValidationError):
        services.import_job_configure(actor=rep, job=job, sheet="", header_row=None, mapping=job.mapping,
                                      duplicate_mode="skip", owner_mode="user", owner=other_rep, skip_invalid=False)


# ----------------------------------------------------------------------------------- all or nothing


def test_invalid_rows_block_the_import_until_the_admin_says_skip_them(importer):
    content = sheet(["张三", "甲", "13812345678", "", "", ""], ["", "", "12345", "", "", ""])
    job = run_to_preview(importer, content)
    assert job.counts["invalid"] == 1
    with pytest.raises(ValidationError) as refused:
        services.import_job_request_commit(actor=importer, job=job)
    assert "1 rows are invalid" in " ".join(refused.value.messages)
    assert Customer.objects.count() == 0
    # when he chooses to skip invalid rows, the valid ones are imported
    commit(importer, run_to_preview(importer, content, skip_invalid=True))
    assert list(Customer.objects.values_list("name", flat=True)) == ["张三"]


def test_problems_name_the_row_the_column_and_the_reason_in_the_users_language(importer):
    job = services.import_job_create(actor=importer, resource_key="customers.customer",
                                     upload=upload(
                                         xlsx_bytes([["名单"], HEADERS, ["张三", "甲", "12345", "错@", "", ""]])))
    ImportJob.objects.filter(pk=job.pk).update(language="zh-hans")
    services.import_job_parse(job.pk)
    job.refresh_from_db()
    services.import_job_configure(actor=importer, job=job, sheet="", header_row=None, mapping=job.mapping,
                                  duplicate_mode="skip", owner_mode="me", owner=None, skip_invalid=False)
    services.import_job_validate(job.pk)
    row = job.rows.get()
    assert row.row_number == 3
    assert row.errors == [{"column": "手机", "message": "12345 不是有效的电话号码。"},
                          {"column": "邮箱", "message": "错@ 不是有效的邮箱地址。"}]


def test_commit_runs_once_even_when_the_task_arrives_twice(importer):
    job = run_to_preview(importer, sheet(["张三", "甲", "13812345678", "", "", ""]))
    services.import_job_request_commit(actor=importer, job=job)
    services.import_job_commit(job.pk)
    services.import_job_commit(job.pk)  # a redelivered message
    assert Customer.objects.count() == 1


def test_importing_the_same_file_twice_creates_no_duplicates(importer):
    content = sheet(["张三", "甲", "13812345678", "zs@example.com", "", ""], ["李四", "乙", "13900000001", "", "", ""])
    commit(importer, run_to_preview(importer, content))
    second = run_to_preview(importer, content)
    assert (second.counts["create"], second.counts["skip"]) == (0, 2)
    assert services.earlier_import_of_same_file(second) is not None
    commit(importer, second)
    assert Customer.objects.count() == 2


# ------------------------------------------------------------------------------------------------ undo


def _undo(actor, job):
    services.import_job_request_undo(actor=actor, job=job)
    services.import_job_undo(job.pk)
    job.refresh_from_db()
    return job


def test_undo_moves_new_customers_to_the_recycle_bin_and_restores_updated_ones(importer, sales_rep):
    vip = TagFactory(name="VIP")
    old = CustomerFactory(owner=sales_rep, name="老客户", mobile="+8613812345678", notes="原来的", tags=[vip])
    job = run_to_preview(importer, sheet(["老客户", "甲", "13812345678", "", "新标签", "导入的"],
                                         ["新客户", "乙", "13900000001", "", "", ""]), duplicate_mode="overwrite")
    commit(importer, job)
    old.refresh_from_db()
    assert old.notes == "导入的" and set(old.tags.values_list("name", flat=True)) == {"VIP", "新标签"}
    # when the import is undone
    job = _undo(importer, job)
    # then the new customer is in the recycle bin and the old one has its values and tags back
    assert Customer.objects.in_recycle_bin().get().name == "新客户"
    old.refresh_from_db()
    assert old.notes == "原来的" and list(old.tags.values_list("name", flat=True)) == ["VIP"]
    assert job.status == "undone" and job.counts["undo"] == {"binned": 1, "restored": 1, "kept": 0}


def test_undo_keeps_changes_made_after_the_import(importer, sales_rep):
    old = CustomerFactory(owner=sales_rep, name="老客户", mobile="+8613812345678", notes="原来的")
    job = commit(importer, run_to_preview(importer, sheet(["老客户", "甲", "13812345678", "", "", "导入的"]),
                                          duplicate_mode="overwrite"))
    Customer.objects.filter(pk=old.pk).update(notes="销售后来改的", updated_at=timezone.now())
    assert services.changed_since(job) == 1
    job = _undo(importer, job)
    old.refresh_from_db()
    assert old.notes == "销售后来改的" and job.counts["undo"]["kept"] == 1


def test_an_undone_import_cannot_be_committed_or_undone_again(importer):
    job = _undo(importer, commit(importer, run_to_preview(importer, sheet(["张三", "甲", "13812345678", "", "", ""]))))
    with pytest.raises(ValidationError):
        services.import_job_request_undo(actor=importer, job=job)
    with pytest.raises(ValidationError):
        services.import_job_request_commit(actor=importer, job=job)


def test_the_import_and_its_undo_are_in_the_customers_history(importer):
    job = commit(importer, run_to_preview(importer, sheet(["张三", "甲", "13812345678", "", "", ""])))
    customer = Customer.objects.get()
    created = customer_history(customer)[-1]
    assert created.action == "insert" and created.actor == str(importer)
    assert "客户名单.xlsx" in created.reason
    _undo(importer, job)
    latest = customer_history(Customer.objects.get(pk=customer.pk))[0]
    assert latest.action == "update" and "客户名单.xlsx" in latest.reason


# ------------------------------------------------------------------------------ report and templates


def test_rejected_rows_report_can_be_fixed_and_imported_again(importer):
    job = run_to_preview(importer, sheet(["张三", "甲", "13812345678", "", "", ""],
                                         ["李四", "乙", "1381234", "", "", ""]))
    report = openpyxl.load_workbook(io.BytesIO(services.error_report(job)))
    rows = list(report.active.iter_rows(values_only=True))
    assert rows[0][: len(HEADERS)] == tuple(HEADERS)
    assert rows[1][:3] == ("李四", "乙", "1381234") and "1381234" in rows[1][len(HEADERS)]
    assert rows[1][-1] == 3  # its row in the original file
    # when the admin fixes the mobile in the report and imports it
    fixed = [list(rows[0]), [*rows[1][:2], "13812349999", *rows[1][3:]]]
    again = run_to_preview(importer, xlsx_bytes(fixed), name="改好的.xlsx")
    # then the fixed row is new and the reason column is ignored
    assert (again.counts["create"], again.counts["invalid"]) == (1, 0)


def test_a_saved_mapping_is_used_for_the_next_file_with_the_same_headers(importer):
    odd = xlsx_bytes([["甲方名", "移动号", "说明"], ["张三", "13812345678", "x"]])
    first = services.import_job_create(actor=importer, resource_key="customers.customer",
                                       upload=upload(odd))
    services.import_job_parse(first.pk)
    first.refresh_from_db()
    assert "移动号" not in [first.headers[int(c)] for c in first.mapping]  # not a known spelling
    services.import_job_configure(actor=importer, job=first, sheet="", header_row=None,
                                  mapping={"0": "name", "1": "mobile", "2": "notes"}, duplicate_mode="skip",
                                  owner_mode="me", owner=None, skip_invalid=False, template_name="渠道名单")
    assert ImportTemplate.objects.get().name == "渠道名单"
    second = run_to_preview(importer, odd, name="下个月.xlsx")
    assert second.mapping == {"0": "name", "1": "mobile", "2": "notes"}
