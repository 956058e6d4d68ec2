"""Scheduled report mails: subscribing people of one's scope from a report's page, the daily sending (each recipient
gets his own figures, in his language, with the tables as .xlsx if he may export them), once per period even when two
runs meet, nothing for someone who may no longer open the report; the list, deleting (confirmed) and leaving.

Known fixtures: interactions logged this month by rep (上海组) 3, rep2 (杭州组) 2, rep3 (华南) 4; the activity report
counts them per rep and week.
"""

import io
import threading
from datetime import date, datetime, time
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from reports import registry, subscriptions, tasks
from reports.models import Frequency, ReportExport, ReportSubscription
from reports.registry import Report
from reports.tables import Column, Table
from tests.factories import InteractionFactory

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def world(sales_manager, sales_rep, other_rep, south_rep):
    now = timezone.now()
    for author, count in ((sales_rep, 3), (other_rep, 2), (south_rep, 4)):
        for _ in range(count):
            InteractionFactory(author=author, occurred_at=now)
    sales_rep.language = "zh-hans"
    sales_rep.save()
    sales_manager.language = "en"
    sales_manager.save()


@pytest.fixture
def sales_only_report():
    """A report only the sales roles may open."""
    def build(request, filters):
        return {"tables": [Table(key="t", title="T", columns=[Column("x")])]}

    registry.register(Report(key="test-sales-only", title="Sales only", section="Sales",
                             permissions=("sales.view_opportunity",), build=build))
    yield "test-sales-only"
    registry._REPORTS.pop("test-sales-only", None)


def subscribe(actor, recipients, *, query="period=this_month", report="activity", frequency=Frequency.DAILY):
    return subscriptions.subscription_create(actor=actor, report_key=report, query=query, frequency=frequency,
                                             recipients=recipients)


def mail_to(mailoutbox, user):
    found = [m for m in mailoutbox if m.to == [user.email]]
    assert len(found) == 1, [m.to for m in mailoutbox]
    return found[0]


def html_of(message) -> str:
    return next(content for content, kind in message.alternatives if kind == "text/html")


def sheet_rows(message) -> list[tuple]:
    """The weekly table's attachment (the activity report also attaches its summary per rep)."""
    assert sorted(name.split("-")[1] for name, _content, _kind in message.attachments) == ["reps", "weekly"]
    (name, content, kind), = [a for a in message.attachments if a[0].startswith("activity-weekly-")]
    assert kind == XLSX
    return list(load_workbook(io.BytesIO(content), read_only=True).active.iter_rows(values_only=True))


def week_of() -> str:
    today = timezone.localdate()
    return date.fromordinal(today.toordinal() - today.weekday()).isoformat()


# --------------------------------------------------------------------------------------------------- sending


def test_each_recipient_gets_his_own_figures_in_his_language_with_the_tables_as_xlsx(
        world, mailoutbox, sales_manager, sales_rep, other_rep, south_rep):
    subscription = subscribe(sales_manager, [sales_manager, sales_rep])
    assert subscriptions.send_due() == 2

    # the manager (English) sees his subtree: both his reps, not 华南's
    manager_mail = mail_to(mailoutbox, sales_manager)
    rows = sheet_rows(manager_mail)
    assert rows[0] == ("rep", "week of", "interactions", "follow-ups completed")
    assert sorted(rows[1:]) == sorted([(str(sales_rep), week_of(), 3, 0), (str(other_rep), week_of(), 2, 0)])
    html = html_of(manager_mail)
    assert str(other_rep) in html and str(sales_rep) in html and str(south_rep) not in html
    assert "interactions" in html and "[CRM]" in manager_mail.subject

    # the rep (Chinese) sees only himself, though the subscription is his manager's; he may not export interactions,
    # so the figures are in the mail and not attached (as his page shows no export button)
    rep_mail = mail_to(mailoutbox, sales_rep)
    assert rep_mail.attachments == []
    html = html_of(rep_mail)
    assert "互动记录" in html and str(sales_rep) in html and str(other_rep) not in html
    assert "互动记录" in rep_mail.body  # the plain-text part too
    assert f"{sales_rep}\t{week_of()}\t3\t0" in rep_mail.body
    assert "Excel" not in rep_mail.body and "Excel" not in html
    # the drill-down links lead back into the CRM, absolute
    assert 'href="http' in html and reverse("interactions:activity") in html

    # the figures that left the CRM are recorded, as a download's are
    exports = ReportExport.objects.filter(report="activity", table="weekly")
    assert sorted(e.user_id for e in exports) == sorted([sales_manager.pk, sales_rep.pk])
    assert all(e.query.startswith(f"subscription={subscription.pk}&") for e in exports)


def test_a_managers_filter_for_one_rep_gives_another_rep_his_own_figures(world, mailoutbox, sales_manager,
                                                                         sales_rep, other_rep):
    subscribe(sales_manager, [sales_manager, sales_rep], query=f"period=this_month&owner={other_rep.pk}")
    subscriptions.send_due()
    assert [row[0] for row in sheet_rows(mail_to(mailoutbox, sales_manager))[1:]] == [str(other_rep)]
    rep_mail = mail_to(mailoutbox, sales_rep)
    assert str(sales_rep) in rep_mail.body and str(other_rep) not in rep_mail.body


def test_a_subscription_is_sent_once_a_day(world, mailoutbox, sales_manager, sales_rep):
    subscription = subscribe(sales_manager, [sales_rep])
    today = timezone.localdate()
    assert subscriptions.send_due(today=today) == 1
    assert subscriptions.send_due(today=today) == 0
    assert tasks.send_scheduled_reports() == 0  # the beat's task, run again the same day
    assert len(mailoutbox) == 1
    subscription.refresh_from_db()
    assert subscription.last_sent_on == today


def test_a_recipient_who_may_no_longer_open_the_report_gets_nothing(world, mailoutbox, sales_manager, sales_rep,
                                                                    other_rep):
    subscription = subscribe(sales_manager, [sales_rep, other_rep])
    sales_rep.groups.clear()  # his role was taken away: no interactions module any more
    other_rep.is_active = False
    other_rep.save()
    assert subscriptions.send_due() == 0
    assert mailoutbox == []
    subscription.refresh_from_db()
    assert subscription.last_sent_on == timezone.localdate()  # done for today all the same


def test_a_stored_filter_that_no_longer_makes_sense_falls_back_to_the_defaults(world, mailoutbox, sales_manager):
    subscribe(sales_manager, [sales_manager], query="period=bogus&team=abc&date_from=2025-13-45")
    assert subscriptions.send_due() == 1
    assert len(sheet_rows(mail_to(mailoutbox, sales_manager))) == 3  # this month's two reps


@pytest.mark.django_db(transaction=True)
def test_a_run_passes_over_a_subscription_another_run_is_sending(mailoutbox, sales_manager, sales_rep):
    subscription = subscribe(sales_manager, [sales_rep])
    today = timezone.localdate()
    locked, release, done = threading.Event(), threading.Event(), threading.Event()

    def other_run():
        try:
            with transaction.atomic():
                ReportSubscription.objects.select_for_update().get(pk=subscription.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert locked.wait(10)
        assert subscriptions.subscription_send(subscription.pk, today=today) == 0  # skipped, not waited for
        assert mailoutbox == []
    finally:
        release.set()
        thread.join(10)
    assert done.is_set()
    assert subscriptions.send_due(today=today) == 1
    assert subscriptions.send_due(today=today) == 0


def _made_on(subscription, day: date) -> None:
    ReportSubscription.objects.filter(pk=subscription.pk).update(
        created_at=timezone.make_aware(datetime.combine(day, time(10))))


def _due(subscription, day: date) -> bool:
    return subscription.pk in subscriptions.subscriptions_due(day)


def _sent(subscription, day: date) -> None:
    ReportSubscription.objects.filter(pk=subscription.pk).update(last_sent_on=day)


def test_weekly_mails_go_out_on_monday_and_a_missed_monday_the_next_day(sales_rep):
    weekly = subscribe(sales_rep, [sales_rep], frequency=Frequency.WEEKLY)
    _made_on(weekly, date(2025, 1, 8))  # a Wednesday
    assert not _due(weekly, date(2025, 1, 9))  # waits for Monday
    assert _due(weekly, date(2025, 1, 13))  # Monday
    _sent(weekly, date(2025, 1, 13))
    assert not _due(weekly, date(2025, 1, 14))
    assert not _due(weekly, date(2025, 1, 19))
    assert _due(weekly, date(2025, 1, 21))  # Monday the 20th was missed: Tuesday catches up


def test_monthly_mails_go_out_on_the_first_and_daily_ones_every_day(sales_rep):
    monthly = subscribe(sales_rep, [sales_rep], frequency=Frequency.MONTHLY)
    daily = subscribe(sales_rep, [sales_rep], frequency=Frequency.DAILY)
    _made_on(monthly, date(2025, 1, 15))
    _made_on(daily, date(2025, 1, 15))
    assert not _due(monthly, date(2025, 1, 20))
    assert _due(monthly, date(2025, 2, 1))
    _sent(monthly, date(2025, 2, 1))
    assert not _due(monthly, date(2025, 2, 28))
    assert _due(monthly, date(2025, 3, 3))  # the 1st was a Saturday the worker missed
    assert _due(daily, date(2025, 1, 15))
    _sent(daily, date(2025, 1, 15))
    assert not _due(daily, date(2025, 1, 15)) and _due(daily, date(2025, 1, 16))
    ReportSubscription.objects.filter(pk=daily.pk).update(active=False)
    assert not _due(daily, date(2025, 1, 17))


def test_the_beat_runs_the_task_each_morning():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["reports-send-scheduled-mails"]
    assert entry["task"] == tasks.send_scheduled_reports.name
    assert entry["schedule"].hour == {7} and entry["schedule"].minute == {0}


# ------------------------------------------------------------------------------------------------- the pages


def test_the_report_page_links_to_a_form_prefilled_with_its_report_and_filters(client_as, world, sales_manager,
                                                                              other_rep):
    client = client_as(sales_manager)
    response = client.get(reverse("reports:report", args=["activity"]), {"period": "last_month",
                                                                        "owner": other_rep.pk})
    link = next(a for a in response.content.decode().split('href="')[1:] if "data-schedule" in a.split(">")[0])
    link = link.split('"')[0].replace("&amp;", "&")
    params = parse_qs(urlparse(link).query)
    assert params["report"] == ["activity"]
    assert parse_qs(params["query"][0]) == {"period": ["last_month"], "owner": [str(other_rep.pk)]}

    form_page = client.get(link)
    assert form_page.status_code == 200
    form = form_page.context["form"]
    assert form["report"].value() == "activity"
    assert parse_qs(form["query"].value()) == {"period": ["last_month"], "owner": [str(other_rep.pk)]}
    assert form["recipients"].value() == [sales_manager.pk]
    assert str(other_rep) in " ".join(form_page.context["filters"])


def test_a_manager_subscribes_his_people_and_not_anyone_elses(client_as, world, sales_manager, sales_rep,
                                                              south_rep):
    client = client_as(sales_manager)
    url = reverse("reports:subscription_create")
    data = {"report": "activity", "query": "period=this_month&page=2", "frequency": Frequency.WEEKLY}
    refused = client.post(url, data | {"recipients": [sales_rep.pk, south_rep.pk]})
    assert refused.status_code == 200 and refused.context["form"].errors["recipients"]
    assert not ReportSubscription.objects.exists()

    response = client.post(url, data | {"recipients": [sales_rep.pk, sales_manager.pk]})
    assert response.status_code == 302 and response.url == reverse("reports:subscription_list")
    subscription = ReportSubscription.objects.get()
    assert (subscription.report, subscription.query, subscription.frequency, subscription.created_by) == (
        "activity", "period=this_month", Frequency.WEEKLY, sales_manager)
    assert set(subscription.recipients.all()) == {sales_rep, sales_manager}


def test_a_rep_may_subscribe_only_himself(client_as, world, sales_rep, other_rep):
    response = client_as(sales_rep).post(reverse("reports:subscription_create"), {
        "report": "activity", "frequency": Frequency.DAILY, "recipients": [other_rep.pk]})
    assert response.status_code == 200 and response.context["form"].errors["recipients"]
    assert list(response.context["form"].fields["recipients"].queryset) == [sales_rep]


def test_nobody_is_subscribed_to_a_report_he_may_not_open(client_as, world, admin_user, marketing_user, sales_rep,
                                                          sales_only_report):
    client = client_as(admin_user)
    response = client.post(reverse("reports:subscription_create"), {
        "report": sales_only_report, "frequency": Frequency.DAILY, "recipients": [marketing_user.pk, sales_rep.pk]})
    assert response.status_code == 200
    assert str(marketing_user) in " ".join(response.context["form"].errors["recipients"])
    # and nobody subscribes others to a report he may not open himself
    response = client_as(marketing_user).post(reverse("reports:subscription_create"), {
        "report": sales_only_report, "frequency": Frequency.DAILY, "recipients": [marketing_user.pk]})
    assert response.status_code == 200 and response.context["form"].errors["report"]
    assert not ReportSubscription.objects.exists()


def test_the_list_shows_ones_subscriptions_and_those_one_receives(client_as, world, sales_manager, sales_rep):
    subscription = subscribe(sales_manager, [sales_manager, sales_rep])
    mine = client_as(sales_manager).get(reverse("reports:subscription_list"))
    assert [row["subscription"] for row in mine.context["rows"]] == [subscription]
    assert mine.context["received"] == []
    theirs = client_as(sales_rep).get(reverse("reports:subscription_list"))
    assert theirs.context["rows"] == []
    assert [row["subscription"] for row in theirs.context["received"]] == [subscription]


def test_deleting_asks_first_and_is_for_the_owner_and_admins(client_as, world, sales_manager, sales_rep, admin_user):
    subscription = subscribe(sales_manager, [sales_rep])
    url = reverse("reports:subscription_delete", args=[subscription.pk])
    confirm = client_as(sales_manager).get(url)
    assert confirm.status_code == 200 and b'method="post"' in confirm.content
    assert ReportSubscription.objects.filter(pk=subscription.pk).exists()  # a GET deletes nothing
    assert client_as(sales_rep).get(url).status_code == 404
    assert client_as(sales_rep).post(url).status_code == 404
    assert client_as(sales_manager).post(url).status_code == 302
    assert not ReportSubscription.objects.filter(pk=subscription.pk).exists()
    other = subscribe(sales_manager, [sales_rep])
    assert client_as(admin_user).post(reverse("reports:subscription_delete", args=[other.pk])).status_code == 302


def test_a_recipient_can_stop_a_mail_someone_else_set_up(client_as, world, sales_manager, sales_rep):
    subscription = subscribe(sales_manager, [sales_manager, sales_rep])
    url = reverse("reports:subscription_leave", args=[subscription.pk])
    assert client_as(sales_manager).post(url).status_code == 404  # his own: he deletes it instead
    assert client_as(sales_rep).post(url).status_code == 302
    assert list(subscription.recipients.all()) == [sales_manager]
    assert client_as(sales_rep).get(url).status_code == 405


def test_pages_need_a_report_to_schedule(client_as, world, sales_rep, monkeypatch):
    monkeypatch.setattr(registry, "_REPORTS", {})
    assert client_as(sales_rep).get(reverse("reports:subscription_list")).status_code == 403
    assert client_as(sales_rep).get(reverse("reports:subscription_create")).status_code == 403
