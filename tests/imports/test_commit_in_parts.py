"""A large import is committed by several connections at once, each part a prepared transaction: every row
is written once, audited, and undone like any other import; a part the database refuses leaves nothing; parts
left waiting by a worker that died are committed or rolled back as the job says."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from crm.imports import parts, services
from crm.imports.models import ImportRow
from customers.models import Customer, CustomerEvent

from .conftest import commit, run_to_preview, undo, xlsx_bytes

pytestmark = pytest.mark.django_db(transaction=True)  # the parts' connections only see committed rows

ROWS = 60


@pytest.fixture
def in_parts(settings):
    settings.CRM_IMPORT_COMMIT_PARTS = 2
    settings.CRM_IMPORT_PARTS_MIN_ROWS = 10
    yield
    # A test failing halfway must not leave parts waiting: their locks would hold up the database's flush.
    for job_id in parts.waiting_jobs():
        parts.settle(job_id, committed=False)


def checked(importer):
    content = xlsx_bytes([["客户名称", "公司名称", "手机", "邮箱"]]
                         + [[f"客户{i}", f"公司{i}", f"139{i:08d}", f"c{i}@example.com"] for i in range(ROWS)])
    job = run_to_preview(importer, content)
    assert job.status == "validated" and job.counts["create"] == ROWS
    return job


def waiting_parts() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()")
        return cursor.fetchone()[0]


def left_by_a_worker_that_died(importer, job, *, decided: bool) -> None:
    """The job's parts prepared by a worker that died before (or after) marking the job committed."""
    services.import_job_request_commit(actor=importer, job=job)
    resource = services.resources.get(job.resource)
    parts.prepare(job, resource, parts.plan(job, resource), {"import_job": job.pk})
    if decided:
        services._mark_committed(job)


def import_contexts(job) -> int:
    events = CustomerEvent.objects.filter(pgh_context__metadata__import_job=job.pk)
    return events.values("pgh_context").distinct().count()


def test_a_commit_in_parts_writes_every_row_once_audited_and_can_be_undone(importer, in_parts):
    job = checked(importer)
    assert [(p.first_row, p.last_row) for p in parts.plan(job, services.resources.get(job.resource))] == [
        (2, 31), (32, 61)]
    job = commit(importer, job)
    assert job.status == "committed"
    assert sorted(Customer.objects.values_list("mobile", flat=True)) == [f"+86139{i:08d}" for i in range(ROWS)]
    # each row's record has the id reserved for it when the rows were checked
    assert set(Customer.objects.values_list("id", flat=True)) == set(
        ImportRow.objects.filter(job=job, action="create").values_list("reserved_id", flat=True))
    events = CustomerEvent.objects.filter(pgh_label="insert")
    assert events.count() == ROWS
    assert {e.pgh_context.metadata["import_job"] for e in events} == {job.pk}
    assert {e.pgh_context.metadata["reason"] for e in events} == {"import"}
    assert import_contexts(job) == 2  # one per part
    assert waiting_parts() == 0
    job = undo(importer, job)
    assert job.status == "undone" and Customer.objects.filter(deleted_at__isnull=True).count() == 0


def test_small_imports_and_imports_with_tags_are_committed_in_one_transaction(importer, in_parts, settings):
    job = checked(importer)
    settings.CRM_IMPORT_PARTS_MIN_ROWS = ROWS + 1
    assert parts.plan(job, services.resources.get(job.resource)) == []
    settings.CRM_IMPORT_PARTS_MIN_ROWS = 10
    job.mapping = {**job.mapping, "9": "tags"}  # two parts creating the same new tag would wait for each other
    assert parts.plan(job, services.resources.get(job.resource)) == []


def test_a_part_the_database_refuses_leaves_nothing_written_and_nothing_waiting(importer, in_parts, english):
    job = checked(importer)
    # a row of the second part that the table cannot take (as if it had changed since it was checked)
    row = ImportRow.objects.get(job=job, row_number=50)
    row.data["level"] = "far too long for the column"
    row.save(update_fields=["data"])
    job = commit(importer, job)
    assert job.status == "failed" and "nothing was written" in job.error
    assert Customer.objects.count() == 0 and CustomerEvent.objects.count() == 0
    assert waiting_parts() == 0


def test_parts_left_prepared_before_the_decision_are_rolled_back_and_the_job_commits_once(importer, in_parts):
    job = checked(importer)
    left_by_a_worker_that_died(importer, job, decided=False)
    assert waiting_parts() == 2 and Customer.objects.count() == 0
    # the watchdog, within a minute, rolls them back (their locks would block the table's maintenance)
    services.import_jobs_resume_stalled(now=timezone.now())
    assert waiting_parts() == 0 and Customer.objects.count() == 0
    # and the job's next attempt writes every row once
    services.import_job_commit(job.pk)
    job.refresh_from_db()
    assert job.status == "committed" and Customer.objects.count() == ROWS
    assert Customer.objects.values("mobile").distinct().count() == ROWS


def test_parts_left_prepared_after_the_decision_are_committed(importer, in_parts):
    job = checked(importer)
    left_by_a_worker_that_died(importer, job, decided=True)
    assert Customer.objects.count() == 0
    services.import_jobs_resume_stalled(now=timezone.now() + timedelta(minutes=5))
    assert waiting_parts() == 0 and Customer.objects.count() == ROWS


def test_undo_commits_parts_still_waiting_before_it_bins_the_records(importer, in_parts):
    job = checked(importer)
    left_by_a_worker_that_died(importer, job, decided=True)
    job = undo(importer, job)
    assert job.status == "undone" and job.counts["undo"]["binned"] == ROWS
    assert waiting_parts() == 0 and Customer.objects.filter(deleted_at__isnull=True).count() == 0


def test_an_error_after_the_decision_never_marks_a_committed_import_failed(importer, in_parts):
    # (a failure committing the parts, or reporting progress, once the job is committed: the watchdog commits
    # what is left, and the import must not read "failed, nothing was written" meanwhile)
    job = checked(importer)
    left_by_a_worker_that_died(importer, job, decided=True)
    services._fail(job, "Something unexpected went wrong")
    job.refresh_from_db()
    assert job.status == "committed" and job.error == ""
    services.import_jobs_resume_stalled(now=timezone.now())
    assert Customer.objects.count() == ROWS and waiting_parts() == 0
