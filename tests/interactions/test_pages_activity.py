"""My activity (what I logged) and team activity (interactions on the customers in a manager's scope), their
filters, and their export to .xlsx/.csv."""

import datetime
import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from crm.accounts import roles
from crm.exports import services as exports
from crm.exports.models import ExportJob, ExportStatus
from interactions.models import Channel, Direction
from tests.exports.conftest import as_dicts, read_job
from tests.factories import CustomerFactory
from tests.factories.interactions_pages import ActivityFactory, register_page_contributions

MINE = reverse("interactions:my_activity")
TEAM = reverse("interactions:activity")
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def contributions():
    register_page_contributions()


def listed(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-interaction="(\d+)"', response.content.decode())]


@pytest.fixture
def book(sales_rep, other_rep, south_rep, support_agent):
    """Interactions across the organisation: the rep's, his 杭州组 colleague's, 华南's, and a support agent's call
    on the rep's customer."""
    now = timezone.now().replace(second=0, microsecond=0)
    rep_customer = CustomerFactory(owner=sales_rep, name="上海客户")
    return {
        "rep_call": ActivityFactory(customer=rep_customer, subject="上海电话", occurred_at=now),
        "rep_visit": ActivityFactory(customer=rep_customer, channel=Channel.VISIT, subject="上海拜访",
                                     occurred_at=now - datetime.timedelta(days=3)),
        "hangzhou": ActivityFactory(customer=CustomerFactory(owner=other_rep, name="杭州客户"), subject="杭州电话",
                                    occurred_at=now - datetime.timedelta(hours=1)),
        "south": ActivityFactory(customer=CustomerFactory(owner=south_rep, name="广州客户"), subject="广州电话",
                                 occurred_at=now - datetime.timedelta(hours=2)),
        "support": ActivityFactory(customer=rep_customer, author=support_agent, subject="客服来电",
                                   direction=Direction.INBOUND, occurred_at=now - datetime.timedelta(hours=3)),
    }


# ---------------------------------------------------------------------------------------- my activity


def test_my_activity_lists_what_i_logged_newest_first(client_as, sales_rep, book):
    response = client_as(sales_rep).get(MINE)
    # then only his own interactions, not the support agent's call on his customer nor anyone else's
    assert listed(response) == [book["rep_call"].pk, book["rep_visit"].pk]
    page = response.content.decode()
    assert "杭州电话" not in page and "广州电话" not in page and "客服来电" not in page
    # each row links to the interaction on its customer's timeline
    assert book["rep_call"].get_absolute_url() in page


def test_a_rep_never_sees_another_reps_activity(client_as, other_rep, book):
    response = client_as(other_rep).get(MINE)
    assert listed(response) == [book["hangzhou"].pk]


def test_my_activity_drops_customers_i_no_longer_see(client_as, sales_rep, other_rep, book):
    # given one of the rep's customers handed to a colleague
    customer = book["rep_call"].customer
    customer.owner, customer.team = other_rep, other_rep.team
    customer.save()
    # then his calls on it leave his list with the customer (interactions follow their customer)
    assert listed(client_as(sales_rep).get(MINE)) == []


def test_my_activity_filters(client_as, sales_rep, book):
    client = client_as(sales_rep)
    assert listed(client.get(MINE, {"channel": "visit"})) == [book["rep_visit"].pk]
    assert listed(client.get(MINE, {"direction": "in"})) == []
    three_days_ago = timezone.localdate() - datetime.timedelta(days=3)
    dated = client.get(MINE, {"date_after": str(three_days_ago), "date_before": str(three_days_ago)})
    assert listed(dated) == [book["rep_visit"].pk]


def test_htmx_filtering_answers_with_the_results_alone(client_as, sales_rep, book):
    response = client_as(sales_rep).get(MINE, {"channel": "call"}, headers=HTMX)
    page = response.content.decode()
    assert "<html" not in page and 'id="listing-results"' in page
    assert listed(response) == [book["rep_call"].pk]


# -------------------------------------------------------------------------------------- team activity


def test_a_manager_sees_his_subtrees_activity_not_another_departments(client_as, sales_manager, book):
    response = client_as(sales_manager).get(TEAM)
    assert set(listed(response)) == {book[k].pk for k in ("rep_call", "rep_visit", "hangzhou", "support")}
    assert "广州电话" not in response.content.decode()


def test_team_activity_filters_by_author_with_scoped_choices(client_as, sales_manager, sales_rep, other_rep,
                                                             south_rep, support_agent, book):
    client = client_as(sales_manager)
    page = client.get(TEAM).content.decode()
    select = re.search(r'<select name="author".*?</select>', page, re.S).group(0)
    offered = {int(pk) for pk in re.findall(r'value="(\d+)"', select)}
    # the author choices are his subtree's people (and himself), not another department's
    assert {sales_manager.pk, sales_rep.pk, other_rep.pk} <= offered
    assert south_rep.pk not in offered and support_agent.pk not in offered
    assert listed(client.get(TEAM, {"author": other_rep.pk})) == [book["hangzhou"].pk]
    # someone outside his choices is refused as a filter, not listed
    assert listed(client.get(TEAM, {"author": south_rep.pk})) == listed(client.get(TEAM))


def test_team_activity_searches_customers(client_as, sales_manager, book):
    response = client_as(sales_manager).get(TEAM, {"q": "杭州"})
    assert listed(response) == [book["hangzhou"].pk]


def test_an_admin_sees_everyones_activity(client_as, admin_user, book):
    assert set(listed(client_as(admin_user).get(TEAM))) == {i.pk for i in book.values()}


@pytest.mark.parametrize("who", ["sales_rep", "marketing_user", "support_agent"])
def test_team_activity_is_for_those_who_oversee_teams(request, client_as, who):
    user = request.getfixturevalue(who)
    assert client_as(user).get(TEAM).status_code == 403
    # but everyone with the log has his own activity
    assert client_as(user).get(MINE).status_code == 200


def test_mine_in_the_team_list_goes_to_my_activity(client_as, sales_rep):
    # an export of "my activity" links back through the exporter's list page with its query
    response = client_as(sales_rep).get(TEAM, {"mine": "1", "channel": "call"})
    assert response.status_code == 302
    assert response.url == f"{MINE}?mine=1&channel=call"


# --------------------------------------------------------------------------------------------- export


def export(user, query="", fmt="xlsx") -> ExportJob:
    job = exports.export_job_create(actor=user, model_key="interactions.interaction", query=query, fmt=fmt,
                                    language="en")
    exports.export_job_run(job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE, job.error
    return job


def subjects(job) -> list[str]:
    return [row["Subject"] for row in as_dicts(read_job(job))]


def test_sales_managers_may_export_activity_reps_may_not(client_as, sales_manager, sales_rep):
    assert sales_manager.has_perm("interactions.export_interaction")
    assert not sales_rep.has_perm("interactions.export_interaction")
    assert Group.objects.get(name=roles.SALES_MANAGER).permissions.filter(codename="export_interaction").exists()
    assert "export-form" in client_as(sales_manager).get(TEAM).content.decode()
    assert "export-form" not in client_as(sales_rep).get(MINE).content.decode()
    response = client_as(sales_rep).post(reverse("exports:create"),
                                         {"model": "interactions.interaction", "query": "", "format": "csv"})
    assert response.status_code == 403


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_the_team_export_holds_only_the_managers_scoped_filtered_rows(sales_manager, book, fmt):
    job = export(sales_manager, "channel=call", fmt)
    assert sorted(subjects(job)) == sorted(["上海电话", "杭州电话", "客服来电"])
    assert job.rows_total == 3


def test_the_export_matches_the_page_for_the_same_query(client_as, sales_manager, sales_rep, book):
    query = f"author={sales_rep.pk}"
    on_screen = listed(client_as(sales_manager).get(f"{TEAM}?{query}"))
    job = export(sales_manager, query)
    assert subjects(job) == ["上海电话", "上海拜访"]
    assert on_screen == [book["rep_call"].pk, book["rep_visit"].pk]


def test_the_export_of_my_activity_holds_only_mine(client_as, sales_manager, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    ActivityFactory(customer=customer, author=sales_manager, subject="经理陪访")
    ActivityFactory(customer=customer, subject="销售电话")
    page = client_as(sales_manager).get(MINE).content.decode()
    # the page hands its own query to the export, "mine" included
    assert re.search(r'name="query" value="\?mine=1"', page)
    assert subjects(export(sales_manager, "mine=1")) == ["经理陪访"]


def test_a_rep_given_the_export_permission_exports_only_his_own(sales_rep, book):
    sales_rep.user_permissions.add(Permission.objects.get(codename="export_interaction"))
    rep = type(sales_rep).objects.get(pk=sales_rep.pk)
    # even without "mine": he may not see the team list, so his export is his activity
    assert sorted(subjects(export(rep, ""))) == ["上海拜访", "上海电话"]


def test_the_export_columns_in_the_requesters_language(sales_manager, sales_rep, book):
    rows = as_dicts(read_job(export(sales_manager, f"author={sales_rep.pk}&channel=visit")))
    assert rows == [{
        "Time": timezone.localtime(book["rep_visit"].occurred_at).replace(tzinfo=None),
        "Customer": "上海客户", "Contact": None, "Kind": "Visit", "Direction": "Outbound", "Subject": "上海拜访",
        "Details": "客户对报价有兴趣", "By": "张伟",
    }]


# -------------------------------------------------------------------------------------------- queries


@pytest.mark.parametrize("url", [MINE, TEAM])
def test_activity_lists_run_a_bounded_number_of_queries(client_as, sales_manager, sales_rep, other_rep,
                                                        django_assert_max_num_queries, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_as(sales_manager)
    for owner in (sales_rep, other_rep):
        ActivityFactory(customer=CustomerFactory(owner=owner), author=sales_manager)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for i in range(40):
        ActivityFactory(customer=CustomerFactory(owner=[sales_rep, other_rep][i % 2]), author=sales_manager)
    with django_assert_max_num_queries(len(few)):
        response = client.get(url)
    assert len(listed(response)) == 25
    assert len(few) <= 20
