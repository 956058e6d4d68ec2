"""Every URL × every role: the status each role gets.

The URL list comes from the root resolver, so a new URL without an entry in EXPECTATIONS fails
``test_every_url_has_an_expectation`` (and its own matrix cases) until someone decides who may open it.
The admin site (namespace ``admin``) is checked separately below.

Path arguments point at a customer of 杭州组 (owned by another rep), so scope matters: 华东's manager
oversees it, the 上海组 rep does not, marketing and support have no business with it.
"""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from crm.imports.models import ImportJob
from crm.notifications.models import Notification
from customers import services
from interactions.models import Attachment, FollowUp, Interaction, Mailbox, MailMessage
from tests.factories import ContactFactory, CustomerFactory
from tests.factories.exports import ExportJobFactory

ROLES = ["admin", "sales_manager", "sales_rep", "marketing", "support_agent", "anonymous"]
ROLE_FIXTURES = {
    "admin": "admin_user", "sales_manager": "sales_manager", "sales_rep": "sales_rep",
    "marketing": "marketing_user", "support_agent": "support_agent",
}


def row(admin, sales_manager, sales_rep, marketing, support_agent, anonymous=302) -> dict[str, int]:
    """Expected statuses, one per role; anonymous visitors are sent to the login page by default."""
    return dict(zip(ROLES, [admin, sales_manager, sales_rep, marketing, support_agent, anonymous], strict=True))


# GET for every URL; POST as well for the views that only accept POST (GET is 405 there).
EXPECTATIONS: dict[str, dict[str, dict[str, int]]] = {
    #                                      admin  mgr  rep  mkt  sup  anon
    "home":                    {"GET": row(302, 302, 302, 302, 302)},
    "login":                   {"GET": row(302, 302, 302, 302, 302, 200)},
    "logout":                  {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 302, 302, 302)},
    "password_change":         {"GET": row(200, 200, 200, 200, 200)},
    "password_change_done":    {"GET": row(200, 200, 200, 200, 200)},
    # set_language changes nothing on GET; it only redirects back
    "set_language":            {"GET": row(302, 302, 302, 302, 302, 302),
                                "POST": row(302, 302, 302, 302, 302, 302)},
    "customers:list":          {"GET": row(200, 200, 200, 200, 200)},
    "customers:create":        {"GET": row(200, 200, 200, 403, 403)},
    "customers:bulk":          {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 302, 403, 403)},
    "customers:recycle_bin":   {"GET": row(200, 403, 403, 403, 403)},
    "customers:detail":        {"GET": row(200, 200, 404, 404, 404)},
    "customers:update":        {"GET": row(200, 200, 404, 403, 403)},
    "customers:delete":        {"GET": row(200, 200, 404, 403, 403)},
    "customers:restore":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 403, 403, 403, 403)},
    # the customer is owned: admin and manager are told so (302 with a message), the rep never saw it
    "customers:claim":         {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "customers:release":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "customers:share":         {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "customers:unshare":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 404, 403, 403)},
    "customers:contact_create": {"GET": row(200, 200, 404, 403, 403)},
    "customers:contact_update": {"GET": row(200, 200, 404, 403, 403)},
    "customers:contact_delete": {"GET": row(405, 405, 405, 405, 405),
                                 "POST": row(302, 302, 404, 403, 403)},
    # exports: the job in _path is another rep's (杭州组), finished: only its creator and admins see it
    "exports:list":            {"GET": row(200, 200, 200, 200, 200)},
    "exports:create":          {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 302, 403, 302, 403)},
    "exports:detail":          {"GET": row(200, 404, 404, 404, 404)},
    "exports:download":        {"GET": row(200, 404, 404, 404, 404)},
    # imports: only admins hold the import permission by default; the job in _path is another user's
    # (a rep given the permission), so admins see it and nobody else learns it exists
    "imports:list":            {"GET": row(200, 403, 403, 403, 403)},
    "imports:new":             {"GET": row(200, 403, 403, 403, 403)},
    "imports:detail":          {"GET": row(200, 404, 404, 404, 404)},
    "imports:errors":          {"GET": row(200, 404, 404, 404, 404)},
    "imports:undo":            {"GET": row(200, 404, 404, 404, 404),
                                "POST": row(302, 404, 404, 404, 404)},
    # the job is already committed: the admin is told so (an invalid mapping form, a message)
    "imports:configure":       {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(200, 404, 404, 404, 404)},
    "imports:commit":          {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 404, 404, 404, 404)},
    "imports:cancel":          {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(302, 404, 404, 404, 404)},
    # interactions follow their customer (杭州组's): marketing may read interactions, not log them; support
    # may log, but only on customers it can see
    "interactions:log":        {"GET": row(405, 405, 405, 405, 405),
                                "POST": row(200, 200, 404, 403, 404)},
    "interactions:attachment": {"GET": row(200, 200, 404, 404, 404)},
    "interactions:followup_complete": {"GET": row(405, 405, 405, 405, 405),
                                       "POST": row(302, 302, 404, 403, 404)},
    "interactions:followup_cancel":   {"GET": row(405, 405, 405, 405, 405),
                                       "POST": row(302, 302, 404, 403, 404)},
    "interactions:followup_snooze":   {"GET": row(405, 405, 405, 405, 405),
                                       "POST": row(302, 302, 404, 403, 404)},
    "interactions:followup_reassign": {"GET": row(405, 405, 405, 405, 405),
                                       "POST": row(302, 302, 404, 403, 404)},
    # mail: the module needs view_mailmessage (marketing has not: 403); mailboxes and their unfiled mail are
    # their owner's (the ones in _path are another rep's), only admins see other people's
    "interactions:mailbox_list":   {"GET": row(200, 200, 200, 403, 200)},
    "interactions:mailbox_create": {"GET": row(200, 200, 200, 403, 200)},
    "interactions:mailbox_update": {"GET": row(200, 404, 404, 403, 404)},
    "interactions:mailbox_delete": {"GET": row(200, 404, 404, 403, 404),
                                    "POST": row(302, 404, 404, 403, 404)},
    "interactions:mailbox_sync":   {"GET": row(405, 405, 405, 405, 405),
                                    "POST": row(302, 404, 404, 403, 404)},
    "interactions:mail_unfiled":   {"GET": row(200, 200, 200, 403, 200)},
    # POST without a customer: the admin gets the page back with the error
    "interactions:mail_file":      {"GET": row(200, 404, 404, 403, 404),
                                    "POST": row(200, 404, 404, 403, 404)},
    # writing to the customer follows its scope (as interactions:log); an empty POST is the form with its errors
    "interactions:mail_compose":   {"GET": row(200, 200, 404, 403, 404),
                                    "POST": row(200, 200, 404, 403, 404)},
    # my tasks, the week and my activity are everyone's own; team activity is for those who oversee teams
    "interactions:my_tasks":    {"GET": row(200, 200, 200, 200, 200)},
    "interactions:week":        {"GET": row(200, 200, 200, 200, 200)},
    "interactions:my_activity": {"GET": row(200, 200, 200, 200, 200)},
    "interactions:activity":    {"GET": row(200, 200, 403, 403, 403)},
    # notifications are each user's own: the one in _path is another rep's, so nobody else may mark it read
    "notifications:list":       {"GET": row(200, 200, 200, 200, 200)},
    "notifications:bell":       {"GET": row(200, 200, 200, 200, 200)},
    "notifications:menu":       {"GET": row(200, 200, 200, 200, 200)},
    "notifications:read":       {"GET": row(405, 405, 405, 405, 405),
                                 "POST": row(404, 404, 404, 404, 404)},
    "notifications:read_all":   {"GET": row(405, 405, 405, 405, 405),
                                 "POST": row(302, 302, 302, 302, 302)},
    "account_settings":         {"GET": row(200, 200, 200, 200, 200)},
}


def _walk(resolver, namespace=""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern, inner)
        elif isinstance(pattern, URLPattern):
            # an unnamed pattern cannot be reversed or given an expectation: it shows up as missing
            yield f"{namespace}{pattern.name or f'<unnamed {pattern.pattern}>'}", pattern


def url_patterns(*, admin: bool) -> dict:
    found = {}
    for name, pattern in _walk(get_resolver()):
        if name.startswith("admin:") == admin:
            found[name] = pattern
    return found


APP_URLS = url_patterns(admin=False)
CASES = [
    (name, method, role)
    for name in sorted(set(APP_URLS) | set(EXPECTATIONS))
    for method in ("GET", "POST")
    if method == "GET" or method in EXPECTATIONS.get(name, {})
    for role in ROLES
]


def test_every_url_has_an_expectation():
    missing = sorted(set(APP_URLS) - set(EXPECTATIONS))
    stale = sorted(set(EXPECTATIONS) - set(APP_URLS))
    assert not missing, f"URLs without an entry in EXPECTATIONS: {missing}"
    assert not stale, f"EXPECTATIONS for URLs that no longer exist: {stale}"


def test_every_expectation_covers_every_role():
    for name, methods in EXPECTATIONS.items():
        assert "GET" in methods, name
        for method, statuses in methods.items():
            assert set(statuses) == set(ROLES), (name, method)


def _interaction_with_attachment(customer, author):
    interaction = Interaction.objects.create(customer=customer, author=author, occurred_at=timezone.now(),
                                             subject="电话回访")
    Attachment.objects.create(interaction=interaction, name="报价.txt", size=3,
                              file=ContentFile(b"abc", name="quote.txt"))
    return interaction


@pytest.fixture
def world(other_rep, sales_rep):
    customer = CustomerFactory(owner=other_rep, name="杭州组的客户")
    binned = CustomerFactory(owner=other_rep, name="回收站里的客户")
    services.customer_delete(actor=other_rep, customer=binned)
    mailbox = Mailbox.objects.create(owner=other_rep, name="李芳的邮箱", host="imap.example.com", username="rep2",
                                     password="secret", address="rep2@example.com")
    return SimpleNamespace(
        mailbox=mailbox,
        unfiled_mail=MailMessage.objects.create(mailbox=mailbox, message_id="<unfiled@example.com>",
                                                thread_key="<unfiled@example.com>", subject="陌生来信",
                                                sent_at=timezone.now()),
        notification=Notification.objects.create(user=other_rep, kind="reminder", title="回访提醒",
                                                 url=f"/customers/{customer.pk}/?tab=timeline"),
        customer=customer, binned=binned, contact=ContactFactory(customer=customer), sales_rep=sales_rep,
        export_job=ExportJobFactory(created_by=other_rep, done=True),
        interaction=_interaction_with_attachment(customer, other_rep),
        followup=FollowUp.objects.create(customer=customer, title="回访", assignee=other_rep,
                                         due_at=timezone.now() + timedelta(days=1)),
        import_job=ImportJob.objects.create(
            resource="customers.customer", created_by=other_rep, file="imports/list.xlsx", file_name="list.xlsx",
            file_sha256="0" * 64, file_type="xlsx", status="committed", headers=["姓名"], mapping={"0": "name"},
            committed_at=timezone.now(),
        ),
    )


def _path(name, world) -> str:
    values = {"pk": world.customer.pk, "contact_pk": world.contact.pk}
    if name == "customers:restore":
        values["pk"] = world.binned.pk
    if name.startswith("exports:"):
        values["pk"] = world.export_job.pk
    if name.startswith("imports:"):
        values["pk"] = world.import_job.pk
    if name == "interactions:log":
        values["customer_pk"] = world.customer.pk
    if name == "interactions:attachment":
        values["pk"], values["attachment_pk"] = world.interaction.pk, world.interaction.attachments.get().pk
    if name.startswith("interactions:followup_"):
        values["pk"] = world.followup.pk
    if name.startswith("interactions:mailbox_"):
        values["pk"] = world.mailbox.pk
    if name == "interactions:mail_file":
        values["pk"] = world.unfiled_mail.pk
    if name == "interactions:mail_compose":
        values["customer_pk"] = world.customer.pk
    if name == "notifications:read":
        values["pk"] = world.notification.pk
    params = APP_URLS[name].pattern.converters
    unknown = set(params) - set(values)
    assert not unknown, f"give {name} a value for {unknown} in _path()"
    return reverse(name, kwargs={p: values[p] for p in params})


POST_DATA = {
    "customers:unshare": lambda world: {"user": world.sales_rep.pk},
    "customers:share": lambda world: {"user": world.sales_rep.pk, "level": "view_customer"},
    "exports:create": lambda world: {"model": "customers.customer", "query": "", "format": "csv"},
}


@pytest.mark.parametrize(("name", "method", "role"), CASES)
def test_permission_matrix(request, client_as, world, name, method, role):
    assert name in EXPECTATIONS, f"{name} has no entry in EXPECTATIONS: decide who may open it"
    assert name in APP_URLS, f"{name} is in EXPECTATIONS but no longer a URL"
    expected = EXPECTATIONS[name][method][role]
    user = None if role == "anonymous" else request.getfixturevalue(ROLE_FIXTURES[role])
    client = client_as(user)
    path = _path(name, world)
    # when the role requests the URL
    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, POST_DATA.get(name, lambda w: {})(world))
    # then it gets exactly the expected status: in particular no 200 that was not decided on
    assert response.status_code == expected, f"{role} {method} {path}: {response.status_code}, expected {expected}"
    if role == "anonymous" and expected == 302 and name not in ("login", "set_language"):
        assert response.url.startswith(reverse("login") + "?next="), response.url


# -------------------------------------------------------------------------------------- admin site

ADMIN_PAGES = sorted(
    name for name in url_patterns(admin=True) if name == "admin:index" or name.endswith("_changelist")
)


@pytest.mark.parametrize("name", ADMIN_PAGES)
@pytest.mark.parametrize("role", ROLES)
def test_admin_site_is_for_admins_only(request, client_as, role, name):
    user = None if role == "anonymous" else request.getfixturevalue(ROLE_FIXTURES[role])
    response = client_as(user).get(reverse(name))
    if role == "admin":
        assert response.status_code == 200
    elif role == "anonymous":
        # to a login page: the admin's own (the admin index is public in Django) or the site's
        assert response.status_code == 302
        assert response.url.startswith((reverse("login") + "?next=", reverse("admin:login") + "?next="))
    else:
        # non-staff users are sent to the admin's login page, which they cannot pass
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login") + "?next=")
