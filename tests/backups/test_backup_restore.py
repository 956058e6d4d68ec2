"""Backups end to end with the real pg_dump and pg_restore: back up the test database, restore it into a scratch
database, compare; a damaged file is refused; retention keeps only the newest; the page is the administrators'.

Tests that dump use ``transaction=True``: pg_dump reads committed data only, and pytest-django's per-test transaction
would hide every row the test created.
"""

import hashlib
import io
import tarfile
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone, translation

from crm.backups import schedule as services_schedule
from crm.backups import services
from crm.backups.models import Backup, BackupStatus
from crm.backups.tasks import run_backup, run_restore_drill
from crm.notifications.models import Notification
from customers.models import Contact, Customer
from tests.factories import ContactFactory, CustomerFactory


@pytest.fixture(autouse=True)
def english():
    """The command speaks the active language; its messages are checked in English (and once in Chinese)."""
    with translation.override("en"):
        yield


@pytest.fixture
def scratch_database():
    """A unique name for a database to restore into, dropped afterwards whatever happened."""
    name = f"test_restore_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        services.database_drop(name)
        assert not services.database_exists(name)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_into_a_fresh_database_gives_the_same_rows(admin_user, media_root, backup_root,
                                                                        scratch_database):
    # given customers, contacts and an uploaded file
    customers = CustomerFactory.create_batch(5, owner=admin_user)
    ContactFactory.create_batch(3, customer=customers[0])
    (media_root / "attachments").mkdir(parents=True)
    (media_root / "attachments" / "合同.txt").write_bytes("双方签字".encode())
    # when an administrator backs up
    backup = services.backup_create(actor=admin_user)
    # then the dump and the files' archive are there, with their sizes and checksums
    assert backup.status == BackupStatus.DONE, backup.error
    assert backup.started_by == admin_user and backup.finished_at >= backup.started_at
    dump, archive = backup_root / backup.file, backup_root / backup.media_file
    assert dump.read_bytes()[:5] == b"PGDMP"  # custom format
    assert (backup.size, backup.sha256) == (dump.stat().st_size, _sha256(dump))
    assert (backup.media_size, backup.media_sha256) == (archive.stat().st_size, _sha256(archive))
    with tarfile.open(archive) as tar:
        assert tar.extractfile("media/attachments/合同.txt").read() == "双方签字".encode()
    assert not list(backup_root.glob("*.part"))
    # and the row counts are the exact ones
    assert backup.row_counts["customers.customer"] == 5 == Customer.objects.count()
    assert backup.row_counts["customers.contact"] == 3 == Contact.objects.count()
    assert backup.row_counts["accounts.user"] >= 1
    assert set(backup.row_counts) == set(services.COUNTED_MODELS)

    # when the data changes after the backup, then the restore still gives the backup's rows
    Customer.objects.all().delete()
    out = io.StringIO()
    call_command("restore_backup", str(backup.pk), "--database-name", scratch_database,
                 "--media-dir", str(media_root.parent / "restored-media"), stdout=out)
    report = out.getvalue()
    assert "The restore is complete: every table has the recorded row count." in report
    assert (media_root.parent / "restored-media" / "attachments" / "合同.txt").read_text() == "双方签字"
    result_counts = _counts_in(scratch_database)
    assert result_counts["customers.customer"] == 5
    assert result_counts == backup.row_counts


def _counts_in(database_name) -> dict:
    import psycopg

    with psycopg.connect(**services._pg_params(database_name)) as conn, conn.cursor() as cursor:
        return services.count_rows(cursor)


@pytest.mark.django_db(transaction=True)
def test_restore_by_path_uses_the_manifest_and_refuses_an_existing_database(backup_root, scratch_database):
    CustomerFactory.create_batch(2)
    backup = services.backup_create()
    assert backup.status == BackupStatus.DONE and backup.started_by is None
    # an existing database is never restored over
    with pytest.raises(CommandError, match="The database postgres already exists"):
        call_command("restore_backup", str(backup.pk), "--database-name", "postgres")
    # the path of a dump whose row is lost: the manifest beside it has the checksums and counts
    Backup.objects.all().delete()
    out = io.StringIO()
    call_command("restore_backup", str(backup_root / backup.file), "--database-name", scratch_database, stdout=out)
    assert "customers.customer" in out.getvalue()
    assert _counts_in(scratch_database)["customers.customer"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_tampered_dump_is_refused_before_anything_is_restored(backup_root, scratch_database):
    CustomerFactory()
    backup = services.backup_create()
    dump = backup_root / backup.file
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte changed
    dump.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="checksum of .* does not match: recorded .*it will not be restored"):
        call_command("restore_backup", str(backup.pk), "--database-name", scratch_database)
    with translation.override("zh-hans"), pytest.raises(CommandError, match="的校验值不一致.*文件已损坏或被修改"):
        call_command("restore_backup", str(backup.pk), "--database-name", scratch_database)
    assert not services.database_exists(scratch_database)


def test_restore_reports_differences_and_exits_non_zero(monkeypatch, db):
    backup = Backup.objects.create(status=BackupStatus.DONE, file="x.dump", row_counts={"customers.customer": 3})
    monkeypatch.setattr(services, "backup_verify_restore", lambda b, **kw: {
        "database": "crm_x", "expected": {"customers.customer": 3}, "actual": {"customers.customer": 2},
        "differences": {"customers.customer": (3, 2)}, "ok": False})
    out = io.StringIO()
    with pytest.raises(CommandError, match="differs from the backup in 1 tables"):
        call_command("restore_backup", str(backup.pk), "--database-name", "crm_x", stdout=out)
    assert "differs" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_failed_dump_ends_failed_with_its_error_and_leaves_no_file(monkeypatch, backup_root):
    real_pg_binary, real_pg_env = services.pg_binary, services._pg_env
    monkeypatch.setattr(services, "pg_binary", lambda name, version=None: "/nonexistent/pg_dump")
    backup = services.backup_create()
    assert backup.status == BackupStatus.FAILED
    assert "/nonexistent/pg_dump" in backup.error
    assert (backup.file, backup.media_file) == ("", "")
    assert list(backup_root.iterdir()) == []
    # pg_dump failing (a database that is not there): its own message is kept
    monkeypatch.setattr(services, "pg_binary", real_pg_binary)
    monkeypatch.setattr(services, "_pg_env",
                        lambda dbname=None: {**real_pg_env(), "PGDATABASE": "no_such_database_here"})
    backup = services.backup_create()
    assert backup.status == BackupStatus.FAILED and "no_such_database_here" in backup.error
    assert list(backup_root.iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_retention_keeps_only_the_newest(settings, backup_root):
    settings.CRM_BACKUP_KEEP = 2
    first = services.backup_create()
    Backup.objects.filter(pk=first.pk).update(started_at=timezone.now() - timedelta(days=3))
    second = services.backup_create()
    Backup.objects.filter(pk=second.pk).update(started_at=timezone.now() - timedelta(days=2))
    old_failure = Backup.objects.create(status=BackupStatus.FAILED, error="disk full")
    Backup.objects.filter(pk=old_failure.pk).update(started_at=timezone.now() - timedelta(days=4))
    third = services.backup_create()
    # the oldest done backup is gone, files and row, and so is the failure before it
    assert sorted(Backup.objects.values_list("pk", flat=True)) == [second.pk, third.pk]
    names = {path.name for path in backup_root.iterdir()}
    assert not any(name.startswith("crm-") and name.endswith(f"-{first.pk}.dump") for name in names)
    assert {second.file, second.media_file, third.file, third.media_file} <= names
    assert len(names) == 6  # two backups × dump, archive, manifest


@pytest.mark.django_db(transaction=True)
def test_the_task_takes_a_backup_and_a_running_one_blocks_a_second(admin_user):
    assert Backup.objects.get(pk=run_backup(admin_user.pk)).status == BackupStatus.DONE
    # while another backup holds the lock, the task returns quietly
    import psycopg

    with psycopg.connect(**services._pg_params(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [services.ADVISORY_LOCK_KEY])
        assert run_backup() is None
    assert Backup.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_backup_left_running_by_a_dead_worker_is_marked_failed():
    stale = Backup.objects.create()
    services.backup_create()
    stale.refresh_from_db()
    assert stale.status == BackupStatus.FAILED and stale.error


# ------------------------------------------------------------------------------------------------------- pages


def test_the_page_lists_backups_for_admins(client_as, admin_user):
    Backup.objects.create(status=BackupStatus.DONE, file="a.dump", size=2048, sha256="ab" * 32,
                          row_counts={"customers.customer": 1234}, started_by=admin_user, finished_at=timezone.now())
    Backup.objects.create(status=BackupStatus.FAILED, error="pg_dump failed (exit code 1): no space left")
    response = client_as(admin_user).get(reverse("backups:list"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "abababababab" in page and "2.0\xa0KB" in page
    assert "customers 1,234" in page
    assert "no space left" in page and "Daily schedule" in page
    assert "Back up now" in page and 'data-confirm="' in page


def test_back_up_now_enqueues_the_task_after_commit(client_as, admin_user, monkeypatch,
                                                     django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(run_backup, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as(admin_user).post(reverse("backups:create"))
    assert response.status_code == 302 and response.url == reverse("backups:list")
    assert sent == [(admin_user.pk,)]


def test_back_up_now_is_refused_while_one_runs(client_as, admin_user, monkeypatch,
                                               django_capture_on_commit_callbacks):
    Backup.objects.create()
    sent = []
    monkeypatch.setattr(run_backup, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as(admin_user).post(reverse("backups:create"), follow=True)
    assert sent == [] and "already running" in response.content.decode()


@pytest.mark.parametrize("role", ["sales_manager", "sales_rep", "marketing_user", "support_agent"])
def test_the_page_and_the_button_are_for_admins_only(request, client_as, role, monkeypatch):
    sent = []
    monkeypatch.setattr(run_backup, "delay", lambda *args: sent.append(args))
    client = client_as(request.getfixturevalue(role))
    assert client.get(reverse("backups:list")).status_code == 403
    assert client.post(reverse("backups:create")).status_code == 403
    assert sent == []


def test_the_sidebar_links_the_page_for_admins_only(client_as, admin_user, sales_manager):
    url = reverse("backups:list")
    assert url in client_as(admin_user).get(reverse("customers:list")).content.decode()
    assert url not in client_as(sales_manager).get(reverse("customers:list")).content.decode()


def test_the_page_in_chinese(client_as, admin_user):
    Backup.objects.create(status=BackupStatus.DONE, file="a.dump", size=10, sha256="0" * 64,
                          row_counts={"customers.customer": 3}, finished_at=timezone.now())
    page = client_as(admin_user, language="zh-hans").get(reverse("backups:list")).content.decode()
    assert "立即备份" in page and "每日定时任务" in page and "行数" in page


# ------------------------------------------------------------------------------------------------- restore drill


def _scratch_databases() -> set:
    import psycopg

    with psycopg.connect(**services._pg_params("postgres")) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'crm_restore_drill%%'")
        return {row[0] for row in rows}


@pytest.mark.django_db(transaction=True)
def test_the_restore_drill_restores_the_newest_backup_and_records_that_it_passed(admin_user, backup_root):
    CustomerFactory.create_batch(3)
    services.backup_create()
    newest = services.backup_create()
    # when the weekly drill runs
    assert run_restore_drill() == newest.pk
    # then the newest backup is recorded as restored with equal counts, and no scratch database is left
    newest.refresh_from_db()
    assert newest.drill_ok is True and newest.drilled_at is not None and newest.drill_report == ""
    assert _scratch_databases() == set()
    assert not Notification.objects.filter(user=admin_user).exists()


@pytest.mark.django_db(transaction=True)
def test_a_failed_restore_drill_is_recorded_and_told_to_every_administrator(admin_user, sales_manager, backup_root,
                                                                            client_as):
    CustomerFactory()
    backup = services.backup_create()
    dump = backup_root / backup.file
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01  # the disk damaged one byte
    dump.write_bytes(bytes(data))
    # when the drill runs
    services.backup_restore_drill()
    # then the backup shows the failed drill with its reason, and only the administrators are told
    backup.refresh_from_db()
    assert backup.drill_ok is False and "does not match" in backup.drill_report
    (note,) = Notification.objects.filter(user=admin_user)
    # in the administrator's language (the site's default here: he chose none)
    assert note.title.endswith("的备份恢复演练失败") and "does not match" in note.body
    assert note.url == reverse("backups:list")
    assert not Notification.objects.filter(user=sales_manager).exists()
    assert _scratch_databases() == set()
    page = client_as(admin_user).get(reverse("backups:list")).content.decode()
    assert "does not match" in page[page.index("data-drill"):]


def test_the_drill_runs_weekly_in_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["backups-restore-drill"]
    assert entry["task"] == "crm.backups.tasks.run_restore_drill"


@pytest.mark.django_db
def test_no_backup_no_drill():
    assert services.backup_restore_drill() is None


# ---------------------------------------------------------------------------------------------------- schedule


def test_the_daily_backup_schedule_is_kept_in_the_database_where_beat_does_not_overwrite_it(settings, db):
    # beat writes the entries of CELERY_BEAT_SCHEDULE over the database at each start: an administrator's schedule
    # must not be one of them; beat installs the default one at start when there is none
    assert "backups-daily" not in settings.CELERY_BEAT_SCHEDULE
    from celery import signals
    from django_celery_beat.models import PeriodicTask

    from crm.backups.schedule import TASK_NAME

    PeriodicTask.objects.filter(name=TASK_NAME).delete()
    signals.beat_init.send(sender=None)
    task = PeriodicTask.objects.get(name=TASK_NAME)
    assert task.task == "crm.backups.tasks.run_backup" and task.enabled
    assert (task.crontab.hour, task.crontab.minute, task.crontab.day_of_week) == ("2", "30", "*")
    # a schedule the administrator changed stays as he left it when beat starts again
    task.enabled = False
    task.save()
    signals.beat_init.send(sender=None)
    assert not PeriodicTask.objects.get(name=TASK_NAME).enabled


def test_an_administrator_changes_the_backup_schedule_on_the_page(client_as, admin_user):
    from django_celery_beat.models import PeriodicTask

    client = client_as(admin_user)
    page = client.get(reverse("backups:list")).content.decode()
    assert "A backup is taken every day at 02:30" in page
    # when he chooses Monday and Thursday at 03:15
    response = client.post(reverse("backups:schedule"), {"enabled": "on", "time": "03:15", "days": ["1", "4"]},
                           follow=True)
    page = response.content.decode()
    assert "The backup schedule has been saved." in page
    assert "A backup is taken every Monday and Thursday at 03:15" in page
    task = PeriodicTask.objects.get(name="backups-daily")
    assert (task.crontab.hour, task.crontab.minute, task.crontab.day_of_week) == ("3", "15", "1,4")
    assert str(task.crontab.timezone) == django_settings.TIME_ZONE
    # when he turns it off
    page = client.post(reverse("backups:schedule"), {"time": "03:15", "days": ["1", "4"]}, follow=True)
    assert "Scheduled backups are off" in page.content.decode()
    assert not PeriodicTask.objects.get(name="backups-daily").enabled


def test_a_schedule_without_a_day_or_time_is_refused_with_a_message(client_as, admin_user):

    client = client_as(admin_user, language="zh-hans")
    page = client.post(reverse("backups:schedule"), {"enabled": "on", "time": "25:99"}).content.decode()
    assert "至少选择一天" in page and "输入一个有效的时间" in page
    assert services_schedule.backup_schedule() == services_schedule.DEFAULT  # unchanged
    # a good one, and the page says it in Chinese
    page = client.post(reverse("backups:schedule"), {"enabled": "on", "time": "03:15", "days": ["1", "4"]},
                       follow=True).content.decode()
    assert "每星期一、星期四 03:15" in page


@pytest.mark.parametrize("role", ["sales_manager", "sales_rep"])
def test_only_administrators_change_the_schedule(request, client_as, role):

    client = client_as(request.getfixturevalue(role))
    assert client.post(reverse("backups:schedule"), {"enabled": "", "time": "03:00", "days": ["1"]}).status_code == 403
    assert services_schedule.backup_schedule().enabled


# ------------------------------------------------------------------------------------------------ off-site copy


@pytest.fixture
def offsite(settings, tmp_path):
    """An off-site storage for backups. In production it is S3-compatible object storage (django-storages' S3Storage,
    see settings); here a FileSystemStorage elsewhere on the disk, which the code reaches through the same Storage API.
    """
    folder = tmp_path / "offsite"
    settings.STORAGES = settings.STORAGES | {"backups": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(folder)}}}
    from django.core.files.storage import storages

    storages._storages.pop("backups", None)  # storages caches its instances by alias
    yield folder
    storages._storages.pop("backups", None)


@pytest.mark.django_db(transaction=True)
def test_a_backup_is_copied_off_site_and_restored_from_there_when_the_disk_is_lost(backup_root, offsite,
                                                                                   scratch_database):
    CustomerFactory.create_batch(4)
    backup = services.backup_create()
    assert backup.status == BackupStatus.DONE and backup.offsite_at is not None and backup.offsite_error == ""
    for path in services.backup_files(backup):
        assert (offsite / path.name).read_bytes() == path.read_bytes()
    # when the machine's backup folder is lost
    for path in services.backup_files(backup):
        path.unlink()
    # then the restore fetches the files from off-site, checks their checksums and restores
    out = io.StringIO()
    call_command("restore_backup", str(backup.pk), "--database-name", scratch_database, stdout=out)
    assert "every table has the recorded row count" in out.getvalue()
    assert _counts_in(scratch_database)["customers.customer"] == 4


@pytest.mark.django_db(transaction=True)
def test_a_failed_off_site_copy_is_shown_and_the_local_backup_kept(backup_root, offsite, client_as, admin_user):
    offsite.parent.mkdir(parents=True, exist_ok=True)
    offsite.write_text("not a folder")  # the storage cannot write there
    backup = services.backup_create()
    assert backup.status == BackupStatus.DONE and (backup_root / backup.file).is_file()
    assert backup.offsite_at is None and backup.offsite_error
    page = client_as(admin_user).get(reverse("backups:list")).content.decode()
    assert "Off-site copy failed" in page


@pytest.mark.django_db(transaction=True)
def test_retention_deletes_the_off_site_copies_too(settings, backup_root, offsite):
    settings.CRM_BACKUP_KEEP = 1
    first = services.backup_create()
    services.backup_create()
    assert not Backup.objects.filter(pk=first.pk).exists()
    assert not any((offsite / path.name).exists() for path in services.backup_files(first))
    assert len(list(offsite.glob("*.dump"))) == 1


def test_a_schedule_set_in_the_admin_site_beyond_the_form_is_shown_as_it_is(client_as, admin_user):
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    crontab = CrontabSchedule.objects.create(minute="0", hour="*/6", day_of_week="1-5")
    PeriodicTask.objects.update_or_create(name="backups-daily", defaults={"task": "crm.backups.tasks.run_backup",
                                                                          "crontab": crontab})
    page = client_as(admin_user).get(reverse("backups:list"))
    assert page.status_code == 200
    assert "set in the admin site" in page.content.decode()
