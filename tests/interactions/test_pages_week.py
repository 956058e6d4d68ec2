"""The week view: Monday to Sunday, tasks in their day by due time, today highlighted, week to week."""

import datetime
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from interactions.models import FollowUpStatus
from tests.factories import CustomerFactory
from tests.factories.interactions_pages import TaskFactory, register_page_contributions, zone_at_midday

WEEK = reverse("interactions:week")
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def midday(settings):
    settings.TIME_ZONE = zone_at_midday()
    register_page_contributions()


def at(day: datetime.date, hour: int, minute: int = 0):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def days_of(page: str) -> dict[str, list[int]]:
    """Task ids per day column (YYYY-MM-DD), in display order."""
    columns = re.findall(r'data-day="([\d-]+)"(.*?)</section>', page, re.S)
    return {day: [int(pk) for pk in re.findall(r'data-task="(\d+)"', body)] for day, body in columns}


def today_of(page: str) -> str:
    return re.search(r'data-day="([\d-]+)" data-today', page).group(1)


def test_the_week_runs_monday_to_sunday_with_tasks_in_their_day_by_due_time(client_as, sales_rep):
    # given tasks in the week of Monday 2026-11-23, and one each side of it
    monday = datetime.date(2026, 11, 23)
    customer = CustomerFactory(owner=sales_rep, name="周视图客户")
    wed_afternoon = TaskFactory(customer=customer, title="周三下午", due_at=at(monday + timedelta(days=2), 15))
    wed_morning = TaskFactory(customer=customer, title="周三上午", due_at=at(monday + timedelta(days=2), 9, 30))
    sunday_late = TaskFactory(customer=customer, title="周日深夜", due_at=at(monday + timedelta(days=6), 23, 45))
    monday_early = TaskFactory(customer=customer, title="周一凌晨", due_at=at(monday, 0, 15))
    TaskFactory(customer=customer, title="上周日", due_at=at(monday - timedelta(days=1), 23, 59))
    TaskFactory(customer=customer, title="下周一", due_at=at(monday + timedelta(days=7), 0, 0))
    # when the rep opens that week (any day of it will do)
    page = client_as(sales_rep).get(WEEK, {"date": "2026-11-26"}).content.decode()
    # then seven columns, Monday first, each with its tasks by due time
    days = days_of(page)
    assert list(days) == [str(monday + timedelta(days=i)) for i in range(7)]
    assert days["2026-11-23"] == [monday_early.pk]
    assert days["2026-11-25"] == [wed_morning.pk, wed_afternoon.pk]
    assert days["2026-11-29"] == [sunday_late.pk]
    assert "上周日" not in page and "下周一" not in page
    # with each task's time and customer
    assert "09:30" in page and "周视图客户" in page
    assert "2026-11-23 – 2026-11-29" in page


def test_this_week_is_the_default_and_today_is_highlighted(client_as, sales_rep):
    today = timezone.localdate()
    task = TaskFactory(customer=CustomerFactory(owner=sales_rep), due_at=at(today, 18))
    page = client_as(sales_rep).get(WEEK).content.decode()
    assert today_of(page) == str(today)
    assert days_of(page)[str(today)] == [task.pk]
    assert list(days_of(page))[0] == str(today - timedelta(days=today.weekday()))
    assert 'aria-current="page">This week<' in page


def test_previous_and_next_links_move_one_week(client_as, sales_rep):
    client = client_as(sales_rep)
    # a week long past, so that today is never in it
    page = client.get(WEEK, {"date": "2025-11-26"}).content.decode()
    assert 'href="?date=2025-11-17" hx-get="?date=2025-11-17"' in page
    assert 'href="?date=2025-12-01" hx-get="?date=2025-12-01"' in page
    # when he follows "next week" through htmx
    response = client.get(WEEK, {"date": "2025-12-01"}, headers=HTMX)
    page = response.content.decode()
    # then the week's results come back alone, for the week of 2025-12-01, with no day highlighted
    assert "<html" not in page and 'id="listing-results"' in page
    assert list(days_of(page))[0] == "2025-12-01" and "data-today" not in page


def test_a_week_across_new_year(client_as, sales_rep):
    page = client_as(sales_rep).get(WEEK, {"date": "2027-01-01"}).content.decode()
    assert list(days_of(page)) == ["2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31", "2027-01-01",
                                   "2027-01-02", "2027-01-03"]


@pytest.mark.parametrize("date", ["nonsense", "2026-02-30", ""])
def test_an_unreadable_date_shows_this_week(client_as, sales_rep, date):
    page = client_as(sales_rep).get(WEEK, {"date": date}).content.decode()
    assert today_of(page) == str(timezone.localdate())


def test_the_days_follow_the_users_time_zone(client_as, sales_rep, settings):
    # given a task due at 2026-11-24 23:30 in Shanghai, which is still the 24th in UTC-free terms: 15:30 UTC
    settings.TIME_ZONE = "Asia/Shanghai"
    task = TaskFactory(customer=CustomerFactory(owner=sales_rep),
                       due_at=datetime.datetime(2026, 11, 24, 15, 30, tzinfo=datetime.UTC))
    early = TaskFactory(customer=CustomerFactory(owner=sales_rep),
                        due_at=datetime.datetime(2026, 11, 24, 16, 30, tzinfo=datetime.UTC))  # 00:30 on the 25th
    page = client_as(sales_rep).get(WEEK, {"date": "2026-11-24"}).content.decode()
    assert days_of(page)["2026-11-24"] == [task.pk]
    assert days_of(page)["2026-11-25"] == [early.pk]


def test_the_week_shows_only_my_open_tasks_unless_asked(client_as, sales_rep, other_rep):
    monday = datetime.date(2026, 11, 23)
    mine = TaskFactory(customer=CustomerFactory(owner=sales_rep), due_at=at(monday, 10))
    done = TaskFactory(customer=CustomerFactory(owner=sales_rep), due_at=at(monday, 11), status=FollowUpStatus.DONE)
    TaskFactory(customer=CustomerFactory(owner=other_rep), due_at=at(monday, 10), title="同事的任务")
    client = client_as(sales_rep)
    page = client.get(WEEK, {"date": "2026-11-23"}).content.decode()
    assert days_of(page)["2026-11-23"] == [mine.pk] and "同事的任务" not in page
    every = client.get(WEEK, {"date": "2026-11-23", "status": ""}).content.decode()
    assert days_of(every)["2026-11-23"] == [mine.pk, done.pk]


def test_done_from_the_week_comes_back_to_the_same_week(client_as, sales_rep):
    monday = datetime.date(2026, 11, 23)
    task = TaskFactory(customer=CustomerFactory(owner=sales_rep), due_at=at(monday, 10))
    client = client_as(sales_rep)
    here = f"{WEEK}?date=2026-11-23"
    page = client.get(here).content.decode()
    assert f'name="next" value="{WEEK}?date=2026-11-23"' in page
    response = client.post(reverse("interactions:followup_complete", args=[task.pk]), {"next": here},
                           headers=HTMX, follow=True)
    page = response.content.decode()
    assert "<html" not in page and list(days_of(page))[0] == "2026-11-23"
    assert days_of(page)["2026-11-23"] == []


def test_the_week_runs_a_bounded_number_of_queries(client_as, sales_rep, other_rep, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday())
    client = client_as(sales_rep)
    TaskFactory(customer=CustomerFactory(owner=sales_rep), due_at=at(monday, 9))
    with CaptureQueriesContext(connection) as few:
        assert client.get(WEEK).status_code == 200
    for i in range(40):
        TaskFactory(customer=CustomerFactory(owner=[sales_rep, other_rep][i % 2]), assignee=sales_rep,
                    due_at=at(monday + timedelta(days=i % 7), 8 + i % 10))
    with django_assert_max_num_queries(len(few)):
        page = client.get(WEEK).content.decode()
    assert sum(len(ids) for ids in days_of(page).values()) == 41
    assert len(few) <= 15
