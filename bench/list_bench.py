"""The triage list page (GET /alarms/) over the simulator's `scale` scenario.

Run from the repository root:

    .venv/bin/python bench/list_bench.py
    .venv/bin/python bench/list_bench.py --alarms 100000 --active 10000 --requests 200 \\
        --watch-seconds 60 --watchers 50
    .venv/bin/python bench/list_bench.py --database postgres --alarms 1000000 --active 100000
    .venv/bin/python bench/list_bench.py --database postgres --alarms 1000000 --active 100000 \\
        --fill-only

Targets (the triage list issue; the counts' issue, "Production", lowered the first three
from 50, 100 and 100 ms), with 100,000 alarms in the store of which 10,000 active:
- the first page with the default filter (active alarms, most severe first): p95 <= 25 ms;
- the first page filtered (every status, severities MAJOR and MINOR, one type, a search
  text; once in the default order, once newest first): p95 <= 25 ms;
- every status sorted by severity (all 100,000 match): p95 <= 25 ms;
- a live refresh when nothing changed (htmx GET with the page's own v=, answered 204):
  p95 <= 5 ms;
- 50 pages left open for 60 s (each polling every 2 s, as the page's hx-trigger does) cause
  no ThingsBoard request beyond the sync's own.
The list grouped (issue 11), held to the same targets: grouped by originator, by type, and by
originator with the first group open (its rows), as the default page, p95 <= 50 ms (by
originator also as customerA); grouped by originator over every status, as every status,
p95 <= 100 ms.
On PostgreSQL (`--database postgres`), whose targets are for 1,000,000 alarms of which 100,000
active (the production issue): the default page p95 <= 25 ms, every filtered or sorted list
(the filtered ones, every status by severity) p95 <= 50 ms; the rest as above.
Without a target, for what the targets leave out: the same four list pages as the first render
after a change, when the counts kept for the scope's previous version no longer serve (see
"after a change" below).
The backfill (issue 12): on PostgreSQL, the sync fills the store with 1,000,000 alarms in at
most 5 minutes; `--fill-only` stops once it has.

How it measures:
- The simulator runs as a separate process (`python -m alarmdesk.tbsim --scenario scale
  --no-generator`), pinned to core 0 with `taskset -c 0` when there are two cores or more;
  this process pins itself to core 1. A private redis-server (no persistence) runs on a free
  port, and the store is a fresh SQLite file (WAL) in a temporary directory, or with
  `--database postgres` a database in a private PostgreSQL cluster (tests/pgcluster.py,
  started before this process pins itself, so its server is not pinned); all go at the
  end. The store is filled by the real sync (`sync.run_cycle()` until the backfill is done,
  with sync.BACKFILL_BUDGET_SECONDS raised so that it takes few runs).
- Settings: alarmdesk.settings, through a small module in the temporary directory that only
  swaps the static files storage for StaticFilesStorage (the manifest storage needs
  collectstatic, whose STATIC_ROOT is var/static in the repository). CONN_MAX_AGE and the
  SQLite options are the settings' own; DEBUG is off.
- Server time "in-process": the time around django.test.Client.get() in this process: the
  whole middleware stack, the view, the template, the session read from the database; no
  socket. Users sign in through the real /login/ view (one Client per persona): the cases
  run as tenant@thingsboard.org (who sees every alarm), and the default page once more as
  customerA@thingsboard.org (a customer's scope). The cases are interleaved, `--requests`
  each, after a few untimed warm-up requests; "CPU" is the p50 / p95 of the CPU time of this
  thread over the same requests (time.thread_time(): what other processes on the machine
  take from it is not counted, its waits on Redis are not either), beside the targets'
  wall-clock figures; "queries" is the statements one request runs
  (connection.execute_wrapper). The list keeps its counts (and, for a filter no index
  serves, the page's ids) per version of the scope's change counter (alarms/counts.py), so
  these repeated requests mostly read what the first one counted. The cases "after a change"
  are those pages again, each request preceded (untimed) by what a sync run that changed the
  tenant's alarms leaves behind: the tenant's counter moved and its breakdown counted
  (counts.count_scopes); they run after the others, whose kept answers they would otherwise
  void. Under the table, each statement of one request is re-run
  alone (execute and fetch all, best of 3): SQLite does much of a query's work while its
  rows are fetched, which a timer around execute() misses.
- Server time "HTTP": the same requests through gunicorn (`gunicorn alarmdesk.wsgi -w 2
  --threads 8`, pinned to core 0 with the simulator, idle then), timed by a requests.Session
  in this process on one kept-alive connection: the client's latency, so HTTP parsing and
  the loopback are included.
- Watchers: `--watchers` sessions signed in over HTTP through the real sign-in form (the
  tenant and customer personas in turn), each on its own thread and connection, first load
  the page, then GET its polling URL (hx-get of #alarm-table, with HX-Request: true) every
  `--interval` (5) s for `--watch-seconds`, starting at staggered offsets; an answer 200
  (re-rendered) gives the next URL, as htmx's outerHTML swap does. After the sign-ins, POST
  /sim/stats/reset; during the window two alarms are raised through the simulator (POST
  /sim/alarms, on a device of Customer A, then of Customer B) and each is followed by one
  `sync.run_cycle()` in this process, so some refreshes re-render. Afterwards GET
  /sim/stats: ThingsBoard requests are its /api/ routes (the /sim/ controls are not
  counted). The sync's own are counted separately, by wrapping the requests Session of the
  sync account's client in this process (every call it sends, a sign-in or token refresh
  included), and subtracted; the sync's own count (counts["requests"]) is shown beside it as
  a cross-check.
- EXPLAIN QUERY PLAN (on PostgreSQL EXPLAIN ANALYZE, its plan's lines joined by " / ") of
  the default page's list query and of its per-severity count query
  (not found when the page counted nothing, its scope's breakdown kept), and of the grouped
  pages' headings query (by originator, by type; active and every status), as the view ran
  them (captured SQL and parameters), for the tenant administrator and for customerA, and of
  the scopes' breakdowns as the sync counts them (the tenant's, customer A's), is printed
  under the table; `--queries` also prints every statement of every case with its time and
  plan.

The machine is shared and noisy: compare figures within one run, never across runs.
"""

import argparse
import html
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

ROOT = Path(__file__).resolve().parent.parent
TENANT = ("tenant@thingsboard.org", "tenant")
CUSTOMER_A = ("customerA@thingsboard.org", "customer")
PERSONAS = [
    TENANT,
    CUSTOMER_A,
    ("customerB@thingsboard.org", "customer"),
    ("customerC@thingsboard.org", "customer"),
    ("olivia.ops@thingsboard.org", "tenant"),
    ("arthur.field@thingsboard.org", "customer"),
]
SETTINGS_MODULE = "list_bench_settings"
SETTINGS_TEXT = """from alarmdesk.settings import *  # noqa: F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Every watcher signs in from 127.0.0.1: more than the throttle lets one address try.
LOGIN_THROTTLE_ATTEMPTS = LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 1000
"""
LIVE_SECTION = re.compile(r'<section id="alarm-table"[^>]*>', re.S)
DELTA = re.compile(r'<template id="alarm-delta"[^>]*>', re.S)
CHROMIUM_ENCODINGS = "gzip, deflate, br, zstd"  # Chromium's Accept-Encoding
ROW_IDS = re.compile(r'<tr id="row-([0-9a-f-]{36})"')
TOTAL = re.compile(r"\u00b7\s*(\d+) alarm")
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HTMX = {"HX-Request": "true", "HX-Target": "alarm-table", "HX-Trigger": "alarm-table"}
WARMUP = 5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alarms", type=int, default=100_000, help="scale: alarms in all")
    parser.add_argument("--active", type=int, default=10_000, help="scale: of which active")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    parser.add_argument(
        "--http-requests", type=int, default=50, help="per case through gunicorn (0: skip)"
    )
    parser.add_argument("--watch-seconds", type=float, default=60.0, help="watch window")
    parser.add_argument("--watchers", type=int, default=50, help="open pages polling")
    parser.add_argument("--interval", type=float, default=2.0, help="the page's poll period")
    parser.add_argument("--type", default="Device Offline", help="alarm type filtered on")
    parser.add_argument("--q", default="floor", help="search text filtered on")
    parser.add_argument("--seed", type=int, default=7, help="staggers the watchers")
    parser.add_argument("--database", choices=harness.DATABASES, default="sqlite")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to cores")
    parser.add_argument(
        "--queries", action="store_true", help="also print each case's queries with times"
    )
    parser.add_argument(
        "--fill-only", action="store_true", help="stop once the sync has filled the store"
    )
    return parser.parse_args(argv)


# --- the processes: redis-server, the simulator, gunicorn ------------------------------------


def start_gunicorn(workdir, pinned):
    """The real app over a socket, with this process's environment (set by configure())."""
    port = harness.free_port()
    log = workdir / "gunicorn.log"
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "alarmdesk.wsgi",
        "-w",
        "2",
        "--threads",
        "8",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
    ]
    if pinned:
        cmd = ["taskset", "-c", "0", *cmd]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)])}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/login/", timeout=5).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            tail = log.read_text()[-2000:] if log.exists() else ""
            sys.exit(f"gunicorn did not start:\n{tail}")
        time.sleep(0.1)


def configure(workdir, redis_port, tb_url, database_url=None):
    """The environment the settings read, then Django and a migrated, empty store (a SQLite
    file in `workdir` unless `database_url`)."""
    (workdir / f"{SETTINGS_MODULE}.py").write_text(SETTINGS_TEXT)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "SECRET_KEY": f"bench-only-{secrets.token_hex(24)}",
            "DEBUG": "false",
            "DATABASE_URL": database_url or f"sqlite:///{workdir}/bench.sqlite3",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "TB_URL": tb_url,
            "TB_SYNC_USERNAME": TENANT[0],
            "TB_SYNC_PASSWORD": TENANT[1],
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            # No reconciliation unless asked for: the watch window's sync runs stay fast cycles.
            "ALARMDESK_RECONCILE_SECONDS": str(10**9),
            "ALARMDESK_BACKFILL_DAYS": "30",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("TB_SYNC_API_KEY", None)
    sys.path[:0] = [str(workdir), str(ROOT)]
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


class SyncCounter:
    """Counts the HTTP calls the sync account's client sends (its sign-ins included)."""

    def __init__(self):
        from alarmdesk.alarms import account

        self.calls = 0
        self.lock = threading.Lock()
        session = account._client().session  # the one every ServiceAccount call goes through
        send = session.request

        def counted(*args, **kwargs):
            with self.lock:
                self.calls += 1
            return send(*args, **kwargs)

        session.request = counted


def signed_in_client(persona):
    from django.test import Client

    client = Client()
    answer = client.post("/login/", {"username": persona[0], "password": persona[1]})
    if answer.status_code != 302 or "/alarms/" not in answer["Location"]:
        raise RuntimeError(f"sign-in of {persona[0]} failed: {answer.status_code}")
    return client


def attribute(tag, name):
    match = re.search(rf'{name}="([^"]*)"', tag)
    return html.unescape(match.group(1)) if match else None


def live_url(page_html):
    """What live.js asks: the section's hx-get, with `v` and `t` from its data-v and data-t
    (or, after a delta, from the delta's)."""
    section = LIVE_SECTION.search(page_html)
    path = section and attribute(section.group(0), "hx-get")
    if not path:
        raise RuntimeError("no polling hx-get on #alarm-table")
    return with_version(path, section.group(0))


def with_version(path, tag):
    path = re.sub(r"[?&](v|t)=[^&]*", "", path)
    sep = "&" if "?" in path else "?"
    return f"{path}{sep}v={attribute(tag, 'data-v')}&t={attribute(tag, 'data-t')}"


def after_refresh(url, rows, answer_html):
    """The next refresh URL and the rows the page shows after live.js applied an answer."""
    delta = DELTA.search(answer_html)
    if delta:
        order = attribute(delta.group(0), "data-order").split()
        # A row the page showed is named by its place in the list the page sent.
        order = [rows[int(entry)] if entry.isdigit() else entry for entry in order]
        return with_version(url, delta.group(0)), order
    return live_url(answer_html), ROW_IDS.findall(answer_html)


def shown_headers(rows):
    return {**HTMX, "X-Alarm-Rows": " ".join(rows)} if rows else HTMX


def shown_total(page_html):
    match = TOTAL.search(page_html)
    return int(match.group(1)) if match else None


class Case:
    def __init__(
        self, key, label, url, *, htmx=False, status=200, target_ms=None, after_change=False
    ):
        self.key = key
        self.label = label
        self.url = url
        self.htmx = htmx
        self.status = status
        self.target_ms = target_ms
        self.after_change = after_change

    def prepare(self):
        """Before each request of a case "after a change": what a sync run that changed
        alarms of the tenant and of every customer leaves (their counters moved, their
        breakdowns counted), untimed."""
        if not self.after_change:
            return
        from alarmdesk.alarms.counts import count_scopes
        from alarmdesk.alarms.models import Customer, SyncState
        from alarmdesk.alarms.store import scope_key
        from alarmdesk.redis_client import get_redis

        tenant_id = SyncState.objects.get().tenant_id
        customer_ids = list(Customer.objects.values_list("id", flat=True))
        redis = get_redis()
        for scope in [("tenant", tenant_id), *(("customer", c) for c in customer_ids)]:
            redis.incr(scope_key(*scope))
        count_scopes(tenant_id, customer_ids)

    @property
    def headers(self):
        return HTMX if self.htmx else {}


def list_cases(args, live):
    # PostgreSQL's targets are the production issue's, for 1,000,000 alarms.
    other_ms = 25 if args.database == "sqlite" else 50
    filtered = [
        ("status", "ANY"),
        ("severity", "MAJOR"),
        ("severity", "MINOR"),
        ("type", args.type),
        ("q", args.q),
    ]
    return [
        Case("default", "default page (ACTIVE, by severity)", "/alarms/", target_ms=25),
        Case(
            "filtered",
            "filtered, by severity",
            f"/alarms/?{urlencode(filtered)}",
            target_ms=other_ms,
        ),
        Case(
            "newest",
            "filtered, sort=-created",
            f"/alarms/?{urlencode([*filtered, ('sort', '-created')])}",
            target_ms=other_ms,
        ),
        Case(
            "any",
            "status=ANY, sort=severity",
            "/alarms/?status=ANY&sort=severity",
            target_ms=other_ms,
        ),
        Case("live", "live refresh, unchanged (204)", live, htmx=True, status=204, target_ms=5),
    ]


CUSTOMER_CASE = Case("customer", "default page as customerA", "/alarms/", target_ms=50)


def after_change_cases(cases):
    """The list's pages (not the refresh) as the first render after a change, when what the
    list keeps per version (counts, a filter's page, a page of group headings) is read
    again: no target."""
    return [
        Case(f"{case.key}-changed", f"{case.label}, after a change", case.url, after_change=True)
        for case in cases
        if not case.htmx
    ]


GROUPINGS = ("/alarms/?group=originator", "/alarms/?group=type")
CUSTOMER_GROUPED = Case(
    "customer-grouped", "grouped by originator as customerA", GROUPINGS[0], target_ms=50
)
OPEN_KEY = re.compile(r'<input type="hidden" name="open" value="([^"]+)">')


def grouped_cases(client):
    """The list grouped (issue 11); the group open is the first of the page's groups."""
    page = client.get(GROUPINGS[0]).content.decode()
    opened = {"group": "originator", "open": html.unescape(OPEN_KEY.search(page).group(1))}
    return [
        Case("by-originator", "grouped by originator", GROUPINGS[0], target_ms=50),
        Case("by-type", "grouped by type", GROUPINGS[1], target_ms=50),
        Case("open", "grouped, first group open", f"/alarms/?{urlencode(opened)}", target_ms=50),
        Case("any-grouped", "grouped, status=ANY", f"{GROUPINGS[0]}&status=ANY", target_ms=100),
    ]


class Samples:
    def __init__(self):
        self.seconds = []
        self.cpu_seconds = []  # this thread's CPU time only: less blurred by a busy machine
        self.statements = []
        self.bad = []  # unexpected statuses
        self.total = None  # alarms the page says match


class StatementLog:
    """Every statement run while installed: (sql, params)."""

    def __init__(self):
        self.entries = []

    def __call__(self, execute, sql, params, many, context):
        self.entries.append((sql, params))
        return execute(sql, params, many, context)


def measure_in_process(args, jobs):
    """Each (case, client) `--requests` times, interleaved, after WARMUP untimed rounds."""
    from django.db import connection

    log = StatementLog()
    results = {case.key: Samples() for case, _ in jobs}
    with connection.execute_wrapper(log):
        for round_number in range(WARMUP + args.requests):
            for case, client in jobs:
                case.prepare()
                log.entries.clear()
                started, cpu_started = time.perf_counter(), time.thread_time()
                answer = client.get(case.url, headers=case.headers)
                seconds = time.perf_counter() - started
                cpu_seconds = time.thread_time() - cpu_started
                result = results[case.key]
                if answer.status_code != case.status:
                    result.bad.append(answer.status_code)
                if round_number == 0 and answer.status_code == 200:
                    result.total = shown_total(answer.content.decode())
                if round_number >= WARMUP:
                    result.seconds.append(seconds)
                    result.cpu_seconds.append(cpu_seconds)
                    result.statements.append(len(log.entries))
    return results


def wire_sizes(client):
    """Bytes of the default page, of a refresh after one alarm on it changed (the scope's
    counter moved: `v` is stale; the page says which rows it shows, as live.js does), and of
    the whole section (what a filter change or a page turn fetches: its 50 rows and the
    figures around them, no page chrome), plain, gzipped and as Chromium gets them
    (brotli). The store is made quiet first: every row last changed an hour ago."""
    from django.utils import timezone

    from alarmdesk.alarms.models import Alarm

    Alarm.objects.update(changed_at=timezone.now() - timedelta(hours=1))
    page = client.get("/alarms/").content.decode()
    rows = ROW_IDS.findall(page)
    Alarm.objects.filter(id=rows[len(rows) // 2]).update(changed_at=timezone.now())
    stale = re.sub(r"([?&]v=)[^&]*", r"\g<1>stale", live_url(page))
    sizes = {}
    for key, url, headers in (
        ("page", "/alarms/", {}),
        ("poll", stale, shown_headers(rows)),
        ("whole", stale, HTMX),
    ):
        plain = client.get(url, headers=headers).content
        sizes[key] = {"plain": len(plain)}
        for accepted, coding in (("gzip", "gzip"), (CHROMIUM_ENCODINGS, "br")):
            packed = client.get(url, headers={**headers, "Accept-Encoding": accepted})
            assert packed.get("Content-Encoding") == coding, f"the answer was not {coding}"
            sizes[key][coding] = len(packed.content)
    return sizes


def statements(client, case):
    """The statements one request of `case` runs, [(sql, params)], as it was measured: after
    a change for those cases, else once what the list keeps is there (a request first)."""
    from django.db import connection

    if not case.after_change:
        client.get(case.url, headers=case.headers)
    case.prepare()
    log = StatementLog()
    with connection.execute_wrapper(log):
        client.get(case.url, headers=case.headers)
    return log.entries


def statement_kind(sql):
    if "django_session" in sql:
        return "session"
    if "OVER ()" in sql:  # the window counting the groups
        return "group headings"
    if "alarms_customer" in sql:
        return "customer titles"
    if '"alarms_alarm"."id" IN (' in sql:  # the page's ids kept for the version (counts.py)
        return "page rows by id"
    if 'FROM "alarms_alarmevent"' in sql:  # how often each row's alarm was raised again
        return "raised again"
    if "COUNT(" in sql:
        return "severity counts"
    if re.search(r"LIMIT \d+", sql):
        return "page rows"
    if "DISTINCT" in sql:
        return "assignee choices" if "assignee_email" in sql else "type choices"
    return "other"


def rerun(sql, params, times=3):
    """The best of `times` runs of one statement alone, execute and fetch all, in seconds.
    (SQLite does much of the work while rows are fetched, after execute() returned.)"""
    from django.db import connection

    best = float("inf")
    with connection.cursor() as cursor:
        for _ in range(times):
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            best = min(best, time.perf_counter() - started)
    return best


def statement_costs(client, case):
    """[(kind, seconds)] of one request's reads, each re-run alone (a request that also
    saved its session, once its check is due, ran writes in a transaction: not re-run)."""
    return [
        (statement_kind(sql), rerun(sql, params))
        for sql, params in statements(client, case)
        if sql.lstrip().upper().startswith("SELECT")
    ]


def query_plan(sql, params):
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            return "; ".join(row[-1] for row in cursor.fetchall())
        cursor.execute(f"EXPLAIN ANALYZE {sql}", params)
        return " / ".join(" ".join(row[0].split()) for row in cursor.fetchall())


def default_plans(client, who):
    """EXPLAIN QUERY PLAN of the default page's list and severity count queries, as the view
    ran them for `client`: [(label, plan)]."""
    found = {}
    for sql, params in statements(client, Case("plan", "", "/alarms/")):
        found.setdefault(statement_kind(sql), (sql, params))
    return [
        (f"{label} ({who})", query_plan(*found[kind]) if kind in found else None)
        for label, kind in (
            ("default list query", "page rows"),
            ("severity count query", "severity counts"),
        )
    ]


def breakdown_plans():
    """EXPLAIN QUERY PLAN of the scopes' breakdowns, as the sync counts them after a change
    (counts.count_scopes): the tenant's and customer A's."""
    from django.db import connection

    from alarmdesk.alarms.counts import count_scopes
    from alarmdesk.alarms.models import Customer, SyncState

    tenant_id = SyncState.objects.get().tenant_id
    customer_a = Customer.objects.get(title="Customer A").id
    log = StatementLog()
    with connection.execute_wrapper(log):
        count_scopes(tenant_id, [customer_a])
    # It also reads the filters' choices when due (filters.refresh_choices): not these.
    counted = [
        (sql, params) for sql, params in log.entries if "GROUP BY" in sql and "severity_rank" in sql
    ]
    return [
        (f"scope breakdown ({who})", query_plan(sql, params))
        for who, (sql, params) in zip(("tenant", "customerA"), counted, strict=True)
    ]


def grouped_plans(client, who):
    """EXPLAIN QUERY PLAN of the grouped pages' headings query, as the view ran it."""
    plans = []
    for url in (*GROUPINGS, *(f"{url}&status=ANY" for url in GROUPINGS)):
        ran = statements(client, Case("plan", "", url, after_change=True))  # not kept
        found = [entry for entry in ran if statement_kind(entry[0]) == "group headings"]
        plans.append((f"group headings {url} ({who})", query_plan(*found[0]) if found else None))
    return plans


def print_queries(client, cases):
    """Each case's statements, slowest first (re-run alone), with their plans (--queries)."""
    for case in cases:
        costs = [(rerun(sql, params), sql, params) for sql, params in statements(client, case)]
        print(f"\n{case.label}: {case.url}")
        for seconds, sql, params in sorted(costs, key=lambda c: -c[0]):
            print(f"  {seconds * 1000:7.2f} ms  {' '.join(sql.split())[:300]}")
            if sql.lstrip().upper().startswith("SELECT"):
                print(f"             plan: {query_plan(sql, params)}")


# --- over HTTP: gunicorn ---------------------------------------------------------------------


def http_sign_in(url, persona):
    """A requests.Session signed in through the sign-in form; (session, page html)."""
    session = requests.Session()
    form = session.get(f"{url}/login/", timeout=30)
    form.raise_for_status()
    token = CSRF_INPUT.search(form.text).group(1)
    answer = session.post(
        f"{url}/login/",
        data={"username": persona[0], "password": persona[1], "csrfmiddlewaretoken": token},
        timeout=30,
    )
    answer.raise_for_status()
    if not answer.url.endswith("/alarms/"):
        raise RuntimeError(f"HTTP sign-in of {persona[0]} failed (at {answer.url})")
    return session, answer.text


def measure_http(args, cases, url, session):
    results = {case.key: Samples() for case in cases}
    for round_number in range(WARMUP + args.http_requests):
        for case in cases:
            started = time.perf_counter()
            answer = session.get(f"{url}{case.url}", headers=case.headers, timeout=30)
            seconds = time.perf_counter() - started
            if answer.status_code != case.status:
                results[case.key].bad.append(answer.status_code)
            if round_number >= WARMUP:
                results[case.key].seconds.append(seconds)
    return results


class Watcher:
    def __init__(self, session, page_html, offset):
        self.session = session
        self.url = live_url(page_html)
        self.rows = ROW_IDS.findall(page_html)
        self.offset = offset
        self.unchanged = []  # latencies of 204 answers
        self.rendered = []  # latencies of 200 answers
        self.errors = []

    def run(self, base, start, end, interval):
        tick = 0
        while True:
            due = start + self.offset + tick * interval
            if due >= end:
                return
            time.sleep(max(0.0, due - time.monotonic()))
            tick += 1
            try:
                t0 = time.perf_counter()
                headers = shown_headers(self.rows)
                answer = self.session.get(f"{base}{self.url}", headers=headers, timeout=30)
                seconds = time.perf_counter() - t0
            except requests.RequestException as error:
                self.errors.append(type(error).__name__)
                continue
            if answer.status_code == 204:
                self.unchanged.append(seconds)
            elif answer.status_code == 200:
                self.rendered.append(seconds)
                self.url, self.rows = after_refresh(self.url, self.rows, answer.text)
            else:
                self.errors.append(str(answer.status_code))


def watch(args, url, sim, counter):
    """`--watchers` open pages polling for `--watch-seconds`; two changes synced meanwhile."""
    from alarmdesk.alarms import sync
    from alarmdesk.alarms.models import Alarm, Customer

    rng = random.Random(args.seed)
    watchers = []
    for index in range(args.watchers):
        session, page = http_sign_in(url, PERSONAS[index % len(PERSONAS)])
        watchers.append(Watcher(session, page, rng.uniform(0, args.interval)))
    devices = []
    for title in ("Customer A", "Customer B"):
        customer = Customer.objects.filter(title=title).first()
        alarms = Alarm.objects.filter(customer_id=customer.id) if customer else Alarm.objects
        devices.append(alarms.values_list("originator_name", flat=True).first())

    sim.reset_stats()
    counter.calls = 0
    sync_counts = []
    start = time.monotonic()
    end = start + args.watch_seconds
    threads = [
        threading.Thread(target=w.run, args=(url, start, end, args.interval), daemon=True)
        for w in watchers
    ]
    for thread in threads:
        thread.start()
    for number, device in enumerate(devices, start=1):
        time.sleep(max(0.0, start + args.watch_seconds * number / 3 - time.monotonic()))
        body = {"device": device, "type": f"List Bench {number}", "severity": "MAJOR"}
        sim.call("POST", "/alarms", body)
        sync_counts.append(sync.run_cycle())
    for thread in threads:
        thread.join(timeout=args.watch_seconds + 60)
    routes = sim.api_routes()
    return {
        "watchers": watchers,
        "routes": routes,
        "sync_calls": counter.calls,
        "sync_counts": sync_counts,
        "seconds": time.monotonic() - start,
    }


# --- the report ----------------------------------------------------------------------------


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def verdict(ok):
    return "PASS" if ok else "FAIL"


def timing_row(case, samples, where):
    times = sorted(samples.seconds)
    p50, p95 = percentile(times, 0.5) * 1000, percentile(times, 0.95) * 1000
    value = f"{p50:.1f} / {p95:.1f} ms"
    extra = []
    if samples.cpu_seconds:
        cpu = sorted(samples.cpu_seconds)
        extra.append(f"CPU {percentile(cpu, 0.5) * 1000:.1f} / {percentile(cpu, 0.95) * 1000:.1f}")
    if samples.statements:
        extra.append(f"{statistics.median(samples.statements):.0f} queries")
    if samples.total is not None:
        extra.append(f"{samples.total:,} match")
    if samples.bad:
        extra.append(f"{len(samples.bad)} answered {sorted(set(samples.bad))}")
    if extra:
        value += f" ({'; '.join(extra)})"
    if case.target_ms is None:
        return f"{case.label} [{where}]: p50 / p95", value, "-", "-"
    ok = p95 <= case.target_ms and not samples.bad
    return (
        f"{case.label} [{where}]: p50 / p95",
        value,
        f"<= {case.target_ms} ms",
        verdict(ok),
    )


def table_rows(args, r):
    rows = []
    judged = args.database == "postgres" and args.alarms == 1_000_000
    rows.append(
        (
            "store: filled by the sync (backfill)",
            f"{r['stored']:,} alarms, {r['stored_active']:,} active, in {r['fill_seconds']:.0f} s "
            f"({r['fill_runs']} runs)",
            "<= 300 s" if judged else "-",
            verdict(r["fill_seconds"] <= 300) if judged else "-",
        )
    )
    if args.fill_only:
        return rows
    n = args.requests
    for case in [*r["cases"], CUSTOMER_CASE, CUSTOMER_GROUPED]:
        rows.append(timing_row(case, r["in_process"][case.key], f"in-process, n={n}"))
    if r.get("http"):
        for case in r["cases"]:
            if case.key in r["http"]:  # the grouped cases are measured in-process only
                rows.append(timing_row(case, r["http"][case.key], f"HTTP, n={args.http_requests}"))

    for key, label, target in (
        ("page", "default page (50 rows, with the page around them)", 5_000),
        ("whole", "50-row answer to a filter change or page turn", None),
        ("poll", "refresh after one alarm on the page changed", 2_000),
    ):
        sizes = r["wire"][key]
        rows.append(
            (
                f"on the wire: {label}",
                f"brotli {sizes['br'] / 1000:.1f} KB, gzip {sizes['gzip'] / 1000:.1f} KB"
                f" ({sizes['plain'] / 1000:.1f} KB uncompressed)",
                f"{target / 1000:g} KB" if target else "",
                verdict(sizes["br"] <= target) if target else "",
            )
        )

    w = r["watch"]
    watchers = w["watchers"]
    api = sum(w["routes"].values())
    own = sum(c["requests"] for c in w["sync_counts"] if c)
    beyond = api - w["sync_calls"]
    routes = ", ".join(f"{route} {count}" for route, count in sorted(w["routes"].items()))
    rows.append(
        (
            f"watch: ThingsBoard requests beyond the sync's ({args.watchers} pages, "
            f"{args.watch_seconds:g} s)",
            f"{beyond} (/api/ requests {api} - sync's HTTP calls {w['sync_calls']}; sync's "
            f"counts {own} in {len(w['sync_counts'])} runs)" + (f": {routes}" if routes else ""),
            "0",
            verdict(beyond == 0),
        )
    )
    unchanged = sorted(x for v in watchers for x in v.unchanged)
    rendered = sorted(x for v in watchers for x in v.rendered)
    errors = [e for v in watchers for e in v.errors]
    rows.append(
        (
            "watch: refreshes answered",
            f"{len(unchanged) + len(rendered)} ({len(unchanged)} unchanged 204, {len(rendered)} "
            f"re-rendered 200); {len(errors)} errors"
            + (f" {sorted(set(errors))}" if errors else ""),
            "no error",
            verdict(not errors and unchanged),
        )
    )
    rows.append(
        (
            "watch: refresh 204 [HTTP, under the watch]: p50 / p95",
            f"{percentile(unchanged, 0.5) * 1000:.1f} / {percentile(unchanged, 0.95) * 1000:.1f} ms"
            + (
                f"; re-rendered 200: {percentile(rendered, 0.5) * 1000:.0f} / "
                f"{percentile(rendered, 0.95) * 1000:.0f} ms"
                if rendered
                else ""
            ),
            "-",
            "-",
        )
    )
    return rows


@contextmanager
def processes(args, pinned):
    workdir = Path(tempfile.mkdtemp(prefix="list-bench-"))
    started = []
    try:
        with harness.store(args.database, workdir) as (database_url, store_words):
            try:
                if pinned:  # this process on the other core than the simulator's
                    os.sched_setaffinity(0, {1})
                redis_proc, redis_port = harness.start_redis(workdir)
                started.append(redis_proc)
                sim_proc, url, build = harness.scale_simulator(args.alarms, args.active, pinned)
                started.append(sim_proc)
                yield workdir, redis_port, url, build, started, database_url, store_words
            finally:  # gunicorn among them, before the cluster it is connected to stops
                for proc in reversed(started):
                    harness.stop(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(args, pinned, workdir, url, started):
    from alarmdesk.alarms.models import Alarm

    r = {}
    counter = SyncCounter()
    r["fill_seconds"], r["fill_runs"] = harness.fill_store()
    r["stored"] = Alarm.objects.filter(deleted=False).count()
    r["stored_active"] = Alarm.objects.filter(deleted=False, cleared=False).count()
    if args.fill_only:
        return r

    tenant = signed_in_client(TENANT)
    customer = signed_in_client(CUSTOMER_A)
    page = tenant.get("/alarms/").content.decode()
    flat, grouped = list_cases(args, live_url(page)), grouped_cases(tenant)
    changed = after_change_cases(flat + grouped)
    cases = flat + grouped + changed
    r["cases"] = cases
    # The flat list's cases interleaved among themselves, then the grouped ones: the heavy
    # grouped queries (every status, 100,000 rows) would otherwise evict the flat list's
    # pages from SQLite's cache and blur its figures. Those after a change come last: each
    # moves the scope's counter, which would make every other case a first render too.
    flat_jobs = [*((case, tenant) for case in flat), (CUSTOMER_CASE, customer)]
    grouped_jobs = [*((case, tenant) for case in grouped), (CUSTOMER_GROUPED, customer)]
    changed_jobs = [(case, tenant) for case in changed]
    r["in_process"] = measure_in_process(args, flat_jobs) | measure_in_process(args, grouped_jobs)
    # Those after a change only after the others: each moves the scope's counter.
    unchanged_jobs = [job for job in flat_jobs + grouped_jobs if not job[0].htmx]
    r["costs"] = [(case, statement_costs(client, case)) for case, client in unchanged_jobs]
    r["in_process"] |= measure_in_process(args, changed_jobs)
    r["costs"] += [(case, statement_costs(client, case)) for case, client in changed_jobs]
    r["plans"] = default_plans(tenant, "tenant admin") + default_plans(customer, "customerA")
    r["plans"] += breakdown_plans()
    r["plans"] += grouped_plans(tenant, "tenant admin") + grouped_plans(customer, "customerA")
    r["wire"] = wire_sizes(tenant)
    if args.queries:
        print_queries(tenant, cases)

    gunicorn, base = start_gunicorn(workdir, pinned)
    started.append(gunicorn)
    sim = harness.Sim(url)
    if args.http_requests:
        session, page = http_sign_in(base, TENANT)
        http_cases = list_cases(args, live_url(page))
        r["http"] = measure_http(args, http_cases, base, session)
    r["watch"] = watch(args, base, sim, counter)
    return r


def main(argv=None):
    args = parse_args(argv)
    if args.active > args.alarms:
        sys.exit("--active cannot exceed --alarms")
    pinned = not args.no_pin and bool(shutil.which("taskset")) and (os.cpu_count() or 1) >= 2
    with processes(args, pinned) as (workdir, redis_port, url, build, started, database, words):
        configure(workdir, redis_port, url, database)
        try:
            results = measure(args, pinned, workdir, url, started)
        finally:
            from django.db import connections

            connections.close_all()

    print_setup(args, pinned, build, words)
    print()
    rows = table_rows(args, results)
    harness.print_table(rows)
    if not args.fill_only:
        print()
        print_statements(results)
    print()
    harness.print_footer(rows)
    return 0


def print_setup(args, pinned, build, words):
    print(
        f"simulator: scale scenario, {args.alarms:,} alarms, {args.active:,} active, no "
        f"generator; ready {build:.1f} s after start; "
        + (
            "pinned to core 0 (taskset) with gunicorn; this process on core 1"
            if pinned
            else "not pinned"
        )
    )
    if args.fill_only:
        print(f"store: {words}, private redis-server, DEBUG off; stopped once filled")
        return
    print(
        "in-process: django.test.Client.get() as tenant@thingsboard.org (sees every alarm), "
        f"{args.requests} per case, interleaved, after {WARMUP} warm-up rounds; store: "
        f"{words}, private redis-server, DEBUG off"
    )
    print(
        "HTTP: gunicorn alarmdesk.wsgi -w 2 --threads 8, one kept-alive requests.Session "
        "(client latency); filtered = "
        f"status=ANY&severity=MAJOR&severity=MINOR&type={args.type}&q={args.q}"
    )
    print(
        f"watch: {args.watchers} sessions over {len(PERSONAS)} personas, one thread each, polling "
        f"every {args.interval:g} s at staggered offsets; 2 alarms raised (POST /sim/alarms) "
        "at 1/3 and 2/3 of the window, each followed by sync.run_cycle() here; the sync's "
        "requests counted on its own client's requests Session and subtracted"
    )


def print_statements(results):
    print("SQL of one request, each statement re-run alone (execute + fetch all, best of 3), ms:")
    for case, costs in results["costs"]:
        parts = ", ".join(f"{kind} {seconds * 1000:.1f}" for kind, seconds in costs)
        total = sum(seconds for _, seconds in costs) * 1000
        print(f"  {case.label}: {parts} = {total:.1f}")
    print()
    for label, plan in results["plans"]:
        print(f"plan, {label}: {plan or 'not found in the captured queries'}")


if __name__ == "__main__":
    sys.exit(main())
