"""An export end to end through a real Celery worker and the real Redis broker: from the Export menu's POST
to the downloaded file, against the committed test database."""

import time

import pytest
from django.urls import reverse

from crm.exports.models import ExportJob, ExportStatus
from customers.choices import Level
from tests.factories import CustomerFactory

from .conftest import as_dicts, read_rows


def _wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.django_db(transaction=True)
def test_an_export_runs_in_the_worker_from_the_menu_to_the_download(live_celery_worker, client_as, sales_manager,
                                                                    other_rep, south_rep):
    # given customers the manager oversees (杭州组) and one outside his subtree (华南销售部)
    CustomerFactory(owner=other_rep, name="杭州A级", level=Level.A)
    CustomerFactory(owner=other_rep, name="杭州C级", level=Level.C)
    CustomerFactory(owner=south_rep, name="华南A级", level=Level.A)
    client = client_as(sales_manager)
    # when he exports his list filtered to level A as Excel
    response = client.post(reverse("exports:create"), {"model": "customers.customer", "query": "?level=A",
                                                       "format": "xlsx"})
    job = ExportJob.objects.get()
    assert response.url == reverse("exports:detail", args=[job.pk])
    # then the worker writes the file while the page polls
    finished = _wait_for(lambda: ExportJob.objects.get(pk=job.pk).status == ExportStatus.DONE)
    assert finished, f"the worker did not finish the export: {ExportJob.objects.get().error}"
    fragment = client.get(response.url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in fragment and reverse("exports:download", args=[job.pk]) in fragment
    # and the download holds his scoped, filtered rows
    download = client.get(reverse("exports:download", args=[job.pk]))
    rows = as_dicts(read_rows(b"".join(download.streaming_content), "xlsx"))
    assert [row["Customer name"] for row in rows] == ["杭州A级"]
    assert ExportJob.objects.get(pk=job.pk).rows_done == 1
