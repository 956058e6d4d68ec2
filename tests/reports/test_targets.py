"""Sales targets (quotas): a manager sets those of the reps and teams below him in one grid, never his own nor
another region's (the form does not offer them, a forged POST is refused and writes nothing); admins set anyone's;
saves are all-or-nothing; last month's targets can be copied; the performance report measures against them."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from reports.models import SalesTarget
from reports.target_services import target_people, target_team_ids, targets_copy_previous, targets_save
from tests.factories.sales_pipeline import stages_fixture  # noqa: F401
from tests.reports.test_performance import deal, rows_by, table

URL = reverse("reports:target_list")
COPY = reverse("reports:target_copy")
MARCH = date(2025, 3, 1)


@pytest.fixture
def org(teams, admin_user, sales_manager, sales_rep, other_rep, south_rep, marketing_user, support_agent):
    return teams


def amounts(**filters) -> dict:
    return {(t.user_id or t.team_id): t.amount for t in SalesTarget.objects.filter(**filters)}


def post(client, month="2025-03", **fields):
    return client.post(URL, {"month": month, **fields})


# ------------------------------------------------------------------------------------------ who sees what


def test_the_urls_join_the_reports_namespace():
    assert URL == "/reports/targets/"
    assert COPY == "/reports/targets/copy/"


def test_manager_is_offered_his_subtree_only(client_as, org, sales_manager, sales_rep, other_rep, south_rep):
    response = client_as(sales_manager).get(URL, {"month": "2025-03"})
    assert response.status_code == 200
    fields = set(response.context["form"].fields)
    assert fields == {f"user_{sales_rep.pk}", f"user_{other_rep.pk}", f"team_{org.shanghai.pk}",
                      f"team_{org.hangzhou.pk}"}  # not himself, not 华东 (his own team), nothing of 华南
    assert f'name="user_{south_rep.pk}"'.encode() not in response.content
    assert response.context["month"] == MARCH


def test_admin_is_offered_every_seller_and_selling_team(client_as, org, admin_user, sales_manager, south_rep,
                                                        marketing_user):
    fields = set(client_as(admin_user).get(URL).context["form"].fields)
    assert {f"user_{sales_manager.pk}", f"user_{south_rep.pk}", f"team_{org.east.pk}", f"team_{org.south.pk}",
            f"team_{org.hq.pk}"} <= fields
    assert f"user_{marketing_user.pk}" not in fields  # not a seller
    assert f"team_{org.marketing.pk}" not in fields and f"team_{org.support.pk}" not in fields


@pytest.mark.parametrize("who", ["sales_rep", "marketing_user", "support_agent"])
def test_everyone_else_is_refused(client_as, org, request, who):
    client = client_as(request.getfixturevalue(who))
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"month": "2025-03"}).status_code == 403
    assert client.post(COPY, {"month": "2025-03"}).status_code == 403


def test_a_bad_month_shows_the_current_month_with_a_message(client_as, org, sales_manager):
    response = client_as(sales_manager).get(URL, {"month": "2025-13"})
    assert response.status_code == 200
    assert response.context["month_form"].errors
    assert b"data-month-error" in response.content


# ------------------------------------------------------------------------------------------------ saving


def test_manager_sets_targets_for_his_subtree(client_as, org, sales_manager, sales_rep, other_rep):
    client = client_as(sales_manager)
    response = post(client, **{f"user_{sales_rep.pk}": "50000", f"user_{other_rep.pk}": "",
                                f"team_{org.shanghai.pk}": "45000.5", f"team_{org.hangzhou.pk}": ""})
    assert response.status_code == 302 and response.url == URL + "?month=2025-03"
    assert amounts(month=MARCH) == {sales_rep.pk: Decimal("50000.00"), org.shanghai.pk: Decimal("45000.50")}
    assert set(SalesTarget.objects.values_list("set_by", flat=True)) == {sales_manager.pk}
    page = client.get(response.url)
    assert page.context["form"][f"user_{sales_rep.pk}"].value() == Decimal("50000.00")

    # a second save changes one, clears one, adds one
    post(client, **{f"user_{sales_rep.pk}": "60000", f"user_{other_rep.pk}": "30000",
                    f"team_{org.shanghai.pk}": "", f"team_{org.hangzhou.pk}": ""})
    assert amounts(month=MARCH) == {sales_rep.pk: Decimal("60000.00"), other_rep.pk: Decimal("30000.00")}


@pytest.mark.parametrize("forged", ["south_rep", "south_team", "himself", "his_team"])
def test_a_forged_post_is_refused_and_writes_nothing(client_as, org, sales_manager, sales_rep, south_rep, forged):
    key = {"south_rep": f"user_{south_rep.pk}", "south_team": f"team_{org.south.pk}",
           "himself": f"user_{sales_manager.pk}", "his_team": f"team_{org.east.pk}"}[forged]
    response = post(client_as(sales_manager), **{f"user_{sales_rep.pk}": "50000", key: "1"})
    assert response.status_code == 403
    assert not SalesTarget.objects.exists()


def test_the_service_refuses_out_of_reach_ids_too(org, sales_manager, sales_rep, south_rep):
    with pytest.raises(PermissionDenied):
        targets_save(actor=sales_manager, month=MARCH, people={sales_rep.pk: "1", south_rep.pk: "1"}, teams={})
    with pytest.raises(PermissionDenied):
        targets_save(actor=sales_manager, month=MARCH, people={}, teams={org.south.pk: "1"})
    assert not SalesTarget.objects.exists()
    assert south_rep not in target_people(sales_manager)
    assert target_team_ids(sales_manager) == {org.shanghai.pk, org.hangzhou.pk}


@pytest.mark.parametrize("bad", ["-1", "12.345", "abc", "1" * 17])
def test_one_bad_amount_saves_nothing(client_as, org, sales_manager, sales_rep, other_rep, bad):
    SalesTarget.objects.create(user=other_rep, month=MARCH, amount=Decimal("100"))
    response = post(client_as(sales_manager), **{f"user_{sales_rep.pk}": "50000", f"user_{other_rep.pk}": bad})
    assert response.status_code == 200
    assert response.context["form"].errors[f"user_{other_rep.pk}"]
    assert amounts(month=MARCH) == {other_rep.pk: Decimal("100.00")}


def test_service_validation(org, admin_user, sales_rep):
    with pytest.raises(ValidationError):
        targets_save(actor=admin_user, month=date(2025, 3, 2), people={sales_rep.pk: "1"}, teams={})
    with pytest.raises(ValidationError) as raised:
        targets_save(actor=admin_user, month=MARCH, people={sales_rep.pk: "-5"}, teams={})
    assert f"user_{sales_rep.pk}" in raised.value.message_dict
    with pytest.raises(ValidationError):
        targets_save(actor=admin_user, month=MARCH, people={sales_rep.pk: "1.001"}, teams={})
    assert not SalesTarget.objects.exists()


def test_fields_left_out_of_a_post_keep_their_targets(client_as, org, sales_manager, sales_rep, other_rep):
    SalesTarget.objects.create(user=other_rep, month=MARCH, amount=Decimal("100"))
    post(client_as(sales_manager), **{f"user_{sales_rep.pk}": "5"})
    assert amounts(month=MARCH) == {other_rep.pk: Decimal("100.00"), sales_rep.pk: Decimal("5.00")}


def test_admin_sets_anyones_target(client_as, org, admin_user, sales_manager, south_rep):
    response = post(client_as(admin_user), **{f"user_{sales_manager.pk}": "1000", f"user_{south_rep.pk}": "2000",
                                              f"team_{org.south.pk}": "3000"})
    assert response.status_code == 302
    assert amounts(month=MARCH) == {sales_manager.pk: Decimal("1000.00"), south_rep.pk: Decimal("2000.00"),
                                    org.south.pk: Decimal("3000.00")}


def test_manager_sees_his_own_target_read_only(client_as, org, admin_user, sales_manager):
    SalesTarget.objects.create(user=sales_manager, month=MARCH, amount=Decimal("88000"))
    response = client_as(sales_manager).get(URL, {"month": "2025-03"})
    assert [t.amount for t in response.context["own_targets"]] == [Decimal("88000.00")]
    assert f"user_{sales_manager.pk}" not in response.context["form"].fields


# --------------------------------------------------------------------------------------------- copying


def test_copy_last_months_targets(client_as, org, sales_manager, sales_rep, other_rep, south_rep):
    february = date(2025, 2, 1)
    for target in [dict(user=sales_rep, amount="100"), dict(user=other_rep, amount="200"),
                   dict(user=south_rep, amount="300"), dict(team=org.shanghai, amount="400"),
                   dict(team=org.east, amount="500")]:
        SalesTarget.objects.create(month=february, **target)
    SalesTarget.objects.create(user=other_rep, month=MARCH, amount=Decimal("999"))  # already set: kept

    response = client_as(sales_manager).post(COPY, {"month": "2025-03"})
    assert response.status_code == 302 and response.url == URL + "?month=2025-03"
    assert amounts(month=MARCH) == {sales_rep.pk: Decimal("100.00"), other_rep.pk: Decimal("999.00"),
                                    org.shanghai.pk: Decimal("400.00")}  # nothing of 华南, not his own team's
    assert targets_copy_previous(actor=sales_manager, month=MARCH) == 0  # twice is harmless
    assert client_as(sales_manager).get(COPY).status_code == 405


def test_copy_needs_a_month(client_as, org, sales_manager):
    response = client_as(sales_manager).post(COPY, {"month": "nonsense"})
    assert response.status_code == 302
    assert not SalesTarget.objects.exists()


# ------------------------------------------------------------------------------------ measured against


def test_attainment_is_computed_against_the_targets_set(client_as, org, stages, sales_manager, sales_rep):
    client = client_as(sales_manager)
    deal(sales_rep, stages.won, amount="30000", closed="2025-03-10 10:00")
    post(client, **{f"user_{sales_rep.pk}": "40000", f"team_{org.shanghai.pk}": "60000"})
    response = client.get(reverse("reports:report", args=["performance"]),
                          {"period": "custom", "date_from": "2025-03-01", "date_to": "2025-03-31"})
    rep = rows_by(table(response, "reps"), "month", "rep")[("2025-03", str(sales_rep))]
    assert (rep["target"], rep["attainment"]) == (Decimal("40000.00"), 0.75)
    team = rows_by(table(response, "teams"), "month", "team")[("2025-03", "上海组")]
    assert (team["target"], team["attainment"]) == (Decimal("60000.00"), 0.5)

    # the rep sees his target, read-only, in the same report
    own = client_as(sales_rep).get(reverse("reports:report", args=["performance"]),
                                   {"period": "custom", "date_from": "2025-03-01", "date_to": "2025-03-31"})
    assert rows_by(table(own, "reps"), "month", "rep")[("2025-03", str(sales_rep))]["attainment"] == 0.75
