"""Capacity of one box: how many people watching the list and on-call pages it serves.

Run from the repository root (wrk: `apt-get install wrk`):

    .venv/bin/python bench/load_bench.py
    .venv/bin/python bench/load_bench.py --changing 500,1000,1500 --quiet 5000,10000,15000

Targets (the production issue), with 100,000 alarms in the store of which 10,000 active, on
this 2-core box: at least 1,000 watchers served when an alarm of every watcher's scope
changes in every refresh cycle (each refresh re-renders), and at least 10,000 when nothing
changes; served means the refreshes' p95 under 1 s, none failed, and the refresh rate the
watchers ask for (one every --interval seconds each) kept.

How it measures:
- The store is filled by the real sync from the simulator's `scale` scenario (as list_bench
  does: a private redis-server, a fresh SQLite file, DEBUG off; `--database postgres` for a
  private PostgreSQL cluster). The web server is the Procfile's `web:` line as it stands
  (gunicorn, its workers, threads and keep-alive; access log on, to /dev/null), on a free
  port.
- Sessions: each persona (tenant administrators and customer users, see PERSONAS) signs in
  through the real sign-in form over HTTP; then each watcher gets a session of its own: a
  copy of its persona's session row under a new key (Django's session data is signed
  without its key), its last confirmation with ThingsBoard spread over the past
  ALARMDESK_SESSION_CHECK_SECONDS, so that the sessions confirm with the simulator at the
  pace real ones would (each every 2 minutes) rather than all at once. A quarter of the
  watchers watch the on-call page, the rest the list's default page, each persona in turn.
- Each watcher polls what its page's htmx polls (its hx-get with the page's `v`, the rows it
  shows in X-Alarm-Rows, HX-Request), one refresh every --interval seconds. The client is
  wrk (C, one thread), its requests written by a Lua script from a table of the watchers'
  requests and paced by one schedule for the whole run: refreshes leave at the watchers'
  total rate, over --connections kept-alive connections, as nginx's upstream keepalive
  would carry many browsers' requests to gunicorn. A refresh waiting for a free connection
  is late: a step whose refreshes left at less than 97 % of the asked rate is not served,
  whatever their latency.
- "changing": in each cycle, one active alarm of each customer scope the personas watch is
  raised again in the simulator (POST /sim/alarms, its endTs moves) and a sync run in this
  process stores it, so every scope's counter moves once a cycle; each refresh carries a
  stale `v` and `t` one interval back, so every one re-renders what changed (the list's
  delta, the on-call section whole), as a watcher's would. "quiet": nothing changes; each
  refresh carries the current `v` and is answered 204.
- Each case ramps the number of watchers (--changing, --quiet), --seconds per step after a
  few seconds of warm-up, and stops at the first step not served. CPU is read from
  /proc: the server's (gunicorn's master and workers, redis-server, the simulator, and this
  process's sync runs in the changing case) and the client's (wrk), each per refresh.

The machine is shared and noisy: compare figures within one run, never across runs.
"""

import argparse
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
from pathlib import Path

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
ONCALL_EVERY = 4  # one watcher in four watches the on-call page
ONCALL_SECTION = re.compile(r'<section id="oncall-list"[^>]*>', re.S)
TARGET_CHANGING = 1_000
TARGET_QUIET = 10_000
P95_LIMIT_S = 1.0
RATE_KEPT = 0.97
CLK_TCK = os.sysconf("SC_CLK_TCK")

LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } timespec_t;
int clock_gettime(int clk_id, timespec_t *tp);
]]
local ts = ffi.new("timespec_t")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local watchers = dofile(DATA)
local period = INTERVAL / #watchers   -- seconds between two refreshes, all watchers
local next_due = nil
local index = 0
-- Globals, not locals: done() reads them through thread:get().
late = 0
statuses = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function delay()
  -- One schedule for the run: each connection that is free takes the next slot.
  local t = now()
  if next_due == nil then next_due = t end
  next_due = next_due + period
  local wait = next_due - t
  if wait < 0 then
    if wait < -0.05 then late = late + 1 end
    return 0
  end
  return wait * 1000
end

function request()
  index = index % #watchers + 1
  local w = watchers[index]
  local path = w.path
  if STALE then
    path = path .. "&t=" .. string.format("%.3f", os.time() - INTERVAL)
  end
  return wrk.format("GET", path, w.headers)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local t = threads[1]
  local counted = t:get("statuses")
  local out = {
    requests = summary.requests,
    duration_us = summary.duration,
    errors = summary.errors,
    late = t:get("late") or 0,
    statuses = counted or {},
    p50 = latency:percentile(50),
    p95 = latency:percentile(95),
    p99 = latency:percentile(99),
    max = latency.max,
  }
  local parts = {}
  for k, v in pairs(out) do
    if type(v) == "table" then
      local inner = {}
      for k2, v2 in pairs(v) do table.insert(inner, string.format("%q:%d", k2, v2)) end
      table.insert(parts, string.format("%q:{%s}", k, table.concat(inner, ",")))
    else
      table.insert(parts, string.format("%q:%s", k, tostring(v)))
    end
  end
  io.write("WRK-RESULT {" .. table.concat(parts, ",") .. "}\n")
end
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alarms", type=int, default=100_000, help="scale: alarms in all")
    parser.add_argument("--active", type=int, default=10_000, help="scale: of which active")
    parser.add_argument("--database", choices=harness.DATABASES, default="sqlite")
    parser.add_argument("--interval", type=float, default=2.0, help="the pages' refresh (s)")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per step")
    parser.add_argument("--warmup", type=float, default=4.0, help="untimed seconds per step")
    parser.add_argument("--connections", type=int, default=64, help="kept-alive connections")
    parser.add_argument(
        "--changing", default="250,500,750,1000,1250,1500,2000", help="watchers per step"
    )
    parser.add_argument(
        "--quiet", default="2500,5000,7500,10000,12500,15000,20000", help="watchers per step"
    )
    return parser.parse_args(argv)


def steps(text):
    return [int(part) for part in text.split(",") if part.strip()]


# --- the processes -------------------------------------------------------------------------


def procfile_web():
    """The Procfile's web command, as a list of words."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return shlex.split(line.removeprefix("web:"))
    sys.exit("the Procfile has no web: line")


def start_web(workdir):
    """The Procfile's web on a free port: (process, URL)."""
    port = harness.free_port()
    cmd = procfile_web()
    cmd[cmd.index("--bind") + 1] = f"127.0.0.1:{port}"
    cmd[0] = str(Path(sys.executable).with_name(cmd[0]))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)])}
    log = open(workdir / "web.log", "w")  # noqa: SIM115 (open for the process's life)
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if list_bench.requests.get(f"{url}/login/", timeout=5).status_code == 200:
                return proc, url
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
    """For each persona: (persona, session cookie, list poll, rows, on-call poll)."""
    pages = []
    for persona in PERSONAS:
        session, list_html = list_bench.http_sign_in(url, persona)
        oncall_html = session.get(f"{url}/oncall/", timeout=30).text
        section = ONCALL_SECTION.search(oncall_html)
        if not section:
            raise RuntimeError(f"no polling section on /oncall/ for {persona[0]}")
        oncall_poll = list_bench.html.unescape(list_bench.attribute(section.group(0), "hx-get"))
        pages.append(
            {
                "persona": persona,
                "cookie": session.cookies.get("sessionid"),
                "list": list_bench.live_url(list_html),
                "rows": list_bench.ROW_IDS.findall(list_html),
                "oncall": oncall_poll,
            }
        )
    return pages


def clone_sessions(pages, count, rng):
    """`count` sessions of their own for the watchers, copies of the personas' in turn, their
    confirmation with ThingsBoard spread over the last check period; their keys."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    from alarmdesk.accounts.tokens import SESSION_KEY

    originals = [SessionStore(session_key=page["cookie"]) for page in pages]
    datas = [dict(original.load()) for original in originals]
    expire = Session.objects.get(session_key=pages[0]["cookie"]).expire_date
    keys, rows = [], []
    check = settings.ALARMDESK_SESSION_CHECK_SECONDS
    store = SessionStore()
    for number in range(count):
        data = json.loads(json.dumps(datas[number % len(datas)]))
        data[SESSION_KEY]["confirmed_at"] = time.time() - rng.uniform(0, check)
        key = store._get_new_session_key()
        keys.append(key)
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
    Session.objects.bulk_create(rows, batch_size=1000)
    return keys


def watcher_requests(pages, keys, versions, stale):
    """The Lua table of each watcher's refresh: path and headers."""
    lines = ["return {"]
    for number, key in enumerate(keys):
        page = pages[number % len(pages)]
        on_call = number % ONCALL_EVERY == ONCALL_EVERY - 1
        path = page["oncall"] if on_call else page["list"]
        path = re.sub(r"([?&])(v|t)=[^&]*", r"\1", path).replace("&&", "&").rstrip("?&")
        version = "0" if stale else versions[page["persona"][0]]
        path = f"{path}{'&' if '?' in path else '?'}v={version}"
        headers = {"Cookie": f"sessionid={key}", "HX-Request": "true"}
        if not on_call:
            headers |= {"HX-Target": "alarm-table", "X-Alarm-Rows": " ".join(page["rows"])}
        if not stale:
            path += f"&t={time.time():.3f}"
        fields = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
        lines.append(f"  {{ path = {json.dumps(path)}, headers = {{ {fields} }} }},")
    lines.append("}")
    return "\n".join(lines) + "\n"


def current_versions(pages):
    from django.contrib.sessions.backends.db import SessionStore

    from alarmdesk.accounts.tokens import SESSION_KEY, SessionUser
    from alarmdesk.alarms.live import scope_version

    versions = {}
    for page in pages:
        data = SessionStore(session_key=page["cookie"]).load()
        user = SessionUser(**data[SESSION_KEY]["user"])
        versions[page["persona"][0]] = scope_version(user)[0]
    return versions


# --- changes -------------------------------------------------------------------------------


class Changer(threading.Thread):
    """One alarm of each watched customer raised again each cycle, and a sync run storing it."""

    def __init__(self, sim, interval, rng):
        super().__init__(daemon=True)
        from alarmdesk.alarms.models import Alarm, Customer

        self.sim, self.interval, self.rng = sim, interval, rng
        self.stopping = threading.Event()
        self.picks = []
        for title in ("Customer A", "Customer B", "Customer C"):
            customer = Customer.objects.filter(title=title).first()
            if customer is None:
                continue
            active = Alarm.objects.filter(customer_id=customer.id, cleared=False).order_by(
                "severity_rank", "-created_time"
            )
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
                    body = {
                        "device": alarm["originator_name"],
                        "type": alarm["type"],
                        "severity": alarm["severity"],
                    }
                    self.sim.call("POST", "/alarms", body)
                sync.run_cycle()
                self.cycles += 1
            except Exception:
                self.failed += 1
            self.cpu += time.thread_time() - started
            due += self.interval
            self.stopping.wait(max(0.0, due - time.monotonic()))
        connection.close()


# --- one step --------------------------------------------------------------------------------


def run_step(args, workdir, url, server_pids, case, watchers, lua_data):
    data = workdir / f"watchers-{case}-{watchers}.lua"
    data.write_text(lua_data)
    script = workdir / f"load-{case}-{watchers}.lua"
    head = f"DATA = {json.dumps(str(data))}\nINTERVAL = {args.interval}\n"
    head += f"STALE = {'true' if case == 'changing' else 'false'}\n"
    script.write_text(head + LUA)
    seconds = args.warmup + args.seconds
    connections = min(args.connections, watchers)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "10s"]
    cmd += ["-s", str(script), url]
    # Warm-up and timed window in one wrk run would mix them: two runs, the first untimed.
    warm = [*cmd[:3], f"-d{args.warmup:.0f}s", *cmd[4:]]
    subprocess.run(warm, capture_output=True, check=False)
    _children_cpu_delta()
    server_before = cpu_seconds(server_pids())
    proc = subprocess.Popen(
        [*cmd[:3], f"-d{args.seconds:.0f}s", *cmd[4:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate()
    server_after = cpu_seconds(server_pids())
    client_cpu = _children_cpu_delta()
    match = re.search(r"WRK-RESULT (\{.*\})", stdout)
    if not match:
        sys.exit(f"wrk printed no result:\n{stdout}\n{stderr}")
    result = json.loads(match.group(1))
    errors = result["errors"]
    failed = sum(errors.values()) + sum(
        n for status, n in result["statuses"].items() if status not in ("200", "204")
    )
    served = result["requests"]
    asked = watchers / args.interval * result["duration_us"] / 1e6
    return {
        "case": case,
        "watchers": watchers,
        "asked_rate": watchers / args.interval,
        "rate": served / (result["duration_us"] / 1e6),
        "kept": served / asked if asked else 0,
        "p50": result["p50"] / 1e6,
        "p95": result["p95"] / 1e6,
        "p99": result["p99"] / 1e6,
        "failed": failed,
        "statuses": result["statuses"],
        "errors": {k: v for k, v in errors.items() if v},
        "server_cpu": server_after - server_before,
        "client_cpu": client_cpu,
        "requests": served,
        "seconds": result["duration_us"] / 1e6,
    }


_last_children = [0.0]


def _children_cpu_delta():
    times = os.times()
    total = times.children_user + times.children_system
    delta, _last_children[0] = total - _last_children[0], total
    return delta


def is_served(step):
    return step["failed"] == 0 and step["p95"] < P95_LIMIT_S and step["kept"] >= RATE_KEPT


# --- the report ------------------------------------------------------------------------------


def step_line(step, extra_cpu=0.0):
    per = (step["server_cpu"] + extra_cpu) / max(1, step["requests"]) * 1000
    client = step["client_cpu"] / max(1, step["requests"]) * 1000
    statuses = " ".join(f"{k}:{v}" for k, v in sorted(step["statuses"].items()))
    errors = " ".join(f"{k}:{v}" for k, v in step["errors"].items()) or "none"
    return (
        f"{step['case']:<8} {step['watchers']:>6} watchers  asked {step['asked_rate']:7.0f}/s"
        f"  sent {step['rate']:7.0f}/s ({step['kept'] * 100:5.1f} %)"
        f"  p50 {step['p50'] * 1000:6.1f} ms  p95 {step['p95'] * 1000:7.1f} ms"
        f"  p99 {step['p99'] * 1000:7.1f} ms  [{statuses}] errors {errors}"
        f"  server CPU {per:.2f} ms/refresh"
        f" ({(step['server_cpu'] + extra_cpu) / step['seconds'] * 100:.0f} %)"
        f"  client {client:.2f} ms/refresh"
        f"  {'served' if is_served(step) else 'NOT served'}"
    )


def main(argv=None):
    args = parse_args(argv)
    if not list_bench.shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    rng = random.Random(7)
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        workdir = Path(tmp)
        redis_proc, redis_port = harness.start_redis(tmp)
        sim_proc, sim_url, _ = harness.scale_simulator(args.alarms, args.active)
        web = None
        try:
            with harness.store(args.database, workdir) as (database_url, database_words):
                list_bench.configure(workdir, redis_port, sim_url, database_url)
                print(f"filling the store ({args.alarms:,} alarms) by the real sync...", flush=True)
                fill_seconds, _ = list_bench.fill_store()
                web, url = start_web(workdir)
                server = [web.pid, redis_proc.pid, sim_proc.pid]

                def server_pids():
                    return [pid for root in server for pid in process_tree(root)]

                pages = persona_pages(url)
                wanted = max(steps(args.changing) + steps(args.quiet) + [1])
                keys = clone_sessions(pages, wanted, rng)
                sim = list_bench.Sim(sim_url)
                results = {}
                for case, counts in (("changing", args.changing), ("quiet", args.quiet)):
                    results[case] = []
                    for watchers in steps(counts):
                        changer = None
                        if case == "changing":
                            changer = Changer(sim, args.interval, rng)
                            changer.start()
                        versions = current_versions(pages)
                        lua = watcher_requests(pages, keys[:watchers], versions, case == "changing")
                        step = run_step(args, workdir, url, server_pids, case, watchers, lua)
                        extra = 0.0
                        if changer:
                            changer.stopping.set()
                            changer.join()
                            extra = changer.cpu * args.seconds / (args.seconds + args.warmup)
                            step["changes"] = (changer.cycles, changer.failed)
                        step["extra_cpu"] = extra
                        results[case].append(step)
                        print(step_line(step, extra), flush=True)
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
        tried = [step["watchers"] for step in results[case]]
        top = served[-1] if served else None
        value = f"{best:,} watchers"
        if top:
            per = (top["server_cpu"] + top["extra_cpu"]) / max(1, top["requests"]) * 1000
            client = top["client_cpu"] / max(1, top["requests"]) * 1000
            value += (
                f" (p95 {top['p95'] * 1000:.0f} ms, {top['rate']:.0f} refreshes/s,"
                f" server CPU {per:.2f} ms and client {client:.2f} ms a refresh)"
            )
        if len(served) == len(tried) and tried:
            value += "; the largest step tried"
        verdict = "PASS" if best >= target else "FAIL"
        rows.append((f"{case}: watchers served", value, f">= {target:,}", verdict))
    notes = [
        f"store: {database_words}, {args.alarms:,} alarms ({args.active:,} active), filled by the"
        f" sync in {fill_seconds:.0f} s; web: the Procfile's `{' '.join(procfile_web())}`",
        f"each step: {args.warmup:.0f} s warm-up, {args.seconds:.0f} s timed, wrk -t1 over"
        f" {args.connections} kept-alive connections; a refresh every {args.interval:g} s per"
        " watcher; served = none failed, p95 < 1 s, >= 97 % of the asked rate sent",
    ]
    return rows, notes


if __name__ == "__main__":
    main()
