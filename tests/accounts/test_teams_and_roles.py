import pytest
from django.contrib.auth.models import Group

from crm.accounts import roles
from crm.accounts.selectors import assignable_users, managed_team_ids, team_subtree_ids, visible_teams
from crm.accounts.services import user_set_team
from tests.factories import UserFactory


def test_every_role_exists_after_migrate(db):
    # given a freshly migrated database
    # when the role groups are read
    names = set(Group.objects.filter(name__in=roles.ALL_ROLES).values_list("name", flat=True))
    # then all five roles are there
    assert names == set(roles.ALL_ROLES)


@pytest.mark.django_db(transaction=True)
def test_roles_survive_the_flush_of_a_transactional_test():
    # given a transactional test: the tables were flushed before it and post_migrate fired again
    # when a user of each role is created
    users = [UserFactory(role=role) for role in roles.ALL_ROLES]
    # then each got its role, with its module permissions
    assert [roles.user_roles(u) for u in users] == [{r} for r in roles.ALL_ROLES]
    assert users[2].has_perm("customers.claim_customer")
    assert not users[4].has_perm("customers.add_customer")


@pytest.mark.parametrize(
    ("role", "may_add", "may_assign"),
    [
        (roles.ADMIN, True, True),
        (roles.SALES_MANAGER, True, True),
        (roles.SALES_REP, True, False),
        (roles.MARKETING, False, False),
        (roles.SUPPORT_AGENT, False, False),
    ],
)
def test_module_permissions_follow_the_role(db, role, may_add, may_assign):
    # given a user of the role
    user = UserFactory(role=role)
    # then he may create customers and hand them to others exactly as his role says
    assert user.has_perm("customers.view_customer")
    assert user.has_perm("customers.add_customer") is may_add
    assert user.has_perm("customers.assign_customer") is may_assign


def test_migrate_keeps_the_permissions_an_admin_gave_a_role(db):
    from django.contrib.auth.models import Permission

    from crm.accounts.roles import sync_roles

    # given an admin who lets marketing add customers and takes claiming away from reps
    marketing, reps = Group.objects.get(name="marketing"), Group.objects.get(name="sales_rep")
    marketing.permissions.add(Permission.objects.get(codename="add_customer"))
    reps.permissions.remove(Permission.objects.get(codename="claim_customer"))
    # when the next deployment migrates (post_migrate syncs the roles)
    sync_roles()
    # then his changes are still there
    assert marketing.permissions.filter(codename="add_customer").exists()
    assert not reps.permissions.filter(codename="claim_customer").exists()


def test_unknown_role_is_refused(db):
    with pytest.raises(ValueError, match="unknown role"):
        UserFactory(role="boss")


def test_a_team_cannot_be_moved_below_its_own_sub_team(teams):
    from django.core.exceptions import ValidationError

    from crm.accounts.services import team_save

    east = teams.east
    east.parent = teams.shanghai  # 上海组 is below 华东销售部
    with pytest.raises(ValidationError) as error:
        team_save(east)
    assert "parent" in error.value.message_dict


def test_team_subtree_contains_children_but_not_siblings(teams):
    # when the subtree of 华东销售部 is computed
    subtree = team_subtree_ids([teams.east.pk])
    # then it holds the department and its two groups, not 华南销售部 or the head office
    assert subtree == {teams.east.pk, teams.shanghai.pk, teams.hangzhou.pk}


def test_a_sales_manager_oversees_his_teams_subtree(sales_manager, teams):
    assert managed_team_ids(sales_manager) == {teams.east.pk, teams.shanghai.pk, teams.hangzhou.pk}


def test_a_rep_oversees_no_team(sales_rep):
    assert managed_team_ids(sales_rep) == set()


def test_assignable_users_are_scoped_by_role(admin_user, sales_manager, sales_rep, other_rep, south_rep):
    # then an admin may assign to anyone, a manager within his subtree, a rep only to himself
    assert set(assignable_users(user=admin_user)) >= {sales_manager, sales_rep, other_rep, south_rep}
    assert set(assignable_users(user=sales_manager)) == {sales_manager, sales_rep, other_rep}
    assert set(assignable_users(user=sales_rep)) == {sales_rep}


def test_visible_teams_for_manager_and_rep(sales_manager, sales_rep, teams):
    assert set(visible_teams(user=sales_manager)) == {teams.east, teams.shanghai, teams.hangzhou}
    assert set(visible_teams(user=sales_rep)) == {teams.shanghai}


def test_user_is_member_of_his_teams_group_only(sales_rep, teams):
    # given a rep of 上海组
    assert list(sales_rep.groups.filter(team__isnull=False)) == [teams.shanghai.group]
    # when he moves to 杭州组
    user_set_team(user=sales_rep, team=teams.hangzhou)
    # then he is in 杭州组's group, no longer in 上海组's, and keeps his role
    assert list(sales_rep.groups.filter(team__isnull=False)) == [teams.hangzhou.group]
    assert sales_rep.groups.filter(name=roles.SALES_REP).exists()


def test_chinese_names_are_written_family_name_first(sales_rep):
    assert str(sales_rep) == "张伟"
