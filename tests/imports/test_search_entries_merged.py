"""An import's commit leaves the new rows' search-index entries pending and the worker merges them right after
(crm.imports.services._bulk_write): the imported customers are found by the search box at once, nothing is left
pending once the worker is done, and the worker can do it connected as the application role, which does not own
the indexes."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.audit.test_app_role import ROLE, ROLE_PASSWORD, _django_connects_as, app_role  # noqa: F401 (fixture)
from tests.signin import pass_second_step

from .conftest import commit, run_to_preview, undo, xlsx_bytes

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = ["客户名称", "公司名称", "手机", "邮箱"]
ROWS = [[f"客户{i}", f"深圳华信{i}号科技有限公司", f"139{i:08d}", f"c{i}@example.com"] for i in range(1, 41)]


def pending_merged_now() -> int:
    """Pages of pending entries a merge finds in the customer table's search indexes (0: none were left)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT crm_merge_pending_search_entries('customers_customer'::regclass)")
        return cursor.fetchone()[0]


def found_by_search(user, text, company) -> bool:
    client = Client()
    client.force_login(user)
    pass_second_step(client, user)
    return company in client.get(reverse("customers:list"), {"q": text}).content.decode()


def test_imported_customers_are_searchable_and_nothing_is_left_pending(app_role, admin_user):  # noqa: F811
    with _django_connects_as(ROLE, ROLE_PASSWORD):  # as the worker runs in a real install
        job = run_to_preview(admin_user, xlsx_bytes([HEADER, *ROWS]))
        assert job.counts["create"] == 40
        job = commit(admin_user, job)
        assert job.status == "committed"
        assert pending_merged_now() == 0
    # the search box finds an imported customer by a fragment of its company (trigram and character-pair indexes)
    assert found_by_search(admin_user, "华信17号", "深圳华信17号科技有限公司")
    with _django_connects_as(ROLE, ROLE_PASSWORD):
        job = undo(admin_user, job)
        assert job.status == "undone"
        assert pending_merged_now() == 0
    assert not found_by_search(admin_user, "华信17号", "深圳华信17号科技有限公司")
