#!/usr/bin/env python
"""Importing an Excel customer list: upload to committed through a real Celery worker, beside
django-import-export's default admin flow (dry run, then confirm) on the same file.

    python bench/import_customers.py                     # 100,000 rows, ours and django-import-export
    python bench/import_customers.py --rows 1000000 --no-compare
    python bench/import_customers.py --write             # ... and record the figures in bench/RESULTS.md

What it does:

1. Creates the database ``crm_bench_import`` (``--db``) if missing, migrates it, and fills it once with
   ``--existing`` customers (the COPY generator of seed_demo), so that the file has customers to collide with.
2. Writes a ``--rows`` × 15-column .xlsx of Chinese customer data with openpyxl (kept in bench/out/): a title
   row above the headers, 2.5 % of the rows repeating an earlier row of the file (the mobile typed with
   spaces), 2.5 % matching customers already in the database, 2 % invalid (a short mobile, a broken email or
   no name).
3. Ours: starts ``celery -A crm worker --pool solo`` on a queue of its own, then, as the admin would in a
   browser (django.test.Client): uploads the file, takes the proposed mapping with "leave out invalid rows",
   and confirms. Times the upload request, each worker step (from the job's status changes) and the whole,
   and reads the worker's peak memory (VmHWM) when it is done.
4. django-import-export 4: the same file through a ModelResource with the file's headers, the way its admin
   does it: read the upload, ``import_data(dry_run=True)``, then read it again and ``import_data()`` — in a
   child process, for its own peak memory. Skipped with --no-compare.
Between the two the imported customers are deleted again, so both start from the same table.
"""

import argparse
import datetime
import json
import os
import platform
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
sys.path.insert(0, str(ROOT))

HEADERS = ["客户名称", "公司名称", "职位", "手机", "座机", "邮箱", "省份", "城市", "区县", "详细地址", "客户等级",
           "客户状态", "客户来源", "所属行业", "备注"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://crm:crm@127.0.0.1:54329"))
    parser.add_argument("--db", default="crm_bench_import")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing", type=int, default=100_000, help="customers in the table before the import")
    parser.add_argument("--no-compare", action="store_true", help="skip django-import-export")
    parser.add_argument("--write", action="store_true", help="record the figures in bench/RESULTS.md")
    parser.add_argument("--django-import-export-child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def django_env(args) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"{args.pg}/{args.db}"
    env["DJANGO_SETTINGS_MODULE"] = "crm.settings.dev"
    env["DJANGO_DEBUG"] = "false"
    env["DJANGO_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"  # django.test.Client's host
    env.setdefault("REDIS_URL", "redis://127.0.0.1:63799/6")
    env["CRM_MEDIA_ROOT"] = str(OUT / "media")
    env["CRM_IMPORT_MAX_ROWS"] = str(max(args.rows, 1_000_000))
    return env


def prepare_database(args, env) -> None:
    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.db]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{args.db}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)


def setup_django(env) -> None:
    os.environ.update(env)
    import django

    django.setup()


def fill_existing(args) -> None:
    from customers import demo
    from customers.models import Customer

    users = demo.ensure_organisation()
    have = Customer.objects.count()
    if have < args.existing:
        owners = [users["rep"], users["rep2"], users["rep3"], users["manager"], None]
        started = time.monotonic()
        demo.create_customers(args.existing - have, owners=owners, seed=4242 + have, audit=False)
        print(f"filled {args.existing - have:,} existing customers in {time.monotonic() - started:.0f} s")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE customers_customer")


def baseline_id() -> int:
    state = OUT / f"import-baseline-{os.environ['DATABASE_URL'].rsplit('/', 1)[1]}.json"
    if state.exists():
        return json.loads(state.read_text())["max_id"]
    from django.db.models import Max

    from customers.models import Customer

    max_id = Customer.objects.aggregate(m=Max("id"))["m"] or 0
    state.write_text(json.dumps({"max_id": max_id}))
    return max_id


def reset(max_id: int) -> None:
    """Remove what earlier runs imported: customers above the baseline, their tags, events and jobs."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # no audit rows for the clean-up
        cursor.execute("DELETE FROM customers_customertag WHERE customer_id > %s", [max_id])
        cursor.execute("DELETE FROM customers_customer WHERE id > %s", [max_id])
        cursor.execute("DELETE FROM customers_customerevent WHERE pgh_obj_id > %s", [max_id])
        cursor.execute("DELETE FROM imports_importrow")
        cursor.execute("DELETE FROM imports_importjob")
    with connection.cursor() as cursor:
        # Rebuilt, not just vacuumed: each run's 93,000 deleted customers leave their index pages free but in
        # place (the table's indexes grew to 700 MB over a dozen runs), and every later run was slower for it.
        cursor.execute("VACUUM FULL ANALYZE customers_customer, customers_customerevent, imports_importrow")


# ------------------------------------------------------------------------------------------------ file


def make_file(rows: int, seed: int = 7) -> Path:
    """The benchmark's spreadsheet, written once per row count."""
    path = OUT / f"import-{rows}.xlsx"
    if path.exists():
        return path
    import openpyxl

    from customers.demo import CITIES, COMPANY_KINDS, COMPANY_WORDS, GIVEN, STREETS, SURNAMES, TITLES
    from customers.models import Customer

    rng = random.Random(seed)
    existing = list(Customer.objects.order_by("?").values_list("name", "company", "mobile")[: rows // 40 + 1])
    levels, statuses = ["A", "B", "C", "重要客户", "普通客户"], ["潜在客户", "新客户", "成交客户", "高价值客户"]
    sources, industries = (
        ["官网", "转介绍", "展会", "电话营销", "广告投放"], ["制造业", "IT/互联网", "零售/电商", "物流"]
    )
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("客户名单")
    sheet.append([f"{rows:,} 行客户名单（基准测试生成）"])
    sheet.append(HEADERS)
    written = []
    started = time.monotonic()
    for i in range(rows):
        roll = rng.random()
        province, city, districts, area = rng.choice(CITIES)
        company = f"{city[:-1]}{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_KINDS)}有限公司{i}"
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        mobile = f"15{i:09d}"
        row = [name, company, rng.choice(TITLES), int(mobile), f"0{area}-{rng.randint(20000000, 89999999)}",
               f"buyer{i}@example.cn", province, city, rng.choice(districts),
               f"{rng.choice(STREETS)}{rng.randint(1, 999)}号", rng.choice(levels), rng.choice(statuses),
               rng.choice(sources), rng.choice(industries), "批量导入的备注" if i % 7 == 0 else ""]
        if roll < 0.025 and written:  # a repeat of an earlier row, its mobile typed with spaces
            earlier = list(rng.choice(written[-1000:]))
            mobile = str(earlier[3])
            earlier[3] = f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
            row = earlier
        elif roll < 0.05 and existing:  # a customer already in the CRM
            name, company, phone = rng.choice(existing)
            row[0], row[1], row[3], row[5] = name, company, str(phone).removeprefix("+86"), ""
        elif roll < 0.07:  # invalid
            broken = rng.choice(("mobile", "email", "name"))
            if broken == "mobile":
                row[3], row[4] = "138123", ""
            elif broken == "email":
                row[5] = f"buyer{i}@@example"
            else:
                row[0] = row[1] = ""
        else:
            written.append(row)
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    print(f"wrote {path.name} ({path.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - started:.0f} s")
    return path


# ----------------------------------------------------------------------------------------------- ours


def start_worker(env, queue: str, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "-Q", queue, "--pool", "solo", "-l", "warning",
         "--without-mingle", "--without-gossip", "-n", f"{queue}@%h"],
        env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    time.sleep(4)
    assert process.poll() is None, log.read_text()
    return process


def peak_memory_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # gone meanwhile
        pass
    return 0.0


def helper_memory_mb(pid: int) -> float:
    """The peak memory of the worker's helper processes (crm.imports.helper) alive now (0 if none)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return max((peak_memory_mb(int(child)) for child in children), default=0.0)


def run_ours(args, env, path: Path) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    from crm.celery import app
    from crm.imports.models import ImportJob
    from customers.models import Customer
    from tests.signin import pass_second_step

    queue = f"bench-import-{os.getpid()}"
    app.conf.task_routes = {"*": {"queue": queue}}
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)
    worker = start_worker(env, queue, OUT / "import-worker.log")
    try:
        client = Client()
        client.force_login(get_user_model().objects.get(username="admin"))
        pass_second_step(client, get_user_model().objects.get(username="admin"))
        before = Customer.objects.count()
        content = path.read_bytes()
        upload = SimpleUploadedFile(path.name, content)
        marks = {}

        helper = [0.0]

        def wait(status):
            while True:
                # The helper forked to check rows shows its peak until it ends (its pages shared with the worker
                # counted in both).
                helper[0] = max(helper[0], helper_memory_mb(worker.pid))
                job = ImportJob.objects.get()
                if job.status in (status, "failed"):
                    marks[status] = time.monotonic()
                    assert job.status == status, job.error
                    return job
                time.sleep(0.05)

        started = time.monotonic()
        response = client.post(reverse("imports:new"), {"resource": "customers.customer", "file": upload})
        upload_s = time.monotonic() - started
        assert response.status_code == 302, response.content[:500]
        job = wait("parsed")
        form = {f"col_{c}": f for c, f in job.mapping.items()}
        form |= {"duplicate_mode": "skip", "owner_mode": "me", "skip_invalid": "on"}
        assert client.post(reverse("imports:configure", args=[job.pk]), form).status_code == 302
        job = wait("validated")
        assert client.post(reverse("imports:commit", args=[job.pk])).status_code == 302
        job = wait("committed")
        total = time.monotonic() - started
        memory = peak_memory_mb(worker.pid)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    created = Customer.objects.count() - before
    return {
        "flow": "ours", "rows": job.total_rows, "upload_s": upload_s, "parse_s": marks["parsed"] - started - upload_s,
        "validate_s": marks["validated"] - marks["parsed"], "commit_s": marks["committed"] - marks["validated"],
        "total_s": total, "memory_mb": memory, "helper_memory_mb": helper[0], "created": created, "counts": job.counts,
        "mapped": len(job.mapping),
    }


# -------------------------------------------------------------------------------- django-import-export


def import_export_child(path: str) -> None:
    """Runs in a child process: django-import-export's admin flow on the file, printed as JSON."""
    from import_export import fields, resources

    from customers.models import Customer

    columns = dict(zip(["name", "company", "title", "mobile", "phone", "email", "province", "city", "district",
                        "address", "level", "status", "source", "industry", "notes"], HEADERS, strict=True))

    class CustomerResource(resources.ModelResource):
        class Meta:
            model = Customer
            fields = list(columns)
            import_id_fields = []

    for name, header in columns.items():
        CustomerResource.fields[name] = fields.Field(attribute=name, column_name=header)

    def dataset():
        # What import_export.formats.base_formats.XLSX.create_dataset does (openpyxl, read-only), except that
        # the row above the headers (the list's title, which its admin cannot skip) is passed over.
        import openpyxl
        import tablib

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        rows = book.active.rows
        next(rows)
        data = tablib.Dataset()
        data.headers = [cell.value for cell in next(rows)]
        for row in rows:
            data.append([cell.value for cell in row])
        return data

    started = time.monotonic()
    result = CustomerResource().import_data(dataset(), dry_run=True, raise_errors=False)
    dry = time.monotonic() - started
    result = CustomerResource().import_data(dataset(), dry_run=False, raise_errors=False)
    total = time.monotonic() - started
    from collections import Counter

    reasons = Counter()
    for _number, errors in result.row_errors():
        for error in errors[:1]:
            reasons[str(error.error).splitlines()[0][:120]] += 1
    for invalid in result.invalid_rows:
        reasons["; ".join(f"{k}: {v[0]}" for k, v in invalid.error_dict.items())[:120]] += 1
    print(json.dumps({
        "flow": "django-import-export", "dry_run_s": dry, "confirm_s": total - dry, "total_s": total,
        "memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "created": result.totals.get("new", 0), "errors": len(result.invalid_rows) + len(result.row_errors()),
        "reasons": reasons.most_common(3),
    }, ensure_ascii=False))


def run_import_export(args, env, path: Path) -> dict:
    started = time.monotonic()
    child = subprocess.run([sys.executable, __file__, "--django-import-export-child", str(path), "--db", args.db],
                           env=env, cwd=ROOT, capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(child.stderr[-3000:])
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.monotonic() - started
    return result


# -------------------------------------------------------------------------------------------- results


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}"


def report(args, ours: dict, theirs: dict | None, command: str) -> str:
    lines = [
        f"### {ours['rows']:,} rows × 15 columns into a table of {args.existing:,} customers",
        "",
        f"- Date: {now_utc()}; machine: {machine()}; PostgreSQL on the same machine",
        f"- Command: `{command}`",
        f"- File: {ours['rows']:,} data rows under a title row; 2.5 % repeats within the file, 2.5 % customers "
        "already in the CRM, 2 % invalid; mapping proposed automatically "
        f"({ours['mapped']} of 15 columns), duplicates skipped, invalid rows left out.",
        f"- Outcome: {ours['counts'].get('create', 0):,} created, {ours['counts'].get('skip', 0):,} already in the "
        f"CRM, {ours['counts'].get('file_duplicate', 0):,} repeated in the file, "
        f"{ours['counts'].get('invalid', 0):,} invalid (each named by row, column and reason).",
        "",
        "| flow | upload request | read + map | check rows | commit | upload → committed | peak worker memory |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| ours (Celery worker) | {ours['upload_s'] * 1000:.0f} ms | {ours['parse_s']:.1f} s | "
        f"{ours['validate_s']:.1f} s | {ours['commit_s']:.1f} s | **{ours['total_s']:.1f} s** | "
        f"{ours['memory_mb']:.0f} MB" + (f"; its helper process {ours['helper_memory_mb']:.0f} MB"
                                         if ours["helper_memory_mb"] else "") + " |",
    ]
    if theirs:
        lines.append(
            f"| django-import-export 4 (admin flow: dry run, confirm) | — | — | {theirs['dry_run_s']:.1f} s (dry run) "
            f"| {theirs['confirm_s']:.1f} s | **{theirs['total_s']:.1f} s** | {theirs['memory_mb']:.0f} MB |"
        )
        reasons = "; ".join(f"{text} ({count:,} rows)" for text, count in theirs["reasons"])
        lines += ["", f"django-import-export, given the same headers, created {theirs['created']:,} customers and "
                  f"refused {theirs['errors']:,} rows; most common reasons: {reasons or 'none'}. It has no "
                  "duplicate check of its own, and nothing turns 重要客户 into a level or 1.38E+10 into a mobile."]
    return "\n".join(lines) + "\n"


def write_results(block: str, rows: int) -> None:
    """Replace this row count's section of the Import part of RESULTS.md (each size keeps its own)."""
    start, end = f"<!-- import:{rows}:start -->", f"<!-- import:{rows}:end -->"
    text = RESULTS.read_text()
    section = f"{start}\n{block}{end}"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _m: section, text, flags=re.S)
    else:
        if "\n## Import\n" not in text:
            text = text.rstrip() + "\n\n## Import\n\nFigures from `bench/import_customers.py` (see bench/README.md).\n"
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main():
    args = parse_args()
    env = django_env(args)
    if args.django_import_export_child:
        setup_django(env)
        import_export_child(args.django_import_export_child)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    prepare_database(args, env)
    setup_django(env)
    fill_existing(args)
    max_id = baseline_id()
    reset(max_id)
    path = make_file(args.rows)
    ours = run_ours(args, env, path)
    print(json.dumps(ours, ensure_ascii=False))
    theirs = None
    if not args.no_compare:
        reset(max_id)
        theirs = run_import_export(args, env, path)
        print(json.dumps(theirs))
    reset(max_id)
    command = "python bench/import_customers.py " + " ".join(sys.argv[1:])
    block = report(args, ours, theirs, command.strip())
    print(block)
    if args.write:
        write_results(block, args.rows)


if __name__ == "__main__":
    main()
