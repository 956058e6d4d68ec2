#!/usr/bin/env python
"""Report pages and the home dashboard at 1,000,000 customers and 1,000,000 opportunities, for an admin, a sales
manager and a sales rep.

    python bench/reports.py                  # fill crm_bench_reports once, then time every report and "/"
    python bench/reports.py --write          # ... and record the figures in bench/RESULTS.md
    python bench/reports.py --only funnel --explain    # EXPLAIN (ANALYZE, BUFFERS) of the slowest queries

What it does:

1. Creates ``crm_bench_reports`` (``--db``) if missing — as a copy of ``--template`` (default ``crm_bench``, the
   1,000,000-customer database of bench/customer_list.py) when that exists and nobody is connected to it, else empty
   and filled with customer_list.py's own ``fill`` — and migrates it.
2. Fills it once, in SQL (INSERT … SELECT over generate_series, audit triggers skipped): ``--opportunities``
   opportunities of the default pipeline on random customers (owner: the customer's, a random rep for pool
   customers; team: the owner's), created over the last two years; 35 % open over the four open stages
   (40/27/20/13 %), 30 % won, 35 % lost after reaching a random open stage; closed between creation and now; expected
   close ±12 months around today for open deals, near the close for closed ones; each with its stage-history path
   (one row per stage it went through, left_at set). Then ``--orders`` orders (on won deals), ``--leads`` leads
   (every status, 20 % converted) and ``--interactions`` interactions plus ``--followups`` follow-ups (half done),
   all over two years; 53 campaigns (one a fortnight, most with a cost) given a third of the leads of their
   fortnight. A sales manager ``bench_mgr_sh`` of 上海组 (a third of the reps) is added. VACUUM ANALYZE.
3. Logs in as ``admin``, ``bench_mgr_sh`` and ``rep`` (上海组) through django.test.Client and GETs every report of
   reports.registry.all_reports() the user may open and the home dashboard ``/``, with the default filters and with
   ``period=last_12_months``: ``--warmup`` untimed requests, then ``--requests`` timed rounds (round-robin over the
   cases). p50 / p95 / max of the wall time, the query count, SQL time (CaptureQueriesContext) and the slowest query;
   goal p95 < 500 ms. With ``--explain``, EXPLAIN (ANALYZE, BUFFERS) of each case's queries slower than 20 ms.
"""

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SECTION_START, SECTION_END = "<!-- reports:start -->", "<!-- reports:end -->"
GOAL_MS = 500
MANAGER = "bench_mgr_sh"
USERS = ("admin", MANAGER, "rep")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://crm:crm@127.0.0.1:54329"))
    parser.add_argument("--db", default="crm_bench_reports")
    parser.add_argument("--template", default="crm_bench", help="copy this database's customers if it exists")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--leads", type=int, default=300_000)
    parser.add_argument("--interactions", type=int, default=500_000)
    parser.add_argument("--followups", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--slow-ms", type=float, default=5000,
                        help="a case whose captured request took longer is timed only --slow-requests times")
    parser.add_argument("--slow-requests", type=int, default=1)
    parser.add_argument("--only", default="")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--note", default="")
    parser.add_argument("--write", action="store_true")
    return parser.parse_args(argv)


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def django_env(args) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"{args.pg}/{args.db}"
    env["DJANGO_SETTINGS_MODULE"] = "crm.settings.dev"
    env["DJANGO_DEBUG"] = "false"
    env["DJANGO_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    env.setdefault("REDIS_URL", "redis://127.0.0.1:63799/10")
    env["CRM_MEDIA_ROOT"] = str(OUT / "media")
    return env


def prepare_database(args, env) -> None:
    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.db]).fetchone() is None:
            template = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.template]).fetchone()
            busy = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                [args.template]).fetchone()[0]
            if template and not busy:
                conn.execute(f'CREATE DATABASE "{args.db}" TEMPLATE "{args.template}"')
                print(f"created database {args.db} as a copy of {args.template}")
            else:
                conn.execute(f'CREATE DATABASE "{args.db}"')
                print(f"created database {args.db}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)


# ---------------------------------------------------------------------------------------------- data


def _sql(cursor, label, sql, params=None):
    started = time.monotonic()
    cursor.execute(sql, params)
    print(f"  {label}: {cursor.rowcount:,} rows, {time.monotonic() - started:.0f} s", flush=True)


def ensure_manager():
    from django.contrib.auth import get_user_model

    from crm.accounts.models import Team
    from crm.accounts.roles import SALES_MANAGER
    from crm.accounts.services import user_create
    from customers import demo

    user = get_user_model().objects.filter(username=MANAGER).first()
    return user or user_create(username=MANAGER, password=demo.DEMO_PASSWORD, role=SALES_MANAGER,
                               team=Team.objects.get(name="上海组"), last_name="经理", first_name="上海")


def fill(args) -> dict:
    from django.db import connection, transaction

    from customers import demo
    from customers.models import Customer
    from sales.pipeline_services import default_pipeline

    timings = {}
    if Customer.objects.count() < args.customers:
        import customer_list

        started = time.monotonic()
        customer_list.fill(argparse.Namespace(customers=args.customers, reps=96, pool_share=0.15))
        timings["customers_s"] = time.monotonic() - started
    demo.ensure_organisation()
    ensure_manager()
    pipeline = default_pipeline()
    ordered = list(pipeline.stages.order_by("position", "pk"))
    stages = {s.kind if s.kind != "open" else f"open{i}": s.pk for i, s in enumerate(ordered)}
    positions = {s.kind if s.kind != "open" else f"open{i}": s.position for i, s in enumerate(ordered)}
    opens = [stages[k] for k in sorted(k for k in stages if k.startswith("open"))]
    open_positions = [positions[k] for k in sorted(k for k in stages if k.startswith("open"))]
    assert len(opens) == 4, stages
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sales_opportunity")
        have = cursor.fetchone()[0]
    if have < args.opportunities:
        assert have == 0, f"{args.db} holds {have:,} opportunities: drop it and run again"
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            demo._skip_audit_triggers(cursor)
            cursor.execute("SELECT max(id) FROM customers_customer")
            max_customer = cursor.fetchone()[0]
            _sql(cursor, "plan", f"""
                CREATE TEMP TABLE bench_opp ON COMMIT DROP AS
                SELECT s.id, c.id AS customer_id, left(c.name, 20) AS cname,
                       COALESCE(c.owner_id, s.pool_owner) AS owner_id, s.t0, s.final, s.n,
                       CASE WHEN s.final = 'open' THEN now() ELSE s.t0 + (now() - s.t0) * (0.1 + 0.9 * s.rx) END AS t1
                FROM (SELECT g AS id, 1 + floor(random() * {max_customer})::bigint AS cid,
                             r.ids[1 + floor(random() * cardinality(r.ids))::int] AS pool_owner,
                             now() - random() * interval '730 days' AS t0, random() AS rx,
                             CASE WHEN k < 0.35 THEN 'open' WHEN k < 0.65 THEN 'won' ELSE 'lost' END AS final,
                             CASE WHEN k < 0.35 THEN (CASE WHEN k < 0.14 THEN 1 WHEN k < 0.2345 THEN 2
                                                          WHEN k < 0.3045 THEN 3 ELSE 4 END)
                                  WHEN k < 0.65 THEN 4 ELSE 1 + floor(random() * 4)::int END AS n
                      FROM (SELECT g, random() AS k FROM generate_series(1, %s) g) gk,
                           (SELECT array_agg(DISTINCT owner_id) AS ids FROM customers_customer
                            WHERE owner_id IS NOT NULL AND id < 5000) r) s
                JOIN customers_customer c ON c.id = s.cid""", [args.opportunities])
            _sql(cursor, "opportunities", """
                INSERT INTO sales_opportunity (id, customer_id, name, pipeline_id, stage_id, amount, currency,
                    expected_close, owner_id, team_id, next_step, lost_reason, stage_entered_at, closed_at,
                    created_at, updated_at, furthest_position)
                SELECT o.id, o.customer_id, o.cname || '·' || (ARRAY['年度订阅','系统升级','新增席位','实施项目',
                       '续约','培训采购'])[1 + (o.id %% 6)], %s,
                       CASE o.final WHEN 'won' THEN %s WHEN 'lost' THEN %s ELSE (%s::bigint[])[o.n] END,
                       (5 + floor(random() * 1995)) * 1000, CASE WHEN random() < 0.02 THEN 'USD' ELSE 'CNY' END,
                       CASE WHEN o.final = 'open' THEN current_date + floor(random() * 731)::int - 365
                            ELSE (o.t1 + random() * interval '30 days' - interval '15 days')::date END,
                       o.owner_id, u.team_id, '', CASE WHEN o.final = 'lost' THEN '价格超出预算' ELSE '' END,
                       CASE WHEN o.final = 'open' THEN o.t0 + (o.t1 - o.t0) * (o.n - 1) / o.n ELSE o.t1 END,
                       CASE WHEN o.final = 'open' THEN NULL ELSE o.t1 END, o.t0,
                       CASE WHEN o.final = 'open' THEN o.t1 - random() * (o.t1 - o.t0) ELSE o.t1 END,
                       CASE o.final WHEN 'won' THEN %s ELSE (%s::int[])[o.n] END
                FROM bench_opp o JOIN accounts_user u ON u.id = o.owner_id""",
                 [pipeline.pk, stages["won"], stages["lost"], opens, positions["won"], open_positions])
            _sql(cursor, "stage history (open stages)", """
                INSERT INTO sales_stagehistory (opportunity_id, stage_id, entered_at, left_at, moved_by_id)
                SELECT o.id, (%s::bigint[])[j], o.t0 + (o.t1 - o.t0) * (j - 1) / o.n,
                       CASE WHEN j < o.n OR o.final <> 'open' THEN o.t0 + (o.t1 - o.t0) * j / o.n END, o.owner_id
                FROM bench_opp o, generate_series(1, o.n) j""", [opens])
            _sql(cursor, "stage history (won, lost)", """
                INSERT INTO sales_stagehistory (opportunity_id, stage_id, entered_at, left_at, moved_by_id)
                SELECT o.id, CASE o.final WHEN 'won' THEN %s ELSE %s END, o.t1, NULL, o.owner_id
                FROM bench_opp o WHERE o.final <> 'open'""", [stages["won"], stages["lost"]])
            cursor.execute("SELECT setval(pg_get_serial_sequence('sales_opportunity', 'id'), "
                           "(SELECT max(id) FROM sales_opportunity))")
        timings["opportunities_s"] = time.monotonic() - started
    fill_extras(args, timings)
    with connection.cursor() as cursor:
        started = time.monotonic()
        cursor.execute("VACUUM ANALYZE")
        print(f"  VACUUM ANALYZE {time.monotonic() - started:.0f} s")
    return timings


def fill_extras(args, timings) -> None:
    from django.db import connection, transaction

    from customers import demo

    def count(table):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")
            return cursor.fetchone()[0]

    if args.orders and count("sales_order") == 0:
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            demo._skip_audit_triggers(cursor)
            _sql(cursor, "orders", """
                INSERT INTO sales_order (number, ordered_on, status, currency, total, created_at, customer_id,
                                         opportunity_id, owner_id)
                SELECT 'BO' || lpad(o.id::text, 9, '0'), (o.closed_at + interval '2 days')::date,
                       (ARRAY['confirmed','delivered','delivered','cancelled'])[1 + (o.id %% 4)], o.currency,
                       o.amount, o.closed_at + interval '2 days', o.customer_id, o.id, o.owner_id
                FROM sales_opportunity o JOIN sales_stage s ON s.id = o.stage_id AND s.kind = 'won'
                ORDER BY o.id LIMIT %s""", [args.orders])
        timings["orders_s"] = time.monotonic() - started
    if args.leads and count("sales_lead") == 0:
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            demo._skip_audit_triggers(cursor)
            cursor.execute("SELECT max(id) FROM customers_customer")
            max_customer = cursor.fetchone()[0]
            _sql(cursor, "leads", f"""
                INSERT INTO sales_lead (name, company, title, mobile, phone, email, province, city, source, industry,
                    campaign, message, custom, status, assigned_at, touched_at, created_at, updated_at, converted_at,
                    disqualified_reason, owner_id, team_id, customer_id, opportunity_id, routed_at)
                SELECT '线索' || g, '公司' || (g %% 50000), '', '1' || lpad((3000000000 + g)::text, 10, '0'), '', '',
                       (ARRAY['上海市','浙江省','广东省','北京市','四川省'])[1 + g %% 5], '',
                       (ARRAY['website','referral','exhibition','ads','other'])[1 + g %% 5], '', '', '', '{{}}',
                       st, CASE WHEN st <> 'new' THEN t + interval '1 hour' END,
                       CASE WHEN st NOT IN ('new','assigned') THEN t + interval '1 day' END, t, t,
                       CASE WHEN st = 'converted' THEN t + random() * interval '60 days' END,
                       CASE WHEN st = 'disqualified' THEN '无需求' ELSE '' END,
                       CASE WHEN st <> 'new' THEN c.owner_id END, CASE WHEN st <> 'new' THEN u.team_id END,
                       CASE WHEN st = 'converted' THEN c.id END, NULL,
                       CASE WHEN st <> 'new' THEN t + interval '1 hour' END
                FROM (SELECT g, now() - random() * interval '730 days' AS t,
                             1 + floor(random() * {max_customer})::bigint AS cid,
                             (ARRAY['new','assigned','contacted','qualified','converted','converted',
                                    'disqualified','disqualified','contacted','assigned'])
                   [1 + floor(random() * 10)::int] AS st
                      FROM generate_series(1, %s) g) s
                JOIN customers_customer c ON c.id = s.cid LEFT JOIN accounts_user u ON u.id = c.owner_id""",
                 [args.leads])
        timings["leads_s"] = time.monotonic() - started
    if count("marketing_campaign") == 0 and count("sales_lead"):
        # Campaigns for the acquisition cost report: one a fortnight over the two years, each given the leads
        # created in its fortnight by one in three (the report reads campaigns started in the period).
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            demo._skip_audit_triggers(cursor)
            cursor.execute("SELECT min(id) FROM accounts_user WHERE is_superuser")
            owner = cursor.fetchone()[0]
            _sql(cursor, "campaigns", """
                INSERT INTO marketing_campaign (name, code, channel, status, start_date, end_date, budget, actual_cost,
                                                owner_id, notes, created_at, updated_at)
                SELECT '活动' || g, 'bench-' || g,
                       (ARRAY['exhibition','event','webinar','search_ads','social','email'])[1 + g %% 6], 'completed',
                       (now() - (g * 14) * interval '1 day')::date, (now() - (g * 14 - 13) * interval '1 day')::date,
                       20000 + g * 100, CASE WHEN g %% 10 = 0 THEN NULL ELSE 10000 + (g * 137) %% 50000 END,
                       %s, '', now(), now()
                FROM generate_series(1, 53) g""", [owner])
            _sql(cursor, "campaign leads", """
                UPDATE sales_lead l SET marketing_campaign_id = c.id
                FROM marketing_campaign c
                WHERE l.id %% 3 = 0 AND l.created_at::date BETWEEN c.start_date AND c.end_date""", [])
        timings["campaigns_s"] = time.monotonic() - started
    if args.interactions and count("interactions_interaction") == 0:
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            demo._skip_audit_triggers(cursor)
            cursor.execute("SELECT max(id) FROM customers_customer")
            max_customer = cursor.fetchone()[0]
            cursor.execute("SELECT array_agg(DISTINCT owner_id) FROM customers_customer WHERE owner_id IS NOT NULL "
                           "AND id < 5000")
            reps = cursor.fetchone()[0]
            _sql(cursor, "interactions", f"""
                INSERT INTO interactions_interaction (channel, direction, occurred_at, subject, body, created_at,
                                                      author_id, customer_id)
                SELECT (ARRAY['call','email','meeting','visit','wechat','sms','note'])[1 + g %% 7],
                       CASE WHEN g %% 7 = 6 THEN '' ELSE 'out' END, t, '跟进', '', t,
                       COALESCE(c.owner_id, (%s::bigint[])[1 + g %% {len(reps)}]), c.id
                FROM (SELECT g, now() - random() * interval '730 days' AS t,
                             1 + floor(random() * {max_customer})::bigint AS cid FROM generate_series(1, %s) g) s
                JOIN customers_customer c ON c.id = s.cid""", [reps, args.interactions])
            _sql(cursor, "follow-ups", f"""
                INSERT INTO interactions_followup (title, notes, due_at, priority, status, completed_at, created_at,
                                                   updated_at, assignee_id, created_by_id, customer_id)
                SELECT '回访', '', t + interval '3 days', 'normal', CASE WHEN g %% 2 = 0 THEN 'done' ELSE 'open' END,
                       CASE WHEN g %% 2 = 0 THEN t + interval '2 days' END, t, t,
                       COALESCE(c.owner_id, (%s::bigint[])[1 + g %% {len(reps)}]),
                       COALESCE(c.owner_id, (%s::bigint[])[1 + g %% {len(reps)}]), c.id
                FROM (SELECT g, now() - random() * interval '730 days' AS t,
                             1 + floor(random() * {max_customer})::bigint AS cid FROM generate_series(1, %s) g) s
                JOIN customers_customer c ON c.id = s.cid""", [reps, reps, args.followups])
        timings["interactions_s"] = time.monotonic() - started


def dataset_facts() -> dict:
    from django.db import connection

    facts = {}
    with connection.cursor() as cursor:
        for table in ("customers_customer", "sales_opportunity", "sales_stagehistory", "sales_order", "sales_lead",
                      "interactions_interaction", "interactions_followup"):
            cursor.execute(f"SELECT count(*) FROM {table}")
            facts[table] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM sales_opportunity WHERE closed_at IS NULL")
        facts["open"] = cursor.fetchone()[0]
        cursor.execute("SELECT count(DISTINCT owner_id) FROM sales_opportunity")
        facts["owners"] = cursor.fetchone()[0]
    from django.contrib.auth import get_user_model

    from sales import permissions as policy

    for username in USERS:
        user = get_user_model().objects.get(username=username)
        facts[f"{username}_sees"] = policy.opportunities_for(user).count()
    return facts


# --------------------------------------------------------------------------------------------- cases


def build_cases() -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    from reports import registry

    cases = []
    for username in USERS:
        user = get_user_model().objects.get(username=username)
        pages = [("home dashboard", "/", False)]
        for report in registry.all_reports():
            if report.allowed(user):
                url = reverse("reports:report", args=[report.key]) if _has_route() else f"/reports/{report.key}/"
                pages.append((f"report {report.key}", url, "period" in report.filters))
        for name, url, periodic in pages:
            cases.append({"user": username, "case": f"{username}: {name}", "url": url, "filters": "default"})
            if periodic:
                cases.append({"user": username, "case": f"{username}: {name}, last 12 months",
                              "url": url + "?period=last_12_months", "filters": "last_12_months"})
    return cases


def _has_route() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("reports:report", args=["x"])
        return True
    except NoReverseMatch:
        return False


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
        status = None
        started = time.perf_counter()
        for warm in range(args.warmup):  # noqa: B007 - counted below
            response = client.get(case["url"])
            status = response.status_code
            if (time.perf_counter() - started) * 1000 > args.slow_ms:
                break  # a slow case: one warm-up is enough
        first_ms = (time.perf_counter() - started) * 1000 / (warm + 1)
        if status != 200:
            print(f"SKIP {case['case']}: HTTP {status}", flush=True)
            continue
        with CaptureQueriesContext(connection) as captured:
            response = client.get(case["url"])
        queries = list(captured.captured_queries)
        slowest = max(queries, key=lambda q: float(q["time"])) if queries else {"time": 0, "sql": ""}
        rows.append({**case, "queries": len(queries), "sql_ms": sum(float(q["time"]) * 1000 for q in queries),
                     "slowest_sql": float(slowest["time"]) * 1000, "slowest_text": slowest["sql"], "timings": [],
                     "captured": queries, "slow": first_ms > args.slow_ms})
        print(f"  ready {case['case']}: {len(queries)} queries, SQL {rows[-1]['sql_ms']:.0f} ms", flush=True)
    load_before = os.getloadavg()
    for round_no in range(args.requests):
        for row in rows:
            if row["slow"] and round_no >= args.slow_requests:
                continue
            started = time.perf_counter()
            clients[row["user"]].get(row["url"])
            row["timings"].append((time.perf_counter() - started) * 1000)
    load_after = os.getloadavg()
    for row in rows:
        timings = row.pop("timings")
        row.update(p50=percentile(timings, 50), p95=percentile(timings, 95), max=max(timings), timed=len(timings))
        row["ok"] = row["p95"] < GOAL_MS
        print(f"{'ok ' if row['ok'] else 'MISS'} {row['case']:<58} p50 {row['p50']:7.1f}  p95 {row['p95']:7.1f}  "
              f"max {row['max']:7.1f} ms  SQL {row['sql_ms']:6.1f} ms (slowest {row['slowest_sql']:6.1f})  "
              f"{row['queries']:3d} queries  ({row['timed']} timed)", flush=True)
    args.load = (load_before[0], load_after[0])
    print(f"load average (1 min) before timing {load_before[0]:.2f}, after {load_after[0]:.2f}")
    if args.explain:
        for row in rows:
            explain(row)
    return rows


def explain(row) -> None:
    from django.db import connection

    print("\n" + "=" * 100 + f"\n{row['case']}  ({row['url']})")
    for query in sorted(row["captured"], key=lambda q: -float(q["time"])):
        if float(query["time"]) * 1000 < 20 or not query["sql"].lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        print("\n" + "-" * 100 + f"\n{float(query['time']) * 1000:.1f} ms: {query['sql']}\n")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            print("\n".join(r[0] for r in cursor.fetchall()))


# -------------------------------------------------------------------------------------------- report


def machine() -> str:
    from kanban import machine as kanban_machine

    return kanban_machine()


def write_results(args, facts, rows, fill_timings, command) -> None:
    misses = [r for r in rows if not r["ok"]]
    lines = [
        SECTION_START,
        "## Reports and the home dashboard",
        "",
        "Figures from `bench/reports.py` (see bench/README.md): every registered report (`/reports/<key>/`, "
        "reports.registry.all_reports()) and the home dashboard (`/`) for an admin, a sales manager of 上海组 "
        "(a third of the reps) and a sales rep, through django.test.Client, warm cache.",
        "",
        f"- Date: {now_utc()}; machine: {machine()}",
        f"- Command: `{command}`",
        f"- Data: {facts['customers_customer']:,} customers; {facts['sales_opportunity']:,} opportunities "
        f"({facts['open']:,} open) created over two years, {facts['owners']} owners, "
        f"{facts['sales_stagehistory']:,} stage-history rows; {facts['sales_order']:,} orders, "
        f"{facts['sales_lead']:,} leads, {facts['interactions_interaction']:,} interactions, "
        f"{facts['interactions_followup']:,} follow-ups. Opportunities each user may see: admin "
        f"{facts['admin_sees']:,}, manager {facts[MANAGER + '_sees']:,}, rep {facts['rep_sees']:,}."
        + (" Filled in " + ", ".join(f"{k[:-2]} {v:.0f} s" for k, v in fill_timings.items()) + "."
           if fill_timings else ""),
        f"- Per case: {args.warmup} warm-up requests, then {args.requests} timed requests, the cases taken "
        f"round-robin; a case slower than {args.slow_ms / 1000:.0f} s a request has one warm-up and is timed "
        f"{args.slow_requests} time(s) only (column \"timed\"). Load average (1 min) before / after the timing: "
        f"{args.load[0]:.2f} / {args.load[1]:.2f}.",
        "- SQL ms: all the request's queries (one captured request); slowest: its slowest query.",
    ]
    if args.note:
        lines.append(f"- {args.note}")
    lines += ["",
              "| case | filters | goal p95 | p50 ms | p95 ms | max ms | timed | SQL ms | slowest SQL ms | queries | |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['filters']} | < {GOAL_MS} | {r['p50']:.1f} | {r['p95']:.1f} | "
                     f"{r['max']:.1f} | {r['timed']} | {r['sql_ms']:.1f} | {r['slowest_sql']:.1f} | {r['queries']} | "
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
    command = ("python bench/reports.py " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    OUT.mkdir(parents=True, exist_ok=True)
    env = django_env(args)
    prepare_database(args, env)
    os.environ.update(env)
    import django

    django.setup()
    fill_timings = fill(args)
    facts = dataset_facts()
    print(f"data: {facts}", flush=True)
    rows = run_cases(args, build_cases())
    if args.write:
        write_results(args, facts, rows, fill_timings, command)
    misses = [r["case"] for r in rows if not r["ok"]]
    print(f"{len(rows) - len(misses)}/{len(rows)} cases meet the goal" + (f"; missed: {misses}" if misses else ""))


if __name__ == "__main__":
    main()
