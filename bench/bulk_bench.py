"""The sync's age while two bulk jobs run, with the Procfile's own worker processes.

Run from the repository root:

    .venv/bin/python bench/bulk_bench.py
    .venv/bin/python bench/bulk_bench.py --jobs 2 --alarms-per-job 653 --latency-ms 150 --seconds 60

Target (issue 10, "Hardening"): while two bulk jobs over 600+ alarms run with 150 ms of
ThingsBoard latency, the sync's age (now minus its last success, as /healthz reports it)
is never more than 3 sync intervals (3 x ALARMDESK_SYNC_SECONDS); and each job acts on at
most bulk.MAX_ALARMS_PER_SECOND alarms a second.

How it measures:
- The simulator's scale scenario (no generator) as a subprocess, a private redis-server, a
  fresh SQLite file (WAL); the store is synced first (backfill), before any latency.
- `worker-sync`, `worker` and `beat` are started exactly as the Procfile says (beat with its
  schedule file in the temporary directory), so the sync runs on its own queue and process,
  scheduled by the real beat every ALARMDESK_SYNC_SECONDS.
- The tenant administrator signs in to AlarmDesk (Django's test client, in this process) and
  asks for the bulk jobs, each acknowledging its own share of the active, unacknowledged
  alarms; then ThingsBoard's latency is set (POST /sim/faults) and, once a second for
  `--seconds`, the sync's age and each job's progress are sampled and printed.
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

ROOT = Path(__file__).resolve().parent.parent
TENANT = ("tenant@thingsboard.org", "tenant")
PROCESSES = ("worker-sync", "worker", "beat")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="bulk jobs at once (at most 2)")
    parser.add_argument("--alarms-per-job", type=int, default=653)
    parser.add_argument("--latency-ms", type=int, default=150, help="ThingsBoard's latency")
    parser.add_argument("--seconds", type=int, default=60, help="how long to sample")
    parser.add_argument("--alarms", type=int, default=8000, help="scale: alarms in all")
    parser.add_argument("--active", type=int, default=3500, help="scale: of which active")
    return parser.parse_args(argv)


def procfile_commands(schedule):
    """The Procfile's command of each process this bench starts."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    entries = dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))
    commands = {name: shlex.split(entries[name]) for name in PROCESSES}
    beat = commands["beat"]
    beat[beat.index("--schedule") + 1] = str(schedule)
    return commands


def start_processes(workdir):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    started = {}
    for name, command in procfile_commands(Path(workdir) / "celerybeat-schedule").items():
        log = open(Path(workdir) / f"{name}.log", "wb")  # noqa: SIM115 (closed with the run)
        started[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    return started


def sync_age():
    from alarmdesk.alarms import sync

    status = sync.status() or {}
    return sync.age_seconds(status.get("last_success"))


def ask_for_jobs(args):
    from django.test import Client

    from alarmdesk.alarms.models import Alarm, BulkJob

    client = Client()
    answer = client.post("/login/", {"username": TENANT[0], "password": TENANT[1]})
    assert answer.status_code == 302, answer.content
    unacked = Alarm.objects.filter(cleared=False, acknowledged=False).order_by("id")
    ids = [str(i) for i in unacked.values_list("id", flat=True)]
    wanted = args.jobs * args.alarms_per_job
    if len(ids) < wanted:
        sys.exit(f"only {len(ids)} active unacknowledged alarms; {wanted} wanted (--active)")
    jobs = []
    for n in range(args.jobs):
        share = ids[n * args.alarms_per_job : (n + 1) * args.alarms_per_job]
        proposal = client.post("/alarms/bulk/", {"action": "ack", "ids": share})
        [job] = re.findall(r'name="job" value="(\d+)"', proposal.content.decode())
        answer = client.post("/alarms/bulk/", {"job": job})  # confirmed, as a person would
        assert answer.status_code == 302, answer.content
        jobs.append(int(answer["Location"].rstrip("/").rsplit("/", 1)[1]))
    return [BulkJob.objects.get(id=i) for i in jobs]


def sample(args, jobs):
    """(second, sync age, alarms done per job, distinct sync successes so far) each second."""
    from alarmdesk.alarms import sync

    rows, successes = [], set()
    started = time.monotonic()
    for second in range(1, args.seconds + 1):
        time.sleep(max(0, started + second - time.monotonic()))
        status = sync.status() or {}
        successes.add(status.get("last_success"))
        done = [job.auditentry_set.exclude(outcome="pending").count() for job in jobs]
        rows.append((second, sync_age(), done, len(successes - {None})))
    return rows


def main(argv=None):
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bulk-bench-"))
    redis_proc = sim_proc = None
    started = {}
    try:
        redis_proc, redis_port = harness.start_redis(workdir)
        sim_proc, url, _ = harness.scale_simulator(args.alarms, args.active)
        harness.setup_django(workdir, redis_port, url, ALARMDESK_RECONCILE_SECONDS="100000")
        from django.conf import settings

        from alarmdesk.alarms import bulk, sync
        from alarmdesk.alarms.models import SyncState

        while not (SyncState.objects.filter(backfill_done=True).exists()):
            sync.run_cycle()
        jobs = ask_for_jobs(args)
        requests.post(f"{url}/sim/faults", json={"latency_ms": args.latency_ms}, timeout=10)
        started = start_processes(workdir)
        rows = sample(args, jobs)
    finally:
        for proc in started.values():
            harness.stop(proc)
        from django.db import connections

        connections.close_all()
        harness.stop(sim_proc)
        harness.stop(redis_proc)
        shutil.rmtree(workdir, ignore_errors=True)

    interval = settings.ALARMDESK_SYNC_SECONDS
    print(
        f"{'s':>3} | {'sync age (s)':>12} | "
        + " | ".join(f"job {n + 1} done" for n in range(len(jobs)))
    )
    for second, age, done, _ in rows:
        shown = "never" if age is None else f"{age:.1f}"
        print(f"{second:>3} | {shown:>12} | " + " | ".join(f"{d:>10}" for d in done))
    print()
    ages = [age for _, age, _, _ in rows if age is not None]
    worst = max(ages) if len(ages) == len(rows) else float("inf")
    rate = max(done / args.seconds for done in rows[-1][2])
    runs = rows[-1][3]
    table = [
        (
            "sync age, worst",
            f"{worst:.1f} s",
            f"<= {3 * interval} s",
            _verdict(worst <= 3 * interval),
        ),
        (
            "sync runs that succeeded",
            f"{runs} in {args.seconds} s",
            f"~{args.seconds // interval}",
            "-",
        ),
        (
            "bulk rate, fastest job",
            f"{rate:.1f} alarms/s",
            f"<= {bulk.MAX_ALARMS_PER_SECOND}",
            _verdict(rate <= bulk.MAX_ALARMS_PER_SECOND),
        ),
    ]
    harness.print_table(
        table,
        [
            f"{len(jobs)} bulk jobs of {args.alarms_per_job} acknowledgements, ThingsBoard latency "
            f"{args.latency_ms} ms; simulator: scale, {args.alarms:,} alarms, {args.active:,} "
            f"active; processes as in the Procfile: {', '.join(PROCESSES)}",
        ],
    )
    harness.print_footer(table)


def _verdict(ok):
    return "PASS" if ok else "FAIL"


if __name__ == "__main__":
    main()
