#!/usr/bin/env python
"""The sales pipeline board (kanban) and the opportunity list at 100,000 open opportunities, for an admin, a sales
manager and a sales rep.

    python bench/kanban.py                     # fill crm_bench_kanban once, then time every case
    python bench/kanban.py --write             # ... and record the figures in bench/RESULTS.md
    python bench/kanban.py --only rep          # the cases whose name contains "rep"
    python bench/kanban.py --only 'admin: board' --explain   # EXPLAIN (ANALYZE, BUFFERS) of their queries

What it does:

1. Creates the database ``crm_bench_kanban`` (``--db``) if missing and migrates it (the migration makes the
   default pipeline: four open stages, won, lost), then fills it once: the demo organisation
   (customers.demo.ensure_organisation), ``--reps`` extra sales reps spread over 上海组, 杭州组 and 华南销售部,
   ``--customers`` customers from seed_demo's COPY generator (15 % in the public pool), then by COPY
   ``--open`` open opportunities over the four open stages (40/27/20/13 %) and ``--closed`` won or lost ones
   closed over the last two years, each with its first stage-history row. An opportunity belongs to its
   customer's owner (3 % are on customers that went back to the pool, owned by some rep); amounts from 5,000
   to 2,000,000, 2 % in USD; expected close from a month ago to half a year ahead (5 % none). The audit triggers
   are skipped for generated rows, then VACUUM ANALYZE.
2. Logs in as ``admin``, ``manager`` (华东销售部: 上海组 and 杭州组, two thirds of the reps) and ``rep`` through
   django.test.Client, and per case sends ``--warmup`` untimed requests, then ``--requests`` timed rounds in
   which every case is timed once (round-robin). Cases: the board (``sales:board`` and ``sales:pipeline_board``)
   as a page, with the filters of its panel (owner, team, expected close, search) as the htmx request the panel
   sends; the "more" button of the largest column (``sales:board_column``: page 2 and a page ``--deep`` clicks
   down, as htmx appends them); the opportunity list with its filters and sorts.
3. Reports p50 / p95 / max of the time from request to response in the process, the number of queries and their
   SQL time (CaptureQueriesContext), the cards on the page; goal p95 < 200 ms.
"""

import argparse
import datetime
import html
import io
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
sys.path.insert(0, str(ROOT))

SECTION_START, SECTION_END = "<!-- kanban:start -->", "<!-- kanban:end -->"
GOAL_MS = 200
USERS = ("admin", "manager", "rep")
CARD = re.compile(r'<li class="card kanban-card')
ROW = re.compile(r'href="/sales/opportunities/\d+/"')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://crm:crm@127.0.0.1:54329"),
                        help="PostgreSQL server, without database name")
    parser.add_argument("--db", default="crm_bench_kanban")
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=96, help="extra sales reps besides the demo users")
    parser.add_argument("--open", type=int, default=100_000, help="open opportunities")
    parser.add_argument("--closed", type=int, default=50_000, help="won and lost opportunities, closed over 2 years")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--deep", type=int, default=50, help="the deep 'more' page: this many clicks down")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) the cases' queries")
    parser.add_argument("--note", default="", help="a line above the table in RESULTS.md")
    parser.add_argument("--write", action="store_true", help="record the figures in bench/RESULTS.md")
    parser.add_argument("--seed", type=int, default=46)
    return parser.parse_args(argv)


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def django_env(args) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"{args.pg}/{args.db}"
    env["DJANGO_SETTINGS_MODULE"] = "crm.settings.dev"
    env["DJANGO_DEBUG"] = "false"  # cached templates, no query log outside CaptureQueriesContext
    env["DJANGO_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    env.setdefault("REDIS_URL", "redis://127.0.0.1:63799/9")
    env["CRM_MEDIA_ROOT"] = str(OUT / "media")
    return env


def prepare_database(args, env) -> None:
    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.db]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{args.db}"')
            print(f"created database {args.db}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)


# ---------------------------------------------------------------------------------------------- data

_COLUMNS = ["customer_id", "name", "pipeline_id", "stage_id", "amount", "currency", "expected_close", "owner_id",
            "team_id", "next_step", "lost_reason", "stage_entered_at", "closed_at", "created_at", "updated_at"]
DEAL_KINDS = ["年度订阅", "系统升级", "新增席位", "实施项目", "续约", "培训采购", "二期项目", "试点项目"]
NEXT_STEPS = ["周五前发送报价", "约技术交流会", "安排产品演示", "等待采购审批", "跟进合同条款", "寄送样品", "", ""]
LOST_REASONS = ["价格超出预算", "选择了竞争对手", "项目暂停", "需求不匹配", "决策人变更", "无预算"]


def _copy_value(value) -> str:
    if value is None:
        return r"\N"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def fill(args) -> dict | None:
    """Organisation, reps, customers, opportunities, once (a filled database is kept). The fill's timings, or None."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from crm.accounts.models import Team
    from crm.accounts.roles import SALES_REP
    from crm.accounts.services import user_create
    from customers import demo
    from customers.models import Customer
    from sales.models import Opportunity, StageHistory, StageKind
    from sales.pipeline_services import default_pipeline

    User = get_user_model()
    users = demo.ensure_organisation()
    have = Opportunity.objects.count()
    if have >= args.open + args.closed:
        print(f"{args.db} already holds {have:,} opportunities: not generating")
        return None
    assert have == 0, f"{args.db} holds {have:,} opportunities, fewer than asked: drop the database and run again"
    timings = {}
    started = time.monotonic()
    teams = [Team.objects.get(name=n) for n in ("上海组", "杭州组", "华南销售部")]
    reps = []
    for i in range(args.reps):
        username = f"bench_kan_{i:03d}"
        user = User.objects.filter(username=username).first() or user_create(
            username=username, password=demo.DEMO_PASSWORD, role=SALES_REP, team=teams[i % len(teams)],
            last_name="测", first_name=f"试{i}")
        reps.append(user)
    owners = [users["rep"], users["rep2"], users["rep3"], users["manager"], *reps]
    pool_slots = max(1, round(len(owners) * 0.15 / 0.85))
    missing = args.customers - Customer.objects.count()
    if missing > 0:
        print(f"generating {missing:,} customers")
        demo.create_customers(missing, owners=[*owners, *[None] * pool_slots], seed=args.seed, audit=False)
    timings["customers_s"] = time.monotonic() - started

    started = time.monotonic()
    rng = random.Random(args.seed)
    now = timezone.now()
    today = timezone.localdate()
    pipeline = default_pipeline()
    stages = list(pipeline.stages.order_by("position", "pk"))
    open_stages = [s for s in stages if s.kind == StageKind.OPEN]
    won = next(s for s in stages if s.kind == StageKind.WON)
    lost = next(s for s in stages if s.kind == StageKind.LOST)
    teams_of = {u.pk: u.team_id for u in owners}
    owned = list(Customer.objects.filter(owner__isnull=False).values_list("pk", "name", "owner_id"))
    pool = list(Customer.objects.filter(owner__isnull=True).values_list("pk", "name", "owner_id"))
    weights = [40, 27, 20, 13][: len(open_stages)]

    def row(stage, closed_at=None):
        if rng.random() < 0.03:
            customer_id, name, _owner = rng.choice(pool)
            owner_id = rng.choice(owners).pk
        else:
            customer_id, name, owner_id = rng.choice(owned)
        if closed_at is None:
            entered = now - datetime.timedelta(days=rng.uniform(0, 180))
            created = entered - datetime.timedelta(days=rng.uniform(0, 120))
            updated = entered + (now - entered) * rng.random()
            close = None if rng.random() < 0.05 else today + datetime.timedelta(days=rng.randint(-30, 180))
        else:
            entered = updated = closed_at
            created = closed_at - datetime.timedelta(days=rng.uniform(5, 200))
            close = closed_at.date()
        amount = Decimal(rng.randrange(5, 2000) * 1000)
        return [customer_id, f"{name[:20]}·{rng.choice(DEAL_KINDS)}", pipeline.pk, stage.pk, amount,
                "USD" if rng.random() < 0.02 else "CNY", close, owner_id, teams_of.get(owner_id),
                rng.choice(NEXT_STEPS) if closed_at is None else "",
                rng.choice(LOST_REASONS) if stage.kind == StageKind.LOST else "", entered, closed_at, created, updated]

    rows = [row(rng.choices(open_stages, weights)[0]) for _ in range(args.open)]
    for _ in range(args.closed):
        rows.append(row(won if rng.random() < 0.45 else lost, now - datetime.timedelta(days=rng.uniform(0, 730))))
    rng.shuffle(rows)  # ids in no particular order of stage or time, as years of use leave them
    table, history = Opportunity._meta.db_table, StageHistory._meta.db_table
    chunk = 20_000
    for first in range(0, len(rows), chunk):
        buffer = io.StringIO()
        for values in rows[first:first + chunk]:
            buffer.write("\t".join(_copy_value(v) for v in values) + "\n")
        with transaction.atomic(), connection.cursor() as cursor:
            demo._skip_audit_triggers(cursor)
            with cursor.copy(f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
    with transaction.atomic(), connection.cursor() as cursor:
        demo._skip_audit_triggers(cursor)
        cursor.execute(f"""INSERT INTO {history} (opportunity_id, stage_id, entered_at, moved_by_id)
                           SELECT id, stage_id, stage_entered_at, owner_id FROM {table}""")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    timings["opportunities_s"] = time.monotonic() - started
    print(f"filled {len(rows):,} opportunities in {timings['opportunities_s']:.0f} s "
          f"(customers {timings['customers_s']:.0f} s)")
    return timings


def dataset_facts() -> dict:
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from customers.models import Customer
    from sales import permissions as policy
    from sales.models import Opportunity

    User = get_user_model()
    facts = {
        "customers": Customer.objects.count(), "pool": Customer.objects.filter(owner__isnull=True).count(),
        "opportunities": Opportunity.objects.count(),
        "open": Opportunity.objects.filter(closed_at__isnull=True).count(),
        "owners": Opportunity.objects.values("owner").distinct().count(),
        "per_stage": list(Opportunity.objects.filter(closed_at__isnull=True).values("stage__name")
                          .annotate(n=Count("pk")).order_by("stage__position").values_list("stage__name", "n")),
    }
    for username in USERS:
        user = User.objects.get(username=username)
        facts[f"{username}_sees_open"] = policy.opportunities_for(user).filter(closed_at__isnull=True).count()
    return facts


# --------------------------------------------------------------------------------------------- cases


def build_cases(users: dict) -> list[dict]:
    """Each case: name, user, path, query parameters, htmx or not. The "more" pages are found by clicking."""
    from crm.accounts.models import Team
    from sales.models import StageKind
    from sales.pipeline_services import default_pipeline

    pipeline = default_pipeline()
    first_stage = pipeline.stages.filter(kind=StageKind.OPEN).order_by("position", "pk").first()
    from django.utils import timezone

    today = timezone.localdate()
    month = {"expected_close_after": today.replace(day=1).isoformat(),
             "expected_close_before": (today.replace(day=1) + datetime.timedelta(days=31)).replace(day=1).isoformat()}
    shanghai = Team.objects.get(name="上海组").pk
    board, pboard, listing = "/sales/board/", f"/sales/board/{pipeline.pk}/", "/sales/opportunities/"
    rep, rep2 = users["rep"].pk, users["rep2"].pk
    cases = []

    def add(user, name, path, params=None, htmx=False, more=None):
        cases.append({"user": user, "case": f"{user}: {name}", "path": path, "params": params or {}, "htmx": htmx,
                      "more": more, "kind": "htmx" if htmx else "page"})

    for user in USERS:
        add(user, "board", board)
        if user == "admin":
            add(user, "board of the pipeline (sales:pipeline_board)", pboard)
            add(user, "board, owner = rep", pboard, {"owner": rep}, htmx=True)
        if user != "rep":
            add(user, "board, team = 上海组", pboard, {"team": shanghai}, htmx=True)
        if user == "manager":
            add(user, "board, owner = rep2", pboard, {"owner": rep2}, htmx=True)
        add(user, "board, expected close this month", pboard, month, htmx=True)
        add(user, "board, closed any time", pboard, {"closed": "all"}, htmx=True)
        add(user, "board, search '科技'", pboard, {"q": "科技"}, htmx=True)
        add(user, f"'more' of {first_stage.name}: page 2", pboard, {}, htmx=True, more=(first_stage.pk, 1))
        add(user, f"'more' of {first_stage.name}: page {{deep}}", pboard, {}, htmx=True, more=(first_stage.pk, None))
        if user == "admin":
            add(user, f"'more' of {first_stage.name}, owner = rep: page 2", pboard, {"owner": rep}, htmx=True,
                more=(first_stage.pk, 1))
        add(user, "list", listing)
        add(user, "list, open", listing, {"status": "open"})
        if user != "rep":
            add(user, "list, owner = rep", listing, {"owner": rep})
            add(user, "list, team = 上海组", listing, {"team": shanghai})
        add(user, "list, expected close this month", listing, month)
        add(user, "list, open, sorted by amount (largest first)", listing, {"status": "open", "sort": "-amount"})
        add(user, "list, sorted by expected close", listing, {"sort": "expected_close"})
        add(user, "list, page 10", listing, {"page": 10})
    return cases


def more_url(client, case, deep: int) -> tuple[str, int]:
    """Click the column's "more" button ``clicks`` times (or ``deep``); the URL of the last page's request."""
    stage_pk, clicks = case["more"]
    clicks = clicks or deep
    query = f"?{urlencode(case['params'])}" if case["params"] else ""
    page = client.get(case["path"] + query).content.decode()
    pattern = re.compile(rf'id="column-more-{stage_pk}".*?hx-get="([^"]+)"', re.S)
    url = html.unescape(pattern.search(page).group(1))
    for click in range(1, clicks):
        page = client.get(url, headers={"HX-Request": "true"}).content.decode()
        found = pattern.search(page)
        if found is None:  # the column ends sooner
            return url, click + 1
        url = html.unescape(found.group(1))
    return url, clicks + 1


def percentile(values, pct):
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run_cases(args, cases) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tests.signin import pass_second_step

    clients = {}
    for username in USERS:
        clients[username] = Client()
        clients[username].force_login(get_user_model().objects.get(username=username))
        pass_second_step(clients[username], get_user_model().objects.get(username=username))
    rows = []
    for case in cases:
        if args.only and args.only not in case["case"]:
            continue
        client = clients[case["user"]]
        if case["more"]:
            url, page_no = more_url(client, case, args.deep)
            case["case"] = case["case"].replace("{deep}", str(page_no))
        else:
            url = case["path"] + (f"?{urlencode(case['params'])}" if case["params"] else "")
        headers = {"HX-Request": "true", "HX-Current-URL": f"http://testserver{case['path']}"} if case["htmx"] else {}
        for _ in range(args.warmup):
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.status_code)
        sql_ms = []
        for _ in range(5):
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url, headers=headers)
            queries = list(captured.captured_queries)
            sql_ms.append(sum(float(q["time"]) * 1000 for q in queries))
        body = response.content.decode()
        shown = len(CARD.findall(body)) if "/board/" in url else len(set(ROW.findall(body)))
        rows.append({**case, "url": url, "headers": headers, "queries": len(queries), "shown": shown,
                     "sql_ms": statistics.median(sql_ms), "slowest_sql": max(float(q["time"]) * 1000 for q in queries),
                     "bytes": len(response.content), "timings": []})
        if args.explain:
            explain(queries)
    load_before = os.getloadavg()
    for _ in range(args.requests):
        for row in rows:
            client = clients[row["user"]]
            started = time.perf_counter()
            client.get(row["url"], headers=row["headers"])
            row["timings"].append((time.perf_counter() - started) * 1000)
    load_after = os.getloadavg()
    for row in rows:
        timings = row.pop("timings")
        row.update(p50=percentile(timings, 50), p95=percentile(timings, 95), max=max(timings))
        row["ok"] = row["p95"] < GOAL_MS
        print(f"{'ok ' if row['ok'] else 'MISS'} {row['case']:<58} {row['kind']:<5} p50 {row['p50']:6.1f}  "
              f"p95 {row['p95']:6.1f}  max {row['max']:6.1f} ms  SQL {row['sql_ms']:5.1f} ms "
              f"(slowest {row['slowest_sql']:5.1f})  {row['queries']:2d} queries  {row['shown']:3d} shown", flush=True)
    args.load = (load_before[0], load_after[0])
    print(f"load average (1 min) before timing {load_before[0]:.2f}, after {load_after[0]:.2f}")
    return rows


def explain(queries) -> None:
    from django.db import connection

    for query in queries:
        sql = query["sql"]
        if "sales_opportunity" not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue
        print("\n" + "-" * 100 + f"\n{float(query['time']) * 1000:.1f} ms: {sql}\n")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            print("\n".join(r[0] for r in cursor.fetchall()))


# -------------------------------------------------------------------------------------------- report


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0].split()[0]
    return (f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}; PostgreSQL {pg} on the same machine")


def write_results(args, facts, rows, fill_timings, command) -> None:
    misses = [r for r in rows if not r["ok"]]
    stages = ", ".join(f"{name} {n:,}" for name, n in facts["per_stage"])
    lines = [
        SECTION_START,
        "## Kanban board and opportunity list",
        "",
        "Figures from `bench/kanban.py` (see bench/README.md): the pipeline board (`sales:board`, "
        "`sales:pipeline_board`), a column's \"more\" button (`sales:board_column`) and the opportunity list "
        "(`sales:opportunity_list`) at 100,000 open opportunities, for an admin, a sales manager and a sales rep, "
        "through django.test.Client (middleware, session, the policy's scope, the FilterSet, column totals and "
        "cards in SQL, templates), warm cache.",
        "",
        f"- Date: {now_utc()}; machine: {machine()}",
        f"- Command: `{command}`",
        f"- Data: {facts['opportunities']:,} opportunities, {facts['open']:,} of them open ({stages}), the rest won "
        f"or lost over two years; {facts['owners']} owners; {facts['customers']:,} customers "
        f"({facts['pool']:,} in the public pool). Open opportunities each user may see: admin "
        f"{facts['admin_sees_open']:,}, manager (华东销售部) {facts['manager_sees_open']:,}, rep "
        f"{facts['rep_sees_open']:,}."
        + (f" Filled in {fill_timings['customers_s'] + fill_timings['opportunities_s']:.0f} s." if fill_timings
           else ""),
        f"- The board shows 20 cards per column (\"more\" appends the next 20 after the last card, a cursor, not "
        f"an offset); won and lost columns the last 90 days unless asked. `htmx` rows time the partial the filter "
        f"panel or the \"more\" button requests. Per case: {args.warmup} warm-up requests, then {args.requests} "
        f"timed requests, the cases taken round-robin. Load average (1 min) before / after the timing: "
        f"{args.load[0]:.2f} / {args.load[1]:.2f}.",
        "- SQL ms: all the request's queries (median of 5 captured requests); slowest: its slowest query.",
    ]
    if args.note:
        lines.append(f"- {args.note}")
    lines += [
        "",
        "| case | request | goal p95 | p50 ms | p95 ms | max ms | SQL ms | slowest SQL ms | queries | shown | |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['case']} | {r['kind']} | < {GOAL_MS} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | "
                     f"{r['sql_ms']:.1f} | {r['slowest_sql']:.1f} | {r['queries']} | {r['shown']} | "
                     f"{'ok' if r['ok'] else '**miss**'} |")
    lines += ["", f"{len(rows) - len(misses)} of {len(rows)} cases meet the goal"
              + (f"; missed: {', '.join(r['case'] for r in misses)}." if misses else "."), SECTION_END]
    section = "\n".join(lines)
    text = RESULTS.read_text()
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        text = head + section + rest.split(SECTION_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def main(argv=None):
    args = parse_args(argv)
    command = ("python bench/kanban.py " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    OUT.mkdir(parents=True, exist_ok=True)
    env = django_env(args)
    prepare_database(args, env)
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    fill_timings = fill(args)
    facts = dataset_facts()
    print(f"data: {facts}")
    users = {u: get_user_model().objects.get(username=u) for u in ("admin", "manager", "rep", "rep2")}
    rows = run_cases(args, build_cases(users))
    if args.write:
        write_results(args, facts, rows, fill_timings, command)
    misses = [r["case"] for r in rows if not r["ok"]]
    print(f"{len(rows) - len(misses)}/{len(rows)} cases meet their goal" + (f"; missed: {misses}" if misses else ""))


if __name__ == "__main__":
    main()
