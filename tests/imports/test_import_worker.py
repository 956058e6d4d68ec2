"""Imports through real Celery workers and the real Redis broker: the web request only stores the file;
a worker killed in the middle of a commit leaves nothing behind, and the job is finished by another."""

import io
import time
from datetime import timedelta

import openpyxl
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm.imports import services
from crm.imports.models import ImportJob
from customers.models import Customer

from .conftest import upload, xlsx_bytes


def wait_for(predicate, *, timeout=60, what="the worker"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what} did not finish within {timeout} s")


def status_of(job_id):
    return ImportJob.objects.get(pk=job_id).status


def test_upload_to_committed_through_a_worker(client_as, importer, live_celery_worker):
    client = client_as(importer)
    content = xlsx_bytes([["公司名称", "联系人", "手机号码", "邮箱"],
                          ["上海恒通贸易有限公司", "王芳", "13900138000", "wf@example.com"],
                          ["北京华信科技有限公司", "李雷", "13900138001", ""]])
    # when the admin uploads the file, the request only stores it
    response = client.post(reverse("imports:new"), {"resource": "customers.customer", "file": upload(content)})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("imports:detail", args=[job.pk])
    # and the worker reads it and proposes a mapping
    wait_for(lambda: status_of(job.pk) == "parsed")
    job.refresh_from_db()
    assert job.mapping == {"0": "company", "1": "name", "2": "mobile", "3": "email"}
    form = {f"col_{c}": f for c, f in job.mapping.items()} | {"duplicate_mode": "skip", "owner_mode": "me"}
    assert client.post(reverse("imports:configure", args=[job.pk]), form).status_code == 302
    wait_for(lambda: status_of(job.pk) == "validated")
    page = client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert 'data-count="create">2<' in page and "王芳" in page
    # when he confirms
    client.post(reverse("imports:commit", args=[job.pk]))
    wait_for(lambda: status_of(job.pk) == "committed")
    assert sorted(Customer.objects.values_list("name", "company")) == [
        ("李雷", "北京华信科技有限公司"), ("王芳", "上海恒通贸易有限公司")]


def _validated_job(importer, rows: int) -> ImportJob:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("客户")
    sheet.append(["客户名称", "公司", "手机", "邮箱", "地址", "备注"])
    for i in range(rows):
        sheet.append([f"客户{i}", f"公司{i}", f"139{i:08d}", f"c{i}@example.com", "上海市浦东新区世纪大道100号",
                      "一段让每一行更像真实数据的备注" * 3])
    output = io.BytesIO()
    workbook.save(output)
    job = services.import_job_create(actor=importer, resource_key="customers.customer",
                                     upload=upload(output.getvalue(), "大名单.xlsx"))
    services.import_job_parse(job.pk)
    job.refresh_from_db()
    services.import_job_configure(actor=importer, job=job, sheet="", header_row=None, mapping=job.mapping,
                                  duplicate_mode="skip", owner_mode="me", owner=None, skip_invalid=False)
    services.import_job_validate(job.pk)
    job.refresh_from_db()
    assert job.status == "validated" and job.counts["create"] == rows
    return job


def _commit_is_writing(job_id) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
            "AND query LIKE %s",
            ["%INSERT INTO customers_customer%"],
        )
        return cursor.fetchone()[0] > 0


def _lock_is_free(job_id) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s",
                       [services.LOCK_NAMESPACE, job_id])
        return cursor.fetchone()[0] == 0


def test_a_worker_killed_mid_commit_writes_nothing_and_another_finishes_the_job(importer, worker_process):
    rows = 20_000
    job = _validated_job(importer, rows)
    first = worker_process.start()
    # when the commit is sent and the worker is killed while it writes the rows
    services.import_job_request_commit(actor=importer, job=job)
    wait_for(lambda: _commit_is_writing(job.pk), timeout=30, what="the commit's INSERT")
    first.kill_now()
    first.wait(10)
    # then not one row of it is in the table, and the job is still waiting to be committed
    wait_for(lambda: _lock_is_free(job.pk) and not _commit_is_writing(job.pk), timeout=30,
             what="PostgreSQL noticing the dead worker")
    assert Customer.objects.count() == 0
    assert status_of(job.pk) == "committing"
    # when another worker runs and the watchdog (every minute, from beat) finds the job stalled
    worker_process.start()
    resumed = services.import_jobs_resume_stalled(now=timezone.now() + timedelta(minutes=5))
    assert resumed == [job.pk]
    # then the job is committed, every row exactly once
    wait_for(lambda: status_of(job.pk) == "committed", timeout=120)
    assert Customer.objects.count() == rows
    assert Customer.objects.values("mobile").distinct().count() == rows
    job.refresh_from_db()
    assert job.attempts == 1
