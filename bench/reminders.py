#!/usr/bin/env python
"""Reminders at volume: 100,000 open follow-ups whose reminders fall across one hour, played minute by minute
through a real Celery worker, measuring how late each reminder reaches its assignee's bell.

    python bench/reminders.py                      # fill crm_bench_reminders once, then play the hour
    python bench/reminders.py --write              # ... and record the figures in bench/RESULTS.md
    python bench/reminders.py --in-process         # the same ticks in this process, without Celery
    python bench/reminders.py --mail-worker        # also a mail worker, consuming the reminders' mail tasks

What it does:

1. Creates the database ``crm_bench_reminders`` (``--db``) if missing and migrates it, then fills it once:
   the demo organisation (customers.demo.ensure_organisation), ``--reps`` extra sales reps (half reading
   English, half Chinese; three in four wanting mail), ``--customers`` customers from seed_demo's COPY
   generator, ``--done`` follow-ups done in the past (so the table is not only the pending ones) and
   ``--followups`` open follow-ups on those customers, each assigned to its customer's owner, whose reminders
   fall uniformly at random across one hour starting at a whole minute T0 (and are due 15 min to 4 h later).
2. Before each run: no notification, no follow-up reminded or escalated, VACUUM ANALYZE.
3. Starts ``celery -A crm worker --pool solo`` on a queue of its own (``-I bench.reminders`` adds the tick
   task below), then plays the hour as beat would: at each whole minute T0+1 … T0+60 one task, whose only
   difference from ``interactions.tasks.scan_reminders`` is that the clock is given (``now=`` the tick's time,
   passed to the real ``reminders_send_due`` and ``followups_escalate_overdue``). Ticks follow one another
   as soon as the previous one is done: the hour plays in a minute or two, but each tick's real duration is
   counted in full.
4. While a tick runs, this process polls the notifications table every ``--poll`` seconds from its own
   connection and notes when each reminder became visible (committed). A reminder's lateness is
   (tick time − remind_at) + (real time from sending the tick's task to seeing its notification committed).
5. Reports p50 / p95 / p99 / max lateness, the share within 60 s, duplicates (a follow-up with more than one
   reminder notification), lost reminders (due by the last tick and never notified), and per tick the scan's
   time, the round trip through Celery and when the tick's first and last notifications were committed.

The reminders' mail tasks (one per batch of 1,000, sent on commit) go to Celery's default queue in the
benchmark's own Redis database: with ``--mail-worker`` a second worker consumes them (Django's dummy mail
backend: the database work of mailing, no SMTP) and their lateness is reported too; without it they are
counted and dropped, so that the reminder figures are the scan's alone.
"""

import argparse
import datetime
import json
import os
import platform
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from celery import shared_task

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
sys.path.insert(0, str(ROOT))

TICK_TASK = "bench.reminders.tick"
SECTION_START, SECTION_END = "<!-- reminders:start -->", "<!-- reminders:end -->"

if os.environ.get("BENCH_EMAIL_BACKEND"):  # the mail worker (--mail-worker): no SMTP server behind it
    from django.conf import settings as _settings

    _settings.EMAIL_BACKEND = os.environ["BENCH_EMAIL_BACKEND"]


# ------------------------------------------------------------------------------------ the tick itself


def run_tick(now_iso: str, batch: int | None = None) -> dict:
    """What interactions.tasks.scan_reminders does, at the given time."""
    from interactions import reminders

    now = datetime.datetime.fromisoformat(now_iso)
    extra = {"batch": batch} if batch else {}
    started = time.time()
    reminded = reminders.reminders_send_due(now=now, **extra)
    middle = time.time()
    escalated = reminders.followups_escalate_overdue(now=now, **extra)
    return {"tick": now_iso, "started": started, "remind_s": middle - started, "escalate_s": time.time() - middle,
            "reminded": reminded, "escalated": escalated, "finished": time.time()}


@shared_task(name=TICK_TASK, acks_late=True)
def tick(now_iso: str, report_key: str, batch: int | None = None) -> None:
    """Runs in the worker; reports to a Redis list the benchmark waits on (the CRM keeps no task results)."""
    import redis
    from django.conf import settings

    report = run_tick(now_iso, batch)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.rpush(report_key, json.dumps(report))
    finally:
        client.close()


# ------------------------------------------------------------------------------------------ set-up


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://crm:crm@127.0.0.1:54329"),
                        help="PostgreSQL server, without database name")
    parser.add_argument("--db", default="crm_bench_reminders")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:63799/5"),
                        help="Redis database of the benchmark's broker (its own: the default queue is drained)")
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--reps", type=int, default=16, help="extra sales reps besides the demo users")
    parser.add_argument("--followups", type=int, default=100_000, help="open follow-ups reminding within the hour")
    parser.add_argument("--done", type=int, default=50_000, help="follow-ups done in the past, for a lived-in table")
    parser.add_argument("--minutes", type=int, default=60, help="ticks to play (the reminders span 60 minutes)")
    parser.add_argument("--poll", type=float, default=0.01, help="seconds between looks at the notifications")
    parser.add_argument("--batch", type=int, default=0, help="what-if: another batch size than reminders.BATCH")
    parser.add_argument("--in-process", action="store_true", help="run the ticks in this process, without Celery")
    parser.add_argument("--mail-worker", action="store_true", help="also run a worker for the mail tasks")
    parser.add_argument("--write", action="store_true", help="record the figures in bench/RESULTS.md")
    parser.add_argument("--seed", type=int, default=44)
    return parser.parse_args(argv)


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def django_env(args) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"{args.pg}/{args.db}"
    env["DJANGO_SETTINGS_MODULE"] = "crm.settings.dev"
    env["DJANGO_DEBUG"] = "false"  # no query log in the worker's memory
    env["REDIS_URL"] = args.redis
    env["CRM_MEDIA_ROOT"] = str(OUT / "media")
    return env


def prepare_database(args, env) -> None:
    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.db]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{args.db}"')
            print(f"created database {args.db}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)


def fill(args) -> None:
    """Organisation, reps, customers and follow-ups, once (a filled database is kept)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from crm.accounts.models import Team
    from crm.accounts.roles import SALES_REP
    from crm.accounts.services import user_create
    from customers import demo
    from customers.models import Customer
    from interactions.models import FollowUp, FollowUpStatus, Priority

    User = get_user_model()
    users = demo.ensure_organisation()
    pending = FollowUp.objects.filter(status=FollowUpStatus.OPEN).count()
    if pending >= args.followups:
        print(f"{args.db} already holds {pending:,} open follow-ups: not generating")
        return
    started = time.monotonic()
    teams = [Team.objects.get(name=n) for n in ("上海组", "杭州组", "华南销售部")]
    reps = []
    for i in range(args.reps):
        username = f"bench_rem_{i:02d}"
        user = User.objects.filter(username=username).first() or user_create(
            username=username, password=demo.DEMO_PASSWORD, role=SALES_REP, team=teams[i % len(teams)],
            last_name="测", first_name=f"试{i}", email=f"{username}@demo.crm.local")
        user.language = "en" if i % 2 == 0 else ""
        user.notify_by_email = i % 4 != 0
        user.save(update_fields=["language", "notify_by_email"])
        reps.append(user)
    owners = [users["rep"], users["rep2"], users["rep3"], users["manager"], *reps]
    missing = args.customers - Customer.objects.count()
    if missing > 0:
        demo.create_customers(missing, owners=owners, seed=args.seed, audit=False)
    customers = list(Customer.objects.filter(owner__isnull=False).values_list("pk", "owner_id"))

    rng = random.Random(args.seed)
    now = timezone.now()
    t0 = (now + datetime.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    titles = ["回访确认报价", "发送合同草稿", "约见采购经理", "跟进付款进度", "电话确认需求", "寄送样品", "Call back"]

    def followup(i, status, remind_at, due_at, done_at=None):
        customer_id, owner_id = rng.choice(customers)
        return FollowUp(customer_id=customer_id, assignee_id=owner_id, created_by_id=owner_id, status=status,
                        title=f"{rng.choice(titles)} #{i}", due_at=due_at, remind_at=remind_at,
                        reminded_at=remind_at if status == FollowUpStatus.DONE else None, completed_at=done_at,
                        priority=rng.choice([Priority.NORMAL, Priority.NORMAL, Priority.HIGH]))

    rows = []
    for i in range(args.done):
        due = now - datetime.timedelta(days=rng.uniform(1, 700))
        rows.append(followup(i, FollowUpStatus.DONE, due - datetime.timedelta(hours=1), due,
                             due + datetime.timedelta(hours=rng.uniform(-2, 30))))
    for i in range(args.followups):
        remind = t0 + datetime.timedelta(seconds=rng.uniform(0.001, 3600))
        rows.append(followup(args.done + i, FollowUpStatus.OPEN, remind,
                             remind + datetime.timedelta(minutes=rng.randint(15, 240))))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # generated rows: no audit trail
        FollowUp.objects.bulk_create(rows, batch_size=5_000)
    print(f"filled {len(rows):,} follow-ups ({args.followups:,} open, reminding from {t0:%Y-%m-%d %H:%M %Z} "
          f"for an hour) in {time.monotonic() - started:.0f} s")


def reset() -> None:
    """Every run starts from the same state: nothing reminded, escalated or notified yet."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("TRUNCATE notifications_notification")
        cursor.execute("UPDATE interactions_followup SET reminded_at = NULL, escalated_at = NULL "
                       "WHERE status = 'open' AND (reminded_at IS NOT NULL OR escalated_at IS NOT NULL)")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE interactions_followup")
        cursor.execute("VACUUM ANALYZE notifications_notification")


def dataset_facts() -> dict:
    from django.db.models import Count, Min

    from customers.models import Customer
    from interactions.models import FollowUp

    pending = FollowUp.objects.filter(status="open", remind_at__isnull=False)
    first = pending.aggregate(m=Min("remind_at"))["m"]
    return {
        "customers": Customer.objects.count(), "followups": FollowUp.objects.count(), "pending": pending.count(),
        "assignees": pending.values("assignee").distinct().count(),
        "t0": first.replace(second=0, microsecond=0),
        "mail_users": pending.filter(assignee__notify_by_email=True).aggregate(n=Count("pk"))["n"],
    }


def start_worker(env, queue: str, log: Path, extra_env=None) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "-Q", queue, "--pool", "solo", "-l", "info",
         "-I", "bench.reminders", "--without-mingle", "--without-gossip", "--without-heartbeat", "-n",
         f"{queue}@%h"],
        env=env | (extra_env or {}), cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"the worker did not start:\n{log.read_text()}"
        time.sleep(0.1)
    return process


def stop_worker(process) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


# ------------------------------------------------------------------------------------------- the hour


class Watcher:
    """This process's own connection to the database: when did each reminder notification become visible, and
    during which tick?"""

    def __init__(self, url):
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.last_id = 0
        self.tick = 0
        self.seen = {}  # follow-up id -> [(tick, observed monotonic time)], one per notification

    def poll(self) -> list[float]:
        rows = self.conn.execute(
            "SELECT id, dedupe_key FROM notifications_notification WHERE id > %s AND kind = 'reminder' ORDER BY id",
            [self.last_id]).fetchall()
        observed = time.monotonic()  # after the read: never earlier than the commit
        for _, key in rows:
            self.seen.setdefault(int(key.split(":")[1]), []).append((self.tick, observed))
        if rows:
            self.last_id = rows[-1][0]
        return [observed] * len(rows)


def play(args, facts) -> dict:
    import redis
    from django.db import connections

    from crm.celery import app
    from interactions.models import FollowUp

    t0 = facts["t0"]
    remind_at = dict(FollowUp.objects.filter(status="open", remind_at__isnull=False).values_list("pk", "remind_at"))
    watcher = Watcher(os.environ["DATABASE_URL"])
    broker = redis.Redis.from_url(args.redis)
    scan_queue, report_key = f"bench-reminders-{os.getpid()}", f"bench-reminders-report-{os.getpid()}"
    for key in (scan_queue, report_key, "celery"):
        broker.delete(key)
    workers = []
    env = dict(os.environ)
    if not args.in_process:
        workers.append(start_worker(env, scan_queue, OUT / "reminders-worker.log"))
        if args.mail_worker:
            workers.append(start_worker(env, "celery", OUT / "reminders-mail-worker.log",
                                        {"BENCH_EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}))

    def send(moment):
        if args.in_process:
            reports = []

            def run():
                try:
                    reports.append(run_tick(moment.isoformat(), args.batch or None))
                finally:
                    connections.close_all()

            thread = threading.Thread(target=run)
            thread.start()

            def result():
                if thread.is_alive():
                    return None
                assert reports, "the tick failed (see above)"
                return reports[0]

            return result
        app.send_task(TICK_TASK, args=[moment.isoformat(), report_key, args.batch or None], queue=scan_queue)

        deadline = time.monotonic() + 600

        def report():
            raw = broker.lpop(report_key)
            assert raw or time.monotonic() < deadline, f"no report from the worker in 10 min, see {OUT}"
            return json.loads(raw) if raw else None

        return report

    ticks = []
    load_before = os.getloadavg()
    try:
        # tick 0, at T0: nothing is due yet; it warms the worker (imports, connection) like any earlier minute
        wait = send(t0)
        while wait() is None:
            time.sleep(args.poll)
        wall_started = time.monotonic()
        for k in range(1, args.minutes + 1):
            moment = t0 + datetime.timedelta(minutes=k)
            watcher.tick = k
            sent_at, sent_wall = time.monotonic(), time.time()
            wait = send(moment)
            seen = []
            while (report := wait()) is None:
                seen += watcher.poll()
                time.sleep(args.poll)
            seen += watcher.poll()  # its last batch committed before it reported
            done_at = time.monotonic()
            ticks.append({
                "k": k, "moment": moment, "sent_at": sent_at, "sent_wall": sent_wall, "done_at": done_at,
                "round_trip_s": done_at - sent_at, "first_commit_s": (min(seen) - sent_at) if seen else None,
                "last_commit_s": (max(seen) - sent_at) if seen else None,
                **{key: report[key] for key in ("reminded", "escalated", "remind_s", "escalate_s")},
            })
            print(f"tick {k:2d} {moment:%H:%M} reminded {report['reminded']:5d} scan {report['remind_s']:.2f} s "
                  f"(+ escalation {report['escalate_s'] * 1000:.0f} ms), last commit seen after "
                  f"{ticks[-1]['last_commit_s'] or 0:.2f} s", flush=True)
        wall = time.monotonic() - wall_started
        mail = mail_figures(broker, ticks, watcher, remind_at) if args.mail_worker else {
            "queued": broker.llen("celery")}
    finally:
        for worker in workers:
            stop_worker(worker)
        for key in (scan_queue, report_key, "celery"):
            broker.delete(key)
        broker.close()
    load_after = os.getloadavg()
    return {"ticks": ticks, "watcher": watcher, "remind_at": remind_at, "wall_s": wall, "mail": mail,
            "load": (load_before[0], load_after[0])}


def mail_figures(broker, ticks, watcher, remind_at) -> dict:
    """With --mail-worker: wait for the mail worker to finish, then how late each reminder's mail went out."""
    from crm.notifications.models import Notification

    wanted = Notification.objects.filter(kind="reminder", user__notify_by_email=True, user__is_active=True)
    deadline = time.monotonic() + 1800
    while wanted.filter(emailed_at__isnull=True).exists() or broker.llen("celery"):
        assert time.monotonic() < deadline, "the mail worker did not finish within 30 minutes"
        time.sleep(0.5)
    by_k = {t["k"]: t for t in ticks}
    lateness = []
    for key, emailed_at in wanted.values_list("dedupe_key", "emailed_at"):
        pk = int(key.split(":")[1])
        tick_ = by_k[watcher.seen[pk][0][0]]
        lateness.append((tick_["moment"] - remind_at[pk]).total_seconds() + emailed_at.timestamp() - tick_["sent_wall"])
    return {"mailed": len(lateness), "lateness": summary(lateness)}


def percentile(values, pct):
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values) -> dict:
    if not values:
        return {}
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99),
            "max": max(values), "within_60": sum(v <= 60 for v in values) / len(values), "n": len(values)}


def evaluate(result) -> dict:
    """Lateness of every reminder, duplicates and losses, checked against the database's final state."""
    from django.db.models import Count

    from crm.notifications.models import Notification
    from interactions.models import FollowUp

    ticks, watcher, remind_at = result["ticks"], result["watcher"], result["remind_at"]
    last_tick = ticks[-1]["moment"]
    by_k = {t["k"]: t for t in ticks}
    lateness = []
    for pk, seen in watcher.seen.items():
        k, observed = seen[0]
        lateness.append((by_k[k]["moment"] - remind_at[pk]).total_seconds() + observed - by_k[k]["sent_at"])
    # the database's word, not the watcher's: notifications per follow-up, whatever their dedupe key
    per_followup = {}
    for key in Notification.objects.filter(kind="reminder").values_list("dedupe_key", flat=True):
        pk = int(key.split(":")[1])
        per_followup[pk] = per_followup.get(pk, 0) + 1
    due = {pk for pk, when in remind_at.items() if when <= last_tick}
    duplicates = sum(1 for n in per_followup.values() if n > 1)
    lost = len(due - set(per_followup))
    early = sum(1 for pk in per_followup if remind_at[pk] > last_tick)
    unmarked = FollowUp.objects.filter(pk__in=list(per_followup), reminded_at__isnull=True).count()
    same_title = (Notification.objects.filter(kind="reminder").values("user", "title").annotate(n=Count("pk"))
                  .filter(n__gt=1).count())
    return {
        "lateness": summary(lateness), "due": len(due), "notified": len(per_followup), "duplicates": duplicates,
        "lost": lost, "early": early, "unmarked": unmarked, "same_title_twice": same_title,
        "unseen_by_watcher": len(set(per_followup) - set(watcher.seen)),
        "scan_s": summary([t["remind_s"] + t["escalate_s"] for t in ticks]),
        "escalate_ms": summary([t["escalate_s"] * 1000 for t in ticks]),
        "round_trip_s": summary([t["round_trip_s"] for t in ticks]),
        "first_commit_s": summary([t["first_commit_s"] for t in ticks if t["first_commit_s"] is not None]),
        "last_commit_s": summary([t["last_commit_s"] for t in ticks if t["last_commit_s"] is not None]),
        "per_tick": summary([t["reminded"] for t in ticks]),
        "throughput": sum(t["reminded"] for t in ticks) / sum(t["remind_s"] for t in ticks),
    }


# ------------------------------------------------------------------------------------------- report


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
            f"{platform.python_version()}; PostgreSQL {pg} and Redis on the same machine")


def print_figures(figures, result) -> None:
    late = figures["lateness"]
    print(f"\n{figures['notified']:,} of {figures['due']:,} due reminders notified; lateness p50 {late['p50']:.1f} s, "
          f"p95 {late['p95']:.1f} s, p99 {late['p99']:.2f} s, max {late['max']:.2f} s; "
          f"{late['within_60'] * 100:.2f} % within 60 s")
    print(f"duplicates {figures['duplicates']}, lost {figures['lost']}, sent early {figures['early']}, "
          f"notified but not marked {figures['unmarked']}, unseen by the watcher {figures['unseen_by_watcher']}")
    scan, trip = figures["scan_s"], figures["round_trip_s"]
    print(f"scan per tick p50 {scan['p50']:.2f} s, max {scan['max']:.2f} s; round trip p50 {trip['p50']:.2f} s, "
          f"max {trip['max']:.2f} s; {figures['throughput']:,.0f} reminders/s; hour played in {result['wall_s']:.0f} s")
    mail = result["mail"]
    if "lateness" in mail:
        print(f"mail: {mail['mailed']:,} mailed, lateness p50 {mail['lateness']['p50']:.1f} s, "
              f"p99 {mail['lateness']['p99']:.1f} s, max {mail['lateness']['max']:.1f} s")
    else:
        print(f"mail: {mail['queued']} mail tasks queued (no mail worker), dropped")


def write_results(args, facts, figures, result, command) -> None:
    late, scan = figures["lateness"], figures["scan_s"]
    first, last, trip = figures["first_commit_s"], figures["last_commit_s"], figures["round_trip_s"]
    mode = ("in this process (no Celery): each tick in a thread of its own, with its own connection"
            if args.in_process else
            "through a real Celery worker process (`--pool solo`, a queue of its own, the real Redis broker)")
    ok = late["within_60"] >= 0.99 and figures["duplicates"] == 0 and figures["lost"] == 0
    mail = result["mail"]
    mail_line = (
        f"- Mail: a second worker consumed the mail tasks meanwhile (dummy backend: the database work of "
        f"mailing, no SMTP); {mail['mailed']:,} reminder mails went out with a lateness of p50 "
        f"{mail['lateness']['p50']:.1f} s, p99 {mail['lateness']['p99']:.1f} s, max {mail['lateness']['max']:.1f} s "
        f"(the hour plays in {result['wall_s']:.0f} s, so the mail of the whole hour queued up at once)."
        if "lateness" in mail else
        f"- Mail: no mail worker; the {mail['queued']} mail tasks the scans queued (one per committed batch) were "
        f"counted and dropped, so the figures are the scan's alone."
    )
    lines = [
        SECTION_START,
        "## Reminders",
        "",
        "Figures from `bench/reminders.py` (see bench/README.md): beat's once-a-minute scan over 100,000 pending "
        "reminders due across one hour, the clock the one thing mocked.",
        "",
        f"- Date: {now_utc()}; machine: {machine()}",
        f"- Command: `{command}`",
        f"- Data: {facts['customers']:,} customers, {facts['followups']:,} follow-ups, of which {facts['pending']:,} "
        f"open with a reminder uniformly between T0 and T0 + 60 min, over {facts['assignees']} assignees "
        f"({facts['mail_users']:,} of the reminders for users who want mail).",
        f"- Ticks: {args.minutes} scans at T0 + 1 … T0 + {args.minutes} min, {mode}, one after the other; batch "
        f"{args.batch or 'reminders.BATCH (1,000)'}. The hour played in {result['wall_s']:.0f} s of real time. "
        f"Load average (1 min) before / after: {result['load'][0]:.2f} / {result['load'][1]:.2f}.",
        f"- Lateness = (tick time − remind_at) + real time from sending the tick until the benchmark saw the "
        f"reminder committed (polling every {args.poll * 1000:.0f} ms on its own connection).",
        mail_line,
        "",
        "| measure | p50 | p95 | p99 | max | goal | |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| lateness of a reminder (s) | {late['p50']:.1f} | {late['p95']:.1f} | {late['p99']:.2f} | {late['max']:.2f} "
        f"| 99 % within 60 s: **{late['within_60'] * 100:.2f} %** | "
        f"{'ok' if late['within_60'] >= 0.99 else '**miss**'} |",
        f"| scan per tick, reminders + escalation (s) | {scan['p50']:.2f} | {scan['p95']:.2f} | {scan['p99']:.2f} | "
        f"{scan['max']:.2f} | | |",
        f"| tick sent → first batch committed (s) | {first['p50']:.2f} | {first['p95']:.2f} | {first['p99']:.2f} | "
        f"{first['max']:.2f} | | |",
        f"| tick sent → last batch committed (s) | {last['p50']:.2f} | {last['p95']:.2f} | {last['p99']:.2f} | "
        f"{last['max']:.2f} | | |",
        f"| tick sent → task done, seen by the benchmark (s) | {trip['p50']:.2f} | {trip['p95']:.2f} | "
        f"{trip['p99']:.2f} | {trip['max']:.2f} | | |",
        "",
        f"- Reminders per tick: p50 {figures['per_tick']['p50']:,.0f}, max {figures['per_tick']['max']:,.0f}; the "
        f"scan sends {figures['throughput']:,.0f} reminders a second.",
        f"- **Duplicates: {figures['duplicates']}** (follow-ups with more than one reminder notification; "
        f"{figures['same_title_twice']} users with the same reminder text twice). **Lost: {figures['lost']}** "
        f"(due by the last tick, never notified) of {figures['due']:,}; sent before their time: {figures['early']}; "
        f"notified but not marked reminded: {figures['unmarked']}. {'All goals met.' if ok else 'Goal missed.'}",
        SECTION_END,
    ]
    _write_section("\n".join(lines))


def _write_section(section: str) -> None:
    """Replace this benchmark's section of RESULTS.md, or append it at the end; the rest is left alone."""
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
    command = "python bench/reminders.py " + " ".join(sys.argv[1:] if argv is None else argv)
    OUT.mkdir(parents=True, exist_ok=True)
    env = django_env(args)
    prepare_database(args, env)
    os.environ.update(env)
    import django

    django.setup()
    fill(args)
    reset()
    facts = dataset_facts()
    print(f"data: {facts}")
    result = play(args, facts)
    figures = evaluate(result)
    print_figures(figures, result)
    if args.write:
        write_results(args, facts, figures, result, command.strip())


if __name__ == "__main__":
    main()
