"""The home page's dashboards: a rep's pipeline, tasks and target; a manager's funnel, ranking and forecast over his
subtree; an administrator's company figures and system health; the simple dashboard of marketing and support. The
figures against hand-computed ones, the scope, and the drill-down links (each opens a list of exactly the counted
records).

Known fixtures, relative to today (T = the last day of this month; M1, M2, M3 = the first of the next three months):

    rep (上海组)    open: A first 10,000 (no close date); B second 20,000 (close M2+9, i.e. in the 3rd month);
                   C second 5,000 USD (close T); D third 30,000 (close T).
                   won this month: 12,000 and 3,000; 9,999 USD; lost this month 4,000; won last month 8,000.
                   target this month 60,000.
    rep2 (杭州组)   open: E first 40,000; F fourth 10,000 (close M1+4); G first 99,000 (close M3: outside the
                   forecast); H third 1,000 (close yesterday: overdue, outside the forecast).
                   won this month 50,000. target this month 40,000.
    rep3 (华南)     open: I first 70,000 (close M1+4). won this month 90,000.
Stage probabilities: first 10 %, second 30 %, third 50 %, fourth 70 %.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from crm.backups.models import Backup, BackupStatus
from crm.exports.models import ExportStatus
from crm.imports.models import ImportJob, ImportStatus
from crm.notifications.models import Notification
from reports import dashboard_health
from reports.filters import add_months, month_start
from reports.models import SalesTarget
from tests.factories import FollowUpFactory
from tests.factories.exports import ExportJobFactory
from tests.factories.sales_pipeline import OpportunityFactory, stages_fixture  # noqa: F401

HOME = reverse("home")


def deal(owner, stage, amount, *, currency="CNY", close=None, closed_at=None):
    extra = {"stage_entered_at": closed_at, "closed_at": closed_at} if closed_at else {}
    return OpportunityFactory(owner=owner, stage=stage, amount=Decimal(amount), currency=currency,
                              expected_close=close, **extra)


@pytest.fixture
def world(stages, teams, sales_manager, sales_rep, other_rep, south_rep):
    today = timezone.localdate()
    now = timezone.now()
    first = month_start(today)
    last = add_months(first, 1) - timedelta(days=1)
    m1, m2, m3 = (add_months(first, n) for n in (1, 2, 3))
    last_month = timezone.make_aware(datetime.combine(first - timedelta(days=1), time(12)))
    deals = SimpleNamespace(
        A=deal(sales_rep, stages.first, "10000"),
        B=deal(sales_rep, stages.second, "20000", close=m2 + timedelta(days=9)),
        C=deal(sales_rep, stages.second, "5000", currency="USD", close=last),
        D=deal(sales_rep, stages.third, "30000", close=last),
        rep_won_1=deal(sales_rep, stages.won, "12000", closed_at=now),
        rep_won_2=deal(sales_rep, stages.won, "3000", closed_at=now),
        rep_won_usd=deal(sales_rep, stages.won, "9999", currency="USD", closed_at=now),
        rep_lost=deal(sales_rep, stages.lost, "4000", closed_at=now),
        rep_won_last_month=deal(sales_rep, stages.won, "8000", closed_at=last_month),
        E=deal(other_rep, stages.first, "40000"),
        F=deal(other_rep, stages.fourth, "10000", close=m1 + timedelta(days=4)),
        G=deal(other_rep, stages.first, "99000", close=m3),
        H=deal(other_rep, stages.third, "1000", close=today - timedelta(days=1)),
        rep2_won=deal(other_rep, stages.won, "50000", closed_at=now),
        I=deal(south_rep, stages.first, "70000", close=m1 + timedelta(days=4)),
        rep3_won=deal(south_rep, stages.won, "90000", closed_at=now),
    )
    SalesTarget.objects.create(user=sales_rep, month=first, amount=Decimal("60000"))
    SalesTarget.objects.create(user=sales_rep, month=add_months(first, -1), amount=Decimal("1"))
    SalesTarget.objects.create(user=other_rep, month=first, amount=Decimal("40000"))
    return SimpleNamespace(deals=deals, stages=stages, first=first, months=[first, m1, m2])


def ids(*opportunities) -> set[int]:
    return {o.pk for o in opportunities}


def listed(client, link) -> set[int]:
    response = client.get(link)
    assert response.status_code == 200
    return {o.pk for o in response.context["page"].object_list}


def home(client):
    response = client.get(HOME)
    assert response.status_code == 200
    return response


def stage_rows(figures) -> dict:
    return {row.stage.name: (row.count, row.amount) for row in figures.rows}


# ------------------------------------------------------------------------------------------------------- a rep


def test_a_rep_sees_his_own_pipeline_by_stage_and_each_row_opens_those_deals(client_as, world, sales_rep):
    client = client_as(sales_rep)
    response = home(client)
    assert response.context["kind"] == "rep"
    pipeline = response.context["pipeline"]
    s = world.stages
    assert stage_rows(pipeline) == {
        s.first.name: (1, Decimal("10000.00")), s.second.name: (2, Decimal("20000.00")),
        s.third.name: (1, Decimal("30000.00")), s.fourth.name: (0, Decimal("0.00")),
    }
    assert (pipeline.count, pipeline.amount, pipeline.other_currencies) == (4, Decimal("60000.00"), 1)
    d = world.deals
    expected = {s.first.pk: ids(d.A), s.second.pk: ids(d.B, d.C), s.third.pk: ids(d.D), s.fourth.pk: set()}
    for row in pipeline.rows:
        assert listed(client, row.link) == expected[row.stage.pk], row.stage.name
    # the page shows the panel, the note on the USD deal, and the chart's links to the same lists
    assert b'data-panel="pipeline"' in response.content and b"data-other-currencies" in response.content
    chart = response.context["chart_by_key"]["pipeline"]
    assert chart.links == {row.label: row.link for row in pipeline.rows}
    assert "funnel" not in response.context and "health" not in response.context


def test_a_rep_sees_his_target_and_what_he_has_won_this_month(client_as, world, sales_rep):
    client = client_as(sales_rep)
    target = home(client).context["target"]
    # 12,000 + 3,000 CNY won this month (the USD deal, the lost one and last month's are not)
    assert (target.won_count, target.won, target.target) == (2, Decimal("15000.00"), Decimal("60000.00"))
    assert target.percent == 25
    assert listed(client, target.link) == ids(world.deals.rep_won_1, world.deals.rep_won_2)


def test_a_rep_without_a_target_is_told_so(client_as, world, other_rep):
    SalesTarget.objects.filter(user=other_rep).delete()
    response = home(client_as(other_rep))
    assert response.context["target"].target is None
    assert "No target has been set for you this month." in response.content.decode()


def test_tasks_count_the_users_open_follow_ups_overdue_and_due_today(client_as, world, sales_rep, other_rep):
    now = timezone.now()
    midnight = timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=1), time.min))
    overdue = [FollowUpFactory(assignee=sales_rep, due_at=now - timedelta(hours=1)),
               FollowUpFactory(assignee=sales_rep, due_at=now - timedelta(days=2))]
    today = [FollowUpFactory(assignee=sales_rep, due_at=now + (midnight - now) / 2)]
    FollowUpFactory(assignee=sales_rep, due_at=midnight + timedelta(days=1))  # upcoming
    FollowUpFactory(assignee=sales_rep, due_at=now - timedelta(hours=3), status="done")
    FollowUpFactory(assignee=other_rep, due_at=now - timedelta(hours=1))  # someone else's
    client = client_as(sales_rep)
    tasks = home(client).context["tasks"]
    assert (tasks.overdue, tasks.today) == (2, 1)
    for link, expected in ((tasks.overdue_link, overdue), (tasks.today_link, today)):
        response = client.get(link)
        assert response.status_code == 200
        assert {task.pk for task in response.context["page"].object_list} == {task.pk for task in expected}


# --------------------------------------------------------------------------------------------------- a manager


def test_a_manager_sees_his_subtrees_open_deals_per_stage_of_the_default_pipeline(client_as, world, sales_manager):
    client = client_as(sales_manager)
    response = home(client)
    assert response.context["kind"] == "manager"
    funnel, s, d = response.context["funnel"], world.stages, world.deals
    # 华南's deal I (first stage, 70,000) is not his
    assert stage_rows(funnel) == {
        s.first.name: (3, Decimal("149000.00")), s.second.name: (2, Decimal("20000.00")),
        s.third.name: (2, Decimal("31000.00")), s.fourth.name: (1, Decimal("10000.00")),
    }
    expected = {s.first.pk: ids(d.A, d.E, d.G), s.second.pk: ids(d.B, d.C), s.third.pk: ids(d.D, d.H),
                s.fourth.pk: ids(d.F)}
    for row in funnel.rows:
        assert listed(client, row.link) == expected[row.stage.pk], row.stage.name
    assert "pipeline" not in response.context and "target" not in response.context


def test_a_manager_ranks_his_people_by_the_amount_won_this_month(client_as, world, sales_manager, sales_rep,
                                                                 other_rep):
    client = client_as(sales_manager)
    ranking = home(client).context["ranking"]
    assert [(r.rank, r.person, r.won_count, r.won, r.target) for r in ranking] == [
        (1, other_rep, 1, Decimal("50000.00"), Decimal("40000")),
        (2, sales_rep, 2, Decimal("15000.00"), Decimal("60000")),
        (3, sales_manager, 0, Decimal("0.00"), None),
    ]
    assert ranking[0].attainment == pytest.approx(1.25) and ranking[1].attainment == pytest.approx(0.25)
    d = world.deals
    assert listed(client, ranking[0].link) == ids(d.rep2_won)
    assert listed(client, ranking[1].link) == ids(d.rep_won_1, d.rep_won_2)
    assert listed(client, ranking[2].link) == set()


def test_a_manager_sees_the_forecast_of_the_next_three_months(client_as, world, sales_manager):
    client = client_as(sales_manager)
    forecast = home(client).context["forecast"]
    # this month: D (30,000 at 50 %); next: F (10,000 at 70 %); the one after: B (20,000 at 30 %). C is in USD, G
    # beyond the three months, H overdue, I in 华南.
    assert [(r.month, r.count, r.amount, r.weighted) for r in forecast] == [
        (world.months[0], 1, Decimal("30000.00"), Decimal("15000.00")),
        (world.months[1], 1, Decimal("10000.00"), Decimal("7000.00")),
        (world.months[2], 1, Decimal("20000.00"), Decimal("6000.00")),
    ]
    d = world.deals
    assert [listed(client, r.link) for r in forecast] == [ids(d.D), ids(d.F), ids(d.B)]


# --------------------------------------------------------------------------------------------- the administrator


def test_an_admin_sees_the_whole_company(client_as, world, admin_user, south_rep, other_rep):
    client = client_as(admin_user)
    response = home(client)
    assert response.context["kind"] == "admin"
    s, d = world.stages, world.deals
    assert stage_rows(response.context["funnel"])[s.first.name] == (4, Decimal("219000.00"))
    first_row = response.context["funnel"].rows[0]
    assert listed(client, first_row.link) == ids(d.A, d.E, d.G, d.I)
    ranking = response.context["ranking"]
    assert [(r.rank, r.person, r.won) for r in ranking[:2]] == [(1, south_rep, Decimal("90000.00")),
                                                                (2, other_rep, Decimal("50000.00"))]
    forecast = response.context["forecast"]
    assert (forecast[1].count, forecast[1].amount, forecast[1].weighted) == (2, Decimal("80000.00"),
                                                                             Decimal("14000.00"))
    assert listed(client, forecast[1].link) == ids(d.F, d.I)
    assert b'data-panel="health"' in response.content


def test_system_health_says_honestly_that_no_backup_was_taken(client_as, admin_user):
    Backup.objects.create(status=BackupStatus.FAILED, error="pg_dump failed")  # a failed one does not count
    response = home(client_as(admin_user))
    assert response.context["health"].backup is None
    assert "No backup has been taken yet." in response.content.decode()


def test_system_health_shows_the_last_finished_backup(client_as, admin_user):
    started = datetime(2026, 3, 1, 2, 30, tzinfo=timezone.get_current_timezone())
    older = Backup.objects.create(status=BackupStatus.DONE, size=1000, finished_at=started)
    Backup.objects.filter(pk=older.pk).update(started_at=started - timedelta(days=1))
    newest = Backup.objects.create(status=BackupStatus.DONE, size=2048, media_size=0, finished_at=started)
    Backup.objects.filter(pk=newest.pk).update(started_at=started)
    Backup.objects.create(status=BackupStatus.RUNNING)
    response = home(client_as(admin_user))
    assert response.context["health"].backup == newest
    page = response.content.decode()
    assert "No backup has been taken yet." not in page
    assert "2026-03-01 02:30" in page and reverse("backups:list") in page


def test_failed_jobs_of_the_last_day_are_counted_and_listed(client_as, admin_user, other_rep):
    def import_job(status, name):
        return ImportJob.objects.create(resource="customers.customer", created_by=other_rep, file="imports/a.xlsx",
                                        file_name=name, file_sha256="0" * 64, file_type="xlsx", status=status,
                                        error="第3行: 手机号格式不对\nTraceback …")

    failed_import = import_job(ImportStatus.FAILED, "客户名单.xlsx")
    old_import = import_job(ImportStatus.FAILED, "旧名单.xlsx")
    ImportJob.objects.filter(pk=old_import.pk).update(updated_at=timezone.now() - timedelta(hours=25))
    import_job(ImportStatus.COMMITTED, "好名单.xlsx")
    failed_export = ExportJobFactory(created_by=other_rep, status=ExportStatus.FAILED, finished_at=timezone.now(),
                                     error="disk full")
    ExportJobFactory(created_by=other_rep, status=ExportStatus.FAILED,
                     finished_at=timezone.now() - timedelta(days=2))
    ExportJobFactory(created_by=other_rep, done=True, finished_at=timezone.now())

    client = client_as(admin_user)
    response = home(client)
    failed = response.context["health"].failed
    assert (failed.imports, failed.exports) == (1, 1)
    links = {job.link for job in failed.recent}
    assert links == {reverse("imports:detail", args=[failed_import.pk]),
                     reverse("exports:detail", args=[failed_export.pk])}
    assert {job.error for job in failed.recent} == {"第3行: 手机号格式不对", "disk full"}
    for link in links:  # each opens the job's page for the administrator
        assert client.get(link).status_code == 200


def test_unmailed_notifications_of_the_last_day_are_counted(client_as, admin_user, sales_rep, other_rep):
    other_rep.notify_by_email = False
    other_rep.save()
    now = timezone.now()

    def notification(user, *, ago, **fields):
        made = Notification.objects.create(user=user, kind="reminder", title="回访提醒", **fields)
        Notification.objects.filter(pk=made.pk).update(created_at=now - ago)

    notification(sales_rep, ago=timedelta(minutes=10))  # waiting for the sweep
    notification(sales_rep, ago=timedelta(hours=2), email_attempts=3)  # given up
    notification(sales_rep, ago=timedelta(seconds=20))  # still on its way
    notification(sales_rep, ago=timedelta(minutes=10), emailed_at=now)  # mailed
    notification(sales_rep, ago=timedelta(hours=30))  # older than a day
    notification(other_rep, ago=timedelta(minutes=10))  # does not want mail
    unmailed = home(client_as(admin_user)).context["health"].unmailed
    assert (unmailed.waiting, unmailed.given_up) == (1, 1)


def test_queue_length_counts_the_brokers_list_with_its_priority_lists():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = "test-dashboard-queue"
    try:
        client.rpush(queue, "a", "b", "c")
        client.rpush(f"{queue}\x06\x163", "d")
        assert dashboard_health.queue_length(queue) == 4
        assert dashboard_health.queue_length("test-dashboard-empty") == 0
    finally:
        client.delete(queue, f"{queue}\x06\x163")
        client.close()


def test_a_silent_broker_is_shown_as_such_rather_than_failing_the_page(client_as, admin_user, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nobody listens there
    response = home(client_as(admin_user))
    assert response.context["health"].queue is None
    assert "the queue's server does not answer" in response.content.decode()


def test_only_administrators_see_the_systems_health(client_as, world, sales_manager, sales_rep):
    for user in (sales_manager, sales_rep):
        response = home(client_as(user))
        assert "health" not in response.context
        assert b'data-panel="health"' not in response.content


# ------------------------------------------------------------------------------------- marketing and support


@pytest.mark.parametrize("fixture", ["marketing_user", "support_agent"])
def test_marketing_and_support_get_their_tasks_and_reports_and_no_sales_figures(request, client_as, world, fixture):
    user = request.getfixturevalue(fixture)
    FollowUpFactory(assignee=user, due_at=timezone.now() - timedelta(hours=1))
    response = home(client_as(user))
    assert response.context["kind"] == "other"
    assert response.context["tasks"].overdue == 1
    keys = [report.key for report in response.context["reports"]]
    assert "activity" in keys and "funnel" not in keys and "performance" not in keys
    for panel in ("pipeline", "funnel", "ranking", "forecast", "target", "health"):
        assert panel not in response.context
    content = response.content.decode()
    assert reverse("reports:report", args=["activity"]) in content
    assert reverse("reports:subscription_list") in content


# ------------------------------------------------------------------------------------------------- the page


def test_the_dashboard_runs_a_bounded_number_of_queries(client_as, world, admin_user, sales_manager, sales_rep,
                                                       django_assert_max_num_queries):
    for user, most in ((sales_rep, 14), (sales_manager, 20), (admin_user, 20)):
        client = client_as(user)
        with django_assert_max_num_queries(most):
            home(client)


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(HOME)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
