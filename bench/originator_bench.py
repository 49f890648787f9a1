"""The alarm page (GET /alarms/<uuid>/) with its originator panel and without it.

Run from the repository root:

    .venv/bin/python bench/originator_bench.py
    .venv/bin/python bench/originator_bench.py --latency-ms 50 --requests 30

Target (the originator panel's issue): the alarm page with the originator panel stays at
most two ThingsBoard round trips slower than without it, at p95, for the tenant
administrator and for a customer user, with `--latency-ms` added to every request (a
ThingsBoard across a network). With ThingsBoard answering at once (latency 0: a "round
trip" is the local simulator's few milliseconds), the panel's fixed cost is printed, not
judged in round trips.

What it measures: the page's server time, in-process (the time around
django.test.Client.get(): middleware, the view with every ThingsBoard call it makes, the
template; no socket), p50 and p95, with the panel and without it, and their difference in
milliseconds and in ThingsBoard round trips. The panel is the view's
`_originator(request, user, alarm, source)`, which calls entities/originator.look(...,
attributes=False): its ThingsBoard calls made at once, each in a thread (accounts/tokens.py
tb_calls: the device's info, its latest telemetry, its server attributes, and the relations
to the assets it sits in), then two store queries (its other alarms). "Without" is the
same page with alarmdesk.alarms.views._originator replaced, in this process, by a function
returning None: the page renders as it did before the panel existed (the rest of the page
calls ThingsBoard serially: the alarm, its comments, who may be assigned, the chart's
latest values and history).

How it measures:
- Private parts on free ports, all stopped at the end (also on failure): a redis-server
  without persistence, the simulator (`python -m alarmdesk.tbsim --scenario demo
  --no-generator`: nothing moves under the bench), a fresh SQLite file (WAL) in a
  temporary directory. Django runs in this process (alarmdesk.settings, static files from
  the finders, DEBUG off, the session's re-confirmation with ThingsBoard put off so that no
  sample pays a token refresh). The store is filled by the real sync (sync.run_cycle()
  until the backfill is done).
- The alarm: the newest active alarm of Customer A whose originator is a device that
  ThingsBoard says is Customer A's (GET /api/device/info as the tenant).
- Personas tenant@thingsboard.org and customerA@thingsboard.org, signed in through the real
  /login/ view (one test Client each).
- Cases: latency 0 ms, then `--latency-ms` (the simulator's fault, POST /sim/faults
  {"latency_ms": N}: N ms more on every /api/ request; DELETE /sim/faults clears it), each
  for both personas. In each case `--warmup` untimed rounds, then `--requests` rounds, each
  round one page with the panel and one without, their order alternating round by round, so
  the machine's noise hits both alike.
- ThingsBoard requests per page: before each timed page POST /sim/stats/reset, after it GET
  /sim/stats (untimed; the /sim/ controls are not counted, nor delayed): every /api/
  request the page made. The table shows the median per variant (and the range when they
  differ), and under the table per route: the panel's calls are the difference. The page
  has a budget (views.SLOW_SECONDS): past it, calls are skipped; the latency stays far
  under it (the bench refuses one that eight serial calls would pass), and the counts show
  that both variants made all their calls.
- A round trip: with the case's latency on, `--round-trips` GET /api/device/info/<id> of
  the alarm's device, one after the other, through alarmdesk.thingsboard.client (a client of
  its own, signed in as the tenant), nothing else running; their p50 is the round trip (the
  latency plus the simulator's own time, and a new connection: the simulator closes each
  one after its answer, as it does for the page's calls). Difference in round trips =
  (p50 with - p50 without) / round trip, the same for p95.
- Where the panel's time goes (printed under the table, pages with the panel only):
  originator.tb_calls and originator._alarms are wrapped in this process: the time of the
  calls at once (threads started, answers joined), each call's own time inside it, and the
  store's queries; what is left of the difference is the panel's template and look()'s own
  Python.
- Each page with the panel must show it (section#originator with the device's facts), and
  each without must not; a page that does not is an error, not a sample.

The machine is shared and noisy: compare figures within one run, never across runs.
"""

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.thingsboard_side import CUSTOMER_A, TENANT  # noqa: E402

TARGET_ROUND_TRIPS = 2
PANEL = '<section id="originator"'
FACTS = '<dl class="facts">'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="timed pages per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds per case")
    parser.add_argument(
        "--latency-ms", type=int, default=50, help="the slow case's latency per request"
    )
    parser.add_argument(
        "--round-trips", type=int, default=10, help="device info GETs timed per latency"
    )
    parser.add_argument("--database", choices=harness.DATABASES, default="sqlite")
    return parser.parse_args(argv)


def tb_client(url):
    from alarmdesk.thingsboard.client import ThingsBoardClient

    client = ThingsBoardClient(url)
    return client.with_token(client.login(*TENANT).token)


def choose_alarm(tb):
    """The newest active alarm of Customer A on a device ThingsBoard says is Customer A's."""
    from alarmdesk.alarms.models import Alarm, Customer

    customer = Customer.objects.get(title="Customer A")
    candidates = Alarm.objects.filter(
        customer_id=customer.id, originator_type="DEVICE", deleted=False, cleared=False
    ).order_by("-start_ts")
    for alarm in candidates:
        info = tb.entity_info("DEVICE", alarm.originator_id)
        if str(info.entity.customer_id) == str(customer.id):
            return alarm
    raise RuntimeError("no active alarm of Customer A on one of its devices")


def signed_in_client(persona):
    from django.test import Client

    client = Client()
    answer = client.post("/login/", {"username": persona[0], "password": persona[1]})
    if answer.status_code != 302:
        raise RuntimeError(f"sign-in of {persona[0]} failed: {answer.status_code}")
    return client


def round_trip(tb, device_id, count):
    """(p50, p95) in ms of `count` GET /api/device/info/<id>, one after the other."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        tb.entity_info("DEVICE", device_id)
        samples.append((time.perf_counter() - started) * 1000)
    return harness.percentiles(samples)


class Variants:
    """The view's _originator, or a stand-in returning None, swapped in per request; and,
    with the panel, where look()'s time goes: originator.tb_calls (its calls at once, each
    call's own time too) and originator._alarms (the store's queries) are wrapped."""

    def __init__(self):
        from alarmdesk.alarms import views
        from alarmdesk.entities import originator

        self.views, self.originator = views, originator
        self.real = views._originator
        self.real_calls, self.real_alarms = originator.tb_calls, originator._alarms
        self.parts = {}
        originator.tb_calls, originator._alarms = self.timed_calls, self.timed_alarms

    def timed_calls(self, request, calls):
        each = {}

        def timed(name, fn):
            def call(tb):
                started = time.perf_counter()
                try:
                    return fn(tb)
                finally:
                    each[name] = (time.perf_counter() - started) * 1000

            return call

        started = time.perf_counter()
        try:
            return self.real_calls(request, {name: timed(name, fn) for name, fn in calls.items()})
        finally:
            self.parts["at once"] = (time.perf_counter() - started) * 1000
            self.parts["calls"] = each

    def timed_alarms(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.real_alarms(*args, **kwargs)
        finally:
            self.parts["store"] = (time.perf_counter() - started) * 1000

    def use(self, with_panel):
        self.parts = {}
        self.views._originator = self.real if with_panel else (lambda *args, **kwargs: None)

    def restore(self):
        self.views._originator = self.real
        self.originator.tb_calls, self.originator._alarms = self.real_calls, self.real_alarms


def page(client, path, variants, with_panel, sim=None):
    """(ms, ThingsBoard requests or None) of one page; raises when the panel is not as
    expected."""
    variants.use(with_panel)
    if sim:
        sim.reset_stats()
    started = time.perf_counter()
    response = client.get(path)
    ms = (time.perf_counter() - started) * 1000
    routes = sim.api_routes() if sim else None
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}")
    text = response.content.decode()
    shown = PANEL in text and FACTS in text.split(PANEL, 1)[-1]
    if shown != with_panel:
        raise RuntimeError(f"{path}: the panel is {'missing' if with_panel else 'shown'}")
    return ms, routes, variants.parts


def measure_case(args, client, path, variants, sim):
    """{True/False (with the panel): {"ms": [...], "calls": [...], "routes": {...}}}."""
    for round_ in range(args.warmup):
        for with_panel in (round_ % 2 == 0, round_ % 2 == 1):
            page(client, path, variants, with_panel)
    got = {flag: {"ms": [], "calls": [], "routes": {}, "parts": []} for flag in (True, False)}
    for round_ in range(args.requests):
        for with_panel in (round_ % 2 == 0, round_ % 2 == 1):
            ms, routes, parts = page(client, path, variants, with_panel, sim)
            entry = got[with_panel]
            entry["ms"].append(ms)
            if with_panel:
                entry["parts"].append(parts)
            entry["calls"].append(sum(routes.values()))
            for route, count in routes.items():
                entry["routes"][route] = entry["routes"].get(route, 0) + count
    return got


def calls_words(calls):
    low, high = min(calls), max(calls)
    median = statistics.median(calls)
    spread = "" if low == high else f", {low}-{high}"
    return f"{median:g} TB requests{spread}"


def case_rows(label, got, trip, judged=True):
    """The case's rows; `judged`: against the target (at latency 0 a "round trip" is the
    local simulator's few milliseconds, and the panel's fixed cost of starting its calls
    and drawing its part is shown, not judged in round trips)."""
    rows = []
    p = {}
    for with_panel, words in ((False, "without the panel"), (True, "with the panel")):
        entry = got[with_panel]
        p[with_panel] = harness.percentiles(entry["ms"])
        rows.append(
            (
                f"{label}, {words}: p50 / p95",
                f"{p[with_panel][0]:.1f} / {p[with_panel][1]:.1f} ms "
                f"({calls_words(entry['calls'])})",
                "-",
                "-",
            )
        )
    d50, d95 = p[True][0] - p[False][0], p[True][1] - p[False][1]
    rows.append(
        (
            f"{label}, difference: p50 / p95",
            f"{d50:+.1f} / {d95:+.1f} ms = {d50 / trip:+.2f} / {d95 / trip:+.2f} round trips",
            f"p95 <= {TARGET_ROUND_TRIPS} round trips" if judged else "- (not a network)",
            ("PASS" if d95 / trip <= TARGET_ROUND_TRIPS else "FAIL") if judged else "-",
        )
    )
    return rows


def measure(args, url, sim):
    from alarmdesk.alarms import views

    fill_seconds, runs = harness.fill_store()
    tb = tb_client(url)
    alarm = choose_alarm(tb)
    path = f"/alarms/{alarm.id}/"
    clients = [("tenant admin", signed_in_client(TENANT))]
    clients.append(("customer A's user", signed_in_client(CUSTOMER_A)))
    variants = Variants()
    results = {
        "fill": (fill_seconds, runs),
        "alarm": alarm,
        "path": path,
        "cases": [],
        "trips": {},
        "routes": {},
    }
    try:
        for latency in dict.fromkeys((0, args.latency_ms)):
            if latency / 1000 * 8 >= views.SLOW_SECONDS:
                raise SystemExit(
                    f"--latency-ms {latency}: eight serial calls would pass the page's "
                    f"budget (views.SLOW_SECONDS = {views.SLOW_SECONDS} s)"
                )
            sim.latency(latency)
            round_trip(tb, alarm.originator_id, 2)  # warm
            results["trips"][latency] = round_trip(tb, alarm.originator_id, args.round_trips)
            for who, client in clients:
                got = measure_case(args, client, path, variants, sim)
                results["cases"].append((latency, who, got))
                for with_panel, entry in got.items():
                    seen = results["routes"].setdefault((who, with_panel), {})
                    for route, count in entry["routes"].items():
                        seen[route] = seen.get(route, 0) + count
    finally:
        variants.restore()
        with contextlib.suppress(requests.RequestException):  # the simulator may be gone
            sim.latency(0)
    return results


def report(args, results, build):
    alarm = results["alarm"]
    print(
        f"simulator: demo scenario, no generator, ready {build:.1f} s after start; store: the "
        f"sync's backfill in {results['fill'][0]:.1f} s ({results['fill'][1]} runs)"
    )
    print(
        f"alarm: {alarm.type} ({alarm.severity}, active) on device {alarm.originator_name} "
        f"of Customer A: GET {results['path']}"
    )
    print(
        f"in-process: django.test.Client.get(), {args.requests} pages per variant per case, "
        f"with and without the panel alternating, after {args.warmup} warm-up rounds"
    )
    print()
    rows = []
    for latency, (trip50, trip95) in results["trips"].items():
        rows.append(
            (
                f"latency {latency} ms: one ThingsBoard round trip (GET /api/device/info, "
                f"n={args.round_trips}): p50 / p95",
                f"{trip50:.1f} / {trip95:.1f} ms",
                "-",
                "-",
            )
        )
    for latency, who, got in results["cases"]:
        trip = results["trips"][latency][0]
        rows += case_rows(f"latency {latency} ms, {who}", got, trip, judged=latency > 0)
    harness.print_table(
        rows,
        [
            f"round trips: milliseconds divided by the case's round trip p50; target: the page "
            f"with the panel at most {TARGET_ROUND_TRIPS} ThingsBoard round trips slower "
            "than without it, at p95",
        ],
    )
    print()
    print("ThingsBoard requests per page, by route (all cases of the persona, per page):")
    pages = args.requests * len(results["trips"])
    for (who, with_panel), routes in sorted(results["routes"].items()):
        words = "with the panel" if with_panel else "without"
        parts = ", ".join(f"{r} {c / pages:g}" for r, c in sorted(routes.items()) if c)
        print(f"  {who}, {words}: {parts}")
    print()
    print(
        "Where the panel's time goes, pages with the panel, p50 / p95 ms: look()'s calls "
        "at once (tokens.tb_calls: threads started, every answer, joined); each call's own "
        "time inside it; the slowest and the sum of them per page; look()'s store queries "
        "(_alarms); the rest of the difference is the panel's template and look()'s own "
        "Python"
    )
    for latency, who, got in results["cases"]:
        parts = got[True]["parts"]

        def pct(values):
            return "{:.1f} / {:.1f}".format(*harness.percentiles(values))

        names = sorted({name for part in parts for name in part["calls"]})
        each = ", ".join(f"{name} {pct([p['calls'][name] for p in parts])}" for name in names)
        slowest = pct([max(p["calls"].values()) for p in parts])
        total = pct([sum(p["calls"].values()) for p in parts])
        print(
            f"  latency {latency} ms, {who}: at once {pct([p['at once'] for p in parts])} "
            f"(each: {each}; slowest {slowest}, sum {total}); store "
            f"{pct([p['store'] for p in parts])}"
        )
    print()
    harness.print_footer(rows)


def main(argv=None):
    args = parse_args(argv)
    # WhiteNoise's word on var/static, which only collectstatic makes (not needed here).
    warnings.filterwarnings("ignore", message="No directory at")
    workdir = Path(tempfile.mkdtemp(prefix="originator-bench-"))
    started = []
    try:
        with harness.store(args.database, workdir) as (database_url, _words):
            try:
                redis, port = harness.start_redis(workdir)
                started.append(redis)
                sim_proc, url, build = harness.start_simulator(
                    "--scenario", "demo", "--no-generator"
                )
                started.append(sim_proc)
                harness.setup_django(
                    workdir,
                    port,
                    tb_url=url,
                    database_url=database_url,
                    DEBUG="false",
                    LOG_LEVEL="WARNING",
                    ALARMDESK_SESSION_CHECK_SECONDS=str(10**9),
                    ALARMDESK_RECONCILE_SECONDS=str(10**9),
                )
                try:
                    results = measure(args, url, harness.Sim(url))
                finally:
                    from django.db import connections

                    connections.close_all()
            finally:
                for proc in reversed(started):
                    harness.stop(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, results, build)
    return 0


if __name__ == "__main__":
    sys.exit(main())
