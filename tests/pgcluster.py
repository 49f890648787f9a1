"""A private, throw-away PostgreSQL cluster for the tests and the benches.

Debian's own binaries (the `postgresql` package), a fresh cluster in a temporary directory,
run as the `postgres` user when we are root (PostgreSQL refuses to run as root), listening
on a free loopback port with its socket beside its data: never the system's service, and
gone with everything in it once stopped. Durability is traded for speed (no fsync): nothing
in it outlives the run anyway.
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # Two web servers, workers and the tests' own connections at once (tests/test_topology).
    "max_connections": "200",
    "shared_buffers": "256MB",
}


class Missing(RuntimeError):
    """PostgreSQL's server programs are not installed (or cannot be run as needed)."""


def _version(path):
    name = Path(path).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def bindir():
    """The newest Debian PostgreSQL's bin directory, else wherever `pg_ctl` is on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    raise Missing(
        "PostgreSQL's server is not installed: run 'sudo apt-get install postgresql' "
        "(make test does it when run as root)."
    )


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """start() it, then url(name) for DATABASE_URL; stop() removes it all."""

    def __init__(self, **settings):
        """`settings`: PostgreSQL's, over SETTINGS (a benchmark's memory, say)."""
        self.settings = {**SETTINGS, **settings}
        self.bin = bindir()
        self.dir = None
        self.port = None
        self.process = None
        self.user = None  # the OS user the server runs as; None: this process's own

    def _run_as(self):
        if os.geteuid() != 0:
            return {}
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise Missing(
                "running as root needs the 'postgres' user (Debian's postgresql)"
            ) from None
        return {"user": "postgres", "group": "postgres", "extra_groups": []}

    def start(self, timeout=60):
        as_user = self._run_as()
        self.dir = Path(tempfile.mkdtemp(prefix="alarmdesk-pg-"))
        if as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        log = self.dir / "server.log"
        initdb = [str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        initdb += ["-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        done = subprocess.run(initdb, capture_output=True, text=True, **as_user)
        if done.returncode:
            raise Missing(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        self.port = _free_port()
        command = [str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port)]
        command += ["-k", str(self.dir)]
        for name, value in self.settings.items():
            command += ["-c", f"{name}={value}"]
        with open(log, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=out, **as_user)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self.stop()
                raise Missing(f"the PostgreSQL server did not start:\n{text}")
            time.sleep(0.1)
        return self

    def _ready(self):
        done = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            capture_output=True,
        )
        return done.returncode == 0

    def url(self, name="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def version(self):
        done = subprocess.run([str(self.bin / "postgres"), "--version"], capture_output=True)
        return done.stdout.decode().strip()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: rolls back, exits
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
