#!/usr/bin/env python
"""Exporting 100,000 customers to .xlsx and .csv, as the worker does it, for an administrator.

    python bench/export_customers.py                       # fill crm_bench_export once (100,000), then time
    python bench/export_customers.py --db crm_bench --query 'province=广东省'   # on the 1M list benchmark's data
    python bench/export_customers.py --runs 5 --formats xlsx

What it does:

1. Creates the database ``--db`` on the cluster of ``--pg`` if it is missing and migrates it.
2. Fills it once with ``--customers`` customers if it holds fewer: the demo organisation
   (customers.demo.ensure_organisation) and the COPY generator of seed_demo (customers.demo.create_customers),
   owners spread over the demo users with a 15 % public pool, ~30 % of customers tagged, two custom fields.
3. Per format, ``--runs`` times: records a job with crm.exports.services.export_job_create (the task it
   would enqueue is not sent) and runs crm.exports.services.export_job_run in this process, exactly the
   worker's code path: policy + filters, count, server-side cursor in chunks, columns, writer, file saved to
   storage, progress every 1,000 rows. Wall time from the start of the run to the job marked done.
4. Times the database part alone too (the same queryset streamed through the exporter's chunks, nothing
   formatted or written), so the split between PostgreSQL and Python is visible.
5. With ``--openpyxl``, also times the xlsx export with openpyxl's write-only workbook in place of
   crm.exports.writers.XlsxWriter (same rows, same service), the figure behind writing the sheet directly.

Generated files go to bench/out/media (git-ignored) and are deleted after each run.
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from customer_list import create_database, django_env, manage  # noqa: E402  (same cluster helpers)

BENCH_USER = "admin"  # the demo administrator: sees every customer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://crm:crm@127.0.0.1:54329"),
                        help="PostgreSQL server, without database name")
    parser.add_argument("--db", default="crm_bench_export", help="benchmark database (created and kept)")
    parser.add_argument("--customers", type=int, default=100_000, help="fill the database up to this many")
    parser.add_argument("--query", default="", help="the list's query string to export (default: all customers)")
    parser.add_argument("--user", default=BENCH_USER, help="who exports (default: the demo admin)")
    parser.add_argument("--formats", default="xlsx,csv")
    parser.add_argument("--runs", type=int, default=3, help="timed exports per format")
    parser.add_argument("--language", default="zh-hans")
    parser.add_argument("--openpyxl", action="store_true", help="also time xlsx written by openpyxl (write-only)")
    return parser.parse_args(argv)


def today() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def fill(args) -> None:
    from django.db import connection

    from customers import demo
    from customers.models import Customer

    users = demo.ensure_organisation()
    have = Customer.objects.count()
    if have >= args.customers:
        print(f"{args.db} already holds {have:,} customers: not generating")
        return
    owners = [users[name] for name in ("rep", "rep2", "rep3", "manager")] * 6 + [None] * 4  # ~15 % pool
    missing = args.customers - have
    print(f"generating {missing:,} customers")
    started = time.monotonic()
    demo.create_customers(
        missing, owners=owners, seed=2026 + have, audit=False,
        progress=lambda n: print(f"  {n:,}/{missing:,}  {time.monotonic() - started:.0f} s", end="\r", flush=True),
    )
    print(f"\ngenerated {missing:,} customers in {time.monotonic() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def time_database_only(user, exporter, query) -> tuple[float, int]:
    """The export's reads alone: scoped, filtered queryset streamed through the exporter's chunks."""
    from django.http import QueryDict

    from crm.exports import services

    started = time.perf_counter()
    queryset = exporter.queryset(user, QueryDict(query))
    rows = sum(len(chunk) for chunk in exporter.chunks(queryset, services.CHUNK_SIZE))
    return time.perf_counter() - started, rows


def run(args) -> list[dict]:
    from django.contrib.auth import get_user_model

    from crm.exports import registry, services, tasks
    from crm.exports.models import ExportJob, ExportStatus

    # The job is run here, not by a worker: the task the service enqueues on commit is not sent.
    tasks.run_export.delay = lambda *a, **k: None
    user = get_user_model().objects.get(username=args.user)
    exporter = registry.get("customers.customer")
    results = []
    time_database_only(user, exporter, args.query)  # untimed: warms PostgreSQL's and the OS's caches
    db = [time_database_only(user, exporter, args.query) for _ in range(args.runs)]
    print(f"database only (queryset streamed in chunks, nothing written): "
          f"{statistics.median(s for s, _ in db):.2f} s for {db[0][1]:,} rows")
    results.append({"case": "database reads only", "seconds": [s for s, _ in db], "rows": db[0][1], "size": 0})
    cases = args.formats.split(",") + (["xlsx-openpyxl"] if args.openpyxl else [])
    for case in cases:
        fmt = case.split("-")[0]
        if case == "xlsx-openpyxl":
            services.WRITERS["xlsx"] = OpenpyxlWriter
        seconds, sizes, rows = [], [], 0
        for i in range(args.runs):
            job = services.export_job_create(actor=user, model_key="customers.customer", query=args.query, fmt=fmt,
                                              language=args.language)
            started = time.perf_counter()
            services.export_job_run(job.pk)
            elapsed = time.perf_counter() - started
            job.refresh_from_db()
            assert job.status == ExportStatus.DONE, job.error
            seconds.append(elapsed)
            sizes.append(job.file.size)
            rows = job.rows_done
            print(f"{case:<13} run {i + 1}: {elapsed:6.2f} s  {rows:,} rows  {job.file.size / 1e6:.1f} MB  "
                  f"{rows / elapsed:,.0f} rows/s", flush=True)
            job.file.delete(save=False)
            ExportJob.objects.filter(pk=job.pk).update(file="")
        results.append({"case": case.replace("-", " via "), "seconds": seconds, "rows": rows,
                        "size": statistics.median(sizes)})
    return results


class OpenpyxlWriter:
    """crm.exports.writers.XlsxWriter's interface on openpyxl's write-only workbook, for comparison."""

    extension = "xlsx"

    def __init__(self, fileobj, *, headers, title=""):
        from openpyxl import Workbook

        self._file = fileobj
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(title[:31] or "Sheet1")
        self._sheet.append(headers)

    def write_rows(self, rows):
        for row in rows:
            self._sheet.append(row)

    def close(self):
        self._book.save(self._file)


def report(args, results, command) -> None:
    from django.db import connection

    from customers.models import Customer

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0].split()[0]
    print()
    print(f"- Date: {today()}; command: `{command}`")
    print(f"- Machine: {os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL {pg}; "
          f"load average (1 min) now {os.getloadavg()[0]:.2f}")
    print(f"- Data: {Customer.objects.alive().count():,} live customers in `{args.db}`; exported as `{args.user}` "
          f"with query `{args.query or '(none)'}`, language {args.language}")
    print()
    print("| export | rows | runs | median s | min s | max s | rows/s (median) | file MB | goal < 10 s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        median = statistics.median(r["seconds"])
        ok = "" if r["case"].startswith("database") or "via" in r["case"] else ("ok" if median < 10 else "**miss**")
        size = f"{r['size'] / 1e6:.1f}" if r["size"] else "—"
        print(f"| {r['case']} | {r['rows']:,} | {len(r['seconds'])} | {median:.2f} | {min(r['seconds']):.2f} | "
              f"{max(r['seconds']):.2f} | {r['rows'] / median:,.0f} | {size} | {ok} |")


def main(argv=None):
    args = parse_args(argv)
    command = "python bench/export_customers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    create_database(args.pg, args.db)
    env = django_env(args.pg, args.db)
    env["CRM_MEDIA_ROOT"] = str(OUT / "media")
    manage(env, "migrate", "--noinput", "-v", "0")
    os.environ.update(env)

    import django

    django.setup()
    fill(args)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    results = run(args)
    report(args, results, command.strip())


if __name__ == "__main__":
    main()
