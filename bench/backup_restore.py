#!/usr/bin/env python
"""Backup and verified restore at volume: crm.backups' own code path (pg_dump with row counts in its snapshot,
checksums, then a restore into a new database with the counts compared), timed.

    python bench/backup_restore.py                           # 1,000,000 customers
    python bench/backup_restore.py --customers 100000
    python bench/backup_restore.py --write                   # ... and record the figures in bench/RESULTS.md

The database ``crm_bench_backup`` (``--db``) is created, migrated and filled once with ``--customers`` customers by
seed_demo's generator (customers.demo.create_customers); later runs reuse it. Backups go to bench/out/backups, the
restore into a scratch database that is dropped afterwards. Goal (issue 7): backup and verified restore at 1,000,000
customers under 10 minutes together.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from import_customers import django_env, machine, now_utc, prepare_database, setup_django  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
START, END = "<!-- backup:start -->", "<!-- backup:end -->"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://crm:crm@127.0.0.1:54329"))
    parser.add_argument("--db", default="crm_bench_backup")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--write", action="store_true")
    return parser.parse_args()


def fill(customers: int) -> None:
    from customers import demo
    from customers.models import Customer

    users = demo.ensure_organisation()
    have = Customer.objects.count()
    if have < customers:
        started = time.monotonic()
        owners = [users["rep"], users["rep2"], users["rep3"], users["manager"], None]
        demo.create_customers(customers - have, owners=owners, seed=99 + have, audit=False)
        print(f"filled {customers - have:,} customers in {time.monotonic() - started:.0f} s")


def main():
    args = parse_args()
    args.rows = 0  # the import benchmark's setting, unused here
    env = django_env(args)
    env["CRM_BACKUP_DIR"] = str(OUT / "backups")
    env["CRM_MEDIA_ROOT"] = str(OUT / "media-backup")
    OUT.mkdir(parents=True, exist_ok=True)
    prepare_database(args, env)
    setup_django(env)
    fill(args.customers)

    from crm.backups import services

    started = time.monotonic()
    backup = services.backup_create()
    backup_s = time.monotonic() - started
    assert backup.status == "done", backup.error
    scratch = f"crm_bench_restore_{int(time.time())}"
    try:
        started = time.monotonic()
        outcome = services.backup_verify_restore(backup, database_name=scratch)
        restore_s = time.monotonic() - started
    finally:
        services.database_drop(scratch)
    customers = backup.row_counts["customers.customer"]
    lines = [
        "## Backup and verified restore",
        "",
        "Figures from `bench/backup_restore.py` (its docstring says what it does): `crm.backups.services.backup_create`"
        " then `backup_verify_restore` into a new database, the worker's code path.",
        "",
        f"- Date: {now_utc()}; machine: {machine()}; PostgreSQL on the same machine",
        f"- Command: `{' '.join(['python bench/backup_restore.py', *sys.argv[1:]])}`",
        f"- Data: {customers:,} customers (and the demo organisation); dump {backup.size / 1e6:,.0f} MB, uploaded "
        f"files archive {backup.media_size / 1e6:,.1f} MB",
        "",
        "| step | seconds |",
        "|---|---:|",
        f"| backup: counts in the snapshot, pg_dump -Fc, archive of the uploaded files, checksums | {backup_s:.1f} |",
        f"| verified restore: checksums, pg_restore into a new database (indexes rebuilt), counts compared | "
        f"{restore_s:.1f} |",
        f"| together (goal < 600 s at 1,000,000 customers) | **{backup_s + restore_s:.1f}** |",
        "",
        f"Counts equal after the restore: {'yes' if outcome['ok'] else 'NO: ' + str(outcome['differences'])}.",
    ]
    block = "\n".join(lines) + "\n"
    print(block)
    services.backup_apply_retention(keep=1)
    if args.write:
        text = RESULTS.read_text()
        section = f"{START}\n{block}{END}"
        if START in text:
            text = text[: text.index(START)] + section + text[text.index(END) + len(END):]
        else:
            text = text.rstrip() + "\n\n" + section + "\n"
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
