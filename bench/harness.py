"""What the benchmarks share: a private redis-server, the simulator as a subprocess, and a
Django configured against them with a throwaway store: a SQLite file, or a database in a
private PostgreSQL cluster (`--database postgres`, tests/pgcluster.py)."""

import math
import os
import platform
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def tb_session(url, persona):
    """A requests session signed in to ThingsBoard (or the simulator) as `persona`, a
    (username, password) pair: its X-Authorization header set."""
    http = requests.Session()
    answer = http.post(
        f"{url}/api/auth/login",
        json={"username": persona[0], "password": persona[1]},
        timeout=10,
    )
    answer.raise_for_status()
    http.headers["X-Authorization"] = f"Bearer {answer.json()['token']}"
    return http


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(workdir):
    """A redis-server without persistence on a free port: (process, port)."""
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is missing (scripts/system-packages.sh installs it)")
    port = free_port()
    options = {"--port": port, "--bind": "127.0.0.1", "--save": "", "--appendonly": "no"}
    options["--dir"] = workdir
    argv = ["redis-server", *(str(part) for item in options.items() for part in item)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            sys.exit("redis-server did not start")
        time.sleep(0.05)


def start_simulator(*options, pinned=False):
    """`python -m alarmdesk.tbsim --port 0 <options>`: (process, URL, seconds to ready)."""
    cmd = [sys.executable, "-m", "alarmdesk.tbsim", "--host", "127.0.0.1", "--port", "0"]
    cmd += list(options)
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
    match = re.search(r"listening on (http://[\d.]+:\d+)", line)
    if not match:
        proc.kill()
        sys.exit(f"simulator did not start: {line!r}")
    url = match.group(1)
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{url}/sim/stats", timeout=5).raise_for_status()
            break
        except requests.RequestException:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                sys.exit("the simulator does not answer")
            time.sleep(0.05)
    return proc, url, time.perf_counter() - started


def scale_simulator(alarms, active, pinned=False):
    """The simulator's scale scenario without its live generator."""
    options = ["--scenario", "scale", "--no-generator", "--alarms", str(alarms)]
    return start_simulator(*options, "--active", str(active), pinned=pinned)


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


DATABASES = ("sqlite", "postgres")


@contextmanager
def store(kind, workdir):
    """(DATABASE_URL, words) of a fresh store for one benchmark run: a SQLite file in
    `workdir`, or a database in a private PostgreSQL cluster, stopped and removed after."""
    if kind == "sqlite":
        yield f"sqlite:///{Path(workdir) / 'bench.sqlite3'}", "SQLite (WAL)"
        return
    sys.path.insert(0, str(ROOT))
    import psycopg

    from tests.pgcluster import Cluster

    # As docs/deploy.md sets a deployment's: the store's indexes in PostgreSQL's own memory
    # (the tests' 256 MB holds a third of them at 1,000,000 alarms; the rest came from the
    # page cache, which this machine's kernel reclaims while it sits idle).
    with Cluster(shared_buffers="2GB") as cluster:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        yield cluster.url("bench"), f"PostgreSQL ({cluster.version()}, a private cluster)"


def setup_django(workdir, redis_port, tb_url="http://127.0.0.1:9", database_url=None, **extra):
    """Django against a fresh store (a SQLite file in `workdir` unless `database_url`) and
    the private Redis, migrated."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="alarmdesk.settings",
        SECRET_KEY=secrets.token_urlsafe(40),
        DATABASE_URL=database_url or f"sqlite:///{Path(workdir) / 'bench.sqlite3'}",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        TB_URL=tb_url,
        TB_SYNC_USERNAME="tenant@thingsboard.org",
        TB_SYNC_PASSWORD="tenant",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        **extra,
    )
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    settings.STORAGES = {
        **settings.STORAGES,
        # The manifest exists only after collectstatic: plain storage renders the same pages.
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("migrate", verbosity=0)


def percentiles(samples):
    """(p50, p95) of a list of numbers, by nearest rank."""
    ordered = sorted(samples)
    return tuple(ordered[max(0, math.ceil(f * len(ordered)) - 1)] for f in (0.5, 0.95))


def print_table(rows, note_lines=()):
    """rows: (measure, value, target, verdict) tuples; verdict "PASS", "FAIL" or "-"."""
    header = ("measure", "value", "target", "PASS/FAIL")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    line = " | ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*map(str, row)))
    print()
    for note in note_lines:
        print(note)


def print_footer(rows):
    """The machine, the command that printed the table, and how many targets were missed."""
    cpu = platform.processor() or platform.machine()
    print(f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}")
    print(f"command: {shlex.join([os.path.relpath(sys.executable), *sys.argv])}")
    failed = sum(row[3] == "FAIL" for row in rows)
    print(f"{failed} of {sum(row[3] in ('PASS', 'FAIL') for row in rows)} targets missed")


def fill_store():
    """The real sync, in this process, until its backfill is done, then one cycle more (the
    watermarks settle: the next cycles find nothing new); (seconds to the backfill's end,
    runs)."""
    from alarmdesk.alarms import sync
    from alarmdesk.alarms.models import SyncState

    sync.BACKFILL_BUDGET_SECONDS = 600
    started = time.perf_counter()
    runs = 0
    while True:
        runs += 1
        if sync.run_cycle() is None:
            raise RuntimeError("run_cycle() found the sync lock taken")
        if SyncState.objects.get().backfill_done:
            break
        if runs >= 50:
            raise RuntimeError("the backfill did not end in 50 runs")
    seconds = time.perf_counter() - started
    sync.run_cycle()
    return seconds, runs


class Sim:
    """The simulator's /sim/ controls (neither counted as ThingsBoard requests nor delayed
    by its faults)."""

    def __init__(self, url):
        self.url = url
        self.http = requests.Session()

    def call(self, method, path, body=None):
        answer = self.http.request(method, f"{self.url}/sim{path}", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def latency(self, ms):
        """`ms` more on every /api/ request (0: none)."""
        if ms:
            self.call("POST", "/faults", {"latency_ms": ms})
        else:
            self.call("DELETE", "/faults")

    def reset_stats(self):
        self.call("POST", "/stats/reset")

    def api_routes(self):
        """{route: requests} of the ThingsBoard API since the last reset."""
        routes = self.call("GET", "/stats")["routes"]
        return {route: entry["count"] for route, entry in routes.items() if " /api/" in route}
