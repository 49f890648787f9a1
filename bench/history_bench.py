"""The history page and its CSV export with 100,000 alarms in the store.

Run from the repository root:

    .venv/bin/python bench/history_bench.py
    .venv/bin/python bench/history_bench.py --alarms 100000 --requests 30
    .venv/bin/python bench/history_bench.py --database postgres --alarms 1000000 \
        --active 100000

Targets (the on-call and history issue, and on PostgreSQL with 1,000,000 alarms the
production issue): the history page with its summary, server time p95 at most 300 ms;
the export of 100,000 rows under 10 s, with memory that does not grow with the row count.

How it measures: a fresh store (`--database`: a SQLite file (WAL) in a temporary
directory, or a database in a private PostgreSQL cluster) and a private redis-server; the
store is filled with synthetic alarms spread over 30 days (ThingsBoard is
not needed: the history reads only the store). Pages are served in-process by Django's
test client, signed in through a session made directly (the page never calls
ThingsBoard). The export timed is the window of the last days holding about 100,000 rows
(all 30 days at 100,000 alarms, the last 3 at 1,000,000). Memory is tracemalloc's peak
while the export streams (Python allocations: what would grow with the rows), for a window
a tenth as long and for the timed one, after one warm-up export; the rows are read 2,000
at a time, so the peak is one batch whatever the count. The export is timed until its last
byte is read, in a run of its own without tracemalloc (which tracing every allocation made
two to three times slower).
"""

import argparse
import math
import platform
import random
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

DAY = 86_400_000
MINUTE = 60_000
TYPES = [
    "High Temperature",
    "Low Temperature",
    "Device Offline",
    "Low Battery",
    "High Humidity",
    "High CO2",
    "Pump Failure",
    "Leak Detected",
    "Door Open",
    "Gateway Offline",
    "Pressure Drop",
]
SEVERITIES = ["CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE"]
PEOPLE = ["olivia.ops@example.com", "arthur.field@example.com", "tenant@example.com"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alarms", type=int, default=100_000)
    parser.add_argument("--active", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30, help="requests per page case")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database", choices=harness.DATABASES, default="sqlite")
    return parser.parse_args(argv)


def fill_store(args, tenant, customers):
    from django.utils import timezone

    from alarmdesk.alarms.models import SEVERITY_RANK, Alarm, Customer

    rng = random.Random(args.seed)
    Customer.objects.bulk_create(
        Customer(id=c, tenant_id=tenant, title=f"Customer {i}") for i, c in enumerate(customers)
    )
    owners = [*customers, None]
    devices = [(uuid.UUID(int=rng.getrandbits(128)), f"Device {n:03d}") for n in range(400)]
    device_owner = {device: rng.choice(owners) for device, _ in devices}
    now = int(time.time() * 1000)
    changed = timezone.now()
    batch = []
    for n in range(args.alarms):
        device, name = rng.choice(devices)
        start = now - rng.randint(0, 30 * DAY)
        active = n < args.active
        acked = rng.random() < (0.5 if active else 0.9)
        ack_ts = start + int(rng.lognormvariate(math.log(4 * MINUTE), 1.2)) if acked else None
        clear_ts = None if active else start + int(rng.lognormvariate(math.log(60 * MINUTE), 1.0))
        severity = rng.choices(SEVERITIES, weights=[1, 3, 4, 3, 1])[0]
        batch.append(
            Alarm(
                id=uuid.UUID(int=rng.getrandbits(128)),
                tenant_id=tenant,
                customer_id=device_owner[device],
                type=rng.choice(TYPES),
                originator_type="DEVICE",
                originator_id=device,
                originator_name=name,
                originator_label=name,
                originator_display_name=name,
                severity=severity,
                severity_rank=SEVERITY_RANK[severity],
                acknowledged=acked,
                cleared=not active,
                status=("ACTIVE" if active else "CLEARED") + ("_ACK" if acked else "_UNACK"),
                created_time=start,
                start_ts=start,
                end_ts=start,
                ack_ts=ack_ts,
                clear_ts=clear_ts,
                changed_at=changed,
                acknowledged_by=rng.choice(PEOPLE) if acked else "",
                cleared_by="" if active else rng.choice(["", *PEOPLE]),
                actors_known=True,
            )
        )
        if len(batch) == 5000:
            Alarm.objects.bulk_create(batch)
            batch = []
    Alarm.objects.bulk_create(batch)


def session_cookie(user):
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    from alarmdesk.accounts.tokens import SESSION_KEY

    session = SessionStore()
    # The history page reads the store only; this token is never sent to ThingsBoard.
    session[SESSION_KEY] = {
        "token": "bench",
        "refresh_token": "bench",
        "expires_at": time.time() + 86_400,
        "user": user,
    }
    session.create()
    return settings.SESSION_COOKIE_NAME, session.session_key


def client_for(user):
    from django.test import Client

    client = Client()
    name, key = session_cookie(user)
    client.cookies[name] = key
    return client


def time_page(client, path, requests_):
    samples = []
    for _ in range(requests_):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return harness.percentiles(samples)


def export(client, path, traced=True):
    """(seconds, rows, tracemalloc peak in MB or None) for streaming one CSV to its end."""
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    response = client.get(path)
    rows = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    seconds = time.perf_counter() - started
    peak = None
    if traced:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return seconds, rows, peak


def main(argv=None):
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="history-bench-"))
    redis, port = harness.start_redis(workdir)
    try:
        with harness.store(args.database, workdir) as (url, store_words):
            run(args, port, workdir, url, store_words)
    finally:
        harness.stop(redis)


def export_windows(alarms):
    """(the query of a window about a tenth as long, that of the timed export, about
    100,000 rows: its first day's date). The short one in hours: at 1,000,000 alarms the
    timed export is 3 days, and today's date alone may hold a few minutes."""
    days = max(1, min(30, round(30 * 100_000 / alarms)))  # about 100,000 rows
    timed = (datetime.now(UTC) - timedelta(days=days)).date().isoformat()
    return f"hours={max(1, days * 24 // 10)}", f"since={timed}"


def run(args, port, workdir, url, store_words):
    harness.setup_django(workdir, port, database_url=url)
    tenant, customers = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    started = time.perf_counter()
    fill_store(args, tenant, customers)
    from alarmdesk.alarms import tallies
    from alarmdesk.alarms.store import refresh_statistics

    tallies.rebuild()  # the daily counts the sync keeps as it writes (filled here directly)
    refresh_statistics(thorough=True)  # as the sync does when its backfill ends
    filled = time.perf_counter() - started
    admin = client_for(
        {"id": str(uuid.uuid4()), "email": "tenant@example.com", "name": "Tenant"}
        | {"authority": "TENANT_ADMIN", "tenant_id": str(tenant), "customer_id": None}
    )
    customer = client_for(
        {"id": str(uuid.uuid4()), "email": "a@example.com", "name": "A"}
        | {"authority": "CUSTOMER_USER", "tenant_id": str(tenant)}
        | {"customer_id": str(customers[0])}
    )
    month = (datetime.now(UTC) - timedelta(days=31)).date().isoformat()
    from alarmdesk.alarms.models import Alarm

    in_week = Alarm.objects.filter(start_ts__gte=int(time.time() * 1000) - 7 * DAY).count()
    cases = [
        ("page: last 7 days, tenant admin", admin, "/history/", 300),
        ("page: last 7 days, a customer user", customer, "/history/", 300),
        ("page: my shift (12 hours)", admin, "/history/?hours=12", 300),
        (
            "page: CRITICAL+MAJOR in 7 days",
            admin,
            "/history/?severity=CRITICAL&severity=MAJOR",
            300,
        ),
        ("page: all 30 days", admin, f"/history/?since={month}", None),
    ]
    rows = []
    for label, client, path, target in cases:
        client.get(path)  # warm: connection, templates
        p50, p95 = time_page(client, path, args.requests)
        verdict = "-" if target is None else ("PASS" if p95 <= target else "FAIL")
        rows.append(
            (
                f"{label}: p50 / p95",
                f"{p50:.0f} / {p95:.0f} ms",
                f"p95 <= {target} ms" if target else "-",
                verdict,
            )
        )
    small_window, timed_window = export_windows(args.alarms)
    export(admin, f"/history/?{small_window}&format=csv")  # warm: first-use imports
    small = export(admin, f"/history/?{small_window}&format=csv")
    full = export(admin, f"/history/?{timed_window}&format=csv")
    timings = [export(admin, f"/history/?{timed_window}&format=csv", traced=False)[0]]
    timings.append(export(admin, f"/history/?{timed_window}&format=csv", traced=False)[0])
    rows.append(
        (
            f"export of {full[1]:,} rows ({timed_window}): time, two runs",
            " and ".join(f"{seconds:.1f} s" for seconds in timings),
            "< 10 s",
            "PASS" if max(timings) < 10 else "FAIL",
        )
    )
    grows = full[2] / max(small[2], 0.01)
    more_rows = full[1] / max(small[1], 1)
    rows.append(
        (
            f"export memory peak: {small[1]:,} rows vs {full[1]:,}",
            f"{small[2]:.1f} MB vs {full[2]:.1f} MB (x{grows:.2f} for x{more_rows:.0f} rows)",
            "flat",
            "PASS" if grows < 1.5 else "FAIL",
        )
    )
    harness.print_table(
        rows,
        [
            f"store: {args.alarms:,} synthetic alarms over 30 days ({args.active:,} active), "
            f"{in_week:,} in the last 7 days; filled in {filled:.1f} s; {store_words}",
            f"machine: {platform.machine()}, Python {platform.python_version()}; "
            f"{args.requests} requests per page case, in-process (Django test client)",
            "command: " + " ".join([".venv/bin/python", "bench/history_bench.py", *sys.argv[1:]]),
        ],
    )


if __name__ == "__main__":
    main()
