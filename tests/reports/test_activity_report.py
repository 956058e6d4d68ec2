"""The activity report: interactions and completed follow-ups per rep and week, over the people the viewer oversees."""

import io
from datetime import datetime, timedelta

from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from interactions.models import FollowUp, FollowUpStatus, Interaction
from tests.factories import CustomerFactory


def _log(author, customer, *, ago_days=0, count=1):
    when = timezone.now() - timedelta(days=ago_days)
    for _ in range(count):
        Interaction.objects.create(customer=customer, author=author, occurred_at=when, subject="电话回访")


def _rows(html_client, user, query=""):
    response = html_client(user).get(reverse("reports:report", args=["activity"]) + query)
    assert response.status_code == 200
    return _weekly(response).rows


def _weekly(response):
    return next(table for table in response.context["tables"] if table.key == "weekly")


def test_each_viewer_counts_the_work_of_the_people_he_oversees(client_as, sales_rep, other_rep, south_rep,
                                                                sales_manager, admin_user):
    mine, theirs, south = (CustomerFactory(owner=u) for u in (sales_rep, other_rep, south_rep))
    _log(sales_rep, mine, count=3)
    _log(sales_rep, theirs)  # on a colleague's customer: still his work
    _log(other_rep, theirs, count=2)
    _log(south_rep, south, count=5)
    FollowUp.objects.create(customer=mine, title="回访", assignee=sales_rep, due_at=timezone.now(),
                            status=FollowUpStatus.DONE, completed_at=timezone.now())
    # the rep sees his own 4 interactions and 1 completed follow-up, nobody else's
    rep_rows = _rows(client_as, sales_rep)
    assert [(r[0], r[2], r[3]) for r in rep_rows] == [(str(sales_rep), 4, 1)]
    # the manager of 华东 sees his two reps, not 华南's
    manager_rows = {r[0]: r[2] for r in _rows(client_as, sales_manager)}
    assert manager_rows == {str(sales_rep): 4, str(other_rep): 2}
    # the admin sees everyone; a rep asking for a colleague in the URL still gets his own figures
    assert {r[0]: r[2] for r in _rows(client_as, admin_user)}[str(south_rep)] == 5
    assert [r[0] for r in _rows(client_as, sales_rep, f"?owner={other_rep.pk}")] == [str(sales_rep)]


def test_the_export_holds_the_figures_of_the_page(client_as, sales_manager, sales_rep):
    _log(sales_rep, CustomerFactory(owner=sales_rep), count=2)
    response = client_as(sales_manager).get(reverse("reports:export", args=["activity", "weekly"]))
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][0] == str(sales_rep) and rows[1][2] == 2


def test_each_row_opens_the_activity_list_on_that_reps_interactions_of_that_week(client_as, sales_manager, sales_rep,
                                                                               other_rep):
    # given: the rep's interactions in two weeks of March 2025 (Monday 3rd and Monday 10th), two of them at the very
    # ends of the first week in the CRM's time zone, and a colleague's in the first week
    def at(text):
        return timezone.make_aware(datetime.fromisoformat(text))

    mine, theirs = CustomerFactory(owner=sales_rep), CustomerFactory(owner=other_rep)
    first_week = {Interaction.objects.create(customer=mine, author=sales_rep, occurred_at=at(when), subject="周一").pk
                  for when in ("2025-03-03 00:10", "2025-03-05 10:00", "2025-03-09 23:50")}
    second_week = {Interaction.objects.create(customer=mine, author=sales_rep, occurred_at=at(when), subject="下周").pk
                   for when in ("2025-03-10 00:10", "2025-03-12 10:00")}
    Interaction.objects.create(customer=theirs, author=other_rep, occurred_at=at("2025-03-05 11:00"), subject="同事")
    march = "?period=custom&date_from=2025-03-01&date_to=2025-03-31"

    def listed(client, link):
        response = client.get(link)
        assert response.status_code == 200
        assert not response.context["filter"].form.errors
        return {interaction.pk for interaction in response.context["page"].object_list}

    # when the manager follows the rep's rows, then each lists exactly the rep's interactions of that week
    manager = client_as(sales_manager)
    table = _weekly(manager.get(reverse("reports:report", args=["activity"]) + march))
    links = {(row[0], row[1]): link for row, link in zip(table.rows, table.links, strict=True)}
    assert listed(manager, links[(str(sales_rep), "2025-03-03")]) == first_week
    assert listed(manager, links[(str(sales_rep), "2025-03-10")]) == second_week
    # and the rep, who may not open the team list, is led to his own activity list, on the same week
    rep = client_as(sales_rep)
    rep_table = _weekly(rep.get(reverse("reports:report", args=["activity"]) + march))
    rep_links = {row[1]: link for row, link in zip(rep_table.rows, rep_table.links, strict=True)}
    assert rep_links["2025-03-03"].startswith(reverse("interactions:my_activity") + "?")
    assert listed(rep, rep_links["2025-03-03"]) == first_week
