"""The import pages as a user meets them: who may open them, what each step shows, and the downloads."""

import io

import openpyxl
from django.contrib.auth.models import Permission
from django.urls import reverse

from crm.imports import services
from crm.imports.models import ImportJob
from customers.models import Customer

from .conftest import run_to_preview, upload, xlsx_bytes

CONTENT = xlsx_bytes([["2026 客户名单"], ["姓名", "公司", "手机", "邮箱"],
                      ["张三", "甲公司", "13812345678", "zs@example.com"],
                      ["李四", "乙公司", "123", "lisi@"]])


def test_reps_without_the_import_permission_are_refused(client_as, sales_rep):
    client = client_as(sales_rep)
    assert client.get(reverse("imports:list")).status_code == 403
    assert client.post(reverse("imports:new"), {"file": upload(CONTENT)}).status_code == 403
    assert not ImportJob.objects.exists()


def test_another_users_import_is_not_found(client_as, importer, sales_manager):
    job = run_to_preview(importer, CONTENT)
    sales_manager.user_permissions.add(Permission.objects.get(codename="import_customer"))
    client = client_as(sales_manager)
    for name in ("imports:detail", "imports:errors", "imports:undo"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404, name
    assert client.post(reverse("imports:commit", args=[job.pk])).status_code == 404


def test_a_file_that_is_not_a_spreadsheet_is_refused_on_upload(client_as, importer):
    response = client_as(importer).post(
        reverse("imports:new"), {"resource": "customers.customer", "file": upload(b"%PDF-1.7 not a sheet", "a.xlsx")}
    )
    assert response.status_code == 200
    assert "This is not a spreadsheet" in " ".join(response.context["form"].errors["file"])
    assert not ImportJob.objects.exists()


def test_the_page_shows_progress_while_the_worker_reads(client_as, importer):
    job = services.import_job_create(actor=importer, resource_key="customers.customer", upload=upload(CONTENT))
    client = client_as(importer)
    page = client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "Reading the file" in page and 'hx-trigger="every 1s"' in page
    # the poll answers with the status alone while the job runs, and asks for a full reload once it is done
    poll = client.get(reverse("imports:detail", args=[job.pk]), {"part": "status"}, HTTP_HX_REQUEST="true")
    assert poll.content.decode().lstrip().startswith('<div id="job-status"')
    services.import_job_parse(job.pk)
    poll = client.get(reverse("imports:detail", args=[job.pk]), {"part": "status"}, HTTP_HX_REQUEST="true")
    assert poll.status_code == 204 and poll["HX-Refresh"] == "true"



def test_checking_the_rows_again_starts_the_count_from_zero(client_as, importer, monkeypatch):
    # given a file checked once (the count of checked rows reached the page through Redis after every row)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 1)
    job = run_to_preview(importer, CONTENT)
    assert job.status == "validated" and job.total_rows > 0
    # when the importer changes an option and the rows are checked again
    services.import_job_configure(actor=importer, job=job, sheet="", header_row=None, mapping=job.mapping,
                                  duplicate_mode="overwrite", owner_mode="me", owner=None, skip_invalid=False)
    page = client_as(importer).get(reverse("imports:detail", args=[job.pk]), {"part": "status"},
                                   HTTP_HX_REQUEST="true").content.decode()
    # then the progress starts at zero, not at the earlier check's count
    assert f"Checking rows: 0 of about {job.total_rows}" in page

def test_the_mapping_page_proposes_fields_and_shows_the_first_values(client_as, importer):
    job = services.import_job_create(actor=importer, resource_key="customers.customer", upload=upload(CONTENT))
    services.import_job_parse(job.pk)
    response = client_as(importer).get(reverse("imports:detail", args=[job.pk]))
    form = response.context["form"]
    assert [form[f"col_{i}"].initial for i in range(4)] == ["name", "company", "mobile", "email"]
    page = response.content.decode()
    assert "headers in row 2" in page and "张三 · 李四" in page


def test_the_mapping_form_refuses_one_field_from_two_columns(client_as, importer):
    job = services.import_job_create(actor=importer, resource_key="customers.customer", upload=upload(CONTENT))
    services.import_job_parse(job.pk)
    response = client_as(importer).post(
        reverse("imports:configure", args=[job.pk]),
        {"col_0": "name", "col_1": "name", "col_2": "mobile", "duplicate_mode": "skip", "owner_mode": "me"},
    )
    assert response.status_code == 200
    assert "Each field can be taken from one column only: customer name." in response.content.decode()
    job.refresh_from_db()
    assert job.status == "parsed"


def test_the_preview_shows_counts_rows_and_problems(client_as, importer):
    job = run_to_preview(importer, CONTENT)
    page = client_as(importer).get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert 'data-count="create">1<' in page and 'data-count="invalid">1<' in page
    assert "zs@example.com" in page  # the row as it will be saved
    assert "123 is not a valid phone number." in page and "lisi@ is not a valid email address." in page
    assert "1 row is invalid" in page
    # and the import button waits until the invalid row is dealt with
    assert 'type="submit" disabled' in page


def test_commit_and_undo_from_the_pages(client_as, importer):
    job = run_to_preview(importer, CONTENT, skip_invalid=True)
    client = client_as(importer)
    response = client.post(reverse("imports:commit", args=[job.pk]))
    assert response.status_code == 302
    services.import_job_commit(job.pk)  # what the worker does
    page = client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "Imported at" in page and "Undo this import" in page
    confirm = client.get(reverse("imports:undo", args=[job.pk])).content.decode()
    assert "1 record it created moves to the recycle bin" in confirm
    client.post(reverse("imports:undo", args=[job.pk]))
    services.import_job_undo(job.pk)
    assert Customer.objects.alive().count() == 0
    assert "Undone at" in client.get(reverse("imports:detail", args=[job.pk])).content.decode()


def test_the_rejected_rows_download(client_as, importer):
    job = run_to_preview(importer, CONTENT)
    response = client_as(importer).get(reverse("imports:errors", args=[job.pk]))
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in response["Content-Disposition"]
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == "李四"


def test_history_lists_the_users_imports_newest_first(client_as, importer):
    first = run_to_preview(importer, CONTENT, )
    second = run_to_preview(importer, CONTENT)
    page = client_as(importer).get(reverse("imports:list")).content.decode()
    assert page.index(reverse("imports:detail", args=[second.pk])) < page.index(
        reverse("imports:detail", args=[first.pk]))
