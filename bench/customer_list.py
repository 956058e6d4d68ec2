#!/usr/bin/env python
"""Customer list and search, as a sales rep sees them, at 1,000,000 customers.

    python bench/customer_list.py                 # fill crm_bench once, then time every case
    python bench/customer_list.py --write         # ... and rewrite bench/RESULTS.md
    python bench/customer_list.py --time-seed     # also time `manage.py seed_demo --customers N`
    python bench/customer_list.py --explain pool  # EXPLAIN (ANALYZE, BUFFERS) of the cases named *pool*

What it does:

1. Creates the database ``crm_bench`` on the cluster of ``--pg`` if it is missing and migrates it.
2. Fills it once, with the same COPY generator seed_demo uses (customers.demo.create_customers), but with
   ``--reps`` extra sales reps so that one rep owns a realistic share (a few thousand customers, not a
   fifth of the table), ~15 % of the customers in the public pool, and some customers shared with the rep
   and his team. A filled database is kept: reruns skip straight to the timing.
3. Runs ANALYZE, logs in as the demo rep through django.test.Client and, per case, sends ``--warmup``
   requests and then ``--requests`` timed ones. Server time is the time from request to response inside
   the process (middleware, session, ORM, template); the query count comes from CaptureQueriesContext.

With ``--time-seed`` it also times the real command, ``manage.py seed_demo --customers N``, in a scratch
database (``crm_bench_seed``, dropped afterwards), since seed_demo's own speed is a goal too.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
sys.path.insert(0, str(ROOT))

BENCH_USER = "rep"  # the demo sales rep (上海组)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://crm:crm@127.0.0.1:54329"),
                        help="PostgreSQL server, without database name")
    parser.add_argument("--db", default="crm_bench", help="benchmark database (created and kept)")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=96, help="extra sales reps owning customers besides the demo users")
    parser.add_argument("--pool-share", type=float, default=0.15)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per case first")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--explain", default="", help="print EXPLAIN (ANALYZE, BUFFERS) for cases matching this text")
    parser.add_argument("--time-seed", action="store_true", help="time `seed_demo --customers N` in a scratch database")
    parser.add_argument("--write", action="store_true", help="rewrite bench/RESULTS.md with the figures")
    parser.add_argument("--count-cap", type=int, default=0,
                        help="what-if: patch crm.web.pagination.COUNT_CAP")
    parser.add_argument("--note", default="", help="a line to put above the table in RESULTS.md (e.g. 'after')")
    return parser.parse_args(argv)


def today() -> str:
    # UTC: django.setup() switches the process to TIME_ZONE (Asia/Shanghai), which would mix dates.
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


# ------------------------------------------------------------------------------------------- database


def admin_connect(pg_url):
    import psycopg

    return psycopg.connect(f"{pg_url}/postgres", autocommit=True)


def database_exists(pg_url, name) -> bool:
    with admin_connect(pg_url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def create_database(pg_url, name) -> None:
    if not database_exists(pg_url, name):
        with admin_connect(pg_url) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        print(f"created database {name}")


def drop_database(pg_url, name) -> None:
    with admin_connect(pg_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env, *args, capture=False):
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True,
        stdout=subprocess.PIPE if capture else None, text=True,
    )


def django_env(pg_url, db) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"{pg_url}/{db}"
    env.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
    env["DJANGO_DEBUG"] = "false"  # no debug cursor outside CaptureQueriesContext, cached templates
    env.setdefault("REDIS_URL", "redis://127.0.0.1:63799/7")
    return env


def time_seed_demo(args) -> dict:
    """The real command, timed end to end in a fresh scratch database."""
    scratch = f"{args.db}_seed"
    drop_database(args.pg, scratch)
    create_database(args.pg, scratch)
    env = django_env(args.pg, scratch)
    manage(env, "migrate", "--noinput", "-v", "0")
    command = f"python manage.py seed_demo --customers {args.customers}"
    print(f"timing: {command}  (DATABASE_URL={env['DATABASE_URL']})")
    started = time.monotonic()
    result = manage(env, "seed_demo", "--customers", str(args.customers), capture=True)
    seconds = time.monotonic() - started
    found = re.search(r"Created ([\d,]+) customers in ([\d.]+) s", result.stdout)
    drop_database(args.pg, scratch)
    info = {
        "command": command, "wall_seconds": round(seconds, 1),
        "copy_seconds": float(found.group(2)) if found else None,
        "date": today(),
    }
    print(f"seed_demo: {seconds:.1f} s wall ({info['copy_seconds']} s creating customers)")
    return info


# ---------------------------------------------------------------------------------------------- data


def fill(args) -> dict | None:
    """Organisation, extra reps, customers and shares, once. Returns the generator timing if it ran."""
    from django.contrib.auth.models import Permission
    from django.db import connection

    from crm.accounts.models import Team
    from crm.accounts.roles import SALES_REP
    from crm.accounts.services import user_create
    from customers import demo
    from customers.models import Customer, CustomerTeamShare, CustomerUserShare

    users = demo.ensure_organisation()
    have = Customer.objects.count()
    if have >= args.customers:
        print(f"{args.db} already holds {have:,} customers: not generating")
        return None

    teams = [Team.objects.get(name=n) for n in ("上海组", "杭州组", "华南销售部")]
    reps = []
    for i in range(args.reps):
        username = f"bench_rep_{i:03d}"
        user = Customer._meta.get_field("owner").related_model.objects.filter(username=username).first()
        if user is None:
            user = user_create(username=username, password=demo.DEMO_PASSWORD, role=SALES_REP,
                               team=teams[i % len(teams)], last_name="测", first_name=f"试{i}")
        reps.append(user)
    owners = [users["rep"], users["rep2"], users["rep3"], users["manager"], *reps]
    pool_slots = max(1, round(len(owners) * args.pool_share / (1 - args.pool_share)))
    owners += [None] * pool_slots
    missing = args.customers - have
    print(f"generating {missing:,} customers over {len(owners) - pool_slots} owners + {pool_slots} pool slots")
    started = time.monotonic()
    demo.create_customers(
        missing, owners=owners, seed=2026 + have,
        progress=lambda n: print(f"  {n:,}/{missing:,}  {time.monotonic() - started:.0f} s", end="\r", flush=True),
    )
    seconds = time.monotonic() - started
    print(f"\ngenerated {missing:,} customers in {seconds:.1f} s")

    # Shares: 300 customers of other reps shared with the rep, 500 with his team (上海组).
    rep = users["rep"]
    view = Permission.objects.get(codename="view_customer", content_type__app_label="customers")
    others = Customer.objects.exclude(owner=rep).exclude(owner__isnull=True).values_list("pk", flat=True)
    others = list(others[:100_000:100])
    CustomerUserShare.objects.bulk_create(
        [CustomerUserShare(user=rep, permission=view, content_object_id=pk) for pk in others[:300]],
        ignore_conflicts=True,
    )
    CustomerTeamShare.objects.bulk_create(
        [CustomerTeamShare(group=rep.team.group, permission=view, content_object_id=pk) for pk in others[300:800]],
        ignore_conflicts=True,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # an all-visible map for index-only scans, fresh statistics
    return {"customers": missing, "seconds": round(seconds, 1), "date": today(),
            "owners": len(owners) - pool_slots, "pool_slots": pool_slots}


def dataset_facts() -> dict:
    from django.contrib.auth import get_user_model

    from customers.models import Customer, CustomerTag, CustomerTeamShare, CustomerUserShare

    rep = get_user_model().objects.get(username=BENCH_USER)
    alive = Customer.objects.alive()
    return {
        "customers": alive.count(),
        "pool": alive.filter(owner__isnull=True).count(),
        "owners": alive.exclude(owner__isnull=True).values("owner").distinct().count(),
        "rep_owns": alive.filter(owner=rep).count(),
        "rep_shared": CustomerUserShare.objects.filter(user=rep).count()
        + CustomerTeamShare.objects.filter(group__user=rep).count(),
        "customer_tags": CustomerTag.objects.count(),
    }


# --------------------------------------------------------------------------------------------- cases


def build_cases() -> list[tuple[str, dict, float, bool]]:
    """(name, query parameters, goal in ms, as htmx). Search terms are taken from the data so that they match.

    Searches are timed as the request the list's search box sends while the user types (htmx, the results
    partial only); a few are also timed as full pages (the navbar's global search box)."""
    from django.contrib.auth import get_user_model

    from customers.models import Customer, Tag

    rep = get_user_model().objects.get(username=BENCH_USER)
    own = Customer.objects.alive().filter(owner=rep).order_by("pk")
    sample = own[1234]
    mobile = sample.mobile_digits  # 11 digits, e.g. 13912345678
    spaced = f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    serial = re.search(r"user(\d+)@", sample.email).group(1)
    vip = Tag.objects.get(name="VIP").pk
    LIST, SEARCH = 150, 100
    return [
        ("list: all I can see", {}, LIST, False),
        ("list: page 20", {"page": 20}, LIST, False),
        ("list: my customers", {"view": "mine"}, LIST, False),
        ("list: public pool", {"view": "pool"}, LIST, False),
        ("list: sort by name", {"sort": "name"}, LIST, False),
        ("filter: level A", {"level": "A"}, LIST, False),
        ("filter: province 广东省", {"province": "广东省"}, LIST, False),
        ("filter: tag VIP", {"tag": vip}, LIST, False),
        ("filter: pool + level A + 广东省", {"view": "pool", "level": "A", "province": "广东省"}, LIST, False),
        ("search: 张伟", {"q": "张伟"}, SEARCH, True),
        ("search: 王芳", {"q": "王芳"}, SEARCH, True),
        ("search: 李", {"q": "李"}, SEARCH, True),
        (f"search: phone with spaces '{spaced}'", {"q": spaced}, SEARCH, True),
        (f"search: phone +86 dashes '+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}'",
         {"q": f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"}, SEARCH, True),
        (f"search: partial phone '{mobile[3:9]}'", {"q": mobile[3:9]}, SEARCH, True),
        (f"search: partial phone '{mobile[-4:]}'", {"q": mobile[-4:]}, SEARCH, True),
        (f"search: email fragment 'user{serial}@'", {"q": f"user{serial}@"}, SEARCH, True),
        (f"search: email fragment '{serial}@'", {"q": f"{serial}@"}, SEARCH, True),
        (f"search: email fragment 'user{serial}'", {"q": f"user{serial}"}, SEARCH, True),
        ("search: company '恒通物流'", {"q": "恒通物流"}, SEARCH, True),
        ("search: company '深圳华信科技'", {"q": "深圳华信科技"}, SEARCH, True),
        ("search: two characters, common '上海'", {"q": "上海"}, SEARCH, True),
        ("search: two characters inside a company '华信'", {"q": "华信"}, SEARCH, True),
        ("search: two-character given name '晓东'", {"q": "晓东"}, SEARCH, True),
        ("search: pool + '张伟'", {"view": "pool", "q": "张伟"}, SEARCH, True),
        ("search: no match 'zzqx'", {"q": "zzqx"}, SEARCH, True),
        ("search, full page: 张伟", {"q": "张伟"}, SEARCH, False),
        (f"search, full page: phone with spaces '{spaced}'", {"q": spaced}, SEARCH, False),
        ("search, full page: company '恒通物流'", {"q": "恒通物流"}, SEARCH, False),
    ]


def percentile(values, pct):
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run_cases(args, cases) -> list[dict]:
    """Warm every case up, capture one request's queries, then time the cases round-robin: a burst of load
    from elsewhere on the machine then spreads over all cases instead of spoiling one."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tests.signin import pass_second_step

    client = Client()
    client.force_login(get_user_model().objects.get(username=BENCH_USER))
    pass_second_step(client, get_user_model().objects.get(username=BENCH_USER))
    selected = [case for case in cases if not args.only or args.only in case[0]]
    rows = []
    for name, params, goal, htmx in selected:
        url = "/customers/" + (f"?{urlencode(params)}" if params else "")
        headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/customers/"} if htmx else {}
        for _ in range(args.warmup):
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.status_code)
        sql_ms = []
        for _ in range(5):
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url, headers=headers)
            queries = list(captured.captured_queries)  # read now: the next request clears connection.queries
            sql_ms.append(sum(float(q["time"]) * 1000 for q in queries))
        shown = len(re.findall(r'name="ids" value=', response.content.decode()))
        rows.append({
            "case": name, "url": url, "headers": headers, "kind": "htmx" if htmx else "page", "goal_ms": goal,
            "queries": len(queries), "rows": shown, "matches": capped_matches(params),
            "sql_ms": statistics.median(sql_ms), "timings": [],
        })
        if args.explain and args.explain in name:
            explain(queries)
    load_before = os.getloadavg()
    for _ in range(args.requests):
        for row in rows:
            started = time.perf_counter()
            client.get(row["url"], headers=row["headers"])
            row["timings"].append((time.perf_counter() - started) * 1000)
    load_after = os.getloadavg()
    for row in rows:
        timings = row.pop("timings")
        row.update(p50=percentile(timings, 50), p95=percentile(timings, 95), max=max(timings))
        row["ok"] = row["p95"] < row["goal_ms"]
        print(f"{'ok ' if row['ok'] else 'MISS'} {row['case']:<62} {row['kind']:<5} "
              f"p50 {row['p50']:6.1f}  p95 {row['p95']:6.1f}  "
              f"max {row['max']:6.1f} ms  SQL {row['sql_ms']:5.1f} ms  {row['queries']:2d} queries  "
              f"{row['rows']:2d} rows of {row['matches']}", flush=True)
    print(f"load average (1 min) before timing {load_before[0]:.2f}, after {load_after[0]:.2f}")
    args.load = (load_before[0], load_after[0])
    return rows


def capped_matches(params) -> str:
    """How many customers the case finds, counted like the page does (capped at COUNT_CAP+), untimed."""
    from django.contrib.auth import get_user_model
    from django.http import QueryDict

    from crm.web import pagination
    from customers import selectors
    from customers.filters import CustomerFilter

    rep = get_user_model().objects.get(username=BENCH_USER)
    data = QueryDict(urlencode(params)) if params else None
    filterset = CustomerFilter(data, queryset=selectors.customer_list(user=rep), user=rep)
    cap = pagination.SEARCH_COUNT_CAP if params.get("q") else pagination.COUNT_CAP
    found = (filterset.qs if filterset.is_bound else filterset.queryset).order_by()[: cap + 1].count()
    return f"{cap:,}+" if found > cap else f"{found:,}"


def explain(queries) -> None:
    from django.db import connection

    for query in queries:
        sql = query["sql"]
        if "customers_customer" not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue
        print("\n" + "-" * 100 + f"\n{sql}\n")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            print("\n".join(r[0] for r in cursor.fetchall()))


# -------------------------------------------------------------------------------------------- report


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    except OSError:
        mem = 0
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
        cursor.execute("SELECT current_setting('shared_buffers'), current_setting('work_mem'), current_setting('jit')")
        shared_buffers, work_mem, jit = cursor.fetchone()
    import django

    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}; "
            f"PostgreSQL {pg.split()[0]} on the same machine (shared_buffers {shared_buffers}, work_mem {work_mem}, "
            f"jit {jit}; the cluster's defaults); Python {platform.python_version()}, Django {django.get_version()}")


def load_state() -> dict:
    path = OUT / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(state) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "state.json").write_text(json.dumps(state, indent=2, ensure_ascii=False))


def write_results(args, rows, facts, state, command) -> None:
    lines = [
        "# Benchmark results",
        "",
        "Figures from `bench/customer_list.py` (see bench/README.md for the method). Server time is measured",
        "inside the process with django.test.Client: middleware, session, ORM and template rendering, for a",
        "logged-in sales rep, with a warm database cache. `page` rows time the full page; `htmx` rows time the",
        "results partial that the list's search box requests while the user types.",
        "",
        f"- Date: {today()}",
        f"- Machine: {machine()}",
        f"- Command: `{command}`",
        f"- Data: {facts['customers']:,} live customers, {facts['pool']:,} in the public pool, "
        f"{facts['owners']} owners; the rep (`{BENCH_USER}`) owns {facts['rep_owns']:,} and has "
        f"{facts['rep_shared']:,} shared with him or his team; {facts['customer_tags']:,} customer tags.",
        f"- Per case: {args.warmup} warm-up requests, then {args.requests} timed requests, the cases taken "
        f"round-robin. Load average (1 min) before / after the timing: {args.load[0]:.2f} / {args.load[1]:.2f}.",
        "- SQL ms: the time of all the page's queries (median of 5 captured requests); the rest is Python "
        "(middleware, filter form, template).",
        "",
    ]
    if args.note:
        lines += [args.note, ""]
    lines += [
        "| case | request | goal p95 | p50 ms | p95 ms | max ms | SQL ms | queries | rows on page | matches | |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['kind']} | < {r['goal_ms']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | "
            f"{r['sql_ms']:.1f} | "
            f"{r['queries']} | {r['rows']} | {r['matches']} | {'ok' if r['ok'] else '**miss**'} |"
        )
    lines.append("")
    gen = state.get("generator")
    seed = state.get("seed_demo")
    lines += ["## Generator", ""]
    if seed:
        lines.append(f"- `{seed['command']}` into an empty, migrated database: **{seed['wall_seconds']:.0f} s** wall "
                     f"({seed['copy_seconds']} s of it creating customers), {seed['date']}.")
    if gen:
        lines.append(f"- The benchmark's own fill (same generator, customers.demo.create_customers, "
                     f"{gen['owners']} owners + {gen['pool_slots']} pool slots): {gen['customers']:,} customers "
                     f"in **{gen['seconds']:.0f} s**, {gen['date']}.")
    lines.append("")
    # Everything below the marker is hand-written analysis, kept across rewrites.
    previous = RESULTS.read_text() if RESULTS.exists() else ""
    notes = previous.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in previous else "\n"
    lines.append("<!-- notes -->" + notes)
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


# ---------------------------------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    command = "python bench/customer_list.py " + " ".join(sys.argv[1:] if argv is None else argv)
    state = load_state()
    if args.time_seed:
        state["seed_demo"] = time_seed_demo(args)
        save_state(state)

    create_database(args.pg, args.db)
    env = django_env(args.pg, args.db)
    manage(env, "migrate", "--noinput", "-v", "0")
    os.environ.update(env)

    import django

    django.setup()
    from django.conf import settings

    # The test client's host. Not setup_test_environment(): its template instrumentation would be timed too.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    if args.count_cap:
        import crm.web.pagination

        crm.web.pagination.COUNT_CAP = args.count_cap
        print(f"what-if: COUNT_CAP = {args.count_cap:,}")
    generated = fill(args)
    if generated:
        state["generator"] = generated
        save_state(state)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    facts = dataset_facts()
    print(f"data: {facts}")
    rows = run_cases(args, build_cases())
    if args.write:
        if args.only:
            print("not writing RESULTS.md: --only gives a partial table")
        else:
            write_results(args, rows, facts, state, command)
    misses = [r["case"] for r in rows if not r["ok"]]
    print(f"{len(rows) - len(misses)}/{len(rows)} cases meet their goal" + (f"; missed: {misses}" if misses else ""))


if __name__ == "__main__":
    main()
