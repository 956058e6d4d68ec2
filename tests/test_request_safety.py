"""Request safety over every URL, on the permission matrix's URLs, roles and records (tests/test_permission_matrix.py).

- Every URL × role × method: a method a view does not take (POST to a view that only reads; PUT, PATCH and DELETE
  to all) is refused (405, or the role's 403/404/redirect) and writes nothing; a POST by a role whose GET is
  403/404 is refused as well. Each URL collects all its offenders and fails listing every one.
- GET never changes state, for any role, with or without htmx.
- CSRF: a POST without a token is refused (403) to everybody, signed in or not, on every URL but the ones listed in
  CSRF_EXEMPT (with the reason).

A write is told from the database itself: PostgreSQL's pg_stat_xact_user_tables counts the rows inserted, updated and
deleted by the current transaction (the test's), per table, including those of a savepoint rolled back since. Each
request runs in a savepoint that is rolled back afterwards, so that every request meets the same records. Tables a
request may legitimately touch without changing the CRM's state are left out (NOT_STATE).
"""

import re
import time
from contextlib import contextmanager
from html import unescape
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.middleware.csrf import _get_new_csrf_string
from django.test.client import ClientHandler
from django.urls import reverse

from crm.audit.models import LoginEvent
from sales.lead_web import form_token
from sales.models import Lead
from tests.factories import PASSWORD
from tests.test_permission_matrix import (  # noqa: F401 - world_fixture: the fixture world
    APP_URLS,
    EXPECTATIONS,
    POST_DATA,
    ROLE_FIXTURES,
    ROLES,
    _path,
    url_patterns,
    world_fixture,
)

# Tables a request may write without changing what the CRM holds: the session (messages, the language, the second
# step of sign-in), django-axes' record of sign-in attempts, the audit trail's request context (written with any
# audited change, which the changed table itself shows) and the sign-in/sign-out log.
NOT_STATE = ("django_session", "axes_", "pghistory_context", "audit_loginevent")


def _rows_written() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables")
        return {table: count for table, count in cursor.fetchall() if count and not table.startswith(NOT_STATE)}


@contextmanager
def undone():
    """Runs the block in a savepoint rolled back afterwards; ``.tables`` then names the tables it wrote to."""
    watch = SimpleNamespace(tables=[])
    before = _rows_written()
    with transaction.atomic():
        yield watch
        transaction.set_rollback(True)
    after = _rows_written()
    watch.tables = sorted(table for table, count in after.items() if count != before.get(table, 0))


def test_the_fingerprint_sees_a_write_that_was_rolled_back(sales_rep):
    # the premise of every test below: a write a view made and that the test then undid is still seen
    with undone() as watch:
        Lead.objects.create(name="测试线索", mobile="13800138000", owner=sales_rep)
    assert "sales_lead" in watch.tables
    assert not Lead.objects.exists()
    with undone() as watch:
        Lead.objects.filter(owner=sales_rep).exists()
    assert watch.tables == []


# One handler per kind for every client of this module: a new client loads the middleware again, whitenoise's list
# of static files included, which would cost minutes over the thousands of clients here.
_HANDLERS = {False: ClientHandler(enforce_csrf_checks=False), True: ClientHandler(enforce_csrf_checks=True)}


def _client(request, client_as, role, *, enforce_csrf_checks=False):
    client = client_as(None if role == "anonymous" else request.getfixturevalue(ROLE_FIXTURES[role]))
    client.handler = _HANDLERS[enforce_csrf_checks]
    return client


def _send(client, method, path, data=None, **headers):
    """(status or the exception a view raised, tables written); nothing the request wrote is kept."""
    with undone() as watch:
        try:
            if method == "POST":
                status = client.post(path, data or {}, headers=headers).status_code
            else:
                status = client.generic(method, path, headers=headers).status_code
        except Exception as error:  # noqa: BLE001 (a view that crashes is an offender like any other)
            status = f"{type(error).__name__}: {error}"[:200]
    return status, watch.tables


MATRIX_URLS = sorted(set(APP_URLS) & set(EXPECTATIONS))  # a URL without expectations fails the matrix itself
OTHER_METHODS = ("PUT", "PATCH", "DELETE")


def _refusals(name, role) -> set[int]:
    """What a method the view does not take may answer this role: 405, or what the role gets anyway: its 403/404
    (the permission is checked before the method), the login page (anonymous), or the redirect its GET gets (the
    login page for a signed-in user, the language switch)."""
    refusals = {405}
    for statuses in EXPECTATIONS[name].values():
        if statuses[role] in (403, 404):
            refusals.add(statuses[role])
    if EXPECTATIONS[name]["GET"][role] == 302:
        refusals.add(302)
    return refusals


_FORM = re.compile(r"<form\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _posts_to_itself(html: str, path: str) -> bool:
    """Whether the page has a form that posts back to its own URL (a form page: POST is part of the view)."""
    for tag in _FORM.findall(html):
        attributes = {key.lower(): a or b for key, a, b in _ATTRIBUTE.findall(tag)}
        # a form without an action posts to the page itself (its hx-post, if any, only refreshes a part of it)
        if attributes.get("method", "get").lower() == "post" and attributes.get("action", "").split("?")[0] in (
                "", path):
            return True
    return bool(re.search(rf"""hx-post=["']{re.escape(path)}(\?[^"']*)?["']""", html))


# Form pages whose form the page does not show at once, and when it does.
LATER_FORMS = {
    "sales:opportunity_create": "once a customer is chosen (?customer=), which the page first asks to search for",
}


def _is_form_page(clients, name, path) -> bool:
    """Whether any role that may open the page is shown a form posting back to it, there or one step on: the pages
    that first ask which customer (``?customer=``) link to themselves with the choice in the query string."""
    if name in LATER_FORMS:
        return True
    for role, client in clients.items():
        if EXPECTATIONS[name]["GET"][role] != 200:
            continue
        response = client.get(path)
        if response.streaming or not response.get("Content-Type", "").startswith("text/html"):
            continue
        html = response.content.decode(errors="replace")
        if _posts_to_itself(html, path):
            return True
        chosen = re.search(rf"""href=["']({re.escape(path)}\?[^"'#]+)["']""", html)
        if chosen and _posts_to_itself(client.get(unescape(chosen.group(1))).content.decode(errors="replace"), path):
            return True
    return False


# Form pages whose empty POST is a complete submission: confirmation pages (their form carries nothing but the
# token) and forms of check boxes only.
EMPTY_POST_ACTS = {
    "customers:delete", "sales:opportunity_delete", "sales:assignment_rule_delete",
    "account_settings",  # e-mail notifications and "away" both unticked
}


@pytest.mark.parametrize("name", MATRIX_URLS)
def test_methods_a_view_does_not_take_are_refused_and_write_nothing(request, client_as, world, name):
    path = _path(name, world)
    expected = EXPECTATIONS[name]
    clients = {role: _client(request, client_as, role) for role in ROLES}
    # A view whose expectation has only GET either shows a form that posts back to it (a valid POST is its own tests'
    # business; here an empty one may neither crash nor write, but on a confirmation page) or only reads, and must
    # then refuse a POST.
    form_page = _is_form_page(clients, name, path)
    offenders = []
    for role in ROLES:
        refusals = _refusals(name, role)
        # POST too where the view does not take it, and where it does but not from this role (the matrix checks the
        # status; here: that nothing was written on the way to the refusal)
        refused_post = "POST" in expected and (expected["POST"][role] in (403, 404)
                                               or role == "anonymous" and expected["POST"][role] == 302)
        methods = ("POST", *OTHER_METHODS) if "POST" not in expected or refused_post else OTHER_METHODS
        for method in methods:
            data = POST_DATA.get(name, lambda w: {})(world) if method == "POST" else None
            status, written = _send(clients[role], method, path, data)
            if method == "POST" and "POST" not in expected and form_page and expected["GET"][role] == 200:
                # the role may use the form: an empty POST is the form with its errors, or a confirmation's action
                if not isinstance(status, int) or status >= 500:
                    offenders.append(f"{role} POST: {status}")
                elif written and name not in EMPTY_POST_ACTS:
                    offenders.append(f"{role} empty POST ({status}) wrote to {written}")
                continue
            if status not in refusals:
                offenders.append(f"{role} {method}: {status}, expected one of {sorted(refusals)}")
            if written:
                offenders.append(f"{role} {method} ({status}) wrote to {written}")
    assert not offenders, f"{name} {path}{' (a form page)' if form_page else ''}:\n" + "\n".join(offenders)


def test_form_pages_are_told_from_pages_that_only_read():
    # the rule above decides whether POST belongs to a view from its page: pin it on the shapes that occur
    path = "/customers/1/edit/"
    assert _posts_to_itself('<form method="post" novalidate>', path)
    assert _posts_to_itself(f'<form class="x" action="{path}" method="POST">', path)
    assert _posts_to_itself(f"<div hx-post='{path}?partial=1'>", path)
    assert not _posts_to_itself('<form method="post" action="/accounts/logout/">', path)
    assert not _posts_to_itself('<form method="get">', path)
    assert not _posts_to_itself('<form action="">', path)
    assert _posts_to_itself('<form method="post" hx-post="/sales/quotes/lines/" hx-trigger="change">', path)


# ----------------------------------------------------------------------------------------- GET changes nothing

# Views that write on GET: the tables they may write, and why. Only the audit trail of data leaving the CRM: a file
# is taken with a GET (a download link), and who took which figures is recorded by the request that hands them over.
GET_WRITES: dict[str, tuple[set[str], str]] = {
    "exports:download": ({"exports_exportjobevent"}, "the audit event: who downloaded the export's file"),
    "reports:export": ({"reports_reportexport"}, "the record of who exported which report table, with its filters"),
}


@pytest.mark.parametrize("name", sorted(APP_URLS))
def test_get_changes_nothing_for_anybody(request, client_as, world, name):
    path = _path(name, world)
    offenders = []
    for role in ROLES:
        client = _client(request, client_as, role)
        for headers in ({}, {"HX-Request": "true"}):
            status, written = _send(client, "GET", path, **headers)
            written = sorted(set(written) - GET_WRITES.get(name, (set(), ""))[0])
            if written:
                offenders.append(f"{role} GET{' (htmx)' if headers else ''} ({status}) wrote to {written}")
    assert not offenders, f"{name} {path}:\n" + "\n".join(offenders)


# ------------------------------------------------------------------------------------------------------- CSRF

# Views that take a POST without a CSRF token, and why that is safe.
CSRF_EXEMPT = {
    # embedded on the company's own website, whose pages cannot carry the CRM's CSRF cookie; it uses no session and
    # acts for nobody (test_the_public_lead_form_acts_for_nobody), so a forged post can do no more than a visitor
    "sales:lead_web_form": "the public web-to-lead form",
}


def _forge_cookie(client) -> None:
    """The browser of a signed-in user carries the CSRF cookie to a forged post; what the forger lacks is the token."""
    client.cookies[settings.CSRF_COOKIE_NAME] = _get_new_csrf_string()


def _is_csrf_failure(response) -> bool:
    return response.status_code == 403 and b"CSRF" in response.content


@pytest.mark.parametrize("name", sorted(APP_URLS))
def test_a_post_without_csrf_token_is_refused(request, client_as, world, name):
    path = _path(name, world)
    data = POST_DATA.get(name, lambda w: {})(world)
    offenders = []
    for role in ROLES:
        client = _client(request, client_as, role, enforce_csrf_checks=True)
        for with_cookie in (False, True):
            if with_cookie:
                _forge_cookie(client)
            with undone() as watch:
                response = client.post(path, data)
            how = f"{role} POST {'with the cookie but ' if with_cookie else ''}without a token"
            if name in CSRF_EXEMPT:
                if _is_csrf_failure(response):
                    offenders.append(f"{how}: refused, but {name} is listed in CSRF_EXEMPT")
                continue
            if not _is_csrf_failure(response):
                offenders.append(f"{how}: {response.status_code}, not the CSRF failure (403)")
            if watch.tables:
                offenders.append(f"{how} wrote to {watch.tables}")
    assert not offenders, f"{name} {path}:\n" + "\n".join(offenders)


ADMIN_URLS_WITHOUT_ARGUMENTS = sorted(
    name for name, pattern in url_patterns(admin=True).items()
    if not pattern.pattern.regex.groups
)


@pytest.mark.parametrize("name", ADMIN_URLS_WITHOUT_ARGUMENTS)
def test_the_admin_site_refuses_a_post_without_csrf_token(request, client_as, name):
    # the add forms, the changelists' bulk actions, sign-in and sign-out of the admin site
    client = _client(request, client_as, "admin", enforce_csrf_checks=True)
    _forge_cookie(client)
    with undone() as watch:
        response = client.post(reverse(name), {"action": "delete_selected", "_selected_action": ["1"]})
    assert _is_csrf_failure(response)
    assert watch.tables == []


def test_only_the_listed_views_are_csrf_exempt():
    everything = {**APP_URLS, **url_patterns(admin=True)}
    exempt = sorted(name for name, pattern in everything.items() if getattr(pattern.callback, "csrf_exempt", False))
    assert exempt == sorted(CSRF_EXEMPT)


def test_the_csrf_check_is_on_for_every_request():
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE


def test_a_forged_sign_in_signs_nobody_in(request, client_as, sales_rep):
    # login CSRF: a forger's page posting its own credentials would sign the victim into the forger's account
    client = _client(request, client_as, "anonymous", enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": sales_rep.username, "password": PASSWORD})
    assert _is_csrf_failure(response)
    assert not LoginEvent.objects.exists()
    assert client.get(reverse("home")).status_code == 302  # still signed out


def test_a_forged_sign_out_keeps_the_user_signed_in(request, client_as):
    client = _client(request, client_as, "sales_rep", enforce_csrf_checks=True)
    _forge_cookie(client)
    assert _is_csrf_failure(client.post(reverse("logout")))
    assert client.get(reverse("home")).status_code == 200


def test_a_forged_language_switch_changes_nothing(request, client_as):
    client = _client(request, client_as, "sales_rep", enforce_csrf_checks=True)
    _forge_cookie(client)
    assert _is_csrf_failure(client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"}))
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"


def test_the_public_lead_form_acts_for_nobody(request, client_as, admin_user, settings):
    # a post to the exempt form from a signed-in administrator's browser, without a token, as a forger would send
    # it: the lead is a web lead like any visitor's, owned by nobody it did not choose and created by nobody
    settings.CRM_LEAD_FORM_RATE_LIMIT = 10_000  # the address's count is shared with every other test's posts
    client = _client(request, client_as, "admin", enforce_csrf_checks=True)
    response = client.post(reverse("sales:lead_web_form"), {
        "name": "网页访客", "mobile": "13900139000", "token": form_token(issued_at=time.time() - 60),
        "owner": admin_user.pk, "created_by": admin_user.pk,
    })
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert lead.source == "website"
    assert lead.owner_id is None
    assert lead.created_by_id is None
