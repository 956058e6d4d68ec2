"""With a PostgreSQL replica configured (DATABASES["replica"], from CRM_REPLICA_DATABASE_URL), report pages, their
.xlsx exports and the scheduled report mails read their figures from it; every other page, and every write, stays on
the primary (crm.db_routers).

The replica here is a second connection to the test database: a streaming replica is another server with the same
rows, and what matters is which connection each query takes."""

import copy
from importlib import import_module

import pytest
from django.apps import apps
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.db_routers import REPLICA
from reports.models import ReportExport
from sales.models import Pipeline
from tests.factories import CustomerFactory
from tests.factories.sales_pipeline import OpportunityFactory


@pytest.fixture
def replica(transactional_db):
    # transactional_db: rows are committed, so that the second connection sees them as a replica would. It empties
    # every table after each test, the default pipeline (a data migration's) included: made again when missing.
    if not Pipeline.objects.filter(is_default=True).exists():
        import_module("sales.migrations.0003_default_pipeline").create(apps, None)
    connections.settings[REPLICA] = copy.deepcopy(connections["default"].settings_dict)
    # Connected here: Django's test case refuses to open a connection of an alias it was not told of.
    connections[REPLICA].connect()
    yield connections[REPLICA]
    connections[REPLICA].close()
    del connections[REPLICA]
    del connections.settings[REPLICA]


def sql_of(context) -> str:
    return "\n".join(query["sql"] for query in context.captured_queries)


def test_report_pages_read_their_figures_from_the_replica(replica, client_as, admin_user):
    # given: an open opportunity of 12,345 CNY
    OpportunityFactory(owner=admin_user, amount="12345.00", name="复制库商机")
    client = client_as(admin_user)
    # when: the administrator opens the pipeline funnel
    with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(replica) as copy_:
        response = client.get(reverse("reports:report", args=["funnel"]))
    # then: he sees the opportunity's amount, read from the replica; the primary only checked his session
    assert response.status_code == 200
    assert "12,345" in response.content.decode()
    assert '"sales_opportunity"' in sql_of(copy_)
    assert '"sales_opportunity"' not in sql_of(primary)


def test_a_report_export_reads_from_the_replica_and_records_the_download_on_the_primary(replica, client_as,
                                                                                       admin_user):
    OpportunityFactory(owner=admin_user, amount="5000.00")
    client = client_as(admin_user)
    with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(replica) as copy_:
        response = client.get(reverse("reports:export", args=["funnel", "funnel"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert '"sales_opportunity"' in sql_of(copy_)
    assert '"sales_opportunity"' not in sql_of(primary)
    # the download is written where writes go
    assert 'INSERT INTO "reports_reportexport"' in sql_of(primary)
    assert ReportExport.objects.filter(user=admin_user, report="funnel", table="funnel").count() == 1


def test_other_pages_keep_reading_the_primary(replica, client_as, admin_user):
    # A list shows what the user has just changed, which a replica may not have yet.
    customer = CustomerFactory(owner=admin_user, team=admin_user.team, name="刚建的客户")
    client = client_as(admin_user)
    with CaptureQueriesContext(replica) as copy_:
        response = client.get(reverse("customers:list"))
        detail = client.get(customer.get_absolute_url())
    assert customer.name in response.content.decode() and detail.status_code == 200
    assert copy_.captured_queries == []
