"""Throughput of the ThingsBoard simulator over the `scale` scenario, its build time and memory.

Run from the repository root:

    .venv/bin/python bench/tbsim_bench.py
    .venv/bin/python bench/tbsim_bench.py --alarms 1000000 --active 100000
    .venv/bin/python bench/tbsim_bench.py --alarms 100000 --active 10000 --seconds 3 --rounds 3

Targets:
- (issue 2) case (a), GET /api/v2/alarms?pageSize=100&page=0&sortProperty=createdTime
  &sortOrder=DESC, at least 500 requests/s with the simulator on one core at 100,000 alarms,
  so that the simulator is never the bottleneck of AlarmDesk's own benchmarks;
- ("Production") the scale scenario with 1,000,000 alarms of which 100,000 active built
  within 60 s on this 2-core machine, the simulator on one core (the "build" row: a
  separate simulator process started only for it, `--build-rounds` times; its memory is
  the peak resident set once it listens);
- derived from AlarmDesk's sync targets (bench/sync_bench.py), so that the simulator's
  answers stay a small part of the sync's budgets: (h) the sync's fast cycle after a
  change, its four requests together, at most 100 ms at p95 (the whole cycle after 100
  changes, database included, has 500 ms); (j) a backfill of the whole store served at
  10,000 alarms or more per second of the simulator's own CPU time (AlarmDesk stores about
  3,000 a second: 100,000 in 33 s), a rate the one client reading and parsing the pages
  on a busy machine does not limit; the walk's wall time is shown beside it.

How it measures:
- The simulator runs as a separate process (`python -m alarmdesk.tbsim --scenario scale`),
  pinned to core 0 with `taskset -c 0` when available; this load generator pins itself to
  the other core. "build" is the time from process start to the "listening on" line.
- The load generator is plain `http.client`, one HTTP/1.1 connection per client thread
  (`--clients`, default 4, so the server always has a request queued), reused whenever the
  server allows it: the run reports how many answers came with "Connection: close" (with
  Werkzeug 3 that is all of them, so every request pays a TCP connect, an accept and a new
  server thread, as it would for any client). Each request's latency is the time from
  sending it, reconnecting if needed, to having read the whole body. The client is not the
  bottleneck: the table shows both processes' CPU use during each case (the simulator near
  100% of its core means it is the limit; the client's own share is reported alongside).
- Cases (a) to (d), (f) and (g) run `--rounds` times, interleaved, `--seconds` each; req/s
  is the median of the rounds, p50/p95 come from all requests of the case pooled. After
  each case the simulator's own count (GET /sim/stats) must equal the requests the client
  made. (f) is the same list as (a) for a customer user (customer A: the alarms whose
  customerId is theirs); (g) is GET /api/alarm/info/{id}, each client going round 1,000
  alarms taken from the middle of the store.
- (i) is the reconciliation's count as the sync sends it: pageSize=1 with startTime and
  endTime (30 days up to now, createdTime DESC), a new endTime every request, as a
  reconciliation has, so no answer can come from a cache. Run like (a), `--rounds` times.
- (j) is a backfill of the whole store as the sync reads it: pages of 1,000 over 30 days
  up to now (startTime and endTime fixed for the walk), createdTime DESC, page 0 until
  hasNext is false, one client, once; req/s there is pages a second, and the alarms a
  second are in the summary. Memory is read after it (every alarm has then been served).
- Cases (e) and (h) are different: one client alternates POST /sim/alarms (the rule engine
  raises or re-triggers an alarm, so the store's version moves and the list cache is
  stale) with a read, and only the read is timed: the cost of a recomputation. (e) reads
  the list of case (a); (h) reads what the sync's fast cycle reads, the first page of 100
  of each of createdTime, endTs, ackTs and clearTs DESC, and its latency is the four
  requests together. Their req/s is therefore requests / time spent reading, not a
  throughput. They run last, as they change the store.
- Memory: the simulator's peak resident set (VmHWM in /proc) once it listens, and after
  all cases; its resident set (VmRSS) at the end beside it.

The machine is shared and noisy: compare figures within one run, never across runs.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

ROOT = Path(__file__).resolve().parent.parent
LIST = "/api/v2/alarms?pageSize=100&page={page}&sortProperty={sort}&sortOrder=DESC{extra}"
LIST_ROUTE = "GET /api/v2/alarms"
INFO_ROUTE = "GET /api/alarm/info/<alarm_id>"
TENANT = ("tenant@thingsboard.org", "tenant")
CUSTOMER = ("customerA@thingsboard.org", "customer")
DAY_MS = 86_400_000
BACKFILL = (
    "/api/v2/alarms?page={page}&pageSize=1000&startTime={since}&endTime={until}"
    "&sortProperty=createdTime&sortOrder=DESC"
)
COUNT = (
    "/api/v2/alarms?page=0&pageSize=1&startTime={since}&endTime={until}"
    "&sortProperty=createdTime&sortOrder=DESC"
)
SYNC_ORDERINGS = ("createdTime", "endTs", "ackTs", "clearTs")

# (key, label, paths or None, persona, route); the paths of (g) and (i) are made at run time.
CASES = [
    ("a", "createdTime DESC, page 0", [LIST.format(page=0, sort="createdTime", extra="")]),
    (
        "b",
        "+ statusList=ACTIVE",
        [LIST.format(page=0, sort="createdTime", extra="&statusList=ACTIVE")],
    ),
    ("c", "createdTime DESC, page 50", [LIST.format(page=50, sort="createdTime", extra="")]),
    (
        "d",
        "endTs DESC, ACTIVE+UNACK",
        [LIST.format(page=0, sort="endTs", extra="&statusList=ACTIVE&statusList=UNACK")],
    ),
    ("f", "(a) as a customer user", [LIST.format(page=0, sort="createdTime", extra="")]),
    ("g", "alarm info, 1,000 alarms in turn", None),
]
PERSONA = {"f": CUSTOMER}
ROUTES = {"g": INFO_ROUTE}
COUNT_CASE = ("i", "sync's count, a new window each")
BACKFILL_CASE = ("j", "sync's backfill, whole store (pages)")
UNCACHED = ("e", "(a) after a change, uncached", LIST.format(page=0, sort="createdTime", extra=""))
FAST_CYCLE = (
    "h",
    "sync's fast cycle after a change",
    [LIST.format(page=0, sort=s, extra="") for s in SYNC_ORDERINGS],
)
ORDER = ["a", "b", "c", "d", "f", "g", "i", "j", "e", "h"]
TARGET = 500
BUILD_TARGET_S = 60
FAST_CYCLE_TARGET_MS = 100
BACKFILL_TARGET = 10_000  # alarms a second


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alarms", type=int, default=100_000)
    parser.add_argument("--active", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="per case and round")
    parser.add_argument("--rounds", type=int, default=3, help="req/s is the median of these")
    parser.add_argument("--clients", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to cores")
    parser.add_argument(
        "--build-alarms",
        type=int,
        default=1_000_000,
        help="the build row's scenario size (0: no build row)",
    )
    parser.add_argument("--build-active", type=int, default=100_000)
    parser.add_argument(
        "--build-rounds", type=int, default=1, help="separate builds timed for the build row"
    )
    return parser.parse_args(argv)


# --- the simulator process ---------------------------------------------------------------


def pinning(args):
    pinned = not args.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    if pinned:
        os.sched_setaffinity(0, {1})  # the load generator on the other core
    return bool(pinned)


def start_simulator(alarms, active, pinned):
    cmd = [
        sys.executable,
        "-m",
        "alarmdesk.tbsim",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--scenario",
        "scale",
        "--alarms",
        str(alarms),
        "--active",
        str(active),
    ]
    if pinned:
        cmd = ["taskset", "-c", "0", *cmd]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = proc.stdout.readline()
    build = time.perf_counter() - started
    match = re.search(r"listening on http://([\d.]+):(\d+)", line)
    if not match:
        proc.kill()
        sys.exit(f"simulator did not start: {line!r}")
    return proc, match.group(1), int(match.group(2)), build


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)


def cpu_seconds(pid):
    """utime + stime of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid):
    """(peak resident set, resident set) of a process in MB, from /proc (Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan"), float("nan")
    values = dict(re.findall(r"^(VmHWM|VmRSS):\s+(\d+) kB", status, re.M))
    return int(values["VmHWM"]) / 1024, int(values["VmRSS"]) / 1024


def time_builds(args, pinned):
    """[(seconds to listening, peak MB)] of `--build-rounds` separate simulators."""
    builds = []
    for _ in range(args.build_rounds):
        proc, _, _, build = start_simulator(args.build_alarms, args.build_active, pinned)
        builds.append((build, memory_mb(proc.pid)[0]))
        stop(proc)
    return builds


# --- the client --------------------------------------------------------------------------


class Client:
    def __init__(self, host, port, token=None):
        self.conn = http.client.HTTPConnection(host, port, timeout=60)
        self.headers = {"X-Authorization": f"Bearer {token}"} if token else {}
        self.server_closes = 0  # answers with "Connection: close": the next call reconnects

    def call(self, method, path, body=None):
        headers = dict(self.headers)
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        self.server_closes += response.will_close
        return response.status, data

    def json(self, method, path, body=None):
        status, data = self.call(method, path, body)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {data[:200]!r}")
        return json.loads(data) if data else None

    def close(self):
        self.conn.close()


def sign_in(host, port, persona=TENANT):
    client = Client(host, port)
    body = {"username": persona[0], "password": persona[1]}
    token = client.json("POST", "/api/auth/login", body)["token"]
    client.close()
    return token


def load(host, port, token, paths, seconds, clients):
    """`clients` threads, each on its own connection (kept alive if the server lets it),
    each going round `paths` (a callable gives a new path every request)."""
    latencies = [[] for _ in range(clients)]
    errors, closes = [], []
    barrier = threading.Barrier(clients + 1)
    stop_event = threading.Event()

    def worker(index):
        client = Client(host, port, token)
        out = latencies[index]
        if callable(paths):
            next_path = paths
        else:
            turn = iter(range(index, 1 << 62))
            next_path = lambda: paths[next(turn) % len(paths)]  # noqa: E731
        client.call("GET", next_path())  # connect (and warm) outside the timed window
        client.server_closes = 0
        barrier.wait()
        clock = time.perf_counter
        try:
            while not stop_event.is_set():
                path = next_path()
                t0 = clock()
                status, _ = client.call("GET", path)
                out.append(clock() - t0)
                if status != 200:
                    errors.append(status)
        finally:
            closes.append(client.server_closes)
            client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop_event.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    samples = [x for per_client in latencies for x in per_client]
    return samples, len(samples), elapsed, elapsed, errors, sum(closes)


def uncached(host, port, token, paths, seconds, device):
    """Raise or re-trigger an alarm, then time the reads that follow (all `paths`)."""
    client = Client(host, port, token)
    change = {"device": device, "type": "Device Offline", "severity": "MAJOR"}
    samples, errors = [], []
    closes = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or not samples:
        client.json("POST", "/sim/alarms", change)
        before = client.server_closes
        t0 = time.perf_counter()
        for path in paths:
            status, _ = client.call("GET", path)
            if status != 200:
                errors.append(status)
        samples.append(time.perf_counter() - t0)
        closes += client.server_closes - before
    wall = time.perf_counter() - started
    client.close()
    return samples, len(samples) * len(paths), sum(samples), wall, errors, closes


def backfill_walk(host, port, token):
    """Every page of 1,000 over 30 days up to now, as the sync's backfill reads them."""
    client = Client(host, port, token)
    until = int(time.time() * 1000)
    since = until - 30 * DAY_MS
    samples, errors = [], []
    alarms, page = 0, 0
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        status, data = client.call("GET", BACKFILL.format(page=page, since=since, until=until))
        samples.append(time.perf_counter() - t0)
        if status != 200:
            errors.append(status)
            break
        answer = json.loads(data)
        alarms += len(answer["data"])
        if not answer["hasNext"]:
            break
        page += 1
    wall = time.perf_counter() - started
    closes = client.server_closes
    client.close()
    return samples, len(samples), wall, wall, errors, closes, alarms


def fresh_count_path():
    until = int(time.time() * 1000)
    return COUNT.format(since=until - 30 * DAY_MS, until=until)


# --- the run -----------------------------------------------------------------------------


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def labels():
    return {
        **{key: label for key, label, _ in CASES},
        COUNT_CASE[0]: COUNT_CASE[1],
        BACKFILL_CASE[0]: BACKFILL_CASE[1],
        UNCACHED[0]: UNCACHED[1],
        FAST_CYCLE[0]: FAST_CYCLE[1],
    }


def measure(args, proc, host, port):
    token = sign_in(host, port)
    tokens = {TENANT: token, CUSTOMER: sign_in(host, port, CUSTOMER)}
    control = Client(host, port, token)
    first = control.json("GET", CASES[0][2][0])
    if len(first["data"]) != 100:
        sys.exit(f"expected a full page, got {len(first['data'])} alarms")
    middle = max(0, first["totalElements"] // 2000)
    ids = [
        a["id"]["id"]
        for a in control.json(
            "GET",
            LIST.format(page=0, sort="createdTime", extra="").replace(
                "pageSize=100&page=0", f"pageSize=1000&page={middle}"
            ),
        )["data"]
    ]
    paths = {key: p for key, _, p in CASES if p}
    paths["g"] = [f"/api/alarm/info/{i}" for i in ids]
    devices = control.json("GET", "/api/tenant/devices?pageSize=1&page=0")["data"]
    device = devices[0]["name"]

    results = {
        key: {
            "samples": [],
            "rates": [],
            "count": 0,
            "errors": [],
            "closes": 0,
            "srv": 0.0,
            "cli": 0.0,
            "wall": 0.0,
            "alarms": 0,
        }
        for key in ORDER
    }
    mismatches = []

    def run(key, fn, warmups=0):
        control.json("POST", "/sim/stats/reset")
        srv0, cli0 = cpu_seconds(proc.pid), time.process_time()
        samples, requests, busy, wall, errors, closes, *extra = fn()
        srv1, cli1 = cpu_seconds(proc.pid), time.process_time()
        stats = control.json("GET", "/sim/stats")
        counted = stats["routes"].get(ROUTES.get(key, LIST_ROUTE), {}).get("count", 0)
        # The load threads' warm-up requests are counted by the simulator too.
        if counted != requests + warmups:
            mismatches.append(f"case {key}: client {requests + warmups}, /sim/stats {counted}")
        r = results[key]
        r["samples"] += samples
        r["rates"].append(requests / busy)
        r["count"] += requests
        r["errors"] += errors
        r["closes"] += closes
        r["srv"] += srv1 - srv0
        r["cli"] += cli1 - cli0
        r["wall"] += wall
        r["alarms"] += extra[0] if extra else 0

    def loaded(key, path_source):
        token = tokens[PERSONA.get(key, TENANT)]
        return lambda: load(host, port, token, path_source, args.seconds, args.clients)

    for _ in range(args.rounds):
        for key, _, _ in CASES:
            run(key, loaded(key, paths[key]), warmups=args.clients)
    for _ in range(args.rounds):
        run(COUNT_CASE[0], loaded(COUNT_CASE[0], fresh_count_path), warmups=args.clients)
    run(BACKFILL_CASE[0], lambda: backfill_walk(host, port, token))
    after_walk = memory_mb(proc.pid)
    # Last, as they change the store.
    for _ in range(args.rounds):
        run(UNCACHED[0], lambda: uncached(host, port, token, [UNCACHED[2]], args.seconds, device))
        run(FAST_CYCLE[0], lambda: uncached(host, port, token, FAST_CYCLE[2], args.seconds, device))
    control.close()
    return results, mismatches, after_walk, first["totalElements"]


def summary_rows(args, results, memory, builds):
    rows = []

    def verdict(ok):
        return "PASS" if ok else "FAIL"

    if builds:
        seconds = statistics.median(b[0] for b in builds)
        peak = max(b[1] for b in builds)
        each = ", ".join(f"{b[0]:.1f}" for b in builds)
        rows.append(
            (
                f"build {args.build_alarms:,} / {args.build_active:,} active",
                f"{seconds:.1f} s ({each}), {peak:.0f} MB",
                f"{BUILD_TARGET_S} s",
                verdict(seconds <= BUILD_TARGET_S),
            )
        )
    built, after_build, after_walk, at_end = memory
    rows.append(
        (
            f"build {args.alarms:,} / {args.active:,} active (this run)",
            f"{built:.1f} s, {after_build:.0f} MB",
            "-",
            "-",
        )
    )
    rate = statistics.median(results["a"]["rates"])
    rows.append(
        (
            f"(a) createdTime DESC, page 0, at {args.alarms:,}",
            f"{rate:.0f} req/s",
            f">= {TARGET} req/s (at 100,000)",
            verdict(rate >= TARGET),
        )
    )
    h95 = percentile(sorted(results["h"]["samples"]), 0.95) * 1000
    rows.append(
        (
            f"(h) sync's fast cycle after a change, p95, at {args.alarms:,}",
            f"{h95:.1f} ms",
            f"{FAST_CYCLE_TARGET_MS} ms",
            verdict(h95 <= FAST_CYCLE_TARGET_MS),
        )
    )
    j = results["j"]
    per_second = j["alarms"] / j["wall"] if j["wall"] else float("nan")
    per_busy_second = j["alarms"] / j["srv"] if j["srv"] else float("nan")
    rows.append(
        (
            f"(j) sync's backfill of the whole store, at {args.alarms:,}",
            f"{per_busy_second:,.0f} alarms/s of simulator CPU; wall: {j['alarms']:,} in "
            f"{j['wall']:.1f} s, {per_second:,.0f}/s",
            f">= {BACKFILL_TARGET:,} alarms/s of simulator CPU",
            verdict(per_busy_second >= BACKFILL_TARGET),
        )
    )
    rows.append(
        (
            "simulator memory: peak after build / after (j) / at end (resident at end)",
            f"{after_build:.0f} / {after_walk[0]:.0f} / {at_end[0]:.0f} MB ({at_end[1]:.0f} MB)",
            "-",
            "-",
        )
    )
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.active > args.alarms or (args.build_alarms and args.build_active > args.build_alarms):
        sys.exit("--active cannot exceed --alarms")
    pinned = pinning(args)
    builds = time_builds(args, pinned) if args.build_alarms else []
    proc, host, port, build = start_simulator(args.alarms, args.active, pinned)
    try:
        after_build = memory_mb(proc.pid)[0]
        results, mismatches, after_walk, total = measure(args, proc, host, port)
        at_end = memory_mb(proc.pid)
    finally:
        stop(proc)
    if total != args.alarms:
        mismatches.append(f"the tenant lists {total} alarms, not {args.alarms}")

    print(
        f"simulator: scale scenario, {args.alarms:,} alarms, {args.active:,} active; "
        f"{'pinned to core 0 (taskset), client on core 1' if pinned else 'not pinned'}"
    )
    print(
        f"client: http.client, {args.clients} client threads, one connection each (cases e, h "
        f"and j: 1), {args.rounds} rounds x {args.seconds:g} s per case; req/s = median of rounds"
    )
    print(f"build: {build:.2f} s from process start to the listening line")
    print()
    header = (
        f"{'case':<42} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'srv cpu':>8} {'cli cpu':>8}"
    )
    print(header)
    print("-" * len(header))
    names = labels()
    for key in ORDER:
        r = results[key]
        ordered = sorted(r["samples"])
        wall = r["wall"] or float("nan")
        print(
            f"{f'({key}) {names[key]}':<42} {r['count']:>8} {statistics.median(r['rates']):>8.0f} "
            f"{percentile(ordered, 0.5) * 1000:>8.2f} {percentile(ordered, 0.95) * 1000:>8.2f} "
            f"{r['srv'] / wall:>7.0%} {r['cli'] / wall:>7.0%}"
        )
    print("(h): requests counts its four requests a cycle; p50/p95 are of the four together")
    print()
    for key in ORDER:
        if results[key]["errors"]:
            print(f"case {key}: {len(results[key]['errors'])} non-200 answers")
    closed = sum(r["closes"] for r in results.values())
    timed = sum(r["count"] for r in results.values())
    if closed:
        print(
            f"keep-alive: the simulator answered 'Connection: close' to {closed} of {timed} "
            "timed requests, so those paid a new TCP connection (and a new server thread)"
        )
    else:
        print(f"keep-alive: all {timed} timed requests reused their connections")
    if mismatches:
        print("REQUEST COUNT MISMATCH: " + "; ".join(mismatches))
    else:
        print("/sim/stats request counts match the client's for every case")
    print()
    rows = summary_rows(args, results, (build, after_build, after_walk, at_end), builds)
    harness.print_table(rows)
    harness.print_footer(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
