"""A soak: people watching AlarmDesk for minutes while its parts fail on a schedule.

Run from the repository root:

    .venv/bin/python bench/soak_bench.py                       # 200 watchers, 10 minutes
    .venv/bin/python bench/soak_bench.py --watchers 50 --minutes 3

Targets (the production issue): no 5xx (nor a failed request) outside ThingsBoard's outage
window; every alarm change made in ThingsBoard during the soak in the store at the end;
the memory of each process flat.

What runs: the production topology of tests/topology.py (deploy/'s units and env
template; two web servers, two of each Celery worker, one beat; a database in a private
PostgreSQL cluster and a Redis of its own) against the simulator's demo world. Watchers
are signed-in pages (tenant administrators and customer users, the list and on-call,
spread over both web servers) polling every 2 s as live.js does, each a thread of this
process. Meanwhile an alarm is raised, acknowledged or cleared in ThingsBoard every second
through its own API. The faults, at fixed fractions of the soak: ThingsBoard down for 60 s
(at 20 %), Redis restarted (40 %), a sync worker SIGKILLed and started again 2 s later as
systemd would (55 %), a general worker SIGKILLed likewise (65 %), a web server's workers
reloaded (SIGHUP, systemctl reload: 75 %). The outage window allowed for 5xx runs from its
start to 15 s after its end (the sync's next cycles). Memory is each process's resident
set, its children included (gunicorn's and Celery's workers), read from /proc after the
first minute (before the first fault) and at the end; "flat" is a growth under 15 % and
40 MB. A process restarted by a fault is measured afresh: its growth says nothing.
"""

import argparse
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

sys.path.insert(0, str(harness.ROOT))
from tests.pgcluster import Cluster
from tests.thingsboard_side import CUSTOMER_A, CUSTOMER_B, TENANT
from tests.topology import (
    Watcher,
    healthy,
    running,
    store_matches_thingsboard,
    thingsboard_changes,
    wait_for,
)

OUTAGE_SECONDS = 60
GRACE_SECONDS = 15


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10)
    return parser.parse_args(argv)


def resident_mb(pid):
    """The resident memory of a process and all its descendants, in MB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(
                next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
            )
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, StopIteration):
            continue
        todo += [int(child) for child in children]
    return total / 1024


def memory(topology):
    return {name: resident_mb(process.pid) for name, (process, _) in topology.processes.items()}


def main(argv=None):
    args = parse_args(argv)
    seconds = args.minutes * 60
    workdir = Path(tempfile.mkdtemp(prefix="soak-bench-"))
    sim_proc, url, _ = harness.start_simulator("--scenario", "demo", "--no-generator")
    tbsim = SimpleNamespace(url=url)
    try:
        # Every watcher signs in from this one address, dozens as each persona at once: the
        # sign-in throttle's limits (per address, as behind a NAT, README "Security"; and per
        # username, which only a success clears) are raised to let them all in.
        many = str(10 * args.watchers)
        throttle = {"LOGIN_THROTTLE_ADDRESS_ATTEMPTS": many, "LOGIN_THROTTLE_ATTEMPTS": many}
        with Cluster() as cluster, running(cluster, url, workdir, **throttle) as topology:
            for base in topology.bases:
                wait_for(lambda base=base: healthy(base), 120, f"{base}/healthz", topology)
            started = time.monotonic()
            until = started + seconds
            personas = [TENANT, CUSTOMER_A, CUSTOMER_B]
            paths = ["/alarms/", "/oncall/"]
            watchers = [
                Watcher(topology.bases[n % 2], personas[n % 3], paths[n // 2 % 2], until, started)
                for n in range(args.watchers)
            ]
            for watcher in watchers:
                watcher.start()
                time.sleep(0.02)  # sign-ins spread, not a burst against the throttle
            touched = set()
            changer = threading.Thread(target=thingsboard_changes, args=(tbsim, until, touched))
            changer.start()
            first = run_faults(topology, url, started, seconds)
            changer.join(timeout=seconds)
            for watcher in watchers:
                watcher.join(timeout=60)
            last = memory(topology)
            matched = True
            try:
                wait_for(lambda: store_matches_thingsboard(topology, tbsim), 90, "", topology)
            except AssertionError:
                matched = False
            report(args, watchers, touched, matched, first, last, seconds)
    finally:
        harness.stop(sim_proc)


SCHEDULE = {}  # fault -> second it started, filled as the soak runs
RESTARTED = ("redis", "sync1", "worker2")  # started again by a fault: a new process


def run_faults(topology, url, started, seconds):
    """The faults, at their moments, and the memory's first sample (after a minute, or
    earlier in a short soak: before the first fault); returns that sample."""
    import requests

    def at(fraction):
        time.sleep(max(0.0, started + fraction * seconds - time.monotonic()))
        return round(time.monotonic() - started)

    at(min(60 / seconds, 0.15))
    first = memory(topology)
    SCHEDULE["ThingsBoard down"] = at(0.2)
    requests.post(f"{url}/sim/faults", json={"outage": True}, timeout=5).raise_for_status()
    time.sleep(OUTAGE_SECONDS)
    requests.delete(f"{url}/sim/faults", timeout=5).raise_for_status()
    SCHEDULE["ThingsBoard back"] = round(time.monotonic() - started)
    SCHEDULE["Redis restarted"] = at(0.4)
    topology.restart("redis")
    SCHEDULE["sync worker killed"] = at(0.55)
    topology.restart("sync1", how=signal.SIGKILL, pause=2)
    SCHEDULE["general worker killed"] = at(0.65)
    topology.restart("worker2", how=signal.SIGKILL, pause=2)
    SCHEDULE["web workers reloaded"] = at(0.75)
    web, _ = topology.processes["web1"]
    os.kill(web.pid, signal.SIGHUP)
    return first


def report(args, watchers, touched, matched, first, last, seconds):
    answers = [answer for watcher in watchers for answer in watcher.answers]
    outage = (SCHEDULE["ThingsBoard down"], SCHEDULE["ThingsBoard back"] + GRACE_SECONDS)
    inside = [a for a in answers if outage[0] <= a[0] <= outage[1]]
    outside = [a for a in answers if a not in inside]

    def failed(outcome):
        return not (isinstance(outcome, int) and outcome < 500)

    bad = [a for a in outside if failed(a[1])]
    took = [a[2] * 1000 for a in outside if not failed(a[1])]
    p50, p95 = harness.percentiles(took) if took else (0, 0)
    rows = [
        (
            "refreshes answered outside the outage",
            f"{len(outside) - len(bad):,} of {len(outside):,}; refresh p50 / p95 {p50:.0f} / "
            f"{p95:.0f} ms",
            "every one",
            "PASS" if not bad else "FAIL",
        ),
        (
            "failures outside the outage (second, what)",
            ", ".join(f"{a[0]:.0f} s {a[1]}" for a in bad[:8]) or "none",
            "none",
            "PASS" if not bad else "FAIL",
        ),
        (
            "during the outage window (5xx allowed)",
            f"{sum(not failed(a[1]) for a in inside):,} answered, "
            f"{sum(failed(a[1]) for a in inside):,} failed",
            "-",
            "-",
        ),
        (
            "changes made in ThingsBoard, all in the store at the end",
            f"{len(touched):,} alarms changed; store matches ThingsBoard: {matched}",
            "all",
            "PASS" if matched and touched else "FAIL",
        ),
    ]
    for name in last:
        start, end = first[name], last[name]
        if name in RESTARTED:
            rows.append((f"memory: {name}", f"{end:.0f} MB (restarted)", "-", "-"))
            continue
        grew = end - start
        flat = grew < 40 and grew < 0.15 * start
        rows.append(
            (
                f"memory: {name}",
                f"{start:.0f} MB before the faults -> {end:.0f} MB ({grew:+.0f} MB)",
                "flat (< +15 %, < +40 MB)",
                "PASS" if flat else "FAIL",
            )
        )
    schedule = ", ".join(f"{what} at {second} s" for what, second in SCHEDULE.items())
    harness.print_table(
        rows,
        [
            f"soak: {args.watchers} watchers for {seconds / 60:g} min ({len(answers):,} "
            f"refreshes); faults: {schedule}",
            f"machine: {os.cpu_count()} cores ({platform.machine()}), Python "
            f"{platform.python_version()}",
            "command: " + " ".join([".venv/bin/python", "bench/soak_bench.py", *sys.argv[1:]]),
        ],
    )


if __name__ == "__main__":
    main()
