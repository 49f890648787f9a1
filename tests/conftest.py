"""Shared fixtures: a real Redis, a ThingsBoard simulator on a real socket, and its demo
personas."""

import contextlib
import os
import shutil
import subprocess
import sys
import time

import dj_database_url
import pytest
import redis
import requests
from celery import signals
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.cache import caches
from django.db import connections

from alarmdesk.alarms import sync
from alarmdesk.celery import app as alarmdesk_celery
from alarmdesk.tbsim.app import Options
from alarmdesk.tbsim.server import RunningSimulator
from tests import pgcluster
from tests.thingsboard_side import (  # noqa: F401 (what the tests import from here)
    CUSTOMER_A,
    CUSTOMER_B,
    CUSTOMER_C,
    OTHER_TENANT,
    SYSADMIN,
    TENANT,
    TbSession,
    _free_port,
    raise_alarm,
    thingsboard_alarm_ids,
)


@pytest.fixture(scope="session", autouse=True)
def redis_server(tmp_path_factory):
    """A real Redis for the test session, on a free port, used by Django's cache."""
    if shutil.which("redis-server") is None:
        pytest.exit("redis-server is missing: run `make test`, which installs it", returncode=3)
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    settings.CACHES["default"]["LOCATION"] = settings.REDIS_URL
    caches.__dict__.pop("settings", None)  # the handler re-reads CACHES on next use
    alarmdesk_celery.conf.broker_url = settings.REDIS_URL  # tasks sent by views queue here
    yield client
    process.terminate()
    process.wait(timeout=10)


def pytest_addoption(parser):
    parser.addoption(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the store the tests run on: SQLite in a file (the default), or PostgreSQL in a "
        "private throw-away cluster on a free loopback port (tests/pgcluster.py)",
    )


def pytest_report_header(config):
    return f"database: {config.getoption('database')}"


def pytest_terminal_summary(terminalreporter, config):
    what = _database_in_use.get("words") or config.getoption("database")
    terminalreporter.write_line(f"database used by this pass: {what}")


_database_in_use = {}


@pytest.fixture(scope="session")
def postgres_cluster(request):
    """The PostgreSQL pass's private cluster (tests/pgcluster.py): the test database's, and
    any other a test creates in it (tests/test_topology.py)."""
    if request.config.getoption("database") != "postgres":
        pytest.skip("runs in the PostgreSQL pass (--database postgres)")
    with pgcluster.Cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix, tmp_path_factory, request
):
    """SQLite: the test database in a file (WAL, as settings.py configures) instead of shared
    memory, so that a worker subprocess can open it too (tests/alarms/test_worker.py), and a
    thread can read it while another writes. PostgreSQL (--database postgres): a cluster of
    the tests' own, started here and removed at the end."""
    database = settings.DATABASES["default"]
    if request.config.getoption("database") != "postgres":
        if database["ENGINE"] == "django.db.backends.sqlite3":
            path = tmp_path_factory.mktemp("db") / "test.sqlite3"
            database.setdefault("TEST", {})["NAME"] = str(path)
            _database_in_use["words"] = "SQLite (a file of the tests' own)"
        yield
        return
    cluster = request.getfixturevalue("postgres_cluster")
    configured = dj_database_url.parse(cluster.url("alarmdesk"), conn_max_age=0)
    database.clear()
    database.update(configured)
    # Connections made before (with SQLite's backend) are dropped; DATABASES read again.
    for alias in list(connections):
        connections[alias].close()
        del connections[alias]
    connections.__dict__.pop("settings", None)
    assert connections["default"].vendor == "postgresql"  # not SQLite under another name
    _database_in_use["words"] = f"PostgreSQL ({cluster.version()}, private cluster)"
    yield


def database_url_for_processes():
    """DATABASE_URL for a process of the project's own (a worker, a web server) that must
    use the test database: SQLite's file, or the private PostgreSQL cluster's database."""
    from django.db import connection

    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


@pytest.fixture(autouse=True)
def _empty_redis(redis_server):
    redis_server.flushall()


@pytest.fixture(scope="session")
def tbsim_server():
    """One demo simulator for the session, without its live generator (tests drive it)."""
    with RunningSimulator(Options(scenario="demo")) as running:
        yield running


@pytest.fixture
def tbsim(tbsim_server):
    """The session simulator, reset to its demo state before the test."""
    requests.post(f"{tbsim_server.url}/sim/reset", timeout=10).raise_for_status()
    return tbsim_server


@pytest.fixture
def sign_in(tbsim):
    """sign_in(TENANT) -> a requests session with that persona's token."""
    sessions = []

    def make(credentials):
        session = TbSession(tbsim.url, credentials)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def dashboard(settings, tbsim, db):
    """AlarmDesk's settings pointed at the test simulator; returns the simulator."""
    settings.TB_URL = tbsim.url
    return tbsim


@pytest.fixture
def synced(dashboard, transactional_db, settings):
    """The dashboard against the test simulator, with a committed (transactional) store.

    Reconciliation only when a test asks for it (`run_cycle(reconcile_now=True)`)."""
    settings.ALARMDESK_RECONCILE_SECONDS = 10**6
    return dashboard


@pytest.fixture
def store(synced):
    """The demo's alarms synced into the store: what the pages read."""
    sync.run_cycle()
    return synced


@pytest.fixture
def as_user(client, store):
    """as_user(CUSTOMER_A) -> the test client signed in to AlarmDesk as that persona."""

    def sign_in(persona, next_url=None):
        client.cookies.clear()  # a new browser (Django's client.logout() wants contrib.auth)
        data = {"username": persona[0], "password": persona[1]}
        if next_url:
            data["next"] = next_url
        response = client.post("/login/", data)
        assert response.status_code == 302, response.content
        return client

    return sign_in


@pytest.fixture
def own_client(store):
    """own_client(persona) -> a test client of its own (another browser) signed in as that
    persona, beside `as_user`'s."""

    def sign_in(persona):
        from django.test import Client

        client = Client()
        response = client.post("/login/", {"username": persona[0], "password": persona[1]})
        assert response.status_code == 302, response.content
        return client

    return sign_in


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    # The manifest exists only after collectstatic; tests render templates without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# --- a real Celery worker --------------------------------------------------------------


@pytest.fixture
def worker_process(synced, settings, tmp_path):
    """start(queue, **environment) -> a `celery worker --pool solo -Q queue` subprocess of the
    project, on the test's Redis, simulator and (file) database, with the environment's
    settings added; killed at the end if still alive."""
    connection = connections["default"]
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("needs the test database in a SQLite file (tests/conftest.py)")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "alarmdesk.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": database_url_for_processes(),
        "REDIS_URL": settings.REDIS_URL,
        "TB_URL": synced.url,
        "TB_SYNC_USERNAME": TENANT[0],
        "TB_SYNC_PASSWORD": TENANT[1],
        "CELERY_SKIP_CHECKS": "1",
    }
    log_path = tmp_path / "worker.log"
    processes = []

    def start(queue, **environment):
        command = [sys.executable, "-m", "celery", "-A", "alarmdesk.celery", "worker"]
        command += ["--pool", "solo", "--loglevel", "INFO", "--without-mingle", "-Q", queue]
        command += ["--without-gossip", "--without-heartbeat"]
        command += ["--hostname", f"{len(processes)}-{queue}@%h"]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                env=env | environment,
                cwd=settings.BASE_DIR,
                stdout=log,
                stderr=log,
            )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    if log_path.exists():
        print(log_path.read_text()[-5000:])  # shown by pytest when the test failed


def wait_until(condition, timeout, what):
    """Poll `condition` until it returns something true (returned), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def _drop_broker_connections(celery_app):
    """Forget the app's broker pools, so the next use takes kombu's pools for the current URL
    (kombu keeps one per URL, for the process: not closed here)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def celery_app(settings, monkeypatch):
    """alarmdesk.celery's app with its broker on the session Redis.

    settings.py set CELERY_BROKER_URL from the REDIS_URL it read at import, before the session
    fixture moved Redis to a free port; connections are created anew after the change."""
    saved = alarmdesk_celery.conf.broker_url
    _drop_broker_connections(alarmdesk_celery)
    alarmdesk_celery.conf.broker_url = settings.REDIS_URL
    # The embedded worker sets up Celery's logging (root logger level and handlers) unless
    # someone handles setup_logging: keep the test session's logging as it is.
    signals.setup_logging.connect(_keep_logging, weak=False)
    for name in ("CELERY_LOG_LEVEL", "CELERY_LOG_FILE"):  # written by that setup; restored
        monkeypatch.delenv(name, raising=False)
    yield alarmdesk_celery
    signals.setup_logging.disconnect(_keep_logging)
    _drop_broker_connections(alarmdesk_celery)
    alarmdesk_celery.conf.broker_url = saved


def _keep_logging(**kwargs):
    pass


@pytest.fixture
def task_results():
    """{task id: return value} of every task a worker thread of this process finishes."""
    results = {}

    def record(task_id=None, retval=None, **kwargs):
        results[task_id] = retval

    signals.task_postrun.connect(record, weak=False)
    yield results
    signals.task_postrun.disconnect(record)


@contextlib.contextmanager
def worker_thread(celery_app, **options):
    """A real worker consuming from Redis, on a thread of this process (so it shares the
    test database and settings)."""
    with start_worker(celery_app, perform_ping_check=False, **options) as worker:
        yield worker
