"""The rows are checked while the admin reads the mapping page, with the proposed choices; the check step
re-uses them when he keeps those choices, and checks again when he changes anything they depend on."""

import io
import os

import openpyxl
from django.core.cache import cache
from django.urls import reverse

from crm.imports import services
from crm.imports.models import ImportJob, ImportRow
from customers.models import CustomFieldDefinition
from tests.factories import CustomerFactory

from .conftest import upload, xlsx_bytes
from .test_import_worker import status_of, wait_for

HEADER = ["客户名称", "公司名称", "手机", "邮箱"]
ROWS = [["王芳", "上海恒通贸易有限公司", "13900138000", "wf@example.com"],
        ["李雷", "北京华信科技有限公司", "13900138001", "ll@example.com"]]


def parsed(actor, content) -> ImportJob:
    job = services.import_job_create(actor=actor, resource_key="customers.customer", upload=upload(content))
    services.import_job_parse(job.pk)
    job.refresh_from_db()
    assert job.status == "parsed"
    return job


def configure(actor, job, **choices) -> ImportJob:
    options = {"sheet": "", "header_row": None, "mapping": job.mapping, "duplicate_mode": "skip",
               "owner_mode": "me", "owner": None, "skip_invalid": False} | choices
    services.import_job_configure(actor=actor, job=job, **options)
    services.import_job_validate(job.pk)
    job.refresh_from_db()
    return job


def test_the_rows_are_checked_before_the_admin_confirms_the_mapping(importer):
    job = parsed(importer, xlsx_bytes([HEADER, *ROWS]))
    assert ImportRow.objects.filter(job=job, action="create").count() == 2
    # the check step, with the proposed mapping kept, does not need the file again
    os.remove(job.file.path)
    job = configure(importer, job)
    assert job.status == "validated" and job.counts["create"] == 2
    assert sorted(ImportRow.objects.filter(job=job).values_list("data__email", flat=True)) == [
        "ll@example.com", "wf@example.com"]


def test_a_changed_mapping_checks_the_rows_again(importer):
    job = parsed(importer, xlsx_bytes([HEADER, *ROWS]))
    without_email = {column: field for column, field in job.mapping.items() if field != "email"}
    job = configure(importer, job, mapping=without_email)
    assert job.status == "validated" and job.counts["create"] == 2
    assert list(ImportRow.objects.filter(job=job).values_list("data__email", flat=True)) == [None, None]


def test_choosing_again_after_the_preview_sorts_the_rows_again(importer):
    CustomerFactory(name="王芳", company="上海恒通贸易有限公司", mobile="13900138000")
    job = configure(importer, parsed(importer, xlsx_bytes([HEADER, *ROWS])), duplicate_mode="skip")
    assert (job.counts["create"], job.counts["skip"], job.counts["update"]) == (1, 1, 0)
    # back on the mapping page, the admin decides to update the customer already in the CRM
    job = configure(importer, job, duplicate_mode="overwrite")
    assert (job.counts["create"], job.counts["skip"], job.counts["update"]) == (1, 0, 1)
    assert job.counts["invalid"] == 0


def test_a_custom_field_changed_meanwhile_is_checked_again(importer):
    grade = CustomFieldDefinition.objects.create(key="grade", label="合作等级", field_type="choice", choices=["VIP"])
    job = parsed(importer, xlsx_bytes([[*HEADER, "合作等级"], [*ROWS[0], "战略"]]))
    assert ImportRow.objects.get(job=job).action == "invalid"  # 战略 is not an option yet
    grade.choices = ["VIP", "战略"]
    grade.save()
    job = configure(importer, job)
    assert job.counts["create"] == 1 and job.counts["invalid"] == 0


def test_a_cancelled_job_keeps_no_rows_checked_ahead(importer):
    job = services.import_job_create(actor=importer, resource_key="customers.customer",
                                     upload=upload(xlsx_bytes([HEADER, *ROWS])))
    head, sheet = services._parse(job)
    services.import_job_cancel(actor=importer, job=job)  # while the rows were being checked
    services._precheck(job, head, sheet)
    assert not ImportRow.objects.filter(job=job).exists()


def test_choices_sent_while_the_rows_are_checked_ahead_reach_the_worker(client_as, importer, live_celery_worker):
    """The admin confirms another mapping while the worker is still checking the rows with the proposed one:
    his mapping is the one the preview shows."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("客户")
    sheet.append(HEADER)
    for i in range(30_000):
        sheet.append([f"客户{i}", f"公司{i}", f"139{i:08d}", f"c{i}@example.com"])
    content = io.BytesIO()
    workbook.save(content)
    client = client_as(importer)
    response = client.post(reverse("imports:new"), {"resource": "customers.customer",
                                                     "file": upload(content.getvalue())})
    assert response.status_code == 302, response.content.decode()[-3000:]
    job = ImportJob.objects.get()
    wait_for(lambda: status_of(job.pk) == "parsed")
    job.refresh_from_db()
    form = {f"col_{c}": f for c, f in job.mapping.items() if f != "email"} | {"duplicate_mode": "skip",
                                                                              "owner_mode": "me"}
    assert client.post(reverse("imports:configure", args=[job.pk]), form).status_code == 302
    wait_for(lambda: status_of(job.pk) == "validated", timeout=180)
    job.refresh_from_db()
    assert job.counts["create"] == 30_000
    assert not ImportRow.objects.filter(job=job, data__has_key="email").exists()


def test_a_check_ahead_stops_as_soon_as_the_admin_has_chosen_otherwise(importer, monkeypatch):
    monkeypatch.setattr(services, "PROGRESS_EVERY", 1)  # ask after every row
    job = services.import_job_create(actor=importer, resource_key="customers.customer",
                                     upload=upload(xlsx_bytes([HEADER, *ROWS])))
    head, sheet = services._parse(job)
    # the admin's other choices arrive while the worker checks with the proposed ones
    cache.set(services._chosen_key(job.pk), "another mapping")
    services._precheck(job, head, sheet)
    job.refresh_from_db()
    assert not ImportRow.objects.filter(job=job).exists() and job.checked_with == {}


def test_owners_named_in_a_column_are_looked_up_again_when_users_change(importer, sales_rep):
    content = xlsx_bytes([[*HEADER, "负责人"], [*ROWS[0], sales_rep.username]])
    job = configure(importer, parsed(importer, content), owner_mode="column", duplicate_mode="skip")
    assert job.counts["create"] == 1
    # the rep leaves the company before the admin confirms; the admin changes the duplicate choice only
    sales_rep.is_active = False
    sales_rep.save()
    job = configure(importer, job, owner_mode="column", duplicate_mode="overwrite")
    assert job.counts["invalid"] == 1 and job.counts["create"] == 0
