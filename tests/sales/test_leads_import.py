"""Importing leads (线索) from Excel through the import machinery (resource "sales.lead"): Chinese headers, the
preview's counts and problems, the commit, the routing of leads imported without an owner by the assignment rules
(and the assignee's notification), owners from a column of the file, and undo. Steps run as the worker runs them."""

import pytest
from django.urls import reverse
from django.utils import translation

from crm.imports.models import ImportStatus
from crm.notifications.models import Notification
from sales import lead_services
from sales.models import Lead, LeadAssignment, LeadStatus
from tests.factories import TeamFactory
from tests.factories.sales_leads import AssignmentRuleFactory, LeadFactory, eager_celery, reps_in
from tests.imports.conftest import commit, run_to_preview, undo, xlsx_bytes

LEADS = "sales.lead"
HEADERS = ["姓名", "公司", "职位", "手机", "邮箱", "省份", "城市", "线索来源", "行业", "活动", "留言"]


def sheet(*rows, headers=HEADERS) -> bytes:
    return xlsx_bytes([headers, *rows], sheet="线索")


def preview(actor, content, **choices):
    """Upload from a Chinese page (the job keeps the uploader's language for its messages), read and check."""
    with translation.override("zh-hans"):
        return run_to_preview(actor, content, name="展会线索.xlsx", resource=LEADS, **choices)


def problems(job) -> dict:
    return {r.row_number: [(e["column"], e["message"]) for e in r.errors] for r in job.rows.filter(action="invalid")}


def commit_and_route(actor, job, django_capture_on_commit_callbacks):
    """Commit as the worker does; the routing task it queues on commit runs at once, as a worker would run it."""
    with eager_celery(), django_capture_on_commit_callbacks(execute=True):
        job = commit(actor, job)
    return job


@pytest.fixture
def zhejiang_reps(teams):
    """The two reps of 浙江组, who share the Zhejiang leads round-robin."""
    team = TeamFactory(name="浙江组", parent=teams.east)
    reps = reps_in(team, 2, prefix="zj")
    AssignmentRuleFactory(name="浙江线索", provinces=["浙江省"], team=team)
    return reps


def test_an_admin_imports_a_trade_show_list_and_the_rules_route_it(client_as, admin_user, zhejiang_reps,
                                                                   django_capture_on_commit_callbacks):
    first_rep, second_rep = zhejiang_reps
    known = LeadFactory(name="老线索", email="old@example.com", owner=None)
    content = sheet(
        ["周杰", "杰出科技", "采购经理", "138 0000 0001", "zhou@example.com", "浙江", "杭州", "展会", "IT/互联网",
         "2026春季展", "想了解报价"],
        ["吴敏", "吴氏贸易", "", "13800000002", "", "浙江省", "宁波", "官网", "制造业", "", ""],
        ["郑强", "", "", "", "zheng@example.com", "广东", "深圳", "", "", "", ""],
        ["钱多多", "钱氏", "", "12345", "", "浙江", "", "", "", "", ""],
        ["孙丽", "孙氏", "", "", "", "浙江", "", "", "", "", ""],
        ["王五", "王氏", "", "13800000004", "", "浙江", "", "网上冲浪", "", "", ""],
        ["周杰（重复）", "杰出科技", "", "13800000001", "", "浙江", "", "", "", "", ""],
        ["老朋友", "", "", "", "OLD@example.com", "浙江", "", "", "", "", ""],
    )
    # when an admin uploads it, leaving the owners to the assignment rules
    job = preview(admin_user, content, owner_mode="pool")
    # then every Chinese header is recognised
    assert [job.mapping[str(i)] for i in range(len(HEADERS))] == [
        "name", "company", "title", "mobile", "email", "province", "city", "source", "industry", "campaign",
        "message"]
    # and the preview counts three new leads, one repeat within the file, one lead already in the CRM and three
    # invalid rows, each named by its row, its column and the reason
    assert job.status == ImportStatus.VALIDATED
    assert {k: v for k, v in job.counts.items() if v} == {"create": 3, "invalid": 3, "file_duplicate": 1, "skip": 1}
    assert problems(job) == {
        5: [("手机", "12345 不是有效的电话号码。")],
        6: [("手机", "没有手机、电话或邮箱：请至少填写一种联系方式。")],
        7: [("线索来源", "网上冲浪 不在可选项中。")],
    }
    # the page shows the same (the messages in the language the file was uploaded in, Chinese here)
    page = client_as(admin_user, language="zh-hans").get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert 'data-count="create">3<' in page and 'data-count="invalid">3<' in page
    assert '<tr><td>5</td><td>手机</td><td class="wrap">12345 不是有效的电话号码。</td></tr>' in page

    # when he imports the valid rows and a worker commits them
    job.skip_invalid = True
    job.save(update_fields=["skip_invalid"])
    job = commit_and_route(admin_user, job, django_capture_on_commit_callbacks)
    # then the three leads exist, cleaned as a person would read the sheet
    assert job.status == ImportStatus.COMMITTED
    imported = Lead.objects.exclude(pk=known.pk)
    assert sorted(imported.values_list("name", flat=True)) == ["吴敏", "周杰", "郑强"]
    zhou = Lead.objects.get(name="周杰")
    assert (zhou.company, zhou.title, str(zhou.mobile), zhou.email, zhou.province, zhou.city, zhou.source,
            zhou.industry, zhou.campaign, zhou.message, zhou.created_by) == (
        "杰出科技", "采购经理", "+8613800000001", "zhou@example.com", "浙江省", "杭州", "exhibition", "it",
        "2026春季展", "想了解报价", admin_user)
    zheng = Lead.objects.get(name="郑强")
    assert zheng.source == "import"  # no source column value: the lead came from an import
    # and the Zhejiang rule gave its leads to its reps in turn; the lead from Guangdong waits in the pool
    wu = Lead.objects.get(name="吴敏")
    assert (zhou.owner, zhou.team, zhou.status) == (first_rep, first_rep.team, LeadStatus.ASSIGNED)
    assert (wu.owner, wu.status) == (second_rep, LeadStatus.ASSIGNED)
    assert (zheng.owner, zheng.status) == (None, LeadStatus.NEW) and zheng.routed_at is not None
    assert list(LeadAssignment.objects.filter(lead=zhou).values_list("user", "reason", "rule__name")) == [
        (first_rep.pk, "rule", "浙江线索")]
    # and each assignee is told
    assert list(Notification.objects.filter(user=first_rep).values_list("title", "url")) == [
        ("您有新线索：周杰（杰出科技）", zhou.get_absolute_url())]
    assert Notification.objects.filter(user=second_rep).count() == 1
    # and the lead that was already in the CRM is untouched
    known.refresh_from_db()
    assert known.name == "老线索"

    # when he undoes the import
    job = undo(admin_user, job)
    # then the leads it created are gone, with their assignments; the earlier lead stays
    assert job.status == ImportStatus.UNDONE
    assert list(Lead.objects.all()) == [known]
    assert not LeadAssignment.objects.exists()
    assert job.counts["undo"]["deleted"] == 3


def test_routing_runs_once_even_if_the_task_is_delivered_twice(admin_user, zhejiang_reps,
                                                              django_capture_on_commit_callbacks):
    from sales.tasks import route_imported_leads

    job = preview(admin_user, sheet(["周杰", "", "", "13800000001", "", "浙江", "", "", "", "", ""]),
                  owner_mode="pool")
    job = commit_and_route(admin_user, job, django_capture_on_commit_callbacks)
    assert route_imported_leads(job.pk) == 0
    assert LeadAssignment.objects.count() == 1 and Notification.objects.count() == 1


def test_owners_from_a_column_of_the_file_are_told_once_each(admin_user, sales_rep, other_rep, zhejiang_reps,
                                                           django_capture_on_commit_callbacks):
    headers = ["姓名", "手机", "省份", "负责人"]
    content = sheet(["甲", "13800000001", "浙江", "rep"],
                    ["乙", "13800000002", "浙江", "李芳"],  # other_rep by his Chinese name
                    ["丙", "13800000003", "浙江", "REP"],
                    ["丁", "13800000004", "浙江", "Nobody"],
                    ["戊", "13800000005", "浙江", ""],  # no owner written: the rules decide
                    headers=headers)
    job = preview(admin_user, content, owner_mode="column", skip_invalid=True)
    assert problems(job) == {5: [("负责人", "没有您可以分配线索的用户 Nobody。")]}
    commit_and_route(admin_user, job, django_capture_on_commit_callbacks)
    owners = dict(Lead.objects.values_list("name", "owner"))
    assert owners == {"甲": sales_rep.pk, "乙": other_rep.pk, "丙": sales_rep.pk, "戊": zhejiang_reps[0].pk}
    # the import's assignments say who made them
    assert set(LeadAssignment.objects.filter(lead__name="甲").values_list("reason", "assigned_by")) == {
        ("import", admin_user.pk)}
    # one notification per owner, not one per lead
    assert list(Notification.objects.filter(user=sales_rep).values_list("title", flat=True)) == [
        f"{admin_user} 为您导入了 2 条线索。"]
    assert Notification.objects.filter(user=other_rep).count() == 1


def test_undo_keeps_the_leads_someone_worked_on_and_gives_updated_leads_their_values_back(
        admin_user, sales_rep, django_capture_on_commit_callbacks):
    existing = LeadFactory(name="老客户", company="旧公司", mobile="+8613800000009", owner=sales_rep, city="")
    content = sheet(["新线索", "新公司", "", "13800000001", "", "浙江", "", "", "", "", ""],
                    ["另一个", "另一公司", "", "13800000002", "", "浙江", "", "", "", "", ""],
                    ["老客户", "旧公司", "", "13800000009", "", "浙江", "温州", "", "", "", ""])
    job = preview(admin_user, content, owner_mode="user", owner=sales_rep, duplicate_mode="fill")
    assert {k: v for k, v in job.counts.items() if v} == {"create": 2, "update": 1}
    job = commit_and_route(admin_user, job, django_capture_on_commit_callbacks)
    existing.refresh_from_db()
    assert existing.city == "温州"
    # given the rep started working on one of the new leads
    worked = Lead.objects.get(name="新线索")
    lead_services.lead_set_status(actor=sales_rep, lead=worked, status=LeadStatus.CONTACTED)
    # when the import is undone
    job = undo(admin_user, job)
    # then the untouched new lead is deleted, the one he worked on stays, the updated lead has its old city back
    assert set(Lead.objects.values_list("name", flat=True)) == {"新线索", "老客户"}
    existing.refresh_from_db()
    assert existing.city == ""
    assert job.counts["undo"] == {"deleted": 1, "binned": 0, "restored": 1, "kept": 1}


def test_empty_cells_never_change_a_lead_the_file_updates(admin_user, sales_rep):
    # given a lead that came from the website
    existing = LeadFactory(name="老线索", mobile="+8613800000009", source="website", city="杭州", owner=sales_rep)
    # when a file with a source column, empty on his row, overwrites duplicates
    content = sheet(["老线索", "13800000009", "", "", "新需求"], ["新线索", "13800000001", "", "", ""],
                    headers=["姓名", "手机", "线索来源", "城市", "留言"])
    job = preview(admin_user, content, owner_mode="me", duplicate_mode="overwrite")
    assert {k: v for k, v in job.counts.items() if v} == {"create": 1, "update": 1}
    commit(admin_user, job)
    # then what the file says is written, and what it leaves empty is kept (the source too: the lead still came
    # from the website); a new lead without a source is marked as imported
    existing.refresh_from_db()
    assert (existing.message, existing.source, existing.city) == ("新需求", "website", "杭州")
    assert Lead.objects.get(name="新线索").source == "import"


def test_someone_who_cannot_hold_leads_must_leave_them_to_the_rules(marketing_user):
    job = preview(marketing_user, sheet(["甲", "", "", "13800000001", "", "浙江", "", "", "", "", ""]),
                  owner_mode="me")
    assert problems(job) == {2: [("owner", "您本人不能持有线索：请选择公海，系统会按分配规则把线索分给销售代表。")]}
