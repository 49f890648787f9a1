"""A production topology on loopback, brought up from deploy/ as a newcomer would: the
commands of the systemd units and the settings of the environment file template, against
one PostgreSQL (a database in a private cluster) and a Redis of its own; two web servers,
two of each Celery worker and one beat. And what watches it: pages polling as live.js does,
changes made in ThingsBoard meanwhile. Used by tests/test_topology.py and
bench/soak_bench.py."""

import contextlib
import os
import random
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import requests

from tests.thingsboard_side import TENANT, TbSession, _free_port, raise_alarm

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
ENV_TEMPLATE = ROOT / "deploy" / "alarmdesk.env.example"
DATABASE = "alarmdesk_topology"
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PROPOSED_JOB = re.compile(r'name="job" value="(\d+)"')
# settings.py puts STATIC_ROOT under the checkout's var/ (make run's): here, a directory of
# the test's own, through a settings module that changes only that.
SETTINGS_TEXT = "from alarmdesk.settings import *  # noqa: F403\n\nSTATIC_ROOT = {!r}\n"


def unit_command(name):
    """The ExecStart of deploy/systemd/<name>.service as a list, run from this checkout."""
    text = (UNITS / f"{name}.service").read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    command = shlex.split(line.removeprefix("ExecStart="))
    return [part.replace("/opt/alarmdesk", str(ROOT)) for part in command]


def with_option(command, flag, value):
    """`command` with `flag`'s value replaced (or the flag added)."""
    command = list(command)
    if flag in command:
        command[command.index(flag) + 1] = value
    else:
        command += [flag, value]
    return command


def template_settings():
    """The environment file template's settings, as systemd reads them (KEY=VALUE lines)."""
    settings = {}
    for line in ENV_TEMPLATE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key] = value
    return settings


class Topology:
    def __init__(self, workdir):
        self.workdir = workdir
        self.processes = {}

    def start(self, name, command, env):
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (kept while it runs)
        self.processes[name] = (
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            ),
            log,
        )

    def restart(self, name, how=signal.SIGTERM, pause=0.0):
        """Stop `name` (SIGTERM: as systemd's restart; SIGKILL: a crash), then start it again
        with the same command, as systemd's Restart= does."""
        process, log = self.processes[name]
        os.killpg(process.pid, how)
        process.wait(timeout=30)
        log.close()
        time.sleep(pause)
        self.start(name, process.args, self.env)

    def check_alive(self):
        for name, (process, _) in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited ({process.returncode}):\n{self.tail(name)}")

    def tail(self, name, lines=30):
        text = (self.workdir / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self):
        for process, _ in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process, log in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()


def wait_for(condition, timeout, what, topology):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        topology.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.25)


def sign_in(base, persona):
    session = requests.Session()
    form = session.get(f"{base}/login/", timeout=30)
    token = CSRF_INPUT.search(form.text).group(1)
    data = {"username": persona[0], "password": persona[1], "csrfmiddlewaretoken": token}
    answer = session.post(f"{base}/login/", data=data, timeout=30)
    if answer.url != f"{base}/alarms/":
        said = re.findall(r'role="alert"[^>]*>([^<]+)<', answer.text)
        raise AssertionError(f"{persona[0]} was not signed in: {said or answer.status_code}")
    return session, answer.text


def post(session, base, path, page, data):
    token = CSRF_INPUT.search(page).group(1)
    return session.post(f"{base}{path}", data={**data, "csrfmiddlewaretoken": token}, timeout=30)


def redis_answers(port):
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as c:
        c.sendall(b"PING\r\n")
        return c.recv(16).startswith(b"+PONG")
    return False


@contextlib.contextmanager
def running(cluster, tb_url, workdir, **overrides):
    """The topology, started: a database of its own in `cluster` (tests/pgcluster.py), a
    Redis of its own, migrated, static files collected, then every process; stopped after.
    `overrides`: settings beyond the env template's and the topology's own."""
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    (workdir / "topology_settings.py").write_text(SETTINGS_TEXT.format(str(workdir / "static")))
    redis_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TB_", "ALARMDESK_"))}
    env |= template_settings()
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "topology_settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "ALARMDESK_HTTPS": "false",  # loopback: no TLS here, nginx's job in deploy/
        "DATABASE_URL": cluster.url(DATABASE),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "TB_URL": tb_url,
        "TB_SYNC_USERNAME": TENANT[0],
        "TB_SYNC_PASSWORD": TENANT[1],
        "TB_SYNC_API_KEY": "",
    }
    env |= overrides
    for step in (["migrate", "--no-input"], ["collectstatic", "--no-input"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *step], cwd=ROOT, env=env, capture_output=True
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]

    topology = Topology(workdir)
    topology.env, topology.bases = env, []
    try:
        # A Redis of the topology's own (a soak restarts it), saving its data on the way
        # down as Debian's does, so that a restart keeps the queues.
        (workdir / "redis").mkdir()
        redis_command = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"]
        redis_command += ["--save", "3600 1", "--dir", str(workdir / "redis")]
        topology.start("redis", redis_command, env)
        wait_for(lambda: redis_answers(redis_port), 15, "redis-server", topology)
        for n in (1, 2):
            port = _free_port()
            command = with_option(unit_command("alarmdesk-web"), "--bind", f"127.0.0.1:{port}")
            topology.start(f"web{n}", command, env)
            topology.bases.append(f"http://127.0.0.1:{port}")
            for unit, host in (
                ("alarmdesk-worker-sync", "sync"),
                ("alarmdesk-worker-notify", "notify"),
                ("alarmdesk-worker", "worker"),
            ):
                command = with_option(unit_command(unit), "--hostname", f"{host}{n}@%h")
                topology.start(f"{host}{n}", command, env)
        beat = with_option(unit_command("alarmdesk-beat"), "--schedule", str(workdir / "beat"))
        topology.start("beat", beat, env)
        topology.database = cluster.url(DATABASE)
        yield topology
    finally:
        topology.stop()


def query(topology, sql, params=()):
    with psycopg.connect(topology.database) as connection:
        return connection.execute(sql, params).fetchall()


def healthy(base):
    with contextlib.suppress(requests.RequestException):
        answer = requests.get(f"{base}/healthz", timeout=5)
        return answer.status_code == 200 and answer.json().get("last_sync")
    return False


# Where a live page keeps the `v` and `t` its refresh sends: the list's section (and its
# delta) in data attributes, on-call's in its refresh URL.
LIVE_VT = re.compile(r'data-v="([^"]*)" data-t="([^"]*)"|\?v=([^&"]*)&amp;t=([^&"]*)"')


def live_vt(html):
    found = LIVE_VT.search(html)
    assert found, html[:300]
    v, t, url_v, url_t = found.groups()
    return (v, t) if v is not None else (url_v, url_t)


class Watcher(threading.Thread):
    """One signed-in page polling as live.js does: every 2 s, with the `v` and `t` its last
    answer gave; every answer (or failure) recorded: (seconds into the soak, the status or
    the error's name, seconds it took)."""

    def __init__(self, base, persona, path, until, started, interval=2.0):
        super().__init__(daemon=True)
        self.base, self.persona, self.path = base, persona, path
        self.until, self.started, self.interval = until, started, interval
        self.answers = []

    def run(self):
        session, _ = sign_in(self.base, self.persona)
        page = session.get(f"{self.base}{self.path}", timeout=10).text
        v, t = live_vt(page)
        headers = {"HX-Request": "true"}
        time.sleep(random.random() * self.interval)  # pages opened at different moments
        while time.monotonic() < self.until:
            asked = time.monotonic()
            try:
                answer = session.get(
                    f"{self.base}{self.path}", params={"v": v, "t": t}, headers=headers, timeout=10
                )
                outcome = answer.status_code
                if answer.status_code == 200:
                    v, t = live_vt(answer.text)
            except requests.RequestException as error:
                outcome = type(error).__name__
            took = time.monotonic() - asked
            self.answers.append((asked - self.started, outcome, took))
            time.sleep(max(0.0, self.interval - took))


def thingsboard_changes(tbsim, until, touched):
    """What happens in ThingsBoard meanwhile: an alarm raised, acknowledged or cleared each
    second (by another user, through ThingsBoard's own API), whatever AlarmDesk is doing."""
    n = 0
    while time.monotonic() < until:
        n += 1
        with contextlib.suppress(requests.RequestException, KeyError):
            if n % 3 == 1:
                touched.add(raise_alarm(tbsim, f"Soak {n}", random.choice(["MAJOR", "CRITICAL"])))
            else:
                with TbSession(tbsim.url, TENANT) as tb:
                    open_ = list(tb.alarms(statusList="ACTIVE"))
                    alarm = random.choice(open_)
                    verb = "ack" if n % 3 == 2 else "clear"
                    tb.post(f"/api/alarm/{alarm}/{verb}").raise_for_status()
                    touched.add(alarm)
        time.sleep(1)


def store_matches_thingsboard(topology, tbsim):
    with TbSession(tbsim.url, TENANT) as tb:
        truth = {
            alarm: (row["acknowledged"], row["cleared"], row["severity"])
            for alarm, row in tb.alarms().items()
        }
    stored = {
        str(alarm): (acked, cleared, severity)
        for alarm, acked, cleared, severity in query(
            topology,
            "SELECT id, acknowledged, cleared, severity FROM alarms_alarm WHERE NOT deleted",
        )
    }
    return stored == truth
