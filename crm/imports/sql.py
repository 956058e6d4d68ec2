"""Set-based SQL that resources share: each statement works on a job's rows in imports_importrow (alias r)
and the resource's table (alias c), so that 100,000 rows are matched, written or restored in a few
statements, never one query per row."""

# A new row matched an existing record: its object_id is no longer the id reserved for it (ImportRow.reserved_id).
MATCHED = "object_id IS DISTINCT FROM reserved_id"
UNMATCHED = "object_id IS NOT DISTINCT FROM reserved_id"


def match_rows(cursor, job, table: str, conditions: list[tuple[str, str]]) -> None:
    """Point each new row at the record its keys find: ``conditions`` are (row key column, condition joining
    the record ``c`` to the key ``k.key``), tried in order; a key that finds several records takes the first."""
    for row_key, condition in conditions:
        cursor.execute(
            f"""
            UPDATE imports_importrow r SET object_id = m.id
            FROM (
                SELECT DISTINCT ON (k.key) k.key, c.id
                FROM (SELECT DISTINCT {row_key} AS key FROM imports_importrow
                      WHERE job_id = %s AND action = 'create' AND {row_key} <> '' AND {UNMATCHED}) k
                JOIN {table} c ON {condition}
                ORDER BY k.key, c.id
            ) m
            WHERE r.job_id = %s AND r.action = 'create' AND r.{UNMATCHED} AND r.{row_key} = m.key
            """,
            [job.pk, job.pk],
        )


def bulk_write_settings(cursor) -> None:
    """In a transaction that writes a job's records (commit, a part of one, undo): memory for the indexes' bulk
    work. With the default 4 MB, PostgreSQL sorts the new entries in many small rounds."""
    cursor.execute("SET LOCAL work_mem = '256MB'")


def reserve_ids(cursor, table: str, count: int) -> list[int]:
    """``count`` ids drawn from the table's sequence, for the records the rows being checked may create."""
    cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)",
                   [max(count, 0)])
    return [i for (i,) in cursor.fetchall()]


def allocate_ids(cursor, job, table: str) -> None:
    """Ids for the new rows that have none before the insert (so that later statements, and undo, know them).
    Usually none: the ids were reserved when the rows were checked; only rows beyond the sheet's announced size
    go without."""
    cursor.execute(
        f"""UPDATE imports_importrow SET object_id = nextval(pg_get_serial_sequence('{table}', 'id'))
            WHERE job_id = %s AND action = 'create' AND object_id IS NULL""",
        [job.pk],
    )


def update_assignments(columns: list[str], *, fill: bool) -> list[str]:
    """SET clauses taking text ``columns`` from the row: only into empty columns (fill), or over them; an
    empty cell of the file never blanks a value."""
    assignments = []
    for c in columns:
        incoming = f"NULLIF(r.data->>'{c}', '')"
        if fill:
            assignments.append(f"{c} = CASE WHEN c.{c} = '' THEN COALESCE({incoming}, c.{c}) ELSE c.{c} END")
        else:
            assignments.append(f"{c} = COALESCE({incoming}, c.{c})")
    return assignments


def replan_audit_triggers(cursor) -> None:
    """Call before a large UPDATE of an audited table. Its statement-level audit trigger (pghistory) joins the
    statement's old and new rows; PL/pgSQL plans that join on its first run in a connection and keeps the plan,
    so after an update of a few rows (a nested loop) one of 100,000 rows runs the same plan, in quadratic time
    (20,000 contacts: 30 s instead of 1 s). Discarding the connection's cached plans has the trigger plan the
    join again for the rows at hand."""
    cursor.execute("DISCARD PLANS")


def update_from_rows(cursor, job, table: str, assignments: list[str]) -> None:
    """Commit: write the job's "update" rows into the records they found (``assignments`` from r.data)."""
    replan_audit_triggers(cursor)
    cursor.execute(
        f"""UPDATE {table} c SET {", ".join(assignments)}, updated_at = now()
            FROM imports_importrow r WHERE c.id = r.object_id AND r.job_id = %s AND r.action = 'update'""",
        [job.pk],
    )


def restore_updated(cursor, job, table: str, assignments: list[str]) -> int:
    """Undo: give the records the job updated their values from before it (``assignments`` from r.before),
    except those someone changed after the import; how many were given back."""
    replan_audit_triggers(cursor)
    cursor.execute(
        f"""
        UPDATE {table} c SET {", ".join(assignments)}, updated_at = now()
        FROM imports_importrow r
        WHERE c.id = r.object_id AND r.job_id = %s AND r.action = 'update' AND r.before IS NOT NULL
          AND c.updated_at <= %s
        """,
        [job.pk, job.committed_at],
    )
    return cursor.rowcount


def count_changed(cursor, job, table: str, condition: str = "TRUE", *, actions=("create", "update")) -> int:
    """How many records the job created or updated (``actions``) were changed after its commit."""
    cursor.execute(
        f"""SELECT count(*) FROM {table} c JOIN imports_importrow r ON c.id = r.object_id
            WHERE r.job_id = %s AND r.action = ANY(%s) AND c.updated_at > %s AND {condition}""",
        [job.pk, list(actions), job.committed_at],
    )
    return cursor.fetchone()[0]
