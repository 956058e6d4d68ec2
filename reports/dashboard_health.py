"""The system's health, on an administrator's dashboard: the last backup, the Celery queue's length, the background
jobs that failed in the last day (imports and exports from their rows, any task run that raised from
reports.failed_tasks), and the notifications that should have been mailed and were not."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from crm.backups import selectors as backup_selectors
from crm.celery import app as celery_app
from crm.exports.models import ExportJob, ExportStatus
from crm.imports.models import ImportJob, ImportStatus
from crm.notifications.models import Notification
from crm.notifications.services import MAX_EMAIL_ATTEMPTS

from .failed_tasks import FailedTasks, failed_tasks

logger = logging.getLogger(__name__)

FAILED_WINDOW = timedelta(hours=24)
FAILED_SHOWN = 5  # failed jobs listed under their count, newest first, each linking to its page
# A notification younger than this is still on its way (the mail task runs after the commit).
MAIL_GRACE = timedelta(minutes=2)
# kombu's Redis transport keeps a queue's prioritised messages in lists of their own: "celery", "celery\x06\x163" …
PRIORITY_SEPARATOR, PRIORITY_STEPS = "\x06\x16", (3, 6, 9)


def last_backup():
    """The newest backup that finished, or None: the dashboard then says that no backup has been taken."""
    return backup_selectors.last_backup()


def default_queue() -> str:
    return celery_app.conf.task_default_queue or "celery"


def queue_length(queue: str | None = None) -> int | None:
    """Messages waiting in the broker's queue (Redis LLEN over the queue's priority lists); None when the broker
    does not answer within half a second."""
    queue = queue or default_queue()
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        pipe = client.pipeline(transaction=False)
        for name in [queue] + [f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]:
            pipe.llen(name)
        return sum(pipe.execute())
    except redis.RedisError:
        logger.warning("the broker did not answer the dashboard's queue length")
        return None
    finally:
        client.close()


@dataclass
class FailedJob:
    kind: str  # "import" or "export"
    name: str
    at: datetime
    error: str
    link: str


@dataclass
class FailedJobs:
    imports: int = 0
    exports: int = 0
    recent: list[FailedJob] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.imports + self.exports


def failed_jobs(*, now: datetime | None = None) -> FailedJobs:
    """Imports and exports that ended failed in the last 24 hours (an import's last change, an export's end)."""
    since = (now or timezone.now()) - FAILED_WINDOW
    imports = ImportJob.objects.filter(status=ImportStatus.FAILED, updated_at__gte=since)
    exports = ExportJob.objects.filter(Q(finished_at__gte=since) | Q(finished_at__isnull=True, created_at__gte=since),
                                       status=ExportStatus.FAILED)
    found = FailedJobs(imports=imports.count(), exports=exports.count())
    recent = [FailedJob("import", job.file_name, job.updated_at, _first_line(job.error),
                        reverse("imports:detail", args=[job.pk]))
              for job in imports.order_by("-updated_at", "-pk")[:FAILED_SHOWN]]
    recent += [FailedJob("export", job.model_key, job.finished_at or job.created_at, _first_line(job.error),
                         reverse("exports:detail", args=[job.pk]))
               for job in exports.order_by("-created_at", "-pk")[:FAILED_SHOWN]]
    found.recent = sorted(recent, key=lambda job: job.at, reverse=True)[:FAILED_SHOWN]
    return found


def _first_line(text: str) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= 120 else line[:119] + "…"


@dataclass
class Unmailed:
    waiting: int  # the sweep will try again
    given_up: int  # failed too often: nobody will get these by mail


def unmailed_notifications(*, now: datetime | None = None) -> Unmailed:
    """Notifications of the last day that their users want by mail and did not get (one aggregate): the worker died
    before mailing them, or the mail server refused."""
    now = now or timezone.now()
    counts = (Notification.objects.filter(
        emailed_at__isnull=True, user__notify_by_email=True, user__is_active=True,
        created_at__lt=now - MAIL_GRACE, created_at__gte=now - FAILED_WINDOW)
        .exclude(user__email="").order_by()
        .aggregate(waiting=Count("pk", filter=Q(email_attempts__lt=MAX_EMAIL_ATTEMPTS)),
                   given_up=Count("pk", filter=Q(email_attempts__gte=MAX_EMAIL_ATTEMPTS))))
    return Unmailed(waiting=counts["waiting"], given_up=counts["given_up"])


@dataclass
class Health:
    backup: object
    queue: int | None
    queue_name: str
    failed: FailedJobs
    unmailed: Unmailed
    tasks: FailedTasks | None = None  # None: Redis did not answer


def system_health(*, now: datetime | None = None) -> Health:
    return Health(backup=last_backup(), queue=queue_length(), queue_name=default_queue(),
                  failed=failed_jobs(now=now), unmailed=unmailed_notifications(now=now), tasks=failed_tasks(now=now))
