"""From an alarm raised in ThingsBoard to the Web Push reaching the on-call person's phone.

Run from the repository root:

    .venv/bin/python bench/notify_bench.py              # 20 alarms
    .venv/bin/python bench/notify_bench.py --alarms 5 --seed 7

Target (the on-call issue): the time from an alarm raised in ThingsBoard to its Web Push
request reaching the push service, p95 at most one sync interval (ALARMDESK_SYNC_SECONDS,
2 s by default) plus 1 s.

What runs (real parts, no mocks): the production topology of tests/topology.py (deploy/'s
units and env template; two web servers, two of each Celery worker, worker-notify among
them, one beat; a database in a private PostgreSQL cluster and a Redis of its own) against
the simulator's demo world without its live generator, and tests/pushservice.py's push
service on loopback, which checks the VAPID signature and decrypts each payload with the
subscription's own keys as FCM or autopush and the browser would. Every process is given
the same VAPID key (a PEM generated in the bench's temporary directory, passed as
ALARMDESK_VAPID_PRIVATE_KEY), ALARMDESK_PUSH_HOSTS=http://127.0.0.1 (the local service) and
ALARMDESK_SYNC_SECONDS (the environment's, else the settings' default).

How it measures: the tenant administrator signs in to the first web server (its form and
CSRF token, as a browser), goes on call for CRITICAL (POST /oncall/, action=duty, as the
page's htmx form) and subscribes one browser (POST /oncall/push/, the subscription JSON,
X-CSRFToken). A warm-up alarm is raised and its push awaited first, not counted: the
outbox's first planning run takes what the store holds as history, and this makes sure it
has run. Then each alarm is raised in the simulator as the rule engine would (POST
/sim/alarms, a new type each time, CRITICAL, on the tenant's first device), time.time()
noted just before; its latency is the push service's time of receipt of the push whose
decrypted payload names that alarm, minus that. Raises are one at a time, each after the
previous push plus a random wait in [0, sync interval) (seeded), so that the raise's phase
against beat's sync schedule is sampled evenly. Where the time goes, per alarm, from the
database afterwards: raised -> stored by the sync (its event's observed_at), -> planned
(the notice's created_at, by the notify worker after the sync's nudge) -> received by the
push service (the deliver task queued, pywebpush's encryption, signing and POST); the first
stage split at the moment beat queued the sync run that followed the raise (beat's log).
"""

import argparse
import bisect
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

sys.path.insert(0, str(harness.ROOT))
from py_vapid import Vapid

from tests.pgcluster import Cluster
from tests.pushservice import PushService
from tests.thingsboard_side import TENANT, TbSession, raise_alarm
from tests.topology import CSRF_INPUT, healthy, post, query, running, sign_in, wait_for

SETTINGS_DEFAULT = re.compile(
    r'ALARMDESK_SYNC_SECONDS = env_int\("ALARMDESK_SYNC_SECONDS", (\d+)\)'
)
MARGIN_SECONDS = 1.0
# beat's log line of each sync it queues; its time is local, to the millisecond.
BEAT_SYNC = re.compile(
    r"^\[([\d-]+ [\d:]+,\d{3}): INFO/MainProcess\] Scheduler: Sending due task sync-alarms"
)
PUSH_TIMEOUT = 30.0  # one alarm's push not received within this: the run fails
WARM_UP_TRIES = 4  # the sweep (every 15 s) plans for the first time if the nudge did not


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alarms", type=int, default=20, help="alarms measured (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="of the waits between raises")
    args = parser.parse_args(argv)
    if args.alarms < 1:
        parser.error("--alarms must be at least 1")
    return args


def sync_seconds():
    """ALARMDESK_SYNC_SECONDS as the topology will run it, and where it came from."""
    if os.environ.get("ALARMDESK_SYNC_SECONDS"):
        return int(os.environ["ALARMDESK_SYNC_SECONDS"]), "from the environment"
    text = (harness.ROOT / "alarmdesk" / "settings.py").read_text()
    return int(SETTINGS_DEFAULT.search(text).group(1)), "the settings' default"


def vapid_pem(workdir):
    """A fresh VAPID private key, kept in the bench's directory: its PEM text."""
    key = Vapid()
    key.generate_keys()
    path = workdir / "vapid_private.pem"
    path.write_bytes(key.private_pem())
    path.chmod(0o600)
    return path.read_text()


def go_on_call(base, service):
    """The tenant administrator signed in, on call for CRITICAL, one browser subscribed."""
    session, _ = sign_in(base, TENANT)
    page = session.get(f"{base}/oncall/", timeout=30)
    page.raise_for_status()
    data = {"action": "duty", "on_call": "1", "severities": ["CRITICAL"], "time_zone": "UTC"}
    session.headers["HX-Request"] = "true"
    answer = post(session, base, "/oncall/", page.text, data)
    del session.headers["HX-Request"]
    if answer.status_code != 200:
        raise AssertionError(f"going on call answered {answer.status_code}: {answer.text[:300]}")
    token = CSRF_INPUT.search(page.text).group(1)
    answer = session.post(
        f"{base}/oncall/push/",
        data=json.dumps({"subscription": service.subscribe()}),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
        timeout=30,
    )
    if answer.status_code != 200 or not answer.json().get("ok"):
        raise AssertionError(f"subscribing answered {answer.status_code}: {answer.text[:300]}")
    return session


def push_for(service, alarm_id, timeout):
    """The push whose payload names `alarm_id`, once the service has it."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        for received in service.received[seen:]:
            if received.json().get("alarm") == alarm_id:
                return received
        seen = len(service.received)
        left = deadline - time.monotonic()
        if left <= 0:
            rejected = "; ".join(f"{r.status} {r.reason}" for r in service.rejected) or "none"
            raise AssertionError(
                f"no push for alarm {alarm_id} within {timeout:g} s (rejected: {rejected})"
            )
        with contextlib.suppress(AssertionError):  # not yet: look again until the deadline
            service.wait(seen + 1, min(left, 1.0))


def warm_up(topology, tbsim, service, device):
    """The planner's first run behind us: a warm-up alarm's push received (another one
    raised, up to WARM_UP_TRIES, if the first run took the last one as history)."""
    wait_for(
        lambda: query(topology, "SELECT 1 FROM oncall_notifystate"),
        60,
        "the outbox's first planning run",
        topology,
    )
    for n in range(1, WARM_UP_TRIES + 1):
        raised = time.time()
        alarm_id = raise_alarm(tbsim, f"Bench Push warm-up {n}", "CRITICAL", device)
        try:
            return n, push_for(service, alarm_id, 20).at - raised
        except AssertionError:
            topology.check_alive()
    raise AssertionError(f"no warm-up push in {WARM_UP_TRIES} tries:\n{topology.tail('notify1')}")


def beat_ticks(topology):
    """When beat queued each sync run (time.time() values), from its log."""
    ticks = []
    for line in (topology.workdir / "beat.log").read_text(errors="replace").splitlines():
        found = BEAT_SYNC.match(line)
        if found:
            ticks.append(datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
    return ticks


def stages(topology, samples):
    """Per alarm (seconds from its raise): the next sync queued by beat, stored by the sync,
    planned."""
    ticks = beat_ticks(topology)
    for s in samples:
        s.tick = ticks[bisect.bisect_left(ticks, s.raised)] - s.raised
    rows = query(
        topology,
        "SELECT e.alarm_id::text, MIN(EXTRACT(EPOCH FROM e.observed_at)),"
        " (SELECT MIN(EXTRACT(EPOCH FROM n.created_at)) FROM oncall_notice n"
        "  WHERE n.alarm_id = e.alarm_id)"
        " FROM alarms_alarmevent e WHERE e.kind = 'created' AND e.alarm_id::text = ANY(%s)"
        " GROUP BY e.alarm_id",
        ([s.alarm for s in samples],),
    )
    found = {alarm: (float(stored), float(planned)) for alarm, stored, planned in rows}
    for s in samples:
        s.stored, s.planned = (t - s.raised for t in found[s.alarm])


def measure(args, interval, rng):
    workdir = Path(tempfile.mkdtemp(prefix="notify-bench-"))
    sim_proc = None
    try:
        sim_proc, url, _ = harness.start_simulator("--scenario", "demo", "--no-generator")
        tbsim = SimpleNamespace(url=url)
        with TbSession(url, TENANT) as tb:
            infos = tb.get("/api/tenant/deviceInfos", params={"page": 0, "pageSize": 1}).json()
            device = infos["data"][0]["name"]
        overrides = {
            "ALARMDESK_SYNC_SECONDS": str(interval),
            "ALARMDESK_PUSH_HOSTS": "http://127.0.0.1",
            "ALARMDESK_VAPID_SUBJECT": "mailto:bench@example.org",
            "ALARMDESK_VAPID_PRIVATE_KEY": vapid_pem(workdir),
        }
        with (
            PushService() as service,
            Cluster() as cluster,
            running(cluster, url, workdir, **overrides) as topology,
        ):
            for base in topology.bases:
                wait_for(lambda base=base: healthy(base), 120, f"{base}/healthz", topology)
            go_on_call(topology.bases[0], service)
            warming = warm_up(topology, tbsim, service, device)
            samples = []
            for n in range(1, args.alarms + 1):
                time.sleep(rng.uniform(0, interval))
                raised = time.time()
                alarm_id = raise_alarm(tbsim, f"Bench Push {n}", "CRITICAL", device)
                received = push_for(service, alarm_id, PUSH_TIMEOUT)
                samples.append(SimpleNamespace(alarm=alarm_id, raised=raised, at=received.at))
                print(f"  alarm {n}: push after {received.at - raised:.2f} s", file=sys.stderr)
            stages(topology, samples)
            measured = {s.alarm for s in samples}
            extra = [p for p in service.received if p.json().get("alarm") not in measured]
            return samples, len(service.rejected), len(extra), warming
    finally:
        harness.stop(sim_proc)
        shutil.rmtree(workdir, ignore_errors=True)


def report(args, interval, source, samples, rejected, extra, warming):
    target = interval + MARGIN_SECONDS
    latency = [s.at - s.raised for s in samples]
    p50, p95 = harness.percentiles(latency)
    rows = [
        (
            f"raise -> push received, p50 / p95 of {len(samples)} alarms",
            f"{p50:.2f} / {p95:.2f} s",
            f"p95 <= {target:g} s (sync {interval} s + {MARGIN_SECONDS:g} s)",
            "PASS" if p95 <= target else "FAIL",
        )
    ]
    for what, values in (
        ("  raise -> beat queues the next sync", [s.tick for s in samples]),
        ("  -> stored by the sync (queue, sync run)", [s.stored - s.tick for s in samples]),
        ("  -> planned (nudge, worker-notify)", [s.planned - s.stored for s in samples]),
        ("  -> push received (deliver, send)", [s.at - s.raised - s.planned for s in samples]),
    ):
        low, high = harness.percentiles(values)
        rows.append((f"{what}, p50 / p95", f"{low:.2f} / {high:.2f} s", "-", "-"))
    rows.append(
        ("raise -> push, min / max", f"{min(latency):.2f} / {max(latency):.2f} s", "-", "-")
    )
    rows.append(
        (
            "pushes refused by the service / not of a measured alarm",
            f"{rejected} / {extra} (warm-up alarms raised: {warming[0]})",
            "-",
            "-",
        )
    )
    notes = [
        f"ALARMDESK_SYNC_SECONDS = {interval} ({source}); waits between raises U(0, {interval}) s "
        f"after the previous push, seed {args.seed}; warm-up (not counted): push after "
        f"{warming[1]:.2f} s, alarm {warming[0]} of at most {WARM_UP_TRIES}",
        "topology: tests/topology.py (2 web, 2 sync, 2 notify, 2 general workers, 1 beat; "
        "PostgreSQL, Redis); simulator demo scenario, no generator; push service on loopback "
        "(VAPID verified, payload decrypted)",
    ]
    harness.print_table(rows, notes)
    harness.print_footer(rows)
    return 0 if p95 <= target else 1


def main(argv=None):
    args = parse_args(argv)
    # Terminated (kill, a CI's timeout), it stops what it started as on any failure: the
    # context managers' exits and the finally clauses run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    interval, source = sync_seconds()
    rng = random.Random(args.seed)
    return report(args, interval, source, *measure(args, interval, rng))


if __name__ == "__main__":
    sys.exit(main())
