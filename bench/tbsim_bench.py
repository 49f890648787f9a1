"""Throughput of the ThingsBoard simulator's v2 alarm list over the `scale` scenario.

Run from the repository root:

    .venv/bin/python bench/tbsim_bench.py
    .venv/bin/python bench/tbsim_bench.py --alarms 100000 --active 10000 --seconds 3 --rounds 3

Target (issue 2): case (a), GET /api/v2/alarms?pageSize=100&page=0&sortProperty=createdTime
&sortOrder=DESC, at least 500 requests/s with the simulator on one core, so that the
simulator is never the bottleneck of AlarmDesk's own benchmarks.

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
- Every case runs `--rounds` times, interleaved, `--seconds` each; req/s is the median of
  the rounds, p50/p95 come from all requests of the case pooled. After each case the
  simulator's own count (GET /sim/stats) must equal the requests the client made.
- Case (e) is different: one client alternates POST /sim/alarms (the rule engine raises or
  re-triggers an alarm, so the store's version moves and the list cache is stale) with the
  list query of case (a), and only the list query is timed: the cost of a recomputation.
  Its req/s is therefore 1 / mean latency of that uncached query, not a throughput.

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

ROOT = Path(__file__).resolve().parent.parent
LIST = "/api/v2/alarms?pageSize=100&page={page}&sortProperty={sort}&sortOrder=DESC{extra}"
CASES = [
    ("a", "createdTime DESC, page 0", LIST.format(page=0, sort="createdTime", extra="")),
    (
        "b",
        "+ statusList=ACTIVE",
        LIST.format(page=0, sort="createdTime", extra="&statusList=ACTIVE"),
    ),
    ("c", "createdTime DESC, page 50", LIST.format(page=50, sort="createdTime", extra="")),
    (
        "d",
        "endTs DESC, ACTIVE+UNACK",
        LIST.format(page=0, sort="endTs", extra="&statusList=ACTIVE&statusList=UNACK"),
    ),
]
UNCACHED = ("e", "(a) after a change, uncached", CASES[0][2])
ROUTE = "GET /api/v2/alarms"
TARGET = 500


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alarms", type=int, default=100_000)
    parser.add_argument("--active", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="per case and round")
    parser.add_argument("--rounds", type=int, default=3, help="req/s is the median of these")
    parser.add_argument("--clients", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to cores")
    return parser.parse_args(argv)


# --- the simulator process ---------------------------------------------------------------


def start_simulator(args):
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
        str(args.alarms),
        "--active",
        str(args.active),
    ]
    pinned = not args.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    if pinned:
        cmd = ["taskset", "-c", "0", *cmd]
        os.sched_setaffinity(0, {1})  # the load generator on the other core
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
    return proc, match.group(1), int(match.group(2)), build, bool(pinned)


def cpu_seconds(pid):
    """utime + stime of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the client --------------------------------------------------------------------------


class Client:
    def __init__(self, host, port, token=None):
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
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


def sign_in(host, port):
    client = Client(host, port)
    body = {"username": "tenant@thingsboard.org", "password": "tenant"}
    token = client.json("POST", "/api/auth/login", body)["token"]
    client.close()
    return token


def load(host, port, token, path, seconds, clients):
    """`clients` threads, each on its own connection (kept alive if the server lets it)."""
    latencies = [[] for _ in range(clients)]
    errors, closes = [], []
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()

    def worker(index):
        client = Client(host, port, token)
        out = latencies[index]
        client.call("GET", path)  # connect (and warm) outside the timed window
        client.server_closes = 0
        barrier.wait()
        clock = time.perf_counter
        try:
            while not stop.is_set():
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
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    samples = [x for per_client in latencies for x in per_client]
    return samples, elapsed, elapsed, errors, sum(closes)


def uncached(host, port, token, path, seconds, device):
    """Raise or re-trigger an alarm, then time the first list query that follows."""
    client = Client(host, port, token)
    change = {"device": device, "type": "Device Offline", "severity": "MAJOR"}
    samples, errors = [], []
    closes = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or not samples:
        client.json("POST", "/sim/alarms", change)
        before = client.server_closes
        t0 = time.perf_counter()
        status, _ = client.call("GET", path)
        samples.append(time.perf_counter() - t0)
        closes += client.server_closes - before
        if status != 200:
            errors.append(status)
    wall = time.perf_counter() - started
    client.close()
    return samples, sum(samples), wall, errors, closes


# --- the run -----------------------------------------------------------------------------


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def main(argv=None):
    args = parse_args(argv)
    proc, host, port, build, pinned = start_simulator(args)
    try:
        token = sign_in(host, port)
        control = Client(host, port, token)
        first = control.json("GET", CASES[0][2])
        if len(first["data"]) != 100:
            sys.exit(f"expected a full page, got {len(first['data'])} alarms")
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
            }
            for key, _, _ in [*CASES, UNCACHED]
        }
        mismatches = []

        def run(key, fn):
            control.json("POST", "/sim/stats/reset")
            srv0, cli0 = cpu_seconds(proc.pid), time.process_time()
            samples, busy, wall, errors, closes = fn()
            srv1, cli1 = cpu_seconds(proc.pid), time.process_time()
            stats = control.json("GET", "/sim/stats")
            counted = stats["routes"].get(ROUTE, {}).get("count", 0)
            # The load threads' warm-up requests are counted by the simulator too.
            expected = len(samples) + (args.clients if key != "e" else 0)
            if counted != expected:
                mismatches.append(f"case {key}: client {expected}, /sim/stats {counted}")
            r = results[key]
            r["samples"] += samples
            r["rates"].append(len(samples) / busy)
            r["count"] += len(samples)
            r["errors"] += errors
            r["closes"] += closes
            r["srv"] += srv1 - srv0
            r["cli"] += cli1 - cli0
            r["wall"] += wall

        for _ in range(args.rounds):
            for key, _, path in CASES:
                run(key, lambda p=path: load(host, port, token, p, args.seconds, args.clients))
        # Last, as it changes the store.
        for _ in range(args.rounds):
            run("e", lambda: uncached(host, port, token, UNCACHED[2], args.seconds, device))
        control.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    print(
        f"simulator: scale scenario, {args.alarms} alarms, {args.active} active; "
        f"{'pinned to core 0 (taskset), client on core 1' if pinned else 'not pinned'}"
    )
    print(
        f"client: http.client, {args.clients} client threads, one connection each (case e: 1), "
        f"{args.rounds} rounds x {args.seconds:g} s per case; req/s = median of rounds"
    )
    print(f"build: {build:.2f} s from process start to the listening line")
    print()
    header = (
        f"{'case':<36} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'srv cpu':>8} {'cli cpu':>8}"
    )
    print(header)
    print("-" * len(header))
    for key, label, _ in [*CASES, UNCACHED]:
        r = results[key]
        ordered = sorted(r["samples"])
        wall = r["wall"] or float("nan")
        print(
            f"{f'({key}) {label}':<36} {r['count']:>8} {statistics.median(r['rates']):>8.0f} "
            f"{percentile(ordered, 0.5) * 1000:>8.2f} {percentile(ordered, 0.95) * 1000:>8.2f} "
            f"{r['srv'] / wall:>7.0%} {r['cli'] / wall:>7.0%}"
        )
    print()
    for key, _, _ in [*CASES, UNCACHED]:
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
    rate = statistics.median(results["a"]["rates"])
    verdict = "PASS" if rate >= TARGET else "FAIL"
    print(f"target (a) >= {TARGET} req/s on one core: {verdict} ({rate:.0f} req/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
