"""Fixtures shared by every test, browser tests included.

The organisation used throughout mirrors a typical customer's:

    总公司 (hq)
    ├── 华东销售部 (east)       manager: sales_manager
    │   ├── 上海组 (shanghai)   sales_rep
    │   └── 杭州组 (hangzhou)   other_rep
    ├── 华南销售部 (south)      south_rep
    ├── 市场部 (marketing)      marketing_user
    └── 客服部 (support)        support_agent
    admin_user sits in hq.

Users are made through crm.accounts.services (via the factories), so role groups and team groups are
exactly what the application keeps. Every user's password is ``tests.factories.PASSWORD``.
"""

import contextlib
import uuid
from types import SimpleNamespace

import pytest
import redis
from django.conf import settings
from django.db import connections
from django.test import Client

from crm.accounts import roles
from crm.accounts.services import team_save
from tests.factories import (
    ContactFactory,
    CustomerFactory,
    CustomFieldDefinitionFactory,
    TagFactory,
    TeamFactory,
    UserFactory,
)
from tests.signin import pass_second_step

# --------------------------------------------------------------------------- factories as fixtures


@pytest.fixture
def user_factory(db):
    return UserFactory


@pytest.fixture
def team_factory(db):
    return TeamFactory


@pytest.fixture
def customer_factory(db):
    return CustomerFactory


@pytest.fixture
def contact_factory(db):
    return ContactFactory


@pytest.fixture
def tag_factory(db):
    return TagFactory


@pytest.fixture
def custom_field_factory(db):
    return CustomFieldDefinitionFactory


# ------------------------------------------------------------------------- the organisation


@pytest.fixture
def teams(db):
    hq = TeamFactory(name="总公司")
    east = TeamFactory(name="华东销售部", parent=hq)
    return SimpleNamespace(
        hq=hq,
        east=east,
        shanghai=TeamFactory(name="上海组", parent=east),
        hangzhou=TeamFactory(name="杭州组", parent=east),
        south=TeamFactory(name="华南销售部", parent=hq),
        marketing=TeamFactory(name="市场部", parent=hq),
        support=TeamFactory(name="客服部", parent=hq),
    )


@pytest.fixture
def admin_user(teams):
    """Overrides pytest-django's admin_user (so admin_client works too) with a CRM administrator."""
    return UserFactory(username="admin", role=roles.ADMIN, team=teams.hq, last_name="管理员", first_name="系统")


@pytest.fixture
def sales_manager(teams):
    """Member and manager of 华东销售部: oversees 上海组 and 杭州组, not 华南销售部."""
    manager = UserFactory(
        username="manager", role=roles.SALES_MANAGER, team=teams.east, last_name="王", first_name="经理"
    )
    teams.east.manager = manager
    team_save(teams.east)
    return manager


@pytest.fixture
def sales_rep(teams):
    return UserFactory(username="rep", role=roles.SALES_REP, team=teams.shanghai, last_name="张", first_name="伟")


@pytest.fixture
def other_rep(teams):
    """A rep in 杭州组: same manager as sales_rep, different team."""
    return UserFactory(username="rep2", role=roles.SALES_REP, team=teams.hangzhou, last_name="李", first_name="芳")


@pytest.fixture
def south_rep(teams):
    """A rep in 华南销售部, outside sales_manager's subtree."""
    return UserFactory(username="rep3", role=roles.SALES_REP, team=teams.south, last_name="陈", first_name="强")


@pytest.fixture
def marketing_user(teams):
    return UserFactory(
        username="marketing", role=roles.MARKETING, team=teams.marketing, last_name="刘", first_name="娜"
    )


@pytest.fixture
def support_agent(teams):
    return UserFactory(
        username="support", role=roles.SUPPORT_AGENT, team=teams.support, last_name="赵", first_name="敏"
    )


@pytest.fixture
def users_by_role(admin_user, sales_manager, sales_rep, marketing_user, support_agent):
    """One user per role, keyed by role name (crm.accounts.roles.ALL_ROLES)."""
    return {
        roles.ADMIN: admin_user,
        roles.SALES_MANAGER: sales_manager,
        roles.SALES_REP: sales_rep,
        roles.MARKETING: marketing_user,
        roles.SUPPORT_AGENT: support_agent,
    }


# ------------------------------------------------------------------------------ uploaded files


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test writes its uploads and generated files into a folder of its own, deleted afterwards."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def backup_root(settings, tmp_path):
    """Backups taken by a test go to a folder of its own too."""
    settings.CRM_BACKUP_DIR = tmp_path / "backups"
    return settings.CRM_BACKUP_DIR


# --------------------------------------------------------------------------------- clients


@pytest.fixture
def client_as(db):
    """``client_as(user)``: a test client logged in as ``user``.

    Pages are asked for in English by default so that assertions on the application's own wording do
    not depend on the state of the Chinese catalogue; pass ``language="zh-hans"`` (or None for the
    site default, which is Chinese) where the Chinese page is the point.
    """

    def make(user, language: str | None = "en") -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
            pass_second_step(client, user)
        if language:
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        return client

    return make


# ------------------------------------------------------------------------------ background work


def _route_all_tasks(app, routes) -> None:
    app.conf.task_routes = routes
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)  # kombu cached property: rebuilt from the new routes


@pytest.fixture(autouse=True, scope="session")
def tasks_queued_apart():
    """Tasks a test queues with no worker to take them go to a queue of the test run's own, removed at the end. On
    the default queue they would wait in Redis for the next development worker, which would run them against its
    own database: jobs it does not have, shown as failed tasks on the administrator's health panel."""
    from crm.celery import app

    queue = f"test-unconsumed-{uuid.uuid4().hex}"
    previous = app.conf.task_routes
    _route_all_tasks(app, {"*": {"queue": queue}})
    yield
    _route_all_tasks(app, previous)
    _delete_queue(queue)


@contextlib.contextmanager
def _live_worker():
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from crm.celery import app

    # Every task goes to a queue of our own: a development worker listening on the same Redis must
    # not take our tasks, and ours must not take theirs.
    queue = f"test-{uuid.uuid4().hex}"
    finished = []

    def close_worker_connections(task_id=None, **kwargs):
        # Tasks run in the worker's thread; its database connection must not outlive the test, or the
        # test database could not be flushed or dropped.
        connections.close_all()
        finished.append(task_id)

    previous = {key: app.conf[key] for key in ("broker_url", "task_routes", "worker_enable_remote_control")}
    app.conf.broker_url = settings.REDIS_URL
    app.conf.worker_enable_remote_control = False
    _route_all_tasks(app, {"*": {"queue": queue}})
    task_postrun.connect(close_worker_connections, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, queues=[queue], shutdown_timeout=20):
            yield SimpleNamespace(app=app, queue=queue, finished=finished)
    finally:
        task_postrun.disconnect(close_worker_connections)
        app.conf.broker_url = previous["broker_url"]
        app.conf.worker_enable_remote_control = previous["worker_enable_remote_control"]
        _route_all_tasks(app, previous["task_routes"])
        _delete_queue(queue)


def _delete_queue(queue: str) -> None:
    """Remove the queue and kombu's bindings of it from Redis, leaving nothing behind."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    finally:
        client.close()


@pytest.fixture
def live_celery_worker(transactional_db):
    """A real Celery worker (in a thread) consuming from the real Redis broker (``REDIS_URL``).

    Tasks sent with ``.delay()`` during the test run in it, against the committed test database, so
    the test must use ``transactional_db`` and wait on database state. ``finished`` lists the ids of
    the tasks the worker has completed.
    """
    with _live_worker() as worker:
        yield worker


@pytest.fixture
def worker_process(transactional_db, tmp_path, settings):
    """``start()`` runs a real Celery worker in a process of its own (it can be killed with SIGKILL), on
    the test database and a Redis queue of this test's own; every task the test sends goes there."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from crm.celery import app

    database = connections["default"].settings_dict
    url = f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    queue = f"test-{uuid.uuid4().hex}"
    previous_routes = app.conf.task_routes
    _route_all_tasks(app, {"*": {"queue": queue}})
    processes = []

    def start():
        log = tmp_path / f"worker-{len(processes)}.log"
        env = os.environ | {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "crm.settings.test",
                            "CRM_MEDIA_ROOT": str(settings.MEDIA_ROOT), "REDIS_URL": settings.REDIS_URL}
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "crm", "worker", "-Q", queue, "--pool", "solo", "-l", "info",
             "--without-mingle", "--without-gossip", "--without-heartbeat", "-n", f"{queue}-{len(processes)}@%h"],
            cwd=settings.BASE_DIR, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        processes.append(process)
        deadline = time.monotonic() + 30
        while "ready." not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"the worker did not start:\n{log.read_text()}"
            time.sleep(0.1)
        process.log = log
        process.kill_now = lambda: os.killpg(process.pid, signal.SIGKILL)
        return process

    try:
        yield SimpleNamespace(start=start, queue=queue)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        _route_all_tasks(app, previous_routes)
        _delete_queue(queue)
