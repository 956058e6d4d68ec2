"""Reports read from a PostgreSQL streaming replica when there is one.

Reports aggregate over whole tables (a year of opportunities, every customer); on a busy installation they are the
reads worth moving off the primary. Which query is a report's cannot be told from its model (a report reads
customers and opportunities like every list does), so the code that builds a report says so:
``with reads_from_replica(): ...`` (or the ``@report_reads`` view decorator), and inside it every read goes to the
``replica`` alias of DATABASES (set from CRM_REPLICA_DATABASE_URL). Without that alias nothing changes.

A replica lags the primary by a moment, which a report can live with; pages that show what the user has just
changed (lists, detail pages, the dashboard's own tasks) keep reading the primary. Writes always go to the primary.
"""

from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"

_reading_reports = ContextVar("crm_reading_reports", default=False)


@contextmanager
def reads_from_replica():
    token = _reading_reports.set(True)
    try:
        yield
    finally:
        _reading_reports.reset(token)


def report_reads(view):
    """A view whose reads (template rendering included, where lazy querysets run) go to the replica."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        with reads_from_replica():
            return view(request, *args, **kwargs)

    return wrapped


class ReportsReadFromReplica:
    def db_for_read(self, model, **hints):
        if _reading_reports.get() and REPLICA in connections.settings:
            return REPLICA
        return None  # the primary

    def db_for_write(self, model, **hints):
        # Always the primary, even for a row that was read from the replica (Django would otherwise save it where
        # it came from).
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # The replica is a copy of the primary: a row read from one may point to a row read from the other.
        return {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA} or None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # A streaming replica is read-only and gets its schema from the primary.
        return False if db == REPLICA else None
