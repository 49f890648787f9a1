"""Capacity of one box: how many people watching the list and on-call pages it serves.

Run from the repository root:

    .venv/bin/python bench/load_bench.py
    .venv/bin/python bench/load_bench.py --changing 500,1000,1500 --quiet 5000,10000,15000

Targets (the production issue), with 100,000 alarms in the store of which 10,000 active, on
this 2-core box: at least 1,000 watchers served when an alarm of every watcher's scope
changes in every refresh cycle (each refresh re-renders), and at least 10,000 when nothing
changes. Served: every refresh answered (none failed or skipped), their p95 under 1 s
counted from when each was due, not from when it left.

How it measures:
- The store is filled by the real sync from the simulator's `scale` scenario (as list_bench
  does: a private redis-server, a fresh SQLite file, DEBUG off; `--database postgres` for a
  private PostgreSQL cluster). The web server is the Procfile's `web:` line as it stands
  (gunicorn, its workers, threads, keep-alive and access log, to /dev/null), on a free port.
- Sessions: each persona (tenant administrators and customer users, PERSONAS) signs in
  through the real sign-in form over HTTP; each watcher then gets a session of its own, a
  copy of its persona's session row under a new key (Django signs session data without its
  key), its last confirmation with ThingsBoard spread over the past
  ALARMDESK_SESSION_CHECK_SECONDS, so that the sessions confirm with the simulator at the
  pace real ones do (each every 2 minutes) rather than all at once. One watcher in four
  watches the on-call page, the others the list's default page, the personas in turn.
- The client (this script with --client, a process of its own, so its CPU is its own) does
  what live.js and htmx do in a browser: each watcher refreshes every --interval seconds
  (HX-Request, the page's `v` and `t`, the rows it shows in X-Alarm-Rows, Chromium's
  Accept-Encoding), keeps the cookies it is given (the session's, the quiet-refresh ticket),
  and follows each answer: a 204 changes nothing, a delta or a new section gives its next
  `v`, `t` and rows (decompressed and parsed). A watcher whose last refresh is still out
  skips its turn, as htmx does; a skipped turn counts as not served. The refreshes travel
  over --connections kept-alive connections, as nginx's upstream keepalive carries many
  browsers' requests to gunicorn (deploy/nginx). Before the timed window each watcher
  without a ticket refreshes once (its page load would have brought it), then --warmup
  seconds at pace, then --seconds timed.
- "changing": in each cycle, one active alarm of each customer scope the personas watch is
  raised again in the simulator (POST /sim/alarms: its endTs moves) and a sync run in this
  process stores it, so the counter of every watched scope (the tenant's and each
  customer's) moves once a cycle and every refresh re-renders what changed (the list's
  delta, the on-call section). "quiet": nothing changes; every refresh is answered 204.
- Each case ramps the number of watchers (--changing, --quiet) and stops at the first step
  not served. CPU is read from /proc over the timed window: AlarmDesk's (gunicorn's master
  and workers, redis-server, and in the changing case this process's sync runs), the
  simulator's (ThingsBoard's stand-in: another machine in production, its share of these
  2 cores shown apart) and the client's.

The machine is shared and noisy: compare figures within one run, never across runs.
"""

import argparse
import asyncio
import json
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import brotli

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import list_bench

ROOT = Path(__file__).resolve().parent.parent
PERSONAS = [
    ("tenant@thingsboard.org", "tenant"),
    ("customerA@thingsboard.org", "customer"),
    ("olivia.ops@thingsboard.org", "tenant"),
    ("customerB@thingsboard.org", "customer"),
    ("customerC@thingsboard.org", "customer"),
    ("arthur.field@thingsboard.org", "customer"),
]
CUSTOMERS = ("Customer A", "Customer B", "Customer C")
ONCALL_EVERY = 4  # one watcher in four watches the on-call page
ONCALL_SECTION = re.compile(r'<section id="oncall-list"[^>]*>', re.S)
CARD_IDS = re.compile(r'<li id="card-([0-9a-f-]{36})"')
MINE = re.compile(r'<section id="oncall-mine"[^>]*data-m="([^"]*)"')
TICKET = "alarmdesk_live"
TARGET_CHANGING = 1_000
TARGET_QUIET = 10_000
P95_LIMIT_S = 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
SET_COOKIE = re.compile(rb"^set-cookie:\s*([^=\s]+)=([^;\r\n]*)", re.I | re.M)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alarms", type=int, default=100_000, help="scale: alarms in all")
    parser.add_argument("--active", type=int, default=10_000, help="scale: of which active")
    parser.add_argument("--database", choices=harness.DATABASES, default="sqlite")
    parser.add_argument("--interval", type=float, default=2.0, help="the pages' refresh (s)")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per step")
    parser.add_argument("--warmup", type=float, default=4.0, help="paced seconds before")
    parser.add_argument("--connections", type=int, default=64, help="kept-alive connections")
    parser.add_argument(
        "--changing", default="250,500,750,1000,1250,1500,2000", help="watchers per step"
    )
    parser.add_argument(
        "--quiet", default="2500,5000,7500,10000,12500,15000,20000", help="watchers per step"
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)  # the client process's spec
    return parser.parse_args(argv)


def steps(text):
    return [int(part) for part in text.split(",") if part.strip()]


# --- the client (its own process) ------------------------------------------------------------


class Watcher:
    """One open page, as live.js keeps it."""

    def __init__(self, spec):
        self.path = spec["path"]
        self.cookies = dict(spec["cookies"])
        self.rows = list(spec["rows"])
        self.oncall = spec["oncall"]
        self.mine = spec.get("mine", "")  # on-call's "Mine" as shown (its data-m)
        self.busy = False
        self._request = None

    def request(self, host):
        if self._request is None:
            path = f"{self.path}&m={self.mine}" if self.oncall else self.path
            lines = [
                f"GET {path} HTTP/1.1",
                f"Host: {host}",
                "Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                "HX-Request: true",
                f"HX-Current-URL: http://{host}/{'oncall' if self.oncall else 'alarms'}/",
                "Accept-Encoding: gzip, deflate, br, zstd",
            ]
            section = "oncall-list" if self.oncall else "alarm-table"
            lines += [f"HX-Target: {section}", f"HX-Trigger: {section}"]
            if self.rows:
                lines.append("X-Alarm-Rows: " + " ".join(self.rows))
            self._request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return self._request

    def absorb(self, status, head, body):
        """Follow an answer as the page would; False if it is not one a page can use."""
        if b"et-Cookie" in head or b"et-cookie" in head:
            for name, value in SET_COOKIE.findall(head):
                self.cookies[name.decode()] = value.decode()
                self._request = None
        if status == 204:
            return True
        if status != 200 or b"\nhx-redirect:" in head.lower():
            return False
        text = _decoded(head, body)
        mine = MINE.search(text)
        if mine:
            self.mine = mine.group(1)
        if self.oncall and not list_bench.DELTA.search(text):
            self.path, self.rows = oncall_poll(text), CARD_IDS.findall(text)
        else:
            self.path, self.rows = list_bench.after_refresh(self.path, self.rows, text)
        self._request = None
        return True


def oncall_poll(page_html):
    """What live.js asks on the on-call page: its hx-get with `v` and `t` from its data-v and
    data-t."""
    section = ONCALL_SECTION.search(page_html)
    if not section:
        raise RuntimeError("no polling section on /oncall/")
    return list_bench.with_version(
        list_bench.attribute(section.group(0), "hx-get"), section.group(0)
    )


def _decoded(head, body):
    encoding = re.search(rb"^content-encoding:\s*(\S+)", head, re.I | re.M)
    if encoding and encoding.group(1).lower() == b"br":
        body = brotli.decompress(body)
    elif encoding and encoding.group(1).lower() == b"gzip":
        body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
    return body.decode()


async def _read_answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    if head[9:12] == b"204":  # a quiet refresh, nearly all of them: no body to look for
        return 204, head, b""
    status = int(head[9:12])
    length = re.search(rb"^content-length:\s*(\d+)", head, re.I | re.M)
    if length:
        body = await reader.readexactly(int(length.group(1)))
    elif re.search(rb"^transfer-encoding:\s*chunked", head, re.I | re.M):
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = b""
    return status, head, body


class Tally:
    def __init__(self):
        self.latencies = []  # seconds from due to answered, timed refreshes
        self.statuses = {}
        self.failed = []
        self.skipped = 0
        self.retried = 0


async def _connection(host, port, queue, tally):
    reader = writer = None
    while True:
        item = await queue.get()
        if item is None:
            break
        watcher, due, timed = item
        answer = None
        for attempt in range(2):
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
                fresh = True
            else:
                fresh = False
            try:
                writer.write(watcher.request(f"{host}:{port}"))
                # No timer per refresh (it would cost the client more than the refresh costs
                # the server): one never answered keeps its watcher busy, which skips its
                # turns and counts as not answered at the end.
                answer = await _read_answer(reader)
                if b"lose\r\n" in answer[1] and b"\nconnection: close" in answer[1].lower():
                    writer.close()
                    reader = writer = None
                break
            except (OSError, asyncio.IncompleteReadError) as error:
                writer.close()
                reader = writer = None
                # A kept-alive connection the server had just closed: a browser sends again.
                if fresh or attempt:
                    answer = error
                    break
                tally.retried += 1
        done = time.monotonic()
        watcher.busy = False
        if isinstance(answer, BaseException):
            if timed:
                tally.failed.append(type(answer).__name__)
            continue
        status, head, body = answer
        usable = watcher.absorb(status, head, body)
        if timed:
            tally.latencies.append(done - due)
            tally.statuses[str(status)] = tally.statuses.get(str(status), 0) + 1
            if not usable:
                tally.failed.append(f"{status} {body[:80]!r}")
    if writer is not None:
        writer.close()


async def _client(spec):
    host, port = spec["host"], spec["port"]
    watchers = [Watcher(w) for w in spec["watchers"]]
    tally = Tally()
    queue = asyncio.Queue()
    connections = [
        asyncio.create_task(_connection(host, port, queue, tally))
        for _ in range(min(spec["connections"], len(watchers)))
    ]
    # Those without a ticket load it first, as their page load would have brought it.
    for watcher in watchers:
        if TICKET not in watcher.cookies:
            watcher.busy = True
            queue.put_nowait((watcher, time.monotonic(), False))
    while any(w.busy for w in watchers):
        await asyncio.sleep(0.05)
    period = spec["interval"] / len(watchers)
    start = time.monotonic() + 0.2
    timed_from = start + spec["warmup"]
    end = timed_from + spec["seconds"]
    cpu_from = None
    turn = 0
    while True:
        due = start + turn * period
        if due >= end:
            break
        if cpu_from is None and due >= timed_from:
            cpu_from = time.process_time()
            print("TIMED", flush=True)
        # Through the loop when a turn is not due yet, and every few turns anyway, so that
        # the connections run between them.
        wait = due - time.monotonic()
        if wait > 0 or turn % 16 == 0:
            await asyncio.sleep(max(0.0, wait))
        watcher = watchers[turn % len(watchers)]
        turn += 1
        timed = due >= timed_from
        if watcher.busy:
            tally.skipped += timed
            continue
        watcher.busy = True
        queue.put_nowait((watcher, due, timed))
    cpu = time.process_time() - cpu_from
    print("DONE", flush=True)
    deadline = time.monotonic() + 30
    while any(w.busy for w in watchers) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    unanswered = sum(w.busy for w in watchers)  # 30 s after the end: none will be
    tally.failed += ["no answer within 30 s"] * unanswered
    for _ in connections:
        queue.put_nowait(None)
    _, stuck = await asyncio.wait(connections, timeout=5)
    for connection in stuck:  # still waiting for an answer that will not come
        connection.cancel()
    return {
        "latencies": tally.latencies,
        "statuses": tally.statuses,
        "failed": tally.failed[:20],
        "failures": len(tally.failed),
        "skipped": tally.skipped,
        "retried": tally.retried,
        "client_cpu": cpu,
        "watchers": [
            {
                "path": w.path,
                "cookies": w.cookies,
                "rows": w.rows,
                "oncall": w.oncall,
                "mine": w.mine,
            }
            for w in watchers
        ],
    }


def client_main(spec_path):
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(_client(spec))
    Path(spec["result"]).write_text(json.dumps(result))


# --- the processes -------------------------------------------------------------------------


def procfile_web():
    """The Procfile's web command, as a list of words."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return shlex.split(line.removeprefix("web:"))
    sys.exit("the Procfile has no web: line")


def start_web(workdir):
    """The Procfile's web on a free port: (process, host, port)."""
    port = harness.free_port()
    cmd = procfile_web()
    cmd[cmd.index("--bind") + 1] = f"127.0.0.1:{port}"
    cmd[0] = str(Path(sys.executable).with_name(cmd[0]))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)])}
    log = open(workdir / "web.log", "w")  # noqa: SIM115 (open for the process's life)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if list_bench.requests.get(f"{url}/login/", timeout=5).status_code == 200:
                return proc, url, port
        except list_bench.requests.RequestException:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            sys.exit(f"the web server did not start:\n{(workdir / 'web.log').read_text()[-2000:]}")
        time.sleep(0.2)


def process_tree(pid):
    """pid and every descendant's."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


# --- the watchers ----------------------------------------------------------------------------


def persona_pages(url):
    """For each persona: its session cookie, the list's poll and rows, the on-call poll."""
    pages = []
    for persona in PERSONAS:
        session, list_html = list_bench.http_sign_in(url, persona)
        oncall_html = session.get(f"{url}/oncall/", timeout=30).text
        pages.append(
            {
                "cookie": session.cookies.get("sessionid"),
                "list": list_bench.live_url(list_html),
                "rows": list_bench.ROW_IDS.findall(list_html),
                "oncall": oncall_poll(oncall_html),
                "cards": CARD_IDS.findall(oncall_html),
                "mine": MINE.search(oncall_html).group(1),
            }
        )
    return pages


def clone_sessions(pages, count, rng):
    """`count` sessions of their own, copies of the personas' in turn, their confirmation with
    ThingsBoard spread over the last check period; the watchers' specs."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    from alarmdesk.accounts.tokens import SESSION_KEY

    datas = [dict(SessionStore(session_key=page["cookie"]).load()) for page in pages]
    expire = Session.objects.get(session_key=pages[0]["cookie"]).expire_date
    check = settings.ALARMDESK_SESSION_CHECK_SECONDS
    store = SessionStore()
    watchers, rows = [], []
    for number in range(count):
        page = pages[number % len(pages)]
        data = json.loads(json.dumps(datas[number % len(pages)]))
        data[SESSION_KEY]["confirmed_at"] = time.time() - rng.uniform(0, check)
        key = store._get_new_session_key()
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        oncall = number % ONCALL_EVERY == ONCALL_EVERY - 1
        watchers.append(
            {
                "path": page["oncall"] if oncall else page["list"],
                "cookies": {"sessionid": key},
                "rows": page["cards"] if oncall else page["rows"],
                "mine": page["mine"],
                "oncall": oncall,
            }
        )
    Session.objects.bulk_create(rows, batch_size=1000)
    return watchers


# --- changes -------------------------------------------------------------------------------


class Changer(threading.Thread):
    """Each cycle, one active alarm of each watched customer raised again, and a sync run."""

    def __init__(self, sim, interval, rng):
        super().__init__(daemon=True)
        from alarmdesk.alarms.models import Alarm, Customer

        self.sim, self.interval, self.rng = sim, interval, rng
        self.stopping = threading.Event()
        self.picks = []
        for customer in Customer.objects.filter(title__in=CUSTOMERS):
            active = Alarm.objects.filter(customer_id=customer.id, cleared=False)
            active = active.order_by("severity_rank", "-created_time")
            self.picks.append(list(active.values("originator_name", "type", "severity")[:20]))
        self.cycles = self.failed = 0
        self.cpu = 0.0

    def run(self):
        from django.db import connection

        from alarmdesk.alarms import sync

        due = time.monotonic()
        while not self.stopping.is_set():
            started = time.thread_time()
            try:
                for picks in self.picks:
                    alarm = self.rng.choice(picks)
                    body = {"device": alarm["originator_name"], "type": alarm["type"]}
                    self.sim.call("POST", "/alarms", body | {"severity": alarm["severity"]})
                sync.run_cycle()
                self.cycles += 1
            except Exception:
                self.failed += 1
            self.cpu += time.thread_time() - started
            due += self.interval
            self.stopping.wait(max(0.0, due - time.monotonic()))
        connection.close()


# --- one step --------------------------------------------------------------------------------


def run_step(args, workdir, port, pids, case, watchers):
    """Run the client over `watchers` (their specs, updated in place); the step's figures."""
    spec_path = workdir / "client.json"
    result_path = workdir / "result.json"
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "watchers": watchers,
        "connections": args.connections,
        "interval": args.interval,
        "warmup": args.warmup,
        "seconds": args.seconds,
        "result": str(result_path),
    }
    spec_path.write_text(json.dumps(spec))
    client = subprocess.Popen(
        [sys.executable, __file__, "--client", str(spec_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    marks = {}
    for line in client.stdout:
        word = line.strip()
        if word in ("TIMED", "DONE"):
            marks[word] = (
                time.monotonic(),
                cpu_seconds(pids["alarmdesk"]()),
                cpu_seconds(pids["tb"]()),
            )
    client.wait()
    if client.returncode or len(marks) != 2:
        sys.exit(f"the load client failed (exit {client.returncode})")
    result = json.loads(result_path.read_text())
    watchers[:] = result.pop("watchers")
    (t0, server0, tb0), (t1, server1, tb1) = marks["TIMED"], marks["DONE"]
    latencies = sorted(result["latencies"])
    answered = len(latencies)
    return {
        "case": case,
        "watchers": len(watchers),
        "seconds": t1 - t0,
        "answered": answered,
        "asked": len(watchers) / args.interval * (t1 - t0),
        "p50": list_bench.percentile(latencies, 0.50),
        "p95": list_bench.percentile(latencies, 0.95),
        "p99": list_bench.percentile(latencies, 0.99),
        "statuses": result["statuses"],
        "failures": result["failures"] + result["skipped"],
        "failed": result["failed"],
        "skipped": result["skipped"],
        "retried": result["retried"],
        "server_cpu": server1 - server0,
        "tb_cpu": tb1 - tb0,
        "client_cpu": result["client_cpu"],
        "extra_cpu": 0.0,
    }


def is_served(step):
    return step["failures"] == 0 and step["answered"] and step["p95"] < P95_LIMIT_S


def per_refresh_ms(step, cpu):
    return cpu / max(1, step["answered"]) * 1000


def step_line(step):
    server = step["server_cpu"] + step["extra_cpu"]
    statuses = " ".join(f"{k}:{v}" for k, v in sorted(step["statuses"].items()))
    share = lambda cpu: f"{cpu / step['seconds'] * 100:.0f} %"  # noqa: E731
    return (
        f"{step['case']:<8} {step['watchers']:>6} watchers: {step['answered']:>6} refreshes"
        f" ({step['answered'] / step['seconds']:5.0f}/s) [{statuses}]"
        f" p50 {step['p50'] * 1000:6.1f} ms p95 {step['p95'] * 1000:7.1f} ms"
        f" p99 {step['p99'] * 1000:7.1f} ms; failed {step['failures'] - step['skipped']},"
        f" skipped {step['skipped']}, resent {step['retried']};"
        f" CPU a refresh: AlarmDesk {per_refresh_ms(step, server):.2f} ms ({share(server)}),"
        f" ThingsBoard stand-in {per_refresh_ms(step, step['tb_cpu']):.2f} ms"
        f" ({share(step['tb_cpu'])}), client {per_refresh_ms(step, step['client_cpu']):.2f} ms"
        f" ({share(step['client_cpu'])}); {'served' if is_served(step) else 'NOT served'}"
        + (f"; first failures: {step['failed'][:3]}" if step["failed"] else "")
    )


def main(argv=None):
    args = parse_args(argv)
    if args.client:
        client_main(args.client)
        return
    rng = random.Random(7)
    results = {"changing": [], "quiet": []}
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        workdir = Path(tmp)
        redis_proc, redis_port = harness.start_redis(tmp)
        sim_proc, sim_url, _ = harness.scale_simulator(args.alarms, args.active)
        web = None
        try:
            with harness.store(args.database, workdir) as (database_url, database_words):
                list_bench.configure(workdir, redis_port, sim_url, database_url)
                print(f"filling the store ({args.alarms:,} alarms) by the real sync...", flush=True)
                fill_seconds, _ = harness.fill_store()
                web, url, port = start_web(workdir)
                pids = {
                    "alarmdesk": lambda: [*process_tree(web.pid), redis_proc.pid],
                    "tb": lambda: [sim_proc.pid],
                }
                pages = persona_pages(url)
                wanted = max(steps(args.changing) + steps(args.quiet) + [1])
                watchers = clone_sessions(pages, wanted, rng)
                sim = harness.Sim(sim_url)
                for case in ("changing", "quiet"):
                    for count in steps(getattr(args, case)):
                        changer = Changer(sim, args.interval, rng) if case == "changing" else None
                        if changer:
                            changer.start()
                        step_watchers = watchers[:count]
                        cpu_before = changer and changer.cpu
                        step = run_step(args, workdir, port, pids, case, step_watchers)
                        watchers[:count] = step_watchers
                        if changer:
                            changer.stopping.set()
                            changer.join()
                            # Its CPU over the whole step, scaled to the timed window.
                            share = args.seconds / (args.seconds + args.warmup)
                            step["extra_cpu"] = (changer.cpu - cpu_before) * share
                            step["changes"] = (changer.cycles, changer.failed)
                        results[case].append(step)
                        print(step_line(step), flush=True)
                        if not is_served(step):
                            break
                rows, notes = report(args, results, fill_seconds, database_words)
        finally:
            if web is not None:
                harness.stop(web)
            harness.stop(sim_proc)
            harness.stop(redis_proc)
    harness.print_table(rows, notes)
    harness.print_footer(rows)


def report(args, results, fill_seconds, database_words):
    rows = []
    for case, target in (("changing", TARGET_CHANGING), ("quiet", TARGET_QUIET)):
        served = [step for step in results[case] if is_served(step)]
        best = max((step["watchers"] for step in served), default=0)
        value = f"{best:,} watchers"
        if served:
            top = served[-1]
            server = per_refresh_ms(top, top["server_cpu"] + top["extra_cpu"])
            value += (
                f" (p95 {top['p95'] * 1000:.0f} ms, {top['answered'] / top['seconds']:.0f}"
                f" refreshes/s; CPU a refresh: AlarmDesk {server:.2f} ms, client"
                f" {per_refresh_ms(top, top['client_cpu']):.2f} ms)"
            )
            if len(served) == len(results[case]):
                value += "; the largest step tried"
        rows.append(
            (
                f"{case}: watchers served",
                value,
                f">= {target:,}",
                "PASS" if best >= target else "FAIL",
            )
        )
    notes = [
        f"store: {database_words}, {args.alarms:,} alarms ({args.active:,} active), filled by the"
        f" sync in {fill_seconds:.0f} s",
        f"web: the Procfile's `{' '.join(procfile_web())}`",
        f"each step: {args.warmup:g} s at pace, then {args.seconds:g} s timed; a refresh every"
        f" {args.interval:g} s per watcher over {args.connections} kept-alive connections;"
        " served = none failed or skipped, p95 < 1 s from when each refresh was due",
    ]
    return rows, notes


if __name__ == "__main__":
    main()
