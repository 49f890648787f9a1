"""How long a change in ThingsBoard takes to show on an open alarm list page.

Run from the repository root:

    .venv/bin/python bench/fresh_bench.py
    .venv/bin/python bench/fresh_bench.py --samples 50 --pages 1,3,10 --mean-gap 0.7
    ALARMDESK_SYNC_SECONDS=2 .venv/bin/python bench/fresh_bench.py

Target (issue 11): a change in ThingsBoard shows on an open page within 5 s at p95; and
however many pages are open, the load on ThingsBoard is the sync's alone.

How it measures:
- Private parts on free ports, all stopped at the end: a redis-server without persistence,
  the simulator (`python -m alarmdesk.tbsim --scenario demo --no-generator`; `--generator`
  keeps its live generator on), a fresh SQLite file (WAL). The store is filled first by
  `sync.run_cycle()` in this process until the backfill is done. Then the Procfile's own
  `web` (gunicorn, its --bind moved to a free port, access log kept), `worker-sync` (the
  Celery worker on the `sync` queue) and `beat` (its schedule file in the temporary
  directory) are started as the Procfile says them, with a settings module that only swaps
  the static files storage for StaticFilesStorage served by WhiteNoise from the finders
  (no collectstatic). Beat schedules the sync every ALARMDESK_SYNC_SECONDS (the
  environment's, or the settings' default); the `worker` of the default queue is not
  started, so beat's other tasks (who acknowledged, bulk recovery) do not run.
- Headless Chromium (Debian's, through Playwright, as tests/browser does) signs in as
  tenant@thingsboard.org through the sign-in form, in its own browser context per page, and
  opens /alarms/?sort=-created (newest first: a new alarm is the first row). The poll
  interval is read from the page: the `hx-trigger="every Ns"` of section#alarm-table. A
  MutationObserver in each page stamps (Date.now(), the same clock as this process's
  time.time()) the first moment each `tr[id^=row-]` is in the DOM, and the first moment
  its Status cell says "acknowledged"; the screen paints at the next frame.
- Another ThingsBoard user (olivia.ops@thingsboard.org, a tenant administrator) raises
  `--samples` alarms through ThingsBoard's REST API (POST /api/alarm, a unique type each,
  on the tenant's devices in turn), at the times of a Poisson process (gaps drawn from an
  exponential distribution with mean `--mean-gap`, starting at a uniform offset within one
  sync interval), so raise times fall at uniformly random phases of the sync and poll
  cycles. Each alarm is acknowledged by that user in ThingsBoard (POST
  /api/alarm/{id}/ack) at its raise time + sync interval + poll interval + 2 s + a uniform
  offset within one mean gap: as uniformly phased as the raises, and late enough that the
  unacknowledged row is on every page first (else the ack waits until it is: counted as
  "late" under the table). The clock starts just before the request is sent.
- "raised in TB -> row on page": the observer's stamp minus the raise time; with several
  pages, every (alarm, page) pair is a sample. "acknowledged in TB -> row shows it": the
  same for the acknowledgement. An alarm not seen within `--timeout` counts as missed.
- ThingsBoard requests: the simulator's /sim/stats counts every /api/ request by route
  (/sim/ controls are not counted). The window runs from just after one sync run ended
  (POST /sim/stats/reset then) to just after the first run that ends once every sample was
  seen (GET /sim/stats then), so it holds whole sync runs only. Each run's own request count
  is read from the status it publishes in Redis (sync.status()["counts"]["requests"]),
  watched every 50 ms. Requests beyond the sync's = all /api/ requests - this bench's raises
  and acknowledgements - the sync runs' own: the pages' share, which should be 0.
- Phases: one per `--pages` entry (default 1, then 3), each with fresh browser contexts
  signed in before the window opens.

The machine is shared and noisy: compare figures within one run, never across runs.
"""

import argparse
import contextlib
import logging
import os
import random
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
TENANT = ("tenant@thingsboard.org", "tenant")
OTHER_USER = ("olivia.ops@thingsboard.org", "tenant")  # "another ThingsBoard user"
LIST_PATH = "/alarms/?" + urlencode({"sort": "-created"})
TARGET_SECONDS = 5.0
SETTINGS_MODULE = "fresh_bench_settings"
SETTINGS_TEXT = """from alarmdesk.settings import *  # noqa: F403

# gunicorn without collectstatic: plain storage, WhiteNoise serving from the finders.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
"""
PROCESSES = ("web", "worker-sync", "beat")
POLL_TRIGGER = re.compile(r"every\s+(\d+(?:\.\d+)?)\s*(ms|s|m)?\b")
POLL_LINE = re.compile(r'"GET /alarms/\?[^" ]*\bv=[^" ]* HTTP/[\d.]+" (\d{3}) ')
OWN_ROUTES = ("POST /api/alarm", "POST /api/alarm/<alarm_id>/ack")
LOOP_SECONDS = 0.05

# Stamps, in each page, when a row first is in the DOM and first says "acknowledged".
OBSERVER_JS = """() => {
  if (window.__freshBench) return;
  const seen = {}, acked = {};
  const scan = () => {
    const now = Date.now();
    document.querySelectorAll("tr[id^=row-]").forEach((row) => {
      const id = row.id.slice(4);
      if (!(id in seen)) seen[id] = now;
      if (!(id in acked)) {
        const cell = row.querySelector('td[data-label="Status"]');
        if (cell && /, acknowledged$/.test(cell.textContent.trim())) acked[id] = now;
      }
    });
  };
  new MutationObserver(scan).observe(document.body, { childList: true, subtree: true });
  scan();
  window.__freshBench = { seen, acked };
}"""
STAMPS_JS = """(ids) => ids.map((id) => [
  window.__freshBench.seen[id] ?? null, window.__freshBench.acked[id] ?? null,
])"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="alarms raised per phase")
    parser.add_argument(
        "--pages", default="1,3", help="open pages in each phase, comma-separated (1,3)"
    )
    parser.add_argument(
        "--mean-gap", type=float, default=1.0, help="mean seconds between raises (Poisson)"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds before a change counts as missed"
    )
    parser.add_argument("--seed", type=int, default=None, help="the random schedule's seed")
    parser.add_argument(
        "--generator", action="store_true", help="keep the demo's live alarm generator on"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs) and say where"
    )
    args = parser.parse_args(argv)
    try:
        args.pages = [int(part) for part in args.pages.split(",") if part.strip()]
    except ValueError:
        parser.error("--pages takes whole numbers, e.g. 1,3")
    if not args.pages or min(args.pages) < 1 or args.samples < 1 or args.mean_gap <= 0:
        parser.error("--pages, --samples and --mean-gap must be positive")
    return args


# --- the processes -------------------------------------------------------------------------


def procfile_commands(workdir, web_port):
    """The Procfile's command of each process this bench starts, with its own port and
    beat's schedule file moved into `workdir`."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    entries = dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))
    commands = {name: shlex.split(entries[name]) for name in PROCESSES}
    web = commands["web"]
    web[web.index("--bind") + 1] = f"127.0.0.1:{web_port}"
    beat = commands["beat"]
    beat[beat.index("--schedule") + 1] = str(Path(workdir) / "celerybeat-schedule")
    return commands


def start_processes(workdir, started):
    """web, worker-sync and beat as the Procfile says them; the web's base URL."""
    (Path(workdir) / f"{SETTINGS_MODULE}.py").write_text(SETTINGS_TEXT)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)]),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONUNBUFFERED": "1",
    }
    port = harness.free_port()
    for name, command in procfile_commands(workdir, port).items():
        with open(Path(workdir) / f"{name}.log", "wb") as log:  # the child keeps its own
            started[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/login/", timeout=5).status_code == 200:
                return url
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or started["web"].poll() is not None:
            sys.exit(f"gunicorn did not start:\n{log_tail(workdir, 'web')}")
        time.sleep(0.1)


def log_tail(workdir, name, size=2000):
    path = Path(workdir) / f"{name}.log"
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


def fill_store():
    """The backfill, in this process, before the worker takes over: runs."""
    from alarmdesk.alarms import sync
    from alarmdesk.alarms.models import SyncState

    for runs in range(1, 51):
        if sync.run_cycle() is None:
            sys.exit("run_cycle() found the sync lock taken")
        if SyncState.objects.get().backfill_done:
            return runs
    sys.exit("the backfill did not end in 50 runs")


class SyncWatch:
    """The sync runs, as each publishes its status in Redis: how many, and their requests."""

    def __init__(self):
        self.last = self._key(self._status())
        self.runs = self.failed = self.requests = 0

    @staticmethod
    def _status():
        from alarmdesk.alarms import sync

        return sync.status() or {}

    @staticmethod
    def _key(status):
        return (status.get("last_success"), status.get("last_error_at"))

    def check(self):
        """True when a run ended since the last check (counted)."""
        status = self._status()
        key = self._key(status)
        if key == self.last:
            return False
        self.last = key
        self.runs += 1
        self.failed += bool(status.get("last_error"))
        self.requests += (status.get("counts") or {}).get("requests", 0)
        return True

    def wait_for_a_run(self, seconds, workdir):
        deadline = time.monotonic() + seconds
        while not self.check():
            if time.monotonic() > deadline:
                sys.exit(
                    f"no sync run ended in {seconds:.0f} s:\n{log_tail(workdir, 'worker-sync')}"
                )
            time.sleep(0.01)

    def restart(self):
        self.runs = self.failed = self.requests = 0


# --- ThingsBoard, as another of its users ----------------------------------------------------


class ThingsBoardUser:
    """Another ThingsBoard user at work: raises and acknowledges alarms over the REST API."""

    def __init__(self, url, persona):
        self.url = url
        self.http = harness.tb_session(url, persona)
        devices = self.http.get(
            f"{url}/api/tenant/devices", params={"pageSize": 100, "page": 0}, timeout=10
        )
        devices.raise_for_status()
        self.devices = [device["id"] for device in devices.json()["data"]]
        self.sent = dict.fromkeys(OWN_ROUTES, 0)

    def raise_alarm(self, number, alarm_type):
        body = {
            "type": alarm_type,
            "originator": self.devices[number % len(self.devices)],
            "severity": "MAJOR",
        }
        self.sent["POST /api/alarm"] += 1
        answer = self.http.post(f"{self.url}/api/alarm", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()["id"]["id"]

    def acknowledge(self, alarm_id):
        self.sent["POST /api/alarm/<alarm_id>/ack"] += 1
        answer = self.http.post(f"{self.url}/api/alarm/{alarm_id}/ack", timeout=10)
        answer.raise_for_status()


class Simulator:
    """The simulator's /sim/ controls (not counted as ThingsBoard requests)."""

    def __init__(self, url):
        self.url = url

    def reset_stats(self):
        requests.post(f"{self.url}/sim/stats/reset", timeout=10).raise_for_status()

    def api_routes(self):
        answer = requests.get(f"{self.url}/sim/stats", timeout=10)
        answer.raise_for_status()
        routes = answer.json()["routes"]
        return {route: entry["count"] for route, entry in routes.items() if " /api/" in route}


# --- the pages -----------------------------------------------------------------------------


def open_page(browser, base):
    """A new browser context signed in as the tenant administrator, on the newest-first
    list, with the observer installed: the page."""
    context = browser.new_context()
    page = context.new_page()
    page.console_errors = []
    page.on(
        "console",
        lambda message: message.type == "error" and page.console_errors.append(message.text),
    )
    page.goto(f"{base}/login/?{urlencode({'next': LIST_PATH})}")
    page.get_by_label("Email").fill(TENANT[0])
    page.get_by_label("Password").fill(TENANT[1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}{LIST_PATH}")
    page.wait_for_selector("section#alarm-table tr[id^=row-]")
    page.evaluate(OBSERVER_JS)
    return page


def poll_seconds(page):
    """The list's poll interval, from its own hx-trigger."""
    trigger = page.get_attribute("section#alarm-table", "hx-trigger") or ""
    match = POLL_TRIGGER.search(trigger)
    if not match:
        sys.exit(f"section#alarm-table has no 'every N' hx-trigger: {trigger!r}")
    number, unit = float(match.group(1)), match.group(2) or "ms"  # htmx: a bare number is ms
    return number * {"ms": 0.001, "s": 1, "m": 60}[unit], trigger


# --- one phase -----------------------------------------------------------------------------


@dataclass
class Sample:
    number: int
    raise_at: float  # when to raise (epoch seconds)
    ack_lag: float  # acknowledge this long after the raise
    alarm_id: str | None = None
    raised: float | None = None  # epoch seconds, just before the request
    acked: float | None = None
    late_ack: bool = False
    seen: list = field(default_factory=list)  # per page: epoch seconds or None
    ack_seen: list = field(default_factory=list)


@dataclass
class Phase:
    pages: int
    samples: list
    poll: float = 0.0
    trigger: str = ""
    seconds: float = 0.0
    routes: dict = field(default_factory=dict)
    own: int = 0
    sync_runs: int = 0
    sync_failed: int = 0
    sync_requests: int = 0
    polls: dict = field(default_factory=dict)
    visibility: list = field(default_factory=list)
    console_errors: list = field(default_factory=list)

    def latencies(self, kind):
        """Seconds of every (alarm, page) pair; None where it was missed."""
        out = []
        for s in self.samples:
            start, stamps = (s.raised, s.seen) if kind == "raise" else (s.acked, s.ack_seen)
            out += [None if t is None or start is None else t - start for t in stamps]
        return out


def schedule(args, rng, sync_seconds, poll, start):
    """Raise times of a Poisson process from a uniform offset within one sync interval."""
    lag = sync_seconds + poll + 2.0
    at = start + rng.uniform(0, sync_seconds)
    samples = []
    for number in range(args.samples):
        samples.append(Sample(number, at, lag + rng.uniform(0, args.mean_gap)))
        at += rng.expovariate(1 / args.mean_gap)
    return samples


def stamp(pages, samples):
    """Read each page's observer stamps (ms) into the samples (seconds)."""
    ids = [s.alarm_id for s in samples]
    for index, page in enumerate(pages):
        for sample, (seen, acked) in zip(samples, page.evaluate(STAMPS_JS, ids), strict=True):
            if sample.seen[index] is None and seen is not None:
                sample.seen[index] = seen / 1000
            if sample.ack_seen[index] is None and acked is not None:
                sample.ack_seen[index] = acked / 1000


def run_phase(args, browser, base, tb, sim, sync_seconds, workdir, rng, tag):
    from playwright.sync_api import Error as PlaywrightError

    count = args.pages[tag]
    pages = [open_page(browser, base) for _ in range(count)]
    poll, trigger = poll_seconds(pages[0])
    timeout = args.timeout or max(30.0, 4 * (sync_seconds + poll))
    phase = Phase(count, [], poll, trigger)
    phase.visibility = [page.evaluate("document.visibilityState") for page in pages]
    access_log = Path(workdir) / "web.log"
    try:
        # The window opens just after a sync run ended: it holds whole runs only.
        watch = SyncWatch()
        watch.wait_for_a_run(3 * sync_seconds + 30, workdir)
        sim.reset_stats()
        watch.restart()
        log_offset = access_log.stat().st_size
        sent_before = sum(tb.sent.values())
        opened = time.time()
        phase.samples = samples = schedule(args, rng, sync_seconds, poll, opened)
        for s in samples:
            s.seen, s.ack_seen = [None] * count, [None] * count
        give_up = samples[-1].raise_at + samples[-1].ack_lag + args.mean_gap + timeout
        while time.time() < give_up:
            now = time.time()
            for s in samples:
                if s.alarm_id is None and s.raise_at <= now:
                    s.raised = time.time()
                    s.alarm_id = tb.raise_alarm(s.number, f"Fresh bench {tag + 1}.{s.number + 1}")
            live = [s for s in samples if s.alarm_id]
            if live:
                stamp(pages, live)
            now = time.time()
            for s in live:
                due = s.acked is None and s.raised + s.ack_lag <= now
                if due and (all(t is not None for t in s.seen) or now - s.raised > timeout):
                    s.late_ack = now - (s.raised + s.ack_lag) > LOOP_SECONDS * 4
                    s.acked = time.time()
                    tb.acknowledge(s.alarm_id)
            watch.check()
            if all(
                s.acked is not None
                and (all(t is not None for t in s.ack_seen) or time.time() - s.acked > timeout)
                for s in samples
            ):
                break
            time.sleep(LOOP_SECONDS)
        # ... and closes just after the next run ended.
        watch.wait_for_a_run(3 * sync_seconds + 30, workdir)
        phase.routes = sim.api_routes()
        phase.seconds = time.time() - opened
        phase.own = sum(tb.sent.values()) - sent_before
        phase.sync_runs, phase.sync_failed = watch.runs, watch.failed
        phase.sync_requests = watch.requests
        with access_log.open("rb") as log:
            log.seek(log_offset)
            for status in POLL_LINE.findall(log.read().decode(errors="replace")):
                phase.polls[status] = phase.polls.get(status, 0) + 1
        phase.console_errors = [error for page in pages for error in page.console_errors]
    finally:
        for page in pages:
            with contextlib.suppress(PlaywrightError):
                page.context.close()
    return phase


# --- the report ----------------------------------------------------------------------------


def summary(values):
    """'n=20: p50 1.23 s, p95 4.56 s, max 5.67 s' (missed ones count as infinitely late)."""
    got = [v for v in values if v is not None]
    missed = len(values) - len(got)
    if not got:
        return f"n={len(values)}: every one missed", float("inf")
    ordered = [*got, *([float("inf")] * missed)]
    p50, p95 = harness.percentiles(ordered)
    worst = max(ordered)

    def shown(seconds):
        return "missed" if seconds == float("inf") else f"{seconds:.2f} s"

    text = f"n={len(values)}: p50 {shown(p50)}, p95 {shown(p95)}, max {shown(worst)}"
    if missed:
        text += f" ({missed} missed)"
    return text, p95


def verdict(ok):
    return "PASS" if ok else "FAIL"


def table_rows(phases):
    rows = []
    for phase in phases:
        where = f"{phase.pages} page{'s' if phase.pages > 1 else ''}"
        for kind, label in (
            ("raise", "raised in TB -> row on page"),
            ("ack", "acknowledged in TB -> row shows it"),
        ):
            text, p95 = summary(phase.latencies(kind))
            rows.append(
                (
                    f"{where}: {label}",
                    text,
                    f"p95 <= {TARGET_SECONDS:g} s",
                    verdict(p95 <= TARGET_SECONDS),
                )
            )
        api = sum(phase.routes.values())
        rate = phase.sync_requests / phase.seconds if phase.seconds else float("nan")
        rows.append(
            (
                f"{where}: ThingsBoard requests/s made by the sync",
                f"{rate:.2f}/s ({phase.sync_requests} in {phase.seconds:.1f} s, "
                f"{phase.sync_runs} runs"
                + (f", {phase.sync_failed} failed" if phase.sync_failed else "")
                + ")",
                "-",
                "-",
            )
        )
        beyond = api - phase.own - phase.sync_requests
        rows.append(
            (
                f"{where}: ThingsBoard requests beyond the sync's",
                f"{beyond} (/api/ {api} - this bench's raises and acks {phase.own} - "
                f"the sync runs' own {phase.sync_requests})",
                "0",
                verdict(beyond == 0),
            )
        )
    return rows


def notes(args, phases, sync_seconds, sync_source, fill_runs, seed):
    polls = sorted({(phase.poll, phase.trigger) for phase in phases})
    poll = polls[0][0] if polls else float("nan")
    lines = [
        f"ALARMDESK_SYNC_SECONDS = {sync_seconds} ({sync_source}); poll interval = "
        + "; ".join(f'{p:g} s (section#alarm-table hx-trigger="{t}")' for p, t in polls),
        f"simulator: demo scenario, live generator {'on' if args.generator else 'off'}; store "
        f"backfilled by {fill_runs} sync run(s) in this process; then gunicorn, worker-sync and "
        "beat as in the Procfile",
        f"raises: {args.samples} a phase, Poisson, mean gap {args.mean_gap:g} s (seed {seed}); "
        f"acks at raise + {sync_seconds} + {poll:g} + 2 s + U(0, {args.mean_gap:g}) s; "
        f"as olivia.ops@thingsboard.org over /api/; pages open {LIST_PATH} as {TENANT[0]}",
    ]
    for phase in phases:
        routes = ", ".join(f"{route} {n}" for route, n in sorted(phase.routes.items()))
        polls = ", ".join(f"{n} answered {status}" for status, n in sorted(phase.polls.items()))
        late = sum(s.late_ack for s in phase.samples)
        lines.append(
            f"{phase.pages} page(s): visibility {'/'.join(phase.visibility)}; polls in the window: "
            f"{polls or 'none'}; late acks {late}; console errors {len(phase.console_errors)}"
            + (f" {phase.console_errors[:3]}" if phase.console_errors else "")
        )
        lines.append(f"  /api/ requests by route: {routes or 'none'}")
    return lines


# --- main ----------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(10**6)
    rng = random.Random(seed)
    if not shutil.which(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing (scripts/system-packages.sh installs it)")
    sync_source = (
        "from the environment" if os.environ.get("ALARMDESK_SYNC_SECONDS") else "settings default"
    )
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are
    # synchronous in fact (as in tests/browser/conftest.py).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    workdir = Path(tempfile.mkdtemp(prefix="fresh-bench-"))
    redis_proc = sim_proc = None
    started = {}
    phases = []
    try:
        redis_proc, redis_port = harness.start_redis(workdir)
        options = ["--scenario", "demo", *([] if args.generator else ["--no-generator"])]
        sim_proc, tb_url, _ = harness.start_simulator(*options)
        harness.setup_django(workdir, redis_port, tb_url)
        from django.conf import settings
        from playwright.sync_api import sync_playwright

        sync_seconds = settings.ALARMDESK_SYNC_SECONDS
        logging.getLogger("alarmdesk").setLevel(logging.WARNING)  # the backfill's run lines
        fill_runs = fill_store()
        base = start_processes(workdir, started)
        SyncWatch().wait_for_a_run(3 * sync_seconds + 60, workdir)  # the worker's first
        tb = ThingsBoardUser(tb_url, OTHER_USER)
        sim = Simulator(tb_url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
            )
            try:
                for tag in range(len(args.pages)):
                    phases.append(
                        run_phase(args, browser, base, tb, sim, sync_seconds, workdir, rng, tag)
                    )
            finally:
                browser.close()
    finally:
        for name in reversed(PROCESSES):
            harness.stop(started.get(name))
        from django.db import connections

        connections.close_all()
        harness.stop(sim_proc)
        harness.stop(redis_proc)
        if args.keep:
            print(f"kept: {workdir} (the processes' logs)", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    rows = table_rows(phases)
    harness.print_table(rows, notes(args, phases, sync_seconds, sync_source, fill_runs, seed))
    print()
    harness.print_footer(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
