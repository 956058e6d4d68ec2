"""The commit of a large import written by several connections at once, still all or nothing.

One INSERT keeps one PostgreSQL core busy while the worker waits for it. So the job's new records are split by
row number into parts, and each part is written by its own connection in its own transaction, which is then
prepared (PREPARE TRANSACTION: PostgreSQL keeps it on disk, neither committed nor rolled back, and the
connection is free). Once every part is prepared, the job is marked committed, in one ordinary transaction:
that is the decision. Then the parts are committed.

A worker killed before the decision leaves prepared parts that are rolled back; killed after it, parts that are
committed (``settle``: by the next attempt at the job, by undo, or by the watchdog). Never some parts without
the others. While a part waits, it holds its locks: the watchdog settles it within a minute.

It needs ``max_prepared_transactions`` of at least the number of parts on the server (scripts/dev.sh and
docker-compose.yml set it). Without it, for a small job, or for a resource that may not be split, the commit
is one transaction on the worker's connection (crm.imports.services).
"""

import json
import re
import threading
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connection, connections

from .sql import allocate_ids, bulk_write_settings

_OURS = re.compile(r"crm-import-[0-9]+-([0-9]+)-[0-9]+")  # matched whole (fullmatch): it goes into SQL as is


@dataclass(frozen=True)
class Part:
    number: int
    first_row: int
    last_row: int

    @property
    def first(self) -> bool:
        return self.number == 0

    # The condition on the staged rows (alias r) that picks this part's rows, and its parameters.
    rows_sql = "AND r.row_number BETWEEN %s AND %s"

    @property
    def rows_params(self) -> list[int]:
        return [self.first_row, self.last_row]


def plan(job, resource) -> list[Part]:
    """The parts of the job's commit, or [] for one transaction on the worker's connection."""
    count = settings.CRM_IMPORT_COMMIT_PARTS
    if (count < 2 or job.counts.get("create", 0) < settings.CRM_IMPORT_PARTS_MIN_ROWS
            or connection.in_atomic_block or not resource.commits_in_parts(job)):
        return []
    with connection.cursor() as cursor:
        # Slots left for prepared transactions (other imports' parts hold some): too few, one transaction.
        cursor.execute("SELECT current_setting('max_prepared_transactions')::int - count(*) FROM pg_prepared_xacts")
        if cursor.fetchone()[0] < count:
            return []
        cursor.execute("SELECT min(row_number), max(row_number) FROM imports_importrow "
                       "WHERE job_id = %s AND action = 'create'", [job.pk])
        low, high = cursor.fetchone()
    # New rows are spread evenly over a file; equal spans of row numbers are near enough equal parts.
    step = (high - low) // count + 1
    return [Part(n, low + n * step, min(high, low + (n + 1) * step - 1)) for n in range(count)]


def prepare(job, resource, parts: list[Part], audit: dict) -> None:
    """Write every part in its own prepared transaction, at the same time; on any failure roll back the parts
    already prepared and raise it (nothing written)."""
    with connection.cursor() as cursor:
        allocate_ids(cursor, job, resource.table)  # before the parts, which only read the staged rows
    prefix = _prefix(job.pk)
    failures = []

    def write(part: Part) -> None:
        # A connection of its own, opened in this thread (Django's connections are not shared between threads).
        part_connection = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            part_connection.set_autocommit(False)
            with part_connection.cursor() as cursor:
                bulk_write_settings(cursor)
                # A part waiting for a lock another part holds would wait for ever: the other one, prepared, waits
                # for this one. No part should, but if one does, the commit fails instead of hanging.
                cursor.execute("SET LOCAL lock_timeout = '1min'")
                # The audit context pghistory.context gives a single connection; one context row per part, since
                # two transactions writing the same row would wait for each other too.
                cursor.execute("SELECT set_config('pghistory.context_id', %s, true), "
                               "set_config('pghistory.context_metadata', %s, true)",
                               [str(uuid.uuid4()), json.dumps(audit, cls=DjangoJSONEncoder)])
                resource.commit(cursor, job, part)
                cursor.execute(f"PREPARE TRANSACTION '{prefix}-{part.number}'")
        except BaseException as error:  # noqa: BLE001 - handed to the thread that waits for the parts
            failures.append(error)
        finally:
            part_connection.close()  # a transaction not prepared yet is rolled back with it

    threads = [threading.Thread(target=write, args=(part,), name=f"import-{job.pk}-part-{part.number}")
               for part in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        settle(job.pk, committed=False)
        raise failures[0]


def settle(job_id: int, *, committed: bool) -> int:
    """Commit (the job is committed) or roll back the job's prepared parts; how many there were. Call with the
    job's worker lock held (crm.imports.services.worker_lock)."""
    gids = [gid for gid, job in _prepared() if job == job_id]
    with connection.cursor() as cursor:
        for gid in gids:
            cursor.execute(f"{'COMMIT' if committed else 'ROLLBACK'} PREPARED '{gid}'")
    return len(gids)


def waiting_jobs() -> list[int]:
    """The jobs of this database with prepared parts."""
    return sorted({job for _gid, job in _prepared()})


def _prefix(job_id: int) -> str:
    # Prepared transactions are named across the whole server: the database's oid keeps apart jobs of the same
    # number in other databases (the test suite's, a benchmark's).
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
        return f"crm-import-{cursor.fetchone()[0]}-{job_id}"


def _prepared() -> list[tuple[str, int]]:
    """(name, job id) of this database's prepared parts."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT p.gid FROM pg_prepared_xacts p JOIN pg_database d ON d.datname = p.database "
                       "WHERE d.datname = current_database() AND p.gid LIKE 'crm-import-' || d.oid || '-%'")
        names = [gid for (gid,) in cursor.fetchall()]
    return [(gid, int(match.group(1))) for gid in names if (match := _OURS.fullmatch(gid))]
