#!/usr/bin/env python
"""The customer timeline of a long-standing customer: 5,000 interactions, follow-ups and changes, as the sales
rep who owns it opens the timeline tab and pages back through "Older entries".

    python bench/timeline.py                 # fill crm_bench_timeline once, then time the pages
    python bench/timeline.py --write         # ... and record the figures in bench/RESULTS.md

What it does:

1. Creates the database ``crm_bench_timeline`` (``--db``) if missing, migrates it and fills it once: the demo
   organisation (customers.demo.ensure_organisation), ``--customers`` other customers from seed_demo's COPY
   generator with ``--other-interactions`` interactions among them (so the interaction table and its indexes
   are not only this customer's), and the customer itself, owned by the demo rep ``rep``: created and changed
   ``--changes`` times through customers.services (so the audit trail holds real changes), 6 contacts,
   ``--interactions`` interactions over three years (calls, visits, WeChat, notes, mail with its MailMessage,
   some with a contact, some with attachments, by the rep, his colleague and his manager) and ``--followups``
   follow-ups (done, dropped and open).
2. Logs in as ``rep`` through django.test.Client and walks the whole timeline through the "Older entries"
   link of each page (the htmx request the link sends, ``part=entries``), checking that every entry comes
   exactly once. That walk (untimed) gives the URLs of the deep pages.
3. Times, round-robin, ``--requests`` requests per case after ``--warmup``: the customer page opened on its
   timeline tab (the full page), the tab as htmx loads it, page 2, a page ``--deep`` pages back and the last
   page (each the "Older entries" partial). p50 / p95 / max of the time from request to response in the
   process; queries and their SQL time from CaptureQueriesContext.
"""

import argparse
import datetime
import html
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
sys.path.insert(0, str(ROOT))

BENCH_USER = "rep"
CUSTOMER_NAME = "上海恒通贸易有限公司（时间线基准）"
SECTION_START, SECTION_END = "<!-- timeline:start -->", "<!-- timeline:end -->"
GOAL_MS = 150


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://crm:crm@127.0.0.1:54329"),
                        help="PostgreSQL server, without database name")
    parser.add_argument("--db", default="crm_bench_timeline")
    parser.add_argument("--customers", type=int, default=5_000, help="other customers")
    parser.add_argument("--other-interactions", type=int, default=200_000, help="interactions of other customers")
    parser.add_argument("--interactions", type=int, default=5_000, help="the benchmarked customer's interactions")
    parser.add_argument("--followups", type=int, default=150, help="the benchmarked customer's follow-ups")
    parser.add_argument("--changes", type=int, default=60, help="edits of the benchmarked customer")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--deep", type=int, default=100, help="the deep page: this many pages back")
    parser.add_argument("--write", action="store_true", help="record the figures in bench/RESULTS.md")
    parser.add_argument("--seed", type=int, default=45)
    return parser.parse_args(argv)


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def django_env(args) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"{args.pg}/{args.db}"
    env["DJANGO_SETTINGS_MODULE"] = "crm.settings.dev"
    env["DJANGO_DEBUG"] = "false"  # cached templates, no query log outside CaptureQueriesContext
    env["DJANGO_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    env.setdefault("REDIS_URL", "redis://127.0.0.1:63799/5")
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


def fill(args):
    """Everything once; returns the benchmarked customer."""
    import pghistory
    from django.db import connection, transaction
    from django.utils import timezone

    from customers import demo, services
    from customers.models import Contact, Customer
    from interactions.models import (
        Attachment,
        Channel,
        Direction,
        FollowUp,
        FollowUpStatus,
        Interaction,
        MailMessage,
        Priority,
    )

    users = demo.ensure_organisation()
    rep, rep2, manager = users["rep"], users["rep2"], users["manager"]
    customer = Customer.objects.filter(name=CUSTOMER_NAME).first()
    if customer is not None:
        print(f"{args.db} already holds the benchmarked customer: not generating")
        return customer
    started = time.monotonic()
    rng = random.Random(args.seed)
    now = timezone.now()
    owners = [rep, rep2, users["rep3"], manager]
    if Customer.objects.count() < args.customers:
        demo.create_customers(args.customers - Customer.objects.count(), owners=owners, seed=args.seed, audit=False)
    others = list(Customer.objects.values_list("pk", "owner_id"))
    subjects = ["电话沟通报价", "上门拜访", "微信确认需求", "发送产品资料", "讨论合同条款", "售后回访",
                "Follow-up call"]
    bodies = ["客户对报价有兴趣，希望下周再谈一次价格。", "采购经理不在，约了周四下午再打。",
              "已发送新版产品手册和案例，客户说会转给技术总监。", "客户反馈上批货的包装有破损，已登记并安排补发。"]
    channels = [Channel.CALL, Channel.CALL, Channel.CALL, Channel.VISIT, Channel.WECHAT, Channel.EMAIL, Channel.NOTE]

    def interaction(customer_id, author_id, when, contact_id=None, mail_id=None, channel=None):
        channel = channel or rng.choice(channels)
        return Interaction(customer_id=customer_id, author_id=author_id, occurred_at=when, channel=channel,
                           direction="" if channel == Channel.NOTE else rng.choice([Direction.OUTBOUND,
                                                                                    Direction.INBOUND]),
                           subject=rng.choice(subjects), body=rng.choice(bodies) * rng.randint(1, 3),
                           contact_id=contact_id, mail_id=mail_id)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # generated rows: no audit trail
        Interaction.objects.bulk_create(
            (interaction(pk, owner_id or rep.pk, now - datetime.timedelta(minutes=rng.randint(1, 3 * 525_600)))
             for pk, owner_id in (rng.choice(others) for _ in range(args.other_interactions))),
            batch_size=5_000)

    # the customer, changed through the services as people would (the audit trail records each change)
    with pghistory.context(user=rep.pk, url="/customers/new/"):
        customer = services.customer_create(actor=rep, data={
            "kind": "company", "name": CUSTOMER_NAME, "company": CUSTOMER_NAME, "mobile": "+8613900139000",
            "email": "buyer@hengtong.example.cn", "province": "上海市", "city": "上海市", "district": "浦东新区",
            "address": "世纪大道100号", "level": "A", "status": "new", "source": "referral",
            "industry": "manufacturing", "custom": {}})
        contacts = [services.contact_save(actor=rep, contact=Contact(
            customer=customer, name=name, title=title, mobile=f"+861380013800{i}", is_primary=i == 0))
            for i, (name, title) in enumerate([("王芳", "采购经理"), ("李雷", "技术总监"), ("张伟", "总经理"),
                                               ("陈静", "财务主管"), ("刘洋", "项目经理"), ("赵敏", "行政主管")])]
    for i in range(args.changes):
        with pghistory.context(user=rng.choice([rep.pk, manager.pk]), url=f"/customers/{customer.pk}/edit/"):
            services.customer_update(actor=rep, customer=customer, data={
                "level": rng.choice(["A", "B", "C"]), "notes": f"第{i + 1}次更新：{rng.choice(bodies)}",
                "address": f"世纪大道{rng.randint(1, 999)}号"})

    # its 5,000 interactions over three years, and its follow-ups
    authors = [rep.pk] * 6 + [rep2.pk, manager.pk]
    mails, rows = [], []
    for i in range(args.interactions):
        when = now - datetime.timedelta(minutes=rng.randint(1, 3 * 525_600))
        if rng.random() < 0.05:
            mails.append(MailMessage(message_id=f"<bench-{i}@hengtong.example.cn>", thread_key=f"<bench-{i}>",
                                     subject=rng.choice(subjects), sender="王芳 <buyer@hengtong.example.cn>",
                                     recipients="张伟 <rep@demo.crm.local>", sent_at=when, body=rng.choice(bodies),
                                     filed=True, addresses=["buyer@hengtong.example.cn"]))
            rows.append(("mail", when))
        else:
            rows.append((None, when))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        mails = iter(MailMessage.objects.bulk_create(mails))
        created = Interaction.objects.bulk_create(
            [interaction(customer.pk, rng.choice(authors), when,
                         contact_id=rng.choice(contacts).pk if rng.random() < 0.3 else None,
                         mail_id=next(mails).pk if kind == "mail" else None,
                         channel=Channel.EMAIL if kind == "mail" else None)
             for kind, when in rows], batch_size=5_000)
        Attachment.objects.bulk_create(
            Attachment(interaction=i, file=f"attachments/2026/01/报价单{i.pk}.pdf", name=f"报价单{i.pk}.pdf",
                       size=rng.randint(10_000, 3_000_000)) for i in created if rng.random() < 0.04)
        followups = []
        for i in range(args.followups):
            due = now + datetime.timedelta(days=rng.uniform(-1000, 30))
            status = (FollowUpStatus.OPEN if due > now - datetime.timedelta(days=7) else
                      rng.choice([FollowUpStatus.DONE] * 4 + [FollowUpStatus.CANCELLED]))
            followups.append(FollowUp(
                customer=customer, title=f"{rng.choice(subjects)}（第{i + 1}次）", assignee=rep, created_by=rep,
                due_at=due, remind_at=due - datetime.timedelta(hours=1), status=status,
                completed_at=due + datetime.timedelta(hours=rng.uniform(-5, 48)) if status == "done" else None,
                reminded_at=due - datetime.timedelta(hours=1) if due < now else None,
                priority=rng.choice([Priority.NORMAL, Priority.NORMAL, Priority.HIGH])))
        FollowUp.objects.bulk_create(followups)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"filled the customer with {args.interactions:,} interactions, {args.followups} follow-ups and "
          f"{args.changes} changes (and {args.other_interactions:,} interactions of {len(others):,} other customers) "
          f"in {time.monotonic() - started:.0f} s")
    return customer


def dataset_facts(customer) -> dict:
    from customers.history import customer_history
    from interactions.models import FollowUp, Interaction

    return {
        "interactions": customer.interactions.count(), "followups": customer.followups.count(),
        "open": customer.followups.filter(status="open").count(), "history": len(customer_history(customer)),
        "all_interactions": Interaction.objects.count(), "all_followups": FollowUp.objects.count(),
        "attachments": customer.interactions.filter(attachments__isnull=False).distinct().count(),
        "mail": customer.interactions.filter(mail__isnull=False).count(),
    }


# -------------------------------------------------------------------------------------------- timing


MORE = re.compile(r'<li[^>]*id="timeline-more".*?hx-get="([^"]+)"', re.S)
ENTRY = re.compile(r'<li class="list-group-item timeline-entry[^"]*" data-kind="(\w+)"(?: id="[a-z]+-(\d+)")?')


def walk(client, url) -> tuple[list[str], list]:
    """Follow "Older entries" from the first page to the end: the URL of each page, and every entry seen."""
    htmx = {"HX-Request": "true", "HX-Current-URL": f"http://testserver{url}"}
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    urls, entries, page = [url], [], response.content.decode()
    while True:
        entries += ENTRY.findall(page)
        found = MORE.search(page)
        if not found:
            return urls, entries
        urls.append(url.split("?")[0] + html.unescape(found.group(1)))
        response = client.get(urls[-1], headers=htmx)
        assert response.status_code == 200, (urls[-1], response.status_code)
        page = response.content.decode()


def percentile(values, pct):
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run_cases(args, customer) -> tuple[list[dict], dict]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tests.signin import pass_second_step

    client = Client()
    client.force_login(get_user_model().objects.get(username=BENCH_USER))
    pass_second_step(client, get_user_model().objects.get(username=BENCH_USER))
    first = f"/customers/{customer.pk}/?tab=timeline"
    started = time.monotonic()
    urls, entries = walk(client, first)
    walk_s = time.monotonic() - started
    deep = min(args.deep, len(urls)) - 1
    htmx = {"HX-Request": "true", "HX-Current-URL": f"http://testserver{first}"}
    cases = [
        ("first page: the customer page on its timeline tab", first, {}),
        ("first page: the timeline tab loaded by htmx", first, htmx),
        ("page 2 (older entries)", urls[1], htmx),
        (f"page {deep + 1} (older entries, {deep} clicks back)", urls[deep], htmx),
        (f"page {len(urls)}, the last (older entries)", urls[-1], htmx),
    ]
    rows = []
    for name, url, headers in cases:
        for _ in range(args.warmup):
            assert client.get(url, headers=headers).status_code == 200
        sql_ms = []
        for _ in range(5):
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url, headers=headers)
            queries = list(captured.captured_queries)
            sql_ms.append(sum(float(q["time"]) * 1000 for q in queries))
        rows.append({"case": name, "url": url, "headers": headers, "queries": len(queries),
                     "entries": len(ENTRY.findall(response.content.decode())), "sql_ms": statistics.median(sql_ms),
                     "bytes": len(response.content), "timings": []})
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
        print(f"{'ok ' if row['p95'] < GOAL_MS else 'MISS'} {row['case']:<55} p50 {row['p50']:6.1f}  "
              f"p95 {row['p95']:6.1f}  max {row['max']:6.1f} ms  SQL {row['sql_ms']:5.1f} ms  {row['queries']:2d} "
              f"queries  {row['entries']} entries", flush=True)
    kinds = {}
    for kind, _pk in entries:
        kinds[kind] = kinds.get(kind, 0) + 1
    keyed = [e for e in entries if e[1]]
    walk_facts = {"pages": len(urls), "entries": len(entries), "kinds": kinds, "walk_s": walk_s,
                  "repeated": len(keyed) - len(set(keyed)), "load": (load_before[0], load_after[0])}
    print(f"walk: {walk_facts}")
    return rows, walk_facts


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


def write_results(args, facts, rows, walk_facts, command) -> None:
    expected = facts["interactions"] + facts["followups"] + facts["history"]
    lines = [
        SECTION_START,
        "## Customer timeline",
        "",
        "Figures from `bench/timeline.py` (see bench/README.md): the timeline tab of a customer with 5,000 "
        "interactions, for the sales rep who owns it, through django.test.Client (middleware, session, "
        "permission queries, the three entry kinds' providers, the quick-log panel, templates), warm cache.",
        "",
        f"- Date: {now_utc()}; machine: {machine()}",
        f"- Command: `{command}`",
        f"- Data: the customer has {facts['interactions']:,} interactions over three years ({facts['mail']} filed "
        f"mails, {facts['attachments']} with attachments), {facts['followups']} follow-ups ({facts['open']} open) "
        f"and {facts['history']} changes in its audit trail; the tables hold {facts['all_interactions']:,} "
        f"interactions and {facts['all_followups']:,} follow-ups in all.",
        f"- Pages of 30 entries, newest first. Walking the whole timeline through \"Older entries\" took "
        f"{walk_facts['pages']} pages and showed {walk_facts['entries']:,} entries "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(walk_facts['kinds'].items()))}; expected {expected:,}), "
        f"{walk_facts['repeated']} shown twice.",
        f"- Per case: {args.warmup} warm-up requests, then {args.requests} timed requests, the cases taken "
        f"round-robin. Load average (1 min) before / after the timing: {walk_facts['load'][0]:.2f} / "
        f"{walk_facts['load'][1]:.2f}.",
        "",
        "| case | goal p95 | p50 ms | p95 ms | max ms | SQL ms | queries | entries | KB | |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['case']} | < {GOAL_MS} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | "
                     f"{r['sql_ms']:.1f} | {r['queries']} | {r['entries']} | {r['bytes'] / 1024:.0f} | "
                     f"{'ok' if r['p95'] < GOAL_MS else '**miss**'} |")
    lines.append(SECTION_END)
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
    command = ("python bench/timeline.py " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    OUT.mkdir(parents=True, exist_ok=True)
    env = django_env(args)
    prepare_database(args, env)
    os.environ.update(env)
    import django

    django.setup()
    customer = fill(args)
    facts = dataset_facts(customer)
    print(f"data: {facts}")
    rows, walk_facts = run_cases(args, customer)
    if args.write:
        write_results(args, facts, rows, walk_facts, command)
    misses = [r["case"] for r in rows if r["p95"] >= GOAL_MS]
    print(f"{len(rows) - len(misses)}/{len(rows)} cases meet their goal" + (f"; missed: {misses}" if misses else ""))


if __name__ == "__main__":
    main()
