"""Long report tables are paged by rep: the performance per rep and month shows 20 reps at a time in the ranking's
order, the activity per rep and week a few reps' weeks; the page control keeps the report's filters in the URL; the
.xlsx export still has every row; the activity report opens with one row per rep over the whole period."""

import io
import re
from datetime import timedelta
from decimal import Decimal
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from crm.accounts import roles
from interactions.models import FollowUp, FollowUpStatus, Interaction
from reports.activity_reports import WEEKLY_ROWS_PER_PAGE
from reports.filters import add_months, month_start
from reports.performance_reports import REPS_PER_PAGE
from tests.factories import CustomerFactory, UserFactory
from tests.factories.sales_pipeline import OpportunityFactory, stages_fixture  # noqa: F401

PERFORMANCE = reverse("reports:report", args=["performance"])
ACTIVITY = reverse("reports:report", args=["activity"])


def _table(response, key):
    return next(table for table in response.context["tables"] if table.key == key)


def _shown_reps(response, key, column) -> list[str]:
    """The reps (in ``column``) of the rows the page shows."""
    return [row[column] for row, _link in _table(response, key).page_rows_with_links()]


def _page_links(html: str, key: str) -> dict[str, str]:
    """{link text: href} of the table's page control."""
    nav = re.search(rf'<nav[^>]*data-table-pages="{key}".*?</nav>', html, re.S)
    assert nav, f"no page control for {key}"
    return {unescape(re.sub(r"<[^>]+>", "", text)).strip(): unescape(href)
            for href, text in re.findall(r'<a class="page-link" href="([^"]+)"[^>]*>(.*?)</a>', nav.group(0))}


def _xlsx_rows(response) -> list[tuple]:
    assert response.status_code == 200
    return list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))


@pytest.fixture
def many_reps(stages, teams):
    """REPS_PER_PAGE + 1 reps of 上海组, each with a deal won this month: rep 0 won the most, the last one the least."""
    now = timezone.now()
    reps = []
    for n in range(REPS_PER_PAGE + 1):
        rep = UserFactory(username=f"paged{n:02d}", role=roles.SALES_REP, team=teams.shanghai,
                          last_name="销售", first_name=f"{n:02d}")
        OpportunityFactory(owner=rep, stage=stages.won, closed_at=now, stage_entered_at=now,
                           amount=Decimal(100000 - 1000 * n))
        reps.append(rep)
    return reps


def test_the_performance_per_rep_and_month_shows_twenty_reps_a_page_and_keeps_the_filters(
        many_reps, teams, client_as, admin_user):
    client = client_as(admin_user, language="en")
    query = {"period": "this_quarter", "team": teams.east.pk}
    first = client.get(PERFORMANCE, query)
    assert first.status_code == 200

    # the first page: the 20 reps who won the most, in the ranking's order; the ranking itself has everyone
    assert set(_shown_reps(first, "reps", 1)) == {str(rep) for rep in many_reps[:REPS_PER_PAGE]}
    assert [row[1] for row in _table(first, "ranking").rows] == [str(rep) for rep in many_reps]
    html = first.content.decode()
    assert f"Reps 1–{REPS_PER_PAGE} of {REPS_PER_PAGE + 1} · the Excel export has every rep" in html
    assert str(many_reps[-1]) not in re.search(r'<table[^>]*data-table="reps".*?</table>', html, re.S).group(0)

    # the next page keeps the period and the team, and shows the last rep alone
    links = _page_links(html, "reps")
    assert set(links) == {"2", "Next"}
    next_query = parse_qs(urlsplit(links["Next"]).query)
    assert next_query == {"period": ["this_quarter"], "team": [str(teams.east.pk)], "reps_page": ["2"]}
    second = client.get(PERFORMANCE + links["Next"].split("#")[0])
    assert _shown_reps(second, "reps", 1) == [str(many_reps[-1])]  # his one month
    assert f"Reps {REPS_PER_PAGE + 1}–{REPS_PER_PAGE + 1} of {REPS_PER_PAGE + 1}" in second.content.decode()
    assert set(_page_links(second.content.decode(), "reps")) == {"Previous", "1"}

    # a page number out of range shows the last page rather than failing
    assert _shown_reps(client.get(PERFORMANCE, {**query, "reps_page": "99"}), "reps", 1) == [str(many_reps[-1])]

    # the export has every rep's rows, whichever page was open
    exported = _xlsx_rows(client.get(reverse("reports:export", args=["performance", "reps"]),
                                     {**query, "reps_page": "2"}))
    assert {row[1] for row in exported[1:]} == {str(rep) for rep in many_reps}


def test_a_short_table_has_no_page_control(client_as, stages, sales_rep, admin_user):
    now = timezone.now()
    OpportunityFactory(owner=sales_rep, stage=stages.won, closed_at=now, stage_entered_at=now)
    html = client_as(admin_user, language="en").get(PERFORMANCE).content.decode()
    assert 'data-table-pages=' not in html and str(sales_rep) in html


def _log(author, customer, when, count=1):
    Interaction.objects.bulk_create([Interaction(customer=customer, author=author, occurred_at=when, subject="拜访")
                                     for _ in range(count)])


WEEKS = 45  # weeks of the busy rep's activity, all inside the last 12 months
PER_PAGE = WEEKLY_ROWS_PER_PAGE // WEEKS  # reps a page of the weekly table holds (11)


def test_activity_over_a_year_sums_each_rep_and_pages_the_weeks_by_rep(client_as, teams, sales_manager, south_rep):
    # given a busy rep with interactions in 45 different weeks of the last 12 months, enough colleagues with one each
    # to need a second page of weeks, a completed follow-up, and a rep outside the manager's teams
    now = timezone.now()
    busy = UserFactory(username="busy", role=roles.SALES_REP, team=teams.shanghai, last_name="忙", first_name="人")
    customer = CustomerFactory(owner=busy)
    for week in range(WEEKS):
        _log(busy, customer, now - timedelta(weeks=week), count=2)
    FollowUp.objects.create(customer=customer, title="回访", assignee=busy, due_at=now,
                            status=FollowUpStatus.DONE, completed_at=now)
    others = [UserFactory(username=f"quiet{n}", role=roles.SALES_REP, team=teams.hangzhou, last_name="静",
                          first_name=f"{n:02d}") for n in range(PER_PAGE)]
    for rep in others:
        _log(rep, customer, now)
    _log(south_rep, CustomerFactory(owner=south_rep), now, count=7)

    client = client_as(sales_manager, language="en")
    response = client.get(ACTIVITY, {"period": "last_12_months"})
    assert response.status_code == 200

    # then the summary has one row per rep of his teams: the busy rep first, with his 90 interactions in 45 weeks
    summary = _table(response, "reps")
    assert [row[0] for row in summary.rows] == [str(busy)] + sorted(str(rep) for rep in others)
    busy_row = summary.rows[0]
    assert busy_row[1:3] == [2 * WEEKS, 1] and busy_row[4] == WEEKS
    # per week: over the weeks (Monday to Sunday) the period touches up to today
    first_day = add_months(month_start(timezone.localdate()), -11)
    last_day = add_months(month_start(timezone.localdate()), 1) - timedelta(days=1)
    until = timezone.localdate()  # weeks still to come do not count
    period_weeks = ((until - (first_day - timedelta(days=first_day.weekday()))).days // 7) + 1
    assert busy_row[3] == round(Decimal(2 * WEEKS) / period_weeks, 1)
    assert summary.totals[1:3] == [2 * WEEKS + PER_PAGE, 1]
    assert str(south_rep) not in [row[0] for row in summary.rows]
    # each summary row opens that rep's interactions of the whole period
    link = parse_qs(urlsplit(summary.links[0]).query)
    assert link == {"author": [str(busy.pk)], "date_after": [first_day.isoformat()],
                    "date_before": [last_day.isoformat()]}
    assert client.get(summary.links[0]).status_code == 200

    # the weekly table shows whole reps, about WEEKLY_ROWS_PER_PAGE rows a page: the busy rep and 10 colleagues
    weekly = _table(response, "weekly")
    shown = _shown_reps(response, "weekly", 0)
    assert len(set(shown)) == PER_PAGE and shown.count(str(busy)) == WEEKS
    assert len(weekly.rows) == WEEKS + PER_PAGE  # every row is there for the export
    links = _page_links(response.content.decode(), "weekly")
    second = client.get(ACTIVITY + links["Next"].split("#")[0])
    assert parse_qs(urlsplit(links["Next"]).query)["period"] == ["last_12_months"]
    assert set(_shown_reps(second, "weekly", 0)) == {str(rep) for rep in others} - set(shown)

    exported = _xlsx_rows(client.get(reverse("reports:export", args=["activity", "weekly"]),
                                     {"period": "last_12_months"}))
    assert len(exported) == 1 + WEEKS + PER_PAGE
    summary_export = _xlsx_rows(client.get(reverse("reports:export", args=["activity", "reps"]),
                                           {"period": "last_12_months"}))
    assert summary_export[1][:3] == (str(busy), 2 * WEEKS, 1)
