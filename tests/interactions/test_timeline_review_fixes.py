"""What the review of issue 4 found, kept fixed: permissions and masking on the timeline, a reassigned task
its assignee can see, the timeline's cursor, team activity by team."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from interactions import services
from interactions.models import FollowUp, Interaction, MailMessage
from tests.factories import CustomerFactory


def _timeline(client, customer, **params):
    return client.get(reverse("customers:detail", args=[customer.pk]), {"tab": "timeline", **params})


def test_a_role_without_the_interaction_permission_sees_no_interactions_on_the_timeline(client_as, marketing_user):
    customer = CustomerFactory(owner=None)
    Interaction.objects.create(customer=customer, channel="call", subject="机密通话", occurred_at=timezone.now())
    group = marketing_user.groups.get(name="marketing")
    group.permissions.remove(Permission.objects.get(codename="view_interaction"))
    page = _timeline(client_as(marketing_user), customer).content.decode()
    assert "机密通话" not in page


def test_mail_addresses_and_phone_changes_are_masked_for_roles_without_the_sensitive_permission(
    client_as, marketing_user, sales_rep
):
    customer = CustomerFactory(owner=None, mobile="+8613812345678")
    mail = MailMessage.objects.create(message_id="<m1@x>", thread_key="<m1@x>", subject="询价",
                                      sender="张三 <zhangsan-private@example.com>", recipients="sales@example.com",
                                      sent_at=timezone.now())
    Interaction.objects.create(customer=customer, channel="email", subject="询价", mail=mail,
                               occurred_at=timezone.now())
    Customer.objects.filter(pk=customer.pk).update(mobile="+8613900001111")
    page = _timeline(client_as(marketing_user), customer).content.decode()
    assert "zhangsan-private@example.com" not in page and "z***@example.com" in page
    assert "13900001111" not in page and "13812345678" not in page
    # a rep, who may see them, sees them
    assert "zhangsan-private@example.com" in _timeline(client_as(sales_rep), customer).content.decode()


def test_a_naive_or_broken_cursor_is_the_first_page_not_an_error(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    for before in ["2030-01-01T00:00:00|history|1", "nonsense", "2030-13-01T00:00:00+00:00|x|1"]:
        assert _timeline(client_as(sales_rep), customer, before=before).status_code == 200


def test_a_follow_up_cannot_go_to_someone_who_cannot_see_its_customer(sales_manager, sales_rep, other_rep):
    customer = CustomerFactory(owner=sales_rep)
    followup = services.followup_create(actor=sales_rep, customer=customer, title="回访",
                                        due_at=timezone.now() + timedelta(days=1))
    with pytest.raises(ValidationError) as refused:
        services.followup_reassign(actor=sales_manager, followup=followup, assignee=other_rep)
    assert "cannot see this customer" in " ".join(refused.value.messages)
    followup.refresh_from_db()
    assert followup.assignee == sales_rep


def test_a_next_step_needs_the_follow_up_permission(sales_rep):
    group = sales_rep.groups.get(name="sales_rep")
    group.permissions.remove(Permission.objects.get(codename="add_followup"))
    rep = type(sales_rep).objects.get(pk=sales_rep.pk)
    with pytest.raises(ValidationError):
        services.followup_create(actor=rep, customer=CustomerFactory(owner=rep), title="回访",
                                 due_at=timezone.now() + timedelta(days=1))
    assert not FollowUp.objects.exists()


def test_a_follow_up_without_a_reminder_time_reminds_when_it_is_due(sales_rep):
    due = timezone.now() + timedelta(days=1)
    followup = services.followup_create(actor=sales_rep, customer=CustomerFactory(owner=sales_rep), title="回访",
                                        due_at=due)
    assert followup.remind_at == due


def test_the_assignee_is_told_in_his_own_language(sales_manager, sales_rep):
    sales_rep.language = "zh-hans"
    sales_rep.save()
    customer = CustomerFactory(owner=sales_rep)
    services.followup_create(actor=sales_manager, customer=customer, title="回访", assignee=sales_rep,
                             due_at=timezone.now() + timedelta(days=1))
    assert "给您分配了跟进任务" in sales_rep.notifications.get().title


def test_team_activity_is_what_the_managers_teams_logged(client_as, sales_manager, sales_rep, south_rep):
    pool_customer = CustomerFactory(owner=None)
    Interaction.objects.create(customer=pool_customer, author=south_rep, channel="call", subject="华南的电话",
                               occurred_at=timezone.now())
    Interaction.objects.create(customer=pool_customer, author=sales_rep, channel="call", subject="上海组的电话",
                               occurred_at=timezone.now())
    page = client_as(sales_manager).get(reverse("interactions:activity")).content.decode()
    assert "上海组的电话" in page and "华南的电话" not in page


def test_a_follow_up_action_from_a_page_of_older_entries_reloads_the_whole_timeline(client_as, sales_rep):
    customer = CustomerFactory(owner=sales_rep)
    followup = services.followup_create(actor=sales_rep, customer=customer, title="回访",
                                        due_at=timezone.now() + timedelta(days=1))
    fragment = reverse("customers:detail", args=[customer.pk]) + "?tab=timeline&part=entries&before=x"
    response = client_as(sales_rep).post(reverse("interactions:followup_complete", args=[followup.pk]),
                                         {"next": fragment}, HTTP_HX_REQUEST="true")
    assert "part=entries" not in response["HX-Location"] and "tab=timeline" in response["HX-Location"]
