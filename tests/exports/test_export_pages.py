"""The export pages: the list's Export menu, the job's progress page, the download and the user's exports."""

import pytest
from django.apps import apps
from django.urls import reverse

from crm.exports.models import ExportJob, ExportStatus
from crm.exports.tasks import run_export
from tests.factories import CustomerFactory
from tests.factories.exports import ExportJobFactory

from .conftest import as_dicts, read_rows

pytestmark = pytest.mark.django_db


def events_of(job, label):
    return apps.get_model("exports", "ExportJobEvent").objects.filter(pgh_obj_id=job.pk, pgh_label=label)


# ----------------------------------------------------------------------------------- the Export menu


def test_the_export_menu_shows_only_with_the_export_permission(client_as, marketing_user, support_agent):
    assert 'id="export-form"' in client_as(marketing_user).get(reverse("customers:list")).content.decode()
    assert 'id="export-form"' not in client_as(support_agent).get(reverse("customers:list")).content.decode()


def test_the_export_menu_carries_the_lists_current_query(client_as, sales_manager):
    # the hidden input sits in the results fragment, so each htmx filter swap renders it anew
    response = client_as(sales_manager).get(reverse("customers:list") + "?level=A&q=%E5%BC%A0&page=2",
                                            headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'name="query" value="?level=A&amp;q=%E5%BC%A0" form="export-form"' in html


def test_posting_the_menu_records_the_job_and_shows_its_page(client_as, sales_manager,
                                                             django_capture_on_commit_callbacks):
    # when the manager picks "Excel" in the Export menu of his filtered list
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_as(sales_manager).post(
            reverse("exports:create"), {"model": "customers.customer", "query": "?level=A&view=mine", "format": "xlsx"}
        )
    # then a job waits for a worker (enqueued once the row is committed) and he is shown its page
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("exports:detail", args=[job.pk])
    assert (job.created_by, job.query, job.format, job.status, job.language) == (
        sales_manager, "level=A&view=mine", "xlsx", ExportStatus.QUEUED, "en"
    )
    assert len(callbacks) == 1


def test_the_export_is_recorded_in_the_audit_trail_with_who_and_which_filters(client_as, sales_manager,
                                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        client_as(sales_manager).post(
            reverse("exports:create"), {"model": "customers.customer", "query": "level=A", "format": "csv"}
        )
    job = ExportJob.objects.get()
    event = events_of(job, "insert").select_related("pgh_context").get()
    assert (event.created_by_id, event.query, event.format, event.model_key) == (
        sales_manager.pk, "level=A", "csv", "customers.customer"
    )
    assert event.pgh_context.metadata["user"] == sales_manager.pk
    assert event.pgh_context.metadata["url"] == reverse("exports:create")


def test_without_the_export_permission_posting_is_forbidden(client_as, sales_rep):
    response = client_as(sales_rep).post(
        reverse("exports:create"), {"model": "customers.customer", "query": "", "format": "xlsx"}
    )
    assert response.status_code == 403
    assert not ExportJob.objects.exists()


def test_a_tampered_request_is_refused(client_as, admin_user):
    client = client_as(admin_user)
    assert client.post(reverse("exports:create"), {"model": "customers.nothing", "format": "csv"}).status_code == 400
    assert client.post(reverse("exports:create"), {"model": "customers.customer", "format": "pdf"}).status_code == 400
    assert not ExportJob.objects.exists()


# ------------------------------------------------------------------------------------ progress page


def test_a_running_jobs_page_shows_progress_and_keeps_polling(client_as, sales_manager):
    job = ExportJobFactory(created_by=sales_manager, status=ExportStatus.RUNNING, rows_total=10_000, rows_done=4_000)
    response = client_as(sales_manager).get(reverse("exports:detail", args=[job.pk]), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="export-progress"')  # the fragment alone, for htmx to swap
    assert 'hx-trigger="every 1s"' in html
    assert "4,000 of 10,000 rows written (40 %)" in html


def test_a_finished_jobs_page_stops_polling_and_offers_the_download(client_as, sales_manager):
    job = ExportJobFactory(created_by=sales_manager, done=True)
    html = client_as(sales_manager).get(reverse("exports:detail", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' not in html  # the page stops polling (the navbar's bell polls on its own)
    assert reverse("exports:download", args=[job.pk]) in html
    assert "1 row exported." in html


def test_a_failed_jobs_page_says_so(client_as, sales_manager):
    job = ExportJobFactory(
        created_by=sales_manager, status=ExportStatus.FAILED, error="You may no longer export these records."
    )
    html = client_as(sales_manager).get(reverse("exports:detail", args=[job.pk])).content.decode()
    assert "You may no longer export these records." in html and 'hx-trigger="every 1s"' not in html


def test_the_page_links_back_to_the_list_with_the_same_filters(client_as, sales_manager):
    job = ExportJobFactory(created_by=sales_manager, query="level=A&province=广东省")
    html = client_as(sales_manager).get(reverse("exports:detail", args=[job.pk])).content.decode()
    assert f'href="{reverse("customers:list")}?level=A&amp;province=广东省"' in html


# -------------------------------------------------------------------------------- who sees which job


@pytest.mark.parametrize("name", ["exports:detail", "exports:download"])
def test_another_users_job_is_404(client_as, sales_manager, other_rep, name):
    job = ExportJobFactory(created_by=other_rep, done=True)
    assert client_as(sales_manager).get(reverse(name, args=[job.pk])).status_code == 404


@pytest.mark.parametrize("name", ["exports:detail", "exports:download"])
def test_an_admin_sees_everyones_jobs(client_as, admin_user, other_rep, name):
    job = ExportJobFactory(created_by=other_rep, done=True)
    assert client_as(admin_user).get(reverse(name, args=[job.pk])).status_code == 200


def test_the_list_shows_the_users_own_exports_newest_first(client_as, sales_manager, marketing_user):
    older = ExportJobFactory(created_by=sales_manager, done=True)
    newer = ExportJobFactory(created_by=sales_manager, format="xlsx")
    theirs = ExportJobFactory(created_by=marketing_user)
    response = client_as(sales_manager).get(reverse("exports:list"))
    jobs = list(response.context["page"].object_list)
    assert jobs == [newer, older]
    assert theirs not in jobs
    assert reverse("exports:download", args=[older.pk]) in response.content.decode()


# --------------------------------------------------------------------------------------- download


def test_the_download_streams_the_file_under_a_readable_name_and_is_audited(client_as, sales_manager):
    job = ExportJobFactory(created_by=sales_manager, done=True, language="zh-hans")
    response = client_as(sales_manager).get(reverse("exports:download", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert "filename*=utf-8''%E5%AE%A2%E6%88%B7-" in response["Content-Disposition"]  # 客户-…csv
    assert as_dicts(read_rows(b"".join(response.streaming_content), "csv")) == [{"customer name": "测试客户"}]
    download = events_of(job, "download").select_related("pgh_context").get()
    assert download.pgh_context.metadata["user"] == sales_manager.pk


def test_an_unfinished_job_has_nothing_to_download(client_as, sales_manager):
    job = ExportJobFactory(created_by=sales_manager, status=ExportStatus.RUNNING)
    assert client_as(sales_manager).get(reverse("exports:download", args=[job.pk])).status_code == 404


def test_the_job_survives_a_reload_of_its_page(client_as, sales_manager, django_capture_on_commit_callbacks,
                                              monkeypatch):
    CustomerFactory(owner=sales_manager)
    client = client_as(sales_manager)
    # the task runs here, in-process, instead of going to the broker (test_export_worker sends it for real)
    monkeypatch.setattr(run_export, "delay", lambda job_id: run_export.apply(args=[job_id]))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("exports:create"), {"model": "customers.customer", "format": "csv"})
    # a reload (a fresh request, no session state) finds the finished job and its file
    html = client.get(response.url).content.decode()
    assert "1 row exported." in html
