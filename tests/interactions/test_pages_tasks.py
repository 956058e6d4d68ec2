"""My tasks: open follow-ups in three sections (overdue, today, upcoming) with their counts, and the actions
on a task (done, snooze, reassign, drop) through the follow-up endpoints, coming back to the page by htmx."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from interactions.models import FollowUp, FollowUpStatus, Priority
from tests.factories import CustomerFactory
from tests.factories.interactions_pages import TaskFactory, register_page_contributions, zone_at_midday

TASKS = reverse("interactions:my_tasks")
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def midday(settings):
    """Pages are read in a time zone where it is now about noon: "earlier today" and "later today" both exist."""
    settings.TIME_ZONE = zone_at_midday()
    register_page_contributions()


def section_ids(page: str, key: str) -> list[int]:
    """Ids of the tasks listed in one section of the page, in display order."""
    match = re.search(rf'data-section="{key}".*?</section>', page, re.S)
    return [int(pk) for pk in re.findall(r'data-task="(\d+)"', match.group(0))] if match else []


def section_count(page: str, key: str) -> int:
    match = re.search(rf'data-section="{key}".*?data-count>(\d+)<', page, re.S)
    return int(match.group(1))


def listed_ids(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-task="(\d+)"', page)]


def _at_today(hour: int, minute: int = 0):
    return timezone.localtime().replace(hour=hour, minute=minute, second=0, microsecond=0)


# ------------------------------------------------------------------------------------------- sections


def test_open_tasks_fall_into_overdue_today_and_upcoming_with_their_counts(client_as, sales_rep):
    # given a rep's open tasks: two past due (one yesterday, one this morning), one later today, two later on
    customer = CustomerFactory(owner=sales_rep, name="杭州华为")
    yesterday = TaskFactory(customer=customer, title="昨天该回电", due_at=timezone.now() - timedelta(days=1))
    this_morning = TaskFactory(customer=customer, title="早上的会", due_at=_at_today(8))
    tonight = TaskFactory(customer=customer, title="晚上发报价", due_at=_at_today(18))
    next_week = TaskFactory(customer=customer, title="下周拜访", due_at=timezone.now() + timedelta(days=7))
    tomorrow = TaskFactory(customer=customer, title="明天回访", due_at=_at_today(9) + timedelta(days=1))
    # and tasks that are not open
    TaskFactory(customer=customer, title="做完了", due_at=_at_today(10), status=FollowUpStatus.DONE)
    TaskFactory(customer=customer, title="不做了", due_at=_at_today(10), status=FollowUpStatus.CANCELLED)
    # when he opens his tasks
    page = client_as(sales_rep).get(TASKS).content.decode()
    # then each open task is in its section, by due time, and each section says how many it holds
    assert section_ids(page, "overdue") == [yesterday.pk, this_morning.pk]
    assert section_ids(page, "today") == [tonight.pk]
    assert section_ids(page, "upcoming") == [tomorrow.pk, next_week.pk]
    assert [section_count(page, key) for key in ("overdue", "today", "upcoming")] == [2, 1, 2]
    # and each task shows its customer (linked), its due time and its priority
    assert "杭州华为" in page and reverse("customers:detail", args=[customer.pk]) in page
    assert timezone.localtime(tonight.due_at).strftime("%Y-%m-%d %H:%M") in page
    assert "Normal" in page
    assert "做完了" not in page and "不做了" not in page


def test_the_day_ends_at_midnight_in_the_users_time_zone(client_as, sales_rep, settings):
    # given a task due at 23:30 tonight and one at 00:30 tomorrow, local time
    customer = CustomerFactory(owner=sales_rep)
    late = TaskFactory(customer=customer, due_at=_at_today(23, 30))
    after_midnight = TaskFactory(customer=customer, due_at=_at_today(0, 30) + timedelta(days=1))
    # when the rep opens his tasks
    page = client_as(sales_rep).get(TASKS).content.decode()
    # then tonight's task is today's, the other one is upcoming, whatever the server's UTC date
    assert section_ids(page, "today") == [late.pk]
    assert section_ids(page, "upcoming") == [after_midnight.pk]


def test_a_rep_never_sees_another_reps_tasks(client_as, sales_rep, other_rep):
    # given a task of the rep and one of a colleague, even on a customer the rep can see (the public pool)
    mine = TaskFactory(customer=CustomerFactory(owner=sales_rep), title="我的任务")
    pool = CustomerFactory(owner=None)
    TaskFactory(customer=pool, assignee=other_rep, title="同事在公海客户上的任务")
    TaskFactory(customer=CustomerFactory(owner=other_rep), title="同事的任务")
    # when the rep opens his tasks
    page = client_as(sales_rep).get(TASKS).content.decode()
    # then he sees his own task only
    assert listed_ids(page) == [mine.pk]
    assert "同事" not in page


def test_a_manager_sees_his_own_tasks_not_his_teams(client_as, sales_manager, sales_rep):
    # given a task of the manager and one of a rep in his team
    own = TaskFactory(customer=CustomerFactory(owner=sales_rep), assignee=sales_manager, title="经理自己的任务")
    TaskFactory(customer=CustomerFactory(owner=sales_rep), title="销售的任务")
    page = client_as(sales_manager).get(TASKS).content.decode()
    assert listed_ids(page) == [own.pk]


def test_a_task_given_to_me_on_a_customer_i_cannot_see_is_still_mine(client_as, sales_rep, south_rep):
    # a follow-up is its assignee's, whoever owns the customer (interactions.permissions)
    task = TaskFactory(customer=CustomerFactory(owner=south_rep), assignee=sales_rep, title="帮华南跟进")
    page = client_as(sales_rep).get(TASKS).content.decode()
    assert listed_ids(page) == [task.pk]


def test_tasks_of_customers_in_the_recycle_bin_are_not_listed(client_as, sales_rep):
    from customers import services as customer_services

    customer = CustomerFactory(owner=sales_rep)
    TaskFactory(customer=customer, title="已删除客户的任务")
    customer_services.customer_delete(actor=sales_rep, customer=customer)
    page = client_as(sales_rep).get(TASKS).content.decode()
    assert listed_ids(page) == []
    assert [section_count(page, key) for key in ("overdue", "today", "upcoming")] == [0, 0, 0]


def test_empty_sections_say_so(client_as, sales_rep):
    page = client_as(sales_rep).get(TASKS).content.decode()
    assert "Nothing overdue." in page and "Nothing else due today." in page and "Nothing planned after today." in page


def test_a_long_section_shows_its_first_tasks_and_links_to_all_of_them(client_as, sales_rep, monkeypatch):
    from interactions import selectors

    monkeypatch.setattr(selectors, "SECTION_LIMIT", 3)
    customer = CustomerFactory(owner=sales_rep)
    tasks = [TaskFactory(customer=customer, due_at=timezone.now() + timedelta(days=2, hours=i)) for i in range(5)]
    client = client_as(sales_rep)
    # when the rep opens his tasks
    page = client.get(TASKS).content.decode()
    # then the upcoming section lists 3, counts 5, and offers all 5
    assert section_ids(page, "upcoming") == [t.pk for t in tasks[:3]]
    assert section_count(page, "upcoming") == 5
    assert "Show all 5" in page and "section=upcoming" in page
    # and the section alone lists them all
    alone = client.get(TASKS, {"section": "upcoming"}).content.decode()
    assert listed_ids(alone) == [t.pk for t in tasks]


# -------------------------------------------------------------------------------------------- filters


def test_filter_by_priority(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    urgent = TaskFactory(customer=customer, priority=Priority.URGENT)
    TaskFactory(customer=customer, priority=Priority.LOW)
    high = TaskFactory(customer=customer, priority=Priority.HIGH, due_at=timezone.now() - timedelta(hours=3))
    page = client_as(sales_rep).get(TASKS, {"priority": ["urgent", "high"]}).content.decode()
    assert section_ids(page, "overdue") == [high.pk]
    assert section_ids(page, "upcoming") == [urgent.pk]


def test_done_tasks_are_one_list_newest_first(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    older = TaskFactory(customer=customer, status=FollowUpStatus.DONE, due_at=timezone.now() - timedelta(days=3))
    newer = TaskFactory(customer=customer, status=FollowUpStatus.DONE, due_at=timezone.now() - timedelta(days=1))
    TaskFactory(customer=customer)
    page = client_as(sales_rep).get(TASKS, {"status": "done"}).content.decode()
    assert listed_ids(page) == [newer.pk, older.pk]
    assert 'data-section="overdue"' not in page
    # and done tasks offer no actions
    assert reverse("interactions:followup_complete", args=[newer.pk]) not in page


def test_htmx_filtering_answers_with_the_results_alone(client_as, sales_rep):
    TaskFactory(customer=CustomerFactory(owner=sales_rep))
    response = client_as(sales_rep).get(TASKS, {"priority": "normal"}, headers=HTMX)
    page = response.content.decode()
    assert 'id="listing-results"' in page and "<html" not in page and 'id="filter-form"' not in page


# -------------------------------------------------------------------------------------------- actions


def _post_from_tasks_page(client, name, task, data=None):
    """An action button of the tasks page, as htmx sends it: the redirect back is followed in the background."""
    return client.post(reverse(f"interactions:{name}", args=[task.pk]), {"next": TASKS, **(data or {})},
                       headers=HTMX, follow=True)


def test_done_from_the_tasks_page_updates_sections_and_counts_in_place(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    overdue = TaskFactory(customer=customer, title="逾期回电", due_at=timezone.now() - timedelta(hours=2))
    TaskFactory(customer=customer, due_at=timezone.now() - timedelta(hours=1))
    client = client_as(sales_rep)
    page = client.get(TASKS).content.decode()
    # the page's buttons post to the follow-up endpoints, with this page to come back to
    assert f'hx-post="{reverse("interactions:followup_complete", args=[overdue.pk])}"' in page
    assert f'name="next" value="{TASKS}"' in page
    # when he marks the overdue task done
    response = _post_from_tasks_page(client, "followup_complete", overdue)
    # then the results come back alone, without the task, the count down by one, and a message
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert overdue.pk not in section_ids(page, "overdue") and section_count(page, "overdue") == 1
    assert "Done: 逾期回电" in page
    # and the sidebar's overdue badge is sent along too
    assert re.search(r'id="nav-overdue" hx-swap-oob="true"[^>]*>1<', page)
    overdue.refresh_from_db()
    assert overdue.status == FollowUpStatus.DONE


def test_snooze_offers_quick_times_and_moves_the_task(client_as, sales_rep):
    task = TaskFactory(customer=CustomerFactory(owner=sales_rep), due_at=timezone.now() - timedelta(hours=1))
    client = client_as(sales_rep)
    page = client.get(TASKS).content.decode()
    # the quick choices are in the user's time zone: in an hour, tomorrow 9:00, next Monday 9:00
    values = re.findall(r'name="until" value="([\dT:-]+)"', page)
    local = timezone.localtime()
    tomorrow_nine = (local + timedelta(days=1)).strftime("%Y-%m-%dT09:00")
    monday_nine = (local + timedelta(days=7 - local.weekday())).strftime("%Y-%m-%dT09:00")
    assert values[1:] == [tomorrow_nine, monday_nine]
    assert timedelta(minutes=59) < timezone.make_aware(
        timezone.datetime.fromisoformat(values[0])) - timezone.now() <= timedelta(hours=1, minutes=1)
    assert "In 1 hour" in page and "Tomorrow 9:00" in page and "Next Monday 9:00" in page
    # when he snoozes it to tomorrow 9:00
    response = _post_from_tasks_page(client, "followup_snooze", task, {"until": tomorrow_nine})
    # then it moved from overdue to upcoming, with its reminder at that time
    page = response.content.decode()
    assert section_ids(page, "overdue") == [] and section_ids(page, "upcoming") == [task.pk]
    task.refresh_from_db()
    assert timezone.localtime(task.remind_at).strftime("%Y-%m-%dT%H:%M") == tomorrow_nine


def test_a_snooze_time_in_the_past_is_refused_with_a_message(client_as, sales_rep):
    task = TaskFactory(customer=CustomerFactory(owner=sales_rep))
    past = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page = _post_from_tasks_page(client_as(sales_rep), "followup_snooze", task, {"until": past}).content.decode()
    assert "Choose a time in the future." in page
    task.refresh_from_db()
    assert task.remind_at is None


def test_a_rep_is_offered_no_reassign_a_manager_his_subtree(client_as, sales_rep, sales_manager, other_rep, south_rep):
    task = TaskFactory(customer=CustomerFactory(owner=sales_rep))
    rep_page = client_as(sales_rep).get(TASKS).content.decode()
    assert reverse("interactions:followup_reassign", args=[task.pk]) not in rep_page
    # given a task of the manager's
    own = TaskFactory(customer=CustomerFactory(owner=sales_rep), assignee=sales_manager)
    page = client_as(sales_manager).get(TASKS).content.decode()
    form = re.search(rf'action="{reverse("interactions:followup_reassign", args=[own.pk])}".*?</form>', page, re.S)
    offered = {int(pk) for pk in re.findall(r'<option value="(\d+)"', form.group(0))}
    # then he may give it to the people of his subtree, not to himself again and not to another department
    assert offered == {sales_rep.pk, other_rep.pk}
    assert south_rep.pk not in offered


def test_reassign_from_the_tasks_page_takes_the_task_off_my_list(client_as, sales_manager, sales_rep):
    task = TaskFactory(customer=CustomerFactory(owner=sales_rep), assignee=sales_manager, title="交给张伟")
    response = _post_from_tasks_page(client_as(sales_manager), "followup_reassign", task, {"assignee": sales_rep.pk})
    page = response.content.decode()
    assert listed_ids(page) == [] and "交给张伟 now belongs to 张伟." in page
    task.refresh_from_db()
    assert task.assignee == sales_rep


def test_drop_asks_first_and_takes_the_task_off(client_as, sales_rep):
    task = TaskFactory(customer=CustomerFactory(owner=sales_rep), title="不用了")
    client = client_as(sales_rep)
    page = client.get(TASKS).content.decode()
    drop = re.search(rf'<form[^>]*action="{reverse("interactions:followup_cancel", args=[task.pk])}"[^>]*>', page)
    assert "data-confirm=" in drop.group(0)
    page = _post_from_tasks_page(client, "followup_cancel", task).content.decode()
    assert listed_ids(page) == [] and "Dropped: 不用了" in page
    assert FollowUp.objects.get(pk=task.pk).status == FollowUpStatus.CANCELLED


def test_actions_need_a_post_with_a_csrf_token(sales_rep):
    task = TaskFactory(customer=CustomerFactory(owner=sales_rep))
    client = Client(enforce_csrf_checks=True)
    client.force_login(sales_rep)
    assert client.get(reverse("interactions:followup_complete", args=[task.pk])).status_code == 405
    assert client.post(reverse("interactions:followup_complete", args=[task.pk]), {"next": TASKS}).status_code == 403
    task.refresh_from_db()
    assert task.status == FollowUpStatus.OPEN


def test_marketing_reads_its_tasks_without_action_buttons(client_as, marketing_user, sales_rep):
    # marketing may view follow-ups but not change them: no buttons that would only answer 403
    task = TaskFactory(customer=CustomerFactory(owner=sales_rep), assignee=marketing_user)
    page = client_as(marketing_user).get(TASKS).content.decode()
    assert listed_ids(page) == [task.pk]
    assert reverse("interactions:followup_complete", args=[task.pk]) not in page


# ---------------------------------------------------------------------------------------- the layout


def test_the_sidebar_links_to_my_work_with_the_overdue_count(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    TaskFactory.create_batch(2, customer=customer, due_at=timezone.now() - timedelta(hours=1))
    TaskFactory(customer=customer)
    page = client_as(sales_rep).get(reverse("customers:list")).content.decode()
    assert f'href="{TASKS}"' in page and f'href="{reverse("interactions:week")}"' in page
    assert f'href="{reverse("interactions:my_activity")}"' in page
    assert re.search(r'id="nav-overdue"[^>]*>2<', page)
    # a rep oversees nobody: no team activity
    assert f'href="{reverse("interactions:activity")}"' not in page


def test_the_sidebar_offers_team_activity_to_managers(client_as, sales_manager):
    page = client_as(sales_manager).get(reverse("customers:list")).content.decode()
    assert f'href="{reverse("interactions:activity")}"' in page


# ------------------------------------------------------------------------------------------- queries


def test_the_tasks_page_runs_a_bounded_number_of_queries(client_as, sales_manager, sales_rep, other_rep,
                                                         django_assert_max_num_queries):
    client = client_as(sales_manager)

    def load():
        response = client.get(TASKS)
        assert response.status_code == 200
        return response

    # given a few tasks in every section
    for when in (-2, 2, 48):
        TaskFactory(customer=CustomerFactory(owner=sales_rep), assignee=sales_manager,
                    due_at=timezone.now() + timedelta(hours=when))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        load()
    # given many more, on many customers of different owners
    for i in range(60):
        TaskFactory(customer=CustomerFactory(owner=[sales_rep, other_rep][i % 2]), assignee=sales_manager,
                    due_at=timezone.now() + timedelta(hours=[-5, 3, 72][i % 3] + i / 100))
    # then the page runs no more queries than with a few
    with django_assert_max_num_queries(len(few)):
        load()
    assert len(few) <= 20
