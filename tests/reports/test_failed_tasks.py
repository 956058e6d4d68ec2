"""Failed background tasks in the administrator's health panel: task runs that raise in a real Celery worker (over
the real Redis broker), at once or after their last retry, are listed with a readable name, when, and the error's
first line, and counted for the last 24 hours; a Redis that does not answer leaves the page working."""

import time
from datetime import timedelta

import pytest
import redis
from celery import shared_task
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from crm.imports.tasks import parse_import
from reports import failed_tasks

HOME = reverse("home")


# Defined at import time, so that the worker (started later by the fixture) knows them.
@shared_task(name="tests.reports.always_fails")
def always_fails(reason: str):
    raise ValueError(f"{reason}\nTraceback line that the panel leaves out")


@shared_task(name="tests.reports.fails_after_retries", autoretry_for=(ConnectionError,), max_retries=2,
             default_retry_delay=0)
def fails_after_retries():
    raise ConnectionError("邮件服务器拒绝连接")


def _wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture
def clean_failures():
    """This test database's list of failures, empty before and after (other test runs keep lists of their own)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(failed_tasks._key())
    yield
    client.delete(failed_tasks._key())
    client.close()


def _zh(text: str) -> str:
    with translation.override("zh-hans"):
        return str(translation.gettext(text))


def test_tasks_failing_in_a_real_worker_are_shown_to_the_administrator_in_both_languages(
        live_celery_worker, clean_failures, client_as, admin_user, sales_manager, sales_rep):
    # given three task runs that fail in the worker: one of ours with a known name (its import job does not exist),
    # an unknown one, and one that gives up after its two retries
    parse_import.delay(987654)
    always_fails.delay("客户名单.xlsx 已损坏")
    fails_after_retries.delay()
    assert _wait_for(lambda: (failed_tasks.failed_tasks() or failed_tasks.FailedTasks()).count >= 3), \
        "the worker did not record the three failures"
    time.sleep(0.5)  # a retry that (wrongly) counted as a failure would show up as a fourth

    # when the administrator opens his dashboard
    page = client_as(admin_user, language="en").get(HOME).content.decode()

    # then the health panel counts three failed tasks in the last day, each with its name, time and error
    panel = page[page.index('data-failed-tasks>'):page.index('data-health="unmailed"')]
    assert "Background tasks that failed" in panel
    assert '<span class="text-danger" data-failed-tasks-count>3</span>' in panel
    assert "Import: read the file" in panel and "DoesNotExist: ImportJob matching query does not exist." in panel
    assert "tests.reports.always_fails" in panel and "ValueError: 客户名单.xlsx 已损坏" in panel
    assert "Traceback line" not in panel
    assert "gave up after 2 retries" in panel and "ConnectionError: 邮件服务器拒绝连接" in panel
    assert timezone.localtime().strftime("%m-%d") in panel
    # beside the failed imports and exports, which keep their own line
    assert page.index("Failed jobs in the last 24 hours") < page.index("Background tasks that failed")

    chinese = client_as(admin_user, language="zh-hans").get(HOME).content.decode()
    assert "系统运行状况" in chinese and "最近 24 小时失败的任务" in chinese
    assert _zh("Background tasks that failed") in chinese and _zh("Import: read the file") in chinese
    assert "ValueError: 客户名单.xlsx 已损坏" in chinese

    # and nobody else sees the panel
    for user in (sales_manager, sales_rep):
        other = client_as(user, language="en").get(HOME).content.decode()
        assert "data-failed-tasks" not in other and "客户名单.xlsx 已损坏" not in other


def test_only_the_last_day_counts_and_the_newest_are_listed(clean_failures, client_as, admin_user):
    now = timezone.now()
    failed_tasks.failure_record(task_name="sales.tasks.route_lead", task_id="old", exception=RuntimeError("昨天的"),
                                now=now - timedelta(hours=25))
    for minutes in range(6, 0, -1):  # six failures, the last one a minute ago
        failed_tasks.failure_record(task_name="interactions.tasks.send_email", task_id=str(minutes),
                                    exception=OSError(f"第{minutes}次"), now=now - timedelta(minutes=minutes))

    found = client_as(admin_user).get(HOME).context["health"].tasks
    assert found.count == 6 and not found.at_least
    assert [task.error for task in found.recent] == [f"OSError: 第{n}次" for n in (1, 2, 3, 4, 5)]
    assert {str(task.label) for task in found.recent} == {"Send an email"}


def test_a_full_list_of_recent_failures_says_there_were_at_least_that_many(clean_failures, client_as, admin_user):
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.lpush(failed_tasks._key(), *["not json"] * 10)  # something else's entries are skipped, not fatal
    client.close()
    for n in range(failed_tasks.KEEP):
        failed_tasks.failure_record(task_name="sales.tasks.route_lead", task_id=str(n), exception=RuntimeError("x"))

    page = client_as(admin_user, language="en").get(HOME).content.decode()
    assert f"at least {failed_tasks.KEEP} (only the newest are kept)" in page


def test_a_silent_redis_leaves_the_dashboard_working_and_says_so(settings, client_as, admin_user):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nobody listens there
    # recording does not fail the task either
    assert failed_tasks.failure_record(task_name="x", task_id="1", exception=RuntimeError("boom")) is False

    response = client_as(admin_user, language="en").get(HOME)
    assert response.status_code == 200
    assert response.context["health"].tasks is None
    assert "unavailable: Redis does not answer" in response.content.decode()
