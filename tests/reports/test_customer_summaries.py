"""The customer summaries (reports.customer_summaries: CustomerMonth, CustomerStanding) behind the new customers and
customer base reports: after a refresh each page (its tables and its .xlsx) shows what a live count shows, for an
admin, a manager (his subtree) and a rep (his own customers), and says when the months were summed; customers
created this month show at once; an old customer edited since shows as edited at the next refresh, which the beat
task runs in a real worker; the summary never widens anyone's scope.

Known customers (months back from the current one, created on the 15th at 10:00):

    name       owner (team)       month  source    province  industry  level  status
    r_1        rep (上海组)        1      website   上海市     it        A      new
    r_3        rep                3      referral  浙江省     retail    B      deal
    r_5        rep                5      —         —          —         C      potential
    o_2        rep2 (杭州组)       2      website   浙江省     it        A      high_value
    s_2        rep3 (华南)         2      phone     广东省     it        B      new        (not the manager's)
    pool_4     public pool        4      website   上海市     it        C      potential
    shared_2   rep3, shared with rep 2   website   广东省     it        B      new        (the rep's to see, not his)
    deleted_1  rep, deleted       1      website   上海市     it        A      new        (counted nowhere)
    r_now      rep                0      website   上海市     it        B      new        (this month: live)
"""

import time
from datetime import datetime
from datetime import time as clock
from io import BytesIO

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from customers.services import customer_share
from reports import registry
from reports.customer_summaries import CUSTOMER_MONTHS, customer_months_refresh, new_customer_counts, standing_counts
from reports.filters import ReportFilterForm, add_months, month_start
from reports.models import CustomerMonth, CustomerStanding, SummaryState
from reports.tasks import refresh_customer_months
from tests.factories import CustomerFactory

PEOPLE = ("admin_user", "sales_manager", "sales_rep")
YEAR = {"period": "last_12_months"}


def mid_month(months_back: int) -> datetime:
    day = add_months(month_start(timezone.localdate()), -months_back).replace(day=15)
    return timezone.make_aware(datetime.combine(day, clock(10)))


def customer(owner, months_back, **fields):
    made = CustomerFactory(owner=owner, **fields)
    Customer.objects.filter(pk=made.pk).update(created_at=mid_month(months_back))
    return made


@pytest.fixture
def book(admin_user, sales_rep, other_rep, south_rep):
    it = {"industry": "it"}
    made = {
        "r_1": customer(sales_rep, 1, source="website", province="上海市", level="A", status="new", **it),
        "r_3": customer(sales_rep, 3, source="referral", province="浙江省", industry="retail", level="B",
                        status="deal"),
        "r_5": customer(sales_rep, 5, source="", province="", industry="", level="C", status="potential"),
        "o_2": customer(other_rep, 2, source="website", province="浙江省", level="A", status="high_value", **it),
        "s_2": customer(south_rep, 2, source="phone", province="广东省", level="B", status="new", **it),
        "pool_4": customer(None, 4, source="website", province="上海市", level="C", status="potential", **it),
        "shared_2": customer(south_rep, 2, source="website", province="广东省", level="B", status="new", **it),
        "deleted_1": customer(sales_rep, 1, source="website", province="上海市", level="A", status="new", **it),
    }
    customer_share(actor=admin_user, customer=made["shared_2"], level="view_customer", user=sales_rep)
    Customer.objects.filter(pk=made["deleted_1"].pk).update(deleted_at=timezone.now())
    made["r_now"] = CustomerFactory(owner=sales_rep, source="website", province="上海市", level="B", status="new",
                                    **it)
    return made


def page(client, key, **query):
    response = client.get(reverse("reports:report", args=[key]), query)
    assert response.status_code == 200
    return response


def tables(response) -> dict:
    """What the user reads: every table's rows and totals, by table."""
    return {table.key: (table.rows, table.totals) for table in response.context["tables"]}


def xlsx(client, key, table_key, **query) -> list[tuple]:
    response = client.get(reverse("reports:export", args=[key, table_key]), query)
    assert response.status_code == 200
    return list(openpyxl.load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True))


def summed_note(response) -> bool:
    return any("counted as they were at" in str(note) for note in response.context["notes"])


def new_total(response) -> int:
    return tables(response)["months"][1][1]


def base_total(response) -> int:
    return tables(response)["statuses"][1][1]


def assert_equal_to_live(client, user, **query):
    """Both pages and their spreadsheets, summary on (as the page reads them), equal the same pages counted live."""
    summed = {key: page(client, key, **query) for key in ("new_customers", "customer_base")}
    assert summed_note(summed["customer_base"]), "the summary was not read"
    exporting = registry.get("new_customers").may_export(user)  # both reports need the same permissions
    sheets = {(key, table.key): xlsx(client, key, table.key, **query)
              for key, response in summed.items() for table in response.context["tables"] if exporting}
    state = SummaryState.objects.get(key=CUSTOMER_MONTHS)
    state.delete()  # nothing summed: the pages count everything live
    try:
        for key, response in summed.items():
            live = page(client, key, **query)
            assert not summed_note(live)
            assert tables(response) == tables(live), (user, key)
            for table in live.context["tables"] if exporting else []:
                assert sheets[(key, table.key)] == xlsx(client, key, table.key, **query), (user, key, table.key)
    finally:
        state.save()


# ------------------------------------------------------------------------------------------------ equal to live


@pytest.mark.parametrize("who", PEOPLE)
def test_after_a_refresh_both_pages_and_their_exports_equal_a_live_count(client_as, request, who, book):
    user = request.getfixturevalue(who)
    customer_months_refresh()
    assert_equal_to_live(client_as(user), user, **YEAR)
    assert_equal_to_live(client_as(user), user, period="this_month")
    filters = ReportFilterForm(YEAR, user=user).filters()
    assert new_customer_counts(user, filters)[0] == new_customer_counts(user, filters, summary=False)[0]
    assert standing_counts(user, filters)[0] == standing_counts(user, filters, summary=False)[0]


@pytest.mark.parametrize("who, new, base", [
    # r_1 r_3 r_5 o_2 s_2 pool_4 shared_2 r_now; never deleted_1
    ("admin_user", 8, 8),
    # his subtree (上海组, 杭州组): the rep's four and o_2; not south's, not the pool's, not the one shared with the rep
    ("sales_manager", 5, 5),
    # his own four; not the customer shared with him (the report counts the rep's own work), not the pool
    ("sales_rep", 4, 4),
])
def test_the_summary_keeps_each_viewer_to_his_people(client_as, request, who, new, base, book):
    user = request.getfixturevalue(who)
    customer_months_refresh()
    client = client_as(user)
    summed = page(client, "new_customers", **YEAR)
    assert summed_note(summed)
    assert new_total(summed) == new
    assert base_total(page(client, "customer_base")) == base


def test_a_custom_period_counts_its_partial_months_live(client_as, admin_user, book):
    customer_months_refresh()
    # From the 16th of three months ago: r_3 (the 15th) falls outside, the whole months after it come summed.
    start = add_months(month_start(timezone.localdate()), -3).replace(day=16)
    query = {"period": "custom", "date_from": start.isoformat(), "date_to": timezone.localdate().isoformat()}
    response = page(client_as(admin_user), "new_customers", **query)
    assert summed_note(response)
    assert new_total(response) == 5  # r_1, o_2, s_2, shared_2, r_now
    assert_equal_to_live(client_as(admin_user), admin_user, **query)


# ------------------------------------------------------------------------------------------------ changes


@pytest.mark.parametrize("who", PEOPLE)
def test_a_customer_created_after_the_refresh_shows_at_once(client_as, request, who, sales_rep, book):
    user = request.getfixturevalue(who)
    customer_months_refresh()
    client = client_as(user)
    before_new, before_base = new_total(page(client, "new_customers", **YEAR)), base_total(page(client,
                                                                                                "customer_base"))
    CustomerFactory(owner=sales_rep, source="phone", level="A", status="potential")
    after = page(client, "new_customers", **YEAR)
    assert new_total(after) == before_new + 1
    assert base_total(page(client, "customer_base")) == before_base + 1
    assert_equal_to_live(client, user, **YEAR)


def test_an_old_customer_edited_after_the_refresh_shows_as_edited_at_the_next_refresh(
        client_as, admin_user, sales_manager, sales_rep, south_rep, book):
    customer_months_refresh()
    manager, rep = client_as(sales_manager), client_as(sales_rep)
    assert new_total(page(rep, "new_customers", **YEAR)) == 4
    # The rep's customer of three months ago goes to the south team's rep; another becomes a closed deal; a third is
    # deleted.
    Customer.objects.filter(pk=book["r_3"].pk).update(owner=south_rep, team=south_rep.team,
                                                      updated_at=timezone.now())
    Customer.objects.filter(pk=book["r_1"].pk).update(status="deal", updated_at=timezone.now())
    Customer.objects.filter(pk=book["o_2"].pk).update(deleted_at=timezone.now())
    # Until the next refresh the summed months are as they were when summed, and the page says when that was.
    stale = page(rep, "new_customers", **YEAR)
    assert new_total(stale) == 4 and summed_note(stale)
    refresh_customer_months()
    assert new_total(page(rep, "new_customers", **YEAR)) == 3  # r_1, r_5, r_now
    assert new_total(page(manager, "new_customers", **YEAR)) == 3  # not r_3 (south's now), not o_2 (deleted)
    statuses = dict((row[0], row[1]) for row in tables(page(rep, "customer_base"))["statuses"][0])
    assert statuses["Closed deal"] == 1 and statuses["New customer"] == 1  # r_1 a deal now; r_now new
    for user in (admin_user, sales_manager, sales_rep):
        assert_equal_to_live(client_as(user), user, **YEAR)


def test_a_new_month_before_the_next_refresh_is_counted_live(client_as, admin_user, book):
    # Summed last month: the month that has ended since is not in the summary yet, and is counted live.
    customer_months_refresh(today=add_months(month_start(timezone.localdate()), -1))
    state = SummaryState.objects.get(key=CUSTOMER_MONTHS)
    assert state.last_month == add_months(month_start(timezone.localdate()), -2)
    assert not CustomerMonth.objects.filter(month__gt=state.last_month).exists()
    assert new_total(page(client_as(admin_user), "new_customers", **YEAR)) == 8
    assert_equal_to_live(client_as(admin_user), admin_user, **YEAR)


# ------------------------------------------------------------------------------------------------ scope


def test_the_summary_never_widens_a_managers_or_a_reps_scope_whatever_the_url(client_as, sales_manager, sales_rep,
                                                                             south_rep, teams, book):
    customer_months_refresh()
    manager, rep = client_as(sales_manager), client_as(sales_rep)
    # A team outside the manager's subtree (not a choice of his: the form refuses it), a rep of another team: the
    # figures stay his own people's, nothing of theirs is counted.
    south = page(manager, "new_customers", team=teams.south.pk, **YEAR)
    assert south.context["form"].errors and new_total(south) == 5
    assert base_total(page(manager, "customer_base", team=teams.south.pk)) == 5
    assert new_total(page(manager, "new_customers", team=teams.hangzhou.pk, **YEAR)) == 1  # o_2
    assert new_total(page(rep, "new_customers", owner=south_rep.pk, **YEAR)) == 4  # his own, whatever the URL says
    assert base_total(page(rep, "customer_base", owner=south_rep.pk)) == 4
    sources = dict((row[0], row[1]) for row in tables(page(manager, "new_customers", **YEAR))["sources"][0])
    assert "Cold call" not in sources  # s_2 (phone) is south's


def test_a_viewer_whose_filters_are_not_his_own_work_is_counted_live(client_as, sales_rep, book, monkeypatch):
    # Should the filters ever choose people the viewer sees only through the policy's other branches (shares, the
    # pool), the rows (which keep no policy) are not read: the page counts live.
    customer_months_refresh()
    monkeypatch.setattr("reports.filters.is_own_work", lambda user, **kwargs: False)
    response = page(client_as(sales_rep), "new_customers", **YEAR)
    assert not summed_note(response)
    assert new_total(response) == 4


# ------------------------------------------------------------------------------------------------ the refresh


def test_a_refresh_is_idempotent_and_leaves_the_current_month_live(book):
    customer_months_refresh()

    def rows():
        return (sorted(CustomerMonth.objects.values_list("month", "owner", "team", "field", "value", "count")),
                sorted(CustomerStanding.objects.values_list("month", "owner", "team", "level", "status", "count")))

    first = rows()
    customer_months_refresh()
    assert rows() == first
    assert not CustomerStanding.objects.filter(month=month_start(timezone.localdate())).exists()
    assert sum(CustomerStanding.objects.values_list("count", flat=True)) == 7  # every live customer but r_now
    # source, province and industry each count the same seven customers
    for field in ("source", "province", "industry"):
        assert sum(CustomerMonth.objects.filter(field=field).values_list("count", flat=True)) == 7


def test_beat_refreshes_the_customer_months_every_ten_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["reports-customer-months"]
    assert entry["task"] == refresh_customer_months.name
    assert entry["schedule"].minute == set(range(5, 60, 10))


def _wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_sums_the_months_in_a_real_worker_and_twice_is_harmless(live_celery_worker, client_as,
                                                                              admin_user, book):
    # given the book, nothing summed yet
    assert not SummaryState.objects.filter(key=CUSTOMER_MONTHS).exists()
    # when beat's task is delivered twice to a real worker over the real broker
    sent = {refresh_customer_months.delay().id, refresh_customer_months.delay().id}
    # then both runs finish, one after the other, and the pages read the summary with the live figures
    assert _wait_for(lambda: sent <= set(live_celery_worker.finished)), "the worker did not run both tasks"
    assert sum(CustomerStanding.objects.values_list("count", flat=True)) == 7
    assert new_total(page(client_as(admin_user), "new_customers", **YEAR)) == 8
    assert_equal_to_live(client_as(admin_user), admin_user, **YEAR)
