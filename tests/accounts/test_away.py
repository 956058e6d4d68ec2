"""A rep marks himself away (外出/休假) in his settings: the lead assignment rules pass him over until he is back;
admins see and set the flag too."""

from django.urls import reverse

from sales import lead_services
from sales.models import Lead
from tests.factories.sales_leads import AssignmentRuleFactory, eager_celery, reps_in

SETTINGS = reverse("account_settings")


def enter_lead(actor, name, django_capture_on_commit_callbacks) -> Lead:
    """A lead entered without an owner and routed by the worker's task once committed, as in production."""
    with eager_celery(), django_capture_on_commit_callbacks(execute=True):
        mobile = f"+86137{Lead.objects.count():08d}"
        lead = lead_services.lead_create(actor=actor, data={"name": name, "mobile": mobile})
    lead.refresh_from_db()
    return lead


def test_a_rep_who_ticks_away_gets_no_new_leads_until_he_unticks_it(
        client_as, teams, admin_user, sales_rep, django_capture_on_commit_callbacks):
    # given a round-robin rule for 上海组: the rep and a colleague share its leads
    (colleague,) = reps_in(teams.shanghai, 1)
    AssignmentRuleFactory(team=teams.shanghai)
    assert enter_lead(admin_user, "甲", django_capture_on_commit_callbacks).owner == sales_rep
    client = client_as(sales_rep)
    # when the rep ticks "away" on his settings page
    response = client.post(SETTINGS, {"language": "", "notify_by_email": "on", "is_away": "on"})
    # then it is saved (his other settings unchanged) and the next leads all go to his colleague
    assert response.status_code == 302
    sales_rep.refresh_from_db()
    assert sales_rep.is_away and sales_rep.notify_by_email and sales_rep.language == ""
    assert 'name="is_away"' in client.get(SETTINGS).content.decode()
    assert [enter_lead(admin_user, n, django_capture_on_commit_callbacks).owner for n in "乙丙"] == [colleague] * 2
    # and when he is back and unticks it, his turn comes again
    client.post(SETTINGS, {"language": "", "notify_by_email": "on"})
    sales_rep.refresh_from_db()
    assert not sales_rep.is_away
    assert [enter_lead(admin_user, n, django_capture_on_commit_callbacks).owner for n in "丁戊"] == [sales_rep,
                                                                                                  colleague]


def test_the_settings_page_explains_the_box_in_both_languages(client_as, sales_rep):
    english = client_as(sales_rep).get(SETTINGS).content.decode()
    assert "Away: give me no new leads" in english
    assert "While you are away, the assignment rules give you no new leads." in english
    chinese = client_as(sales_rep, language="zh-hans").get(SETTINGS).content.decode()
    assert "外出/休假中：暂停接收新线索" in chinese
    assert "外出期间，分配规则不会再给您分配新线索。" in chinese


def test_users_who_never_get_leads_have_no_away_box(client_as, support_agent):
    client = client_as(support_agent)
    assert 'name="is_away"' not in client.get(SETTINGS).content.decode()
    # and a forged field changes nothing
    assert client.post(SETTINGS, {"language": "en", "is_away": "on"}).status_code == 302
    support_agent.refresh_from_db()
    assert support_agent.language == "en" and not support_agent.is_away


def test_an_admin_sees_and_sets_the_flag_in_the_user_admin(client_as, admin_user, sales_rep):
    client = client_as(admin_user)
    page = client.get(reverse("admin:accounts_user_change", args=[sales_rep.pk])).content.decode()
    assert 'name="is_away"' in page
    # and filters the user list by it
    sales_rep.is_away = True
    sales_rep.save(update_fields=["is_away"])
    listed = client.get(reverse("admin:accounts_user_changelist"), {"is_away__exact": "1"}).content.decode()
    assert reverse("admin:accounts_user_change", args=[sales_rep.pk]) in listed
    assert reverse("admin:accounts_user_change", args=[admin_user.pk]) not in listed


def test_the_rules_page_shows_who_is_away(client_as, admin_user, teams, sales_rep, support_agent):
    # given a rule for 上海组 with the rep away, a rule naming a colleague who is away, and an away support agent
    (colleague,) = reps_in(teams.hangzhou, 1, is_away=True)
    sales_rep.is_away = True
    sales_rep.save(update_fields=["is_away"])
    support_agent.is_away = True
    support_agent.save(update_fields=["is_away"])
    AssignmentRuleFactory(name="上海", team=teams.shanghai)
    AssignmentRuleFactory(name="个人", user=colleague)
    AssignmentRuleFactory(name="客服", team=teams.support)
    page = client_as(admin_user).get(reverse("sales:assignment_rule_list")).content.decode()
    rows = {name: page[page.index(f"<td>{name}"):].split("</tr>")[0] for name in ("上海", "个人", "客服")}
    assert "data-away" in rows["上海"] and str(sales_rep) in rows["上海"]
    assert "data-away" in rows["个人"] and str(colleague) in rows["个人"]
    # a support agent gets no leads: his flag means nothing to a rule
    assert "data-away" not in rows["客服"]
