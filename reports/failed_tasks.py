"""Background tasks that failed, for the administrator's health panel (reports.dashboard_health).

crm.celery hooks Celery's ``task_failure`` signal to failure_record: every task run that ends failed, whether it
raised at once or gave up after its last retry (Celery re-raises the last error then), lands here with its name,
when, its error's first line and how many retries it had used. Failures handled inside a task (an import marked
failed, a mail marked not sent) do not raise and are shown from their own rows instead.

Kept in Redis as a capped list (LPUSH + LTRIM, newest first), not a table: no migration, nothing to clean up, and a
task that failed because the database was down is still recorded. The key names the database, so that test runs and
other installations sharing the Redis server keep their lists apart. If Redis does not answer, recording logs a
warning and the panel says the figure is unavailable; neither the task nor the page fails because of it.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

KEEP = 500  # the newest failures kept; a day with more is shown as "at least 500"
WINDOW = timedelta(hours=24)
SHOWN = 5
ERROR_LENGTH = 200
TIMEOUT = 0.5  # seconds: a silent Redis must not hold up a worker or the dashboard

# What an administrator calls the project's tasks; a task not named here is shown by its dotted name.
TASK_LABELS = {
    "crm.backups.tasks.run_backup": _("Backup"),
    "crm.backups.tasks.run_restore_drill": _("Restore drill"),
    "crm.exports.tasks.run_export": _("Export"),
    "crm.imports.tasks.parse_import": _("Import: read the file"),
    "crm.imports.tasks.validate_import": _("Import: check the rows"),
    "crm.imports.tasks.commit_import": _("Import: save the rows"),
    "crm.imports.tasks.undo_import": _("Import: undo"),
    "crm.imports.tasks.resume_stalled_imports": _("Import: resume stalled imports"),
    "crm.notifications.tasks.email_notifications": _("Mail notifications"),
    "crm.notifications.tasks.email_unmailed_notifications": _("Mail notifications not yet mailed"),
    "customers.tasks.return_stale_customers_to_pool": _("Return customers to the public pool"),
    "customers.tasks.sync_custom_field_encryption": _("Encrypt custom field values"),
    "interactions.tasks.scan_reminders": _("Follow-up reminders"),
    "interactions.tasks.sync_mailboxes": _("Check mailboxes"),
    "interactions.tasks.sync_mailbox": _("Read a mailbox"),
    "interactions.tasks.send_email": _("Send an email"),
    "interactions.tasks.resend_stuck_email": _("Resend stuck emails"),
    "sales.tasks.remind_overdue_payments": _("Overdue payment reminders"),
    "sales.tasks.route_lead": _("Assign a lead"),
    "sales.tasks.route_leads": _("Assign leads"),
    "sales.tasks.route_imported_leads": _("Assign imported leads"),
    "sales.tasks.route_waiting_leads": _("Assign waiting leads"),
    "sales.tasks.reassign_untouched_leads": _("Reassign untouched leads"),
    "sales.tasks.refresh_furthest_positions": _("Recompute how far deals got"),
    "reports.tasks.send_scheduled_reports": _("Mail scheduled reports"),
    "reports.tasks.refresh_sales_months": _("Sum sales per month"),
    "reports.tasks.refresh_customer_months": _("Sum new customers per month"),
}


def _key() -> str:
    return f"crm:failed-tasks:{connection.settings_dict['NAME']}"


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)


def _short(exception) -> str:
    text = str(exception).strip()
    line = text.splitlines()[0] if text else ""
    message = f"{type(exception).__name__}: {line}" if line else type(exception).__name__
    return message if len(message) <= ERROR_LENGTH else message[:ERROR_LENGTH - 1] + "…"


def failure_record(*, task_name: str, task_id: str | None, exception, retries: int = 0,
                   now: datetime | None = None) -> bool:
    """Keep one failed task run (the newest first, KEEP at most); False if Redis did not answer."""
    entry = json.dumps({"task": task_name, "id": task_id, "at": (now or timezone.now()).astimezone(UTC).isoformat(),
                        "error": _short(exception), "retries": retries}, ensure_ascii=False)
    client = _client()
    try:
        client.pipeline().lpush(_key(), entry).ltrim(_key(), 0, KEEP - 1).execute()
        return True
    except redis.RedisError:
        logger.warning("could not record the failure of task %s (%s): Redis did not answer", task_name, task_id)
        return False
    finally:
        client.close()


@dataclass
class FailedTask:
    name: str
    at: datetime
    error: str
    retries: int = 0

    @property
    def label(self):
        return TASK_LABELS.get(self.name, self.name)


@dataclass
class FailedTasks:
    count: int = 0  # in the last WINDOW
    at_least: bool = False  # the list is full and all of it is recent: there were more
    recent: list[FailedTask] = field(default_factory=list)


def failed_tasks(*, now: datetime | None = None) -> FailedTasks | None:
    """The task runs that failed in the last 24 hours, the newest SHOWN of them listed; None if Redis does not
    answer."""
    since = (now or timezone.now()) - WINDOW
    client = _client()
    try:
        raw = client.lrange(_key(), 0, KEEP - 1)
    except redis.RedisError:
        logger.warning("the dashboard could not read the failed tasks: Redis did not answer")
        return None
    finally:
        client.close()
    found = FailedTasks()
    for item in raw:
        try:
            entry = json.loads(item)
            task = FailedTask(name=entry["task"], at=datetime.fromisoformat(entry["at"]), error=entry.get("error", ""),
                              retries=entry.get("retries") or 0)
        except (ValueError, KeyError, TypeError):
            continue  # not ours, or from an older layout: skipped rather than failing the page
        if task.at < since:
            break  # newest first: everything after is older
        found.count += 1
        if len(found.recent) < SHOWN:
            found.recent.append(task)
    found.at_least = len(raw) >= KEEP and found.count == len(raw)
    return found
