"""The alarm sync against the ThingsBoard simulator's `scale` scenario.

Run from the repository root:

    .venv/bin/python bench/sync_bench.py
    .venv/bin/python bench/sync_bench.py --alarms 100000 --active 10000 --cycles 20

Targets (the sync issue), with 100,000 alarms over 30 days of which 10,000 active:
- an unchanged fast cycle: at most 4 ThingsBoard requests and 100 ms (here: its p95),
  whatever the number of alarms, and no database write;
- a fast cycle after 100 changes (new alarms, re-triggers, acknowledgements, clearings):
  at most 500 ms (here: its p95), and every change in the store after it;
- a reconciliation: at most 3 s (also measured: the one after an alarm is deleted in
  ThingsBoard, which finds the history window's count changed and halves it down to the
  part that differs);
- the sync process under 200 MB;
- a new, a re-triggered, an acknowledged and a cleared alarm each in the store after one
  fast cycle.

How it measures:
- The simulator runs as a separate process (`python -m alarmdesk.tbsim --scenario scale
  --no-generator`), pinned to core 0 with `taskset -c 0` when there are two cores or more;
  this process, which runs the sync itself (`sync.run_cycle()`, as the Celery task does),
  pins itself to core 1. A private redis-server (no persistence) runs on a free port, and
  the store is a fresh SQLite file (WAL) in a temporary directory; all three go at the end.
- ALARMDESK_RECONCILE_SECONDS is raised so that no reconciliation happens unless asked
  for (`run_cycle(reconcile_now=True)`), as in the tests. The backfill keeps its own
  time box (sync.BACKFILL_BUDGET_SECONDS per run): its time is the sum of the run_cycle()
  calls until SyncState.backfill_done, the first of which also does the first
  reconciliation (every run reconciles when it never has).
- ThingsBoard requests are the simulator's own count of /api/ requests (POST
  /sim/stats/reset before, GET /sim/stats after each measured run; /sim/ calls are not
  counted); the sync's own count is shown beside it (the simulator's also has the sync
  account's sign-in, in the first run). "HTTP" is the time this process spent
  inside requests' Session.request for the sync's calls (the simulator's work, the network
  and reading the body; not the JSON parsing).
- Changes are made through the simulator just before the measured cycle: new alarms and
  re-triggers as the rule engine (POST /sim/alarms), acknowledgements as
  tenant@thingsboard.org (POST /api/alarm/{id}/ack), clearings as the rule engine (POST
  /sim/alarms/{id}/clear). Afterwards each one is looked up in the store.
- Database writes: the non-SELECT statements Django ran during the unchanged cycles
  (django.test.utils.CaptureQueriesContext).
- Memory: the peak resident set of this process (getrusage ru_maxrss), which is the sync
  process (the bench's own data in it is small): at the end of everything but the deletion
  case, with the figures after start-up and after the backfill beside it; then again after
  the reconciliation that follows a deletion, which runs last since ru_maxrss never falls.

The machine is shared and noisy: compare figures within one run, never across runs.
"""

import argparse
import os
import random
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

ROOT = Path(__file__).resolve().parent.parent
TENANT = ("tenant@thingsboard.org", "tenant")
KINDS = ("new", "re-triggered", "acknowledged", "cleared")
MAX_DELAY_CYCLES = 5  # fast cycles to wait for one change before calling it missed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=20, help="unchanged fast cycles timed")
    parser.add_argument("--alarms", type=int, default=100_000, help="scale: alarms in all")
    parser.add_argument("--active", type=int, default=10_000, help="scale: of which active")
    parser.add_argument("--changes", type=int, default=100, help="changes before a cycle")
    parser.add_argument("--rounds", type=int, default=5, help="cycles after --changes changes")
    parser.add_argument("--reconciles", type=int, default=3, help="reconciliations timed")
    parser.add_argument("--seed", type=int, default=7, help="picks the alarms to change")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to cores")
    parser.add_argument(
        "--skip-deletion", action="store_true", help="skip the reconciliation after a deletion"
    )
    return parser.parse_args(argv)


# --- the processes: redis-server and the simulator -----------------------------------------


# --- ThingsBoard as the bench sees it (not through AlarmDesk's client) ---------------------


class Tb:
    def __init__(self, url):
        self.url = url
        self.http = harness.tb_session(url, TENANT)

    def sim(self, method, path, body=None):
        answer = self.http.request(method, f"{self.url}/sim{path}", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def api(self, method, path, params=None):
        answer = self.http.request(method, f"{self.url}/api{path}", params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def reset_stats(self):
        self.sim("POST", "/stats/reset")

    def api_requests(self):
        routes = self.sim("GET", "/stats")["routes"]
        return sum(entry["count"] for route, entry in routes.items() if " /api/" in route)

    def count(self, **params):
        page = self.api("GET", "/v2/alarms", {"page": 0, "pageSize": 1, **params})
        return page["totalElements"]

    def active_alarms(self):
        """(id, device, type, severity, acknowledged) of every active alarm."""
        found, page = [], 0
        while True:
            params = {
                "page": page,
                "pageSize": 1000,
                "statusList": "ACTIVE",
                "sortProperty": "createdTime",
                "sortOrder": "DESC",
            }
            answer = self.api("GET", "/v2/alarms", params)
            found += [
                (a["id"]["id"], a["originatorName"], a["type"], a["severity"], a["acknowledged"])
                for a in answer["data"]
            ]
            if not answer["hasNext"]:
                return found
            page += 1

    def newest_cleared(self):
        params = {
            "page": 0,
            "pageSize": 1,
            "statusList": "CLEARED",
            "sortProperty": "createdTime",
            "sortOrder": "DESC",
        }
        return self.api("GET", "/v2/alarms", params)["data"][0]["id"]["id"]

    def device_names(self, count):
        params = {"page": 0, "pageSize": count, "sortProperty": "name", "sortOrder": "ASC"}
        return [d["name"] for d in self.api("GET", "/tenant/devices", params)["data"]]


class Changes:
    """Makes changes in ThingsBoard and remembers what the store must show for each."""

    def __init__(self, tb, rng):
        self.tb = tb
        self.rng = rng
        active = tb.active_alarms()
        rng.shuffle(active)
        self.unacked = [a for a in active if not a[4]]
        self.others = [a for a in active if a[4]]  # acknowledged: to re-trigger or clear
        self.devices = tb.device_names(100)
        self.made = 0

    def _pick(self, unacked=False):
        pool = self.unacked if unacked or not self.others else self.others
        return pool.pop()

    def make(self, kind):
        """Returns (kind, alarm id, store field, value the store must have)."""
        self.made += 1
        if kind == "new":
            body = {
                "device": self.rng.choice(self.devices),
                "type": f"Bench Alarm {self.made}",
                "severity": "MAJOR",
            }
            info = self.tb.sim("POST", "/alarms", body)
            return kind, info["id"]["id"], "created_time", info["createdTime"]
        if kind == "re-triggered":
            alarm_id, device, alarm_type, severity, _ = self._pick()
            body = {"device": device, "type": alarm_type, "severity": severity}
            info = self.tb.sim("POST", "/alarms", body)
            if info["id"]["id"] != alarm_id:
                raise RuntimeError(f"re-trigger of {alarm_id} raised {info['id']['id']}")
            return kind, alarm_id, "end_ts", info["endTs"]
        if kind == "acknowledged":
            alarm_id = self._pick(unacked=True)[0]
            self.tb.api("POST", f"/alarm/{alarm_id}/ack")
            return kind, alarm_id, "acknowledged", True
        alarm_id = self._pick()[0]
        self.tb.sim("POST", f"/alarms/{alarm_id}/clear")
        return kind, alarm_id, "cleared", True


def in_store(expected):
    """The changes of `expected` the store shows."""
    from alarmdesk.alarms.models import Alarm

    rows = {
        str(row["id"]): row
        for row in Alarm.objects.filter(id__in=[e[1] for e in expected]).values(
            "id", "created_time", "end_ts", "acknowledged", "cleared"
        )
    }
    return [e for e in expected if e[1] in rows and rows[e[1]][e[2]] == e[3]]


# --- the sync, measured ----------------------------------------------------------------------


class Run:
    def __init__(self, seconds, tb_requests, counts, http_seconds, writes=None):
        self.seconds = seconds
        self.tb_requests = tb_requests
        self.counts = counts
        self.http_seconds = http_seconds
        self.writes = writes


class Sync:
    """run_cycle() with ThingsBoard's request count and the time spent waiting on HTTP."""

    def __init__(self, tb):
        from alarmdesk.alarms import account, sync

        self.tb = tb
        self.sync = sync
        self.http_seconds = 0.0
        session = account._client().session  # the one the sync account's clients share
        send = session.request

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return send(*args, **kwargs)
            finally:
                self.http_seconds += time.perf_counter() - started

        session.request = timed

    def run(self, *, reconcile_now=False, capture=False):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.tb.reset_stats()
        self.http_seconds = 0.0
        writes = None
        started = time.perf_counter()
        if capture:
            with CaptureQueriesContext(connection) as queries:
                counts = self.sync.run_cycle(reconcile_now=reconcile_now)
            writes = [
                q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")
            ]
        else:
            counts = self.sync.run_cycle(reconcile_now=reconcile_now)
        seconds = time.perf_counter() - started
        if counts is None:
            raise RuntimeError("run_cycle() found the sync lock taken")
        return Run(seconds, self.tb.api_requests(), counts, self.http_seconds, writes)


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def configure(workdir, redis_port, tb_url):
    """The environment the settings read, then Django and a migrated, empty store."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "alarmdesk.settings",
            "SECRET_KEY": f"bench-only-{secrets.token_hex(24)}",
            "DEBUG": "false",
            "DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "TB_URL": tb_url,
            "TB_SYNC_USERNAME": TENANT[0],
            "TB_SYNC_PASSWORD": TENANT[1],
            "ALARMDESK_RECONCILE_SECONDS": str(10**9),
            "ALARMDESK_BACKFILL_DAYS": "30",
            "LOG_LEVEL": "WARNING",  # not one line per cycle in the middle of the table
        }
    )
    os.environ.pop("TB_SYNC_API_KEY", None)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def measure(args, tb):
    from alarmdesk.alarms.models import Alarm, AlarmEvent, SyncState

    sync = Sync(tb)
    results = {"rss_start": rss_mb()}

    # The backfill: run_cycle() until done, as the beat would call it.
    backfill = []
    while True:
        backfill.append(sync.run())
        state = SyncState.objects.get()
        if state.backfill_done:
            break
        if len(backfill) >= 100:
            raise RuntimeError("the backfill did not end in 100 runs")
    window = {"startTime": state.backfill_since, "endTime": state.backfill_until}
    results["backfill"] = backfill
    results["window_tb"] = tb.count(**window)
    results["window_store"] = Alarm.objects.filter(
        created_time__gte=state.backfill_since, created_time__lte=state.backfill_until
    ).count()
    results["alarms_stored"] = Alarm.objects.count()
    results["events_stored"] = AlarmEvent.objects.count()
    results["tb_total"] = tb.count()
    results["rss_backfill"] = rss_mb()

    # Unchanged fast cycles (after one untimed, which settles the watermarks).
    sync.run()
    results["unchanged"] = [sync.run(capture=True) for _ in range(args.cycles)]

    # Fast cycles right after `--changes` changes of the four kinds, mixed.
    changes = Changes(tb, random.Random(args.seed))
    rounds = []
    for _ in range(args.rounds):
        kinds = [KINDS[i % len(KINDS)] for i in range(args.changes)]
        changes.rng.shuffle(kinds)
        expected = [changes.make(kind) for kind in kinds]
        run = sync.run()
        seen = in_store(expected)
        missed = {kind: 0 for kind in KINDS}
        for change in set(expected) - set(seen):
            missed[change[0]] += 1
        rounds.append((run, len(seen), len(expected), missed))
    results["rounds"] = rounds

    # Reconciliations (the first also repairs whatever the fast cycles missed above).
    results["reconciles"] = [sync.run(reconcile_now=True) for _ in range(args.reconciles)]

    # One change of each kind, then fast cycles until the store shows it.
    delays = {}
    for kind in KINDS:
        expected = [changes.make(kind)]
        delays[kind] = None
        for cycle in range(1, MAX_DELAY_CYCLES + 1):
            sync.run()
            if in_store(expected):
                delays[kind] = cycle
                break
    results["delays"] = delays
    results["rss_end"] = rss_mb()

    # A cleared alarm deleted in ThingsBoard (retention, a user): no ordering shows it, the
    # history check of the next reconciliation does.
    if not args.skip_deletion:
        victim = tb.newest_cleared()
        tb.api("DELETE", f"/alarm/{victim}")
        run = sync.run(reconcile_now=True)
        marked = Alarm.objects.filter(id=victim, deleted=True).exists()
        results["deletion"] = (run, marked, rss_mb())
    return results


# --- the report ----------------------------------------------------------------------------


def verdict(ok):
    return "PASS" if ok else "FAIL"


def table_rows(args, r):
    rows = []
    ms = 1000

    backfill = r["backfill"]
    seconds = sum(run.seconds for run in backfill)
    rows.append(
        (
            "backfill: time (sum of run_cycle() calls)",
            f"{seconds:.1f} s in {len(backfill)} runs (HTTP "
            f"{sum(run.http_seconds for run in backfill):.1f} s)",
            "-",
            "-",
        )
    )
    rows.append(
        (
            "backfill: ThingsBoard requests",
            f"{sum(run.tb_requests for run in backfill)} "
            f"(sync's count {sum(run.counts['requests'] for run in backfill)})",
            "-",
            "-",
        )
    )
    rows.append(
        (
            "backfill: alarms stored in its window",
            f"{r['window_store']:,} of ThingsBoard's {r['window_tb']:,} "
            f"({r['alarms_stored']:,} rows, {r['events_stored']:,} events)",
            "all",
            verdict(r["window_store"] == r["window_tb"]),
        )
    )

    unchanged = r["unchanged"]
    times = sorted(run.seconds for run in unchanged)
    http = statistics.median(run.http_seconds for run in unchanged)
    p95 = percentile(times, 0.95)
    rows.append(
        (
            f"fast cycle, no change: p50 / p95 ({len(unchanged)} cycles)",
            f"{percentile(times, 0.5) * ms:.0f} / {p95 * ms:.0f} ms (HTTP p50 {http * ms:.0f} ms)",
            "<= 100 ms",
            verdict(p95 <= 0.100),
        )
    )
    most = max(run.tb_requests for run in unchanged)
    own = max(run.counts["requests"] for run in unchanged)
    rows.append(
        (
            "fast cycle, no change: ThingsBoard requests",
            f"{most} (most in one cycle; sync's count {own})",
            "<= 4",
            verdict(most <= 4),
        )
    )
    writes = sum(len(run.writes) for run in unchanged)
    rows.append(
        (
            "fast cycle, no change: database writes",
            f"{writes} over {len(unchanged)} cycles",
            "0",
            verdict(writes == 0),
        )
    )

    rounds = r["rounds"]
    times = sorted(run.seconds for run, _, _, _ in rounds)
    http = statistics.median(run.http_seconds for run, _, _, _ in rounds)
    p95 = percentile(times, 0.95)
    rows.append(
        (
            f"fast cycle, {args.changes} changes: p50 / p95 ({len(rounds)} cycles)",
            f"{percentile(times, 0.5) * ms:.0f} / {p95 * ms:.0f} ms (HTTP p50 {http * ms:.0f} ms)",
            "<= 500 ms",
            verdict(p95 <= 0.500),
        )
    )
    rows.append(
        (
            f"fast cycle, {args.changes} changes: ThingsBoard requests",
            f"{min(run.tb_requests for run, _, _, _ in rounds)}"
            f"-{max(run.tb_requests for run, _, _, _ in rounds)} per cycle",
            "-",
            "-",
        )
    )
    seen = min(s for _, s, _, _ in rounds)
    total = rounds[0][2] if rounds else 0
    missed = {kind: sum(m[kind] for _, _, _, m in rounds) for kind in KINDS}
    detail = ", ".join(f"{n} {kind}" for kind, n in missed.items() if n)
    rows.append(
        (
            f"fast cycle, {args.changes} changes: in the store after it",
            f"{seen} of {total} (worst round)"
            + (f"; missed over all rounds: {detail}" if detail else ""),
            f"{total} of {total}",
            verdict(seen == total),
        )
    )

    reconciles = r["reconciles"]
    times = sorted(run.seconds for run in reconciles)
    worst = times[-1]
    rows.append(
        (
            f"reconciliation: whole run_cycle, median / max ({len(reconciles)})",
            f"{statistics.median(times):.2f} / {worst:.2f} s (HTTP median "
            f"{statistics.median(run.http_seconds for run in reconciles):.2f} s)",
            "<= 3 s",
            verdict(worst <= 3.0),
        )
    )
    rows.append(
        (
            "reconciliation: ThingsBoard requests",
            ", ".join(str(run.tb_requests) for run in reconciles)
            + f" (sync's count {', '.join(str(run.counts['requests']) for run in reconciles)})",
            "-",
            "-",
        )
    )

    if "deletion" in r:
        run, marked, rss = r["deletion"]
        rows.append(
            (
                "reconciliation after 1 alarm deleted in TB",
                f"{run.seconds:.2f} s, {run.tb_requests} requests (HTTP {run.http_seconds:.2f} s); "
                f"marked deleted: {'yes' if marked else 'no'}",
                "<= 3 s",
                verdict(run.seconds <= 3.0 and marked),
            )
        )
    rows.append(
        (
            "peak memory, sync process (ru_maxrss)",
            f"{r['rss_end']:.0f} MB (after start-up {r['rss_start']:.0f} MB, "
            f"after backfill {r['rss_backfill']:.0f} MB)",
            "< 200 MB",
            verdict(r["rss_end"] < 200),
        )
    )
    if "deletion" in r:
        rss = r["deletion"][2]
        rows.append(
            (
                "peak memory, with the deletion case",
                f"{rss:.0f} MB",
                "< 200 MB",
                verdict(rss < 200),
            )
        )

    for kind in KINDS:
        cycles = r["delays"][kind]
        if cycles is None:
            value = f"not within {MAX_DELAY_CYCLES} cycles"
        else:
            value = f"{cycles} cycle" + ("s" if cycles > 1 else "")
        rows.append((f"delay to the store: {kind} alarm", value, "1 cycle", verdict(cycles == 1)))
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.active > args.alarms:
        sys.exit("--active cannot exceed --alarms")
    if args.changes < len(KINDS):
        sys.exit(f"--changes must be at least {len(KINDS)}")
    pinned = not args.no_pin and bool(shutil.which("taskset")) and (os.cpu_count() or 1) >= 2
    if pinned:
        os.sched_setaffinity(0, {1})  # the sync on the other core than the simulator's
    workdir = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    redis_proc = sim_proc = None
    try:
        redis_proc, redis_port = harness.start_redis(workdir)
        sim_proc, url, build = harness.scale_simulator(args.alarms, args.active, pinned)
        configure(workdir, redis_port, url)
        tb = Tb(url)
        try:
            results = measure(args, tb)
        finally:
            from django.db import connections

            connections.close_all()
    finally:
        harness.stop(sim_proc)
        harness.stop(redis_proc)
        shutil.rmtree(workdir, ignore_errors=True)

    from alarmdesk.alarms import sync

    print(
        f"simulator: scale scenario, {args.alarms:,} alarms, {args.active:,} active, no "
        f"generator; ready {build:.1f} s after start; "
        + ("pinned to core 0 (taskset), the sync on core 1" if pinned else "not pinned")
    )
    print(
        f"sync: in this process, SQLite (WAL) in a temporary file, private redis-server; "
        f"backfill budget {sync.BACKFILL_BUDGET_SECONDS} s per run (unchanged), "
        f"reconciliation only when asked for; the first run also reconciles"
    )
    print(
        f"changes: {args.changes} per round, a quarter each of new, re-triggered, acknowledged "
        f"and cleared alarms, {args.rounds} rounds; reconciliation timed as the whole "
        "run_cycle(reconcile_now=True), its fast cycle included"
    )
    print()
    rows = table_rows(args, results)
    harness.print_table(rows)
    print()
    harness.print_footer(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
