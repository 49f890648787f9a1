"""deploy/: what a production install copies, checked by the programs that will read it (nginx,
systemd, the shell) and against the code it runs (settings, Celery's queues and time limits)."""

import ast
import contextlib
import gzip
import http.client
import http.server
import json
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

from alarmdesk.celery import app as celery_app
from tests.conftest import _free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
SITE = DEPLOY / "nginx" / "alarmdesk.conf"
ENV_TEMPLATE = DEPLOY / "alarmdesk.env.example"
SERVICES = [
    "alarmdesk-web",
    "alarmdesk-worker",
    "alarmdesk-worker-sync",
    "alarmdesk-worker-notify",
    "alarmdesk-beat",
]
NAME = "alarmdesk.example.com"
CERTIFICATE = f"/etc/letsencrypt/live/{NAME}/fullchain.pem"
CERTIFICATE_KEY = f"/etc/letsencrypt/live/{NAME}/privkey.pem"


def _program(name, package):
    """The path of a program this file runs; a clear failure (not a skip) when it is missing."""
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin")
    if found is None:
        pytest.fail(f"{name} is missing: install Debian's {package} (apt-get install {package})")
    return found


def _replace(text, old, new):
    """`old` replaced by `new`, failing when `old` is not there: a rewrite that silently did
    nothing would test the site file as it is not deployed."""
    assert old in text, f"{old!r} is no longer in the file"
    return text.replace(old, new)


# --- nginx --------------------------------------------------------------------------------------


def _certificate(directory):
    """A self-signed certificate for the site's name, in place of certbot's."""
    certificate, key = directory / "fullchain.pem", directory / "privkey.pem"
    self_signed = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    name = ["-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}"]
    files = ["-keyout", str(key), "-out", str(certificate)]
    openssl = _program("openssl", "openssl")
    subprocess.run([openssl, *self_signed, *name, *files], check=True, capture_output=True)
    return certificate, key


def _nginx_conf(directory, site):
    """An nginx.conf around `site`, with everything nginx writes under `directory`, and the
    http settings of Debian's own nginx.conf that matter here (gzip on, its TLS protocols)."""
    (directory / "site.conf").write_text(site)
    # As root, nginx's workers would otherwise run as nobody, who may not read tmp_path.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = directory / "nginx.conf"
    conf.write_text(f"""
        {user}
        daemon off;
        worker_processes 1;
        pid {directory}/nginx.pid;
        error_log {directory}/error.log;
        events {{}}
        http {{
            include /etc/nginx/mime.types;
            default_type application/octet-stream;
            access_log {directory}/access.log;
            client_body_temp_path {directory}/body;
            proxy_temp_path {directory}/proxy;
            fastcgi_temp_path {directory}/fastcgi;
            uwsgi_temp_path {directory}/uwsgi;
            scgi_temp_path {directory}/scgi;
            ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
            gzip on;
            include {directory}/site.conf;
        }}
    """)
    return conf


def _with_certificate(site, directory):
    certificate, key = _certificate(directory)
    site = _replace(site, CERTIFICATE, str(certificate))
    return _replace(site, CERTIFICATE_KEY, str(key)), certificate


def test_nginx_accepts_the_site(tmp_path):
    site, _ = _with_certificate(SITE.read_text(), tmp_path)
    conf = _nginx_conf(tmp_path, site)
    nginx = _program("nginx", "nginx")
    error_log = tmp_path / "error.log"
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(error_log)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr  # e.g. a server_name given twice


class _Upstream(http.server.BaseHTTPRequestHandler):
    """Stands in for gunicorn: answers an uncompressed HTML page (well above the size nginx
    would gzip) that says which headers arrived, and from which connection."""

    protocol_version = "HTTP/1.1"  # keeps connections open, as gunicorn does

    def do_GET(self):
        if "v=unchanged" in self.path:  # a live page's quiet refresh
            self.send_response(204)
            self.end_headers()
            return
        seen = {
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "port": self.client_address[1],
        }
        body = (json.dumps(seen) + " " * 2000).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _SiteConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 under a site name (for SNI, the certificate and Host)."""

    def __init__(self, name, port, context):
        super().__init__(name, port, context=context, timeout=10)

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """nginx running the site file on free ports, in front of _Upstream; the ports, the
    static root and the ACME web root rewritten into a temporary directory."""
    directory = tmp_path_factory.mktemp("nginx")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    http_port, https_port = _free_port(), _free_port()

    text, certificate = _with_certificate(SITE.read_text(), directory)
    text = _replace(text, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream.server_port};")
    text = _replace(text, "root /opt/alarmdesk/var;", f"root {directory}/var;")
    text = _replace(text, "root /var/www/html;", f"root {directory}/www;")
    text = _replace(text, "/var/log/nginx/access.log", f"{directory}/site-access.log")
    # This machine may have no IPv6; the IPv4 lines are the same servers.
    text = re.sub(r"^\s*listen \[::\]:.*$", "", text, flags=re.MULTILINE)
    text, http_count = re.subn(r"listen 80\b", f"listen 127.0.0.1:{http_port}", text)
    text, https_count = re.subn(r"listen 443\b", f"listen 127.0.0.1:{https_port}", text)
    assert (http_count, https_count) == (2, 2), "expected one catch-all and one named server each"

    static = directory / "var" / "static" / "alarmdesk"
    static.mkdir(parents=True)
    script = b"document.title = 'AlarmDesk';\n" * 50
    (static / "live.0123456789ab.js").write_bytes(script)
    (static / "live.0123456789ab.js.gz").write_bytes(gzip.compress(script))
    (static / "live.js").write_bytes(script)
    challenge = directory / "www" / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True)
    (challenge / "token-1").write_text("token-1.thumbprint")

    conf = _nginx_conf(directory, text)
    program = _program("nginx", "nginx")
    error_log = directory / "error.log"
    nginx = subprocess.Popen(
        [program, "-p", str(directory), "-c", str(conf), "-e", str(error_log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while True:
        if nginx.poll() is not None:
            pytest.fail(f"nginx did not start: {nginx.stderr.read()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", https_port)) == 0:
                break
        assert time.monotonic() < deadline, "nginx did not listen within 10 s"
        time.sleep(0.05)

    context = ssl.create_default_context(cafile=str(certificate))

    class Site:
        access_log = directory / "site-access.log"

        def https(self, name=NAME):
            return _SiteConnection(name, https_port, context)

        def http(self):
            return http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)

    yield Site()
    nginx.terminate()
    nginx.wait(timeout=10)
    upstream.shutdown()


def _get(connection, path, headers=None, host=None):
    headers = dict(headers or {})
    if host:
        headers["Host"] = host
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    return response, response.read()


def test_plain_http_is_sent_to_https_with_its_path(site):
    response, _ = _get(site.http(), "/alarms/?status=ANY", host=NAME)
    assert response.status == 301
    assert response.getheader("Location") == f"https://{NAME}/alarms/?status=ANY"


def test_certbot_challenges_are_answered_over_plain_http(site):
    response, body = _get(site.http(), "/.well-known/acme-challenge/token-1", host=NAME)
    assert (response.status, body) == (200, b"token-1.thumbprint")


def test_other_names_get_no_answer(site):
    with pytest.raises(http.client.RemoteDisconnected):
        _get(site.http(), "/", host="203.0.113.7")
    with pytest.raises(ssl.SSLError):
        _get(site.https(name="other.example.com"), "/")


def test_the_app_gets_host_scheme_client_address_and_accept_encoding(site):
    response, body = _get(
        site.https(),
        "/alarms/",
        {"Accept-Encoding": "gzip, br", "X-Forwarded-For": "198.51.100.4"},
    )
    assert response.status == 200
    seen = json.loads(body)["headers"]
    assert seen["host"] == NAME  # what ALLOWED_HOSTS is checked against
    assert seen["x-forwarded-proto"] == "https"
    # The client's own claim first, then the address nginx saw: the last entry is the one
    # ALARMDESK_TRUSTED_PROXIES=1 trusts.
    assert seen["x-forwarded-for"] == "198.51.100.4, 127.0.0.1"
    assert seen["accept-encoding"] == "gzip, br"


def test_answers_the_app_left_uncompressed_are_not_gzipped_by_nginx(site):
    response, body = _get(site.https(), "/alarms/", {"Accept-Encoding": "gzip"})
    assert response.getheader("Content-Encoding") is None
    assert json.loads(body)["headers"]["accept-encoding"] == "gzip"


def test_connections_to_the_app_are_kept_between_requests(site):
    first, second = site.https(), site.https()
    _, one = _get(first, "/alarms/")
    _, two = _get(second, "/oncall/")
    # Two browsers, one connection to gunicorn: nginx sent both requests over it.
    assert json.loads(one)["port"] == json.loads(two)["port"]
    assert json.loads(two)["headers"].get("connection") is None  # not "close"


def test_quiet_refreshes_are_left_out_of_the_access_log(site):
    connection = site.https()
    quiet, _ = _get(connection, "/alarms/?v=unchanged", {"HX-Request": "true"})
    changed, _ = _get(connection, "/alarms/?v=changed", {"HX-Request": "true"})
    page, _ = _get(connection, "/oncall/")
    assert (quiet.status, changed.status, page.status) == (204, 200, 200)
    deadline = time.monotonic() + 5
    while "/oncall/" not in site.access_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # nginx writes its log as each request ends
    logged = site.access_log.read_text()
    assert "v=changed" in logged
    assert "/oncall/" in logged
    assert "v=unchanged" not in logged


def test_hashed_static_files_are_cached_for_good_and_sent_gzipped(site):
    response, body = _get(
        site.https(), "/static/alarmdesk/live.0123456789ab.js", {"Accept-Encoding": "gzip"}
    )
    assert response.status == 200
    assert response.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(body).startswith(b"document.title")
    assert response.getheader("Vary") == "Accept-Encoding"
    cache_control = response.getheader("Cache-Control")
    assert "max-age=315360000" in cache_control
    assert "immutable" in cache_control
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_static_files_without_a_hash_are_checked_each_time(site):
    response, _ = _get(site.https(), "/static/alarmdesk/live.js")
    assert response.status == 200
    assert response.getheader("Cache-Control") == "no-cache"
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_nginx_serves_static_files_where_collectstatic_puts_them():
    # nginx's root plus the URL path must be STATIC_ROOT once the code is in /opt/alarmdesk.
    assert "root /opt/alarmdesk/var;" in SITE.read_text()
    assert settings.STATIC_URL.strip("/") == "static"
    assert Path(settings.STATIC_ROOT).relative_to(settings.BASE_DIR) == Path("var/static")


# --- systemd ------------------------------------------------------------------------------------


def _unit(name):
    """{(section, key): [values]} of a unit file, its continued lines joined."""
    text = (UNITS / name).read_text().replace("\\\n", " ")
    found, section = {}, None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault((section, key), []).append(value)
    return found


def _exec_start(name):
    [command] = _unit(f"{name}.service")[("Service", "ExecStart")]
    return shlex.split(command)


def _option(arguments, flag):
    return arguments[arguments.index(flag) + 1]


def _seconds(name, key):
    [value] = _unit(f"{name}.service")[("Service", key)]
    return int(value)


def _rendered_units(directory):
    """Copies of the units whose programs are this checkout's and its venv's: verify checks
    that every ExecStart program exists. It does not look the user up: alarmdesk stays."""
    for path in UNITS.iterdir():
        text = path.read_text().replace("/opt/alarmdesk/.venv", sys.prefix)
        (directory / path.name).write_text(text.replace("/opt/alarmdesk", str(ROOT)))
    return sorted(directory.iterdir())


def test_systemd_finds_nothing_wrong_in_the_units(tmp_path):
    units = _rendered_units(tmp_path)
    assert {path.name for path in units} >= {f"{name}.service" for name in SERVICES}
    result = subprocess.run(
        [_program("systemd-analyze", "systemd"), "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
    )
    # verify only warns about an unknown key or a value it cannot parse, and exits 0: any
    # output at all is a mistake.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", [*SERVICES, "alarmdesk-backup"])
def test_every_service_is_confined(tmp_path, name):
    [unit] = [path for path in _rendered_units(tmp_path) if path.name == f"{name}.service"]
    # systemd's exposure runs from 0 (confined) to 10 (nothing); the threshold is in tenths.
    # These units are at 1.2 to 1.3: losing a few hardening lines goes over 1.5.
    analyze = _program("systemd-analyze", "systemd")
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=15", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout.splitlines()[-1:]


def test_the_services_run_alike():
    # As the same user, with the same settings and the same confinement: the block from
    # User= to the end of [Service].
    def shared(name):
        text = (UNITS / f"{name}.service").read_text()
        return text[text.index("\nUser=") :]

    assert {name: shared(name) for name in SERVICES} == dict.fromkeys(SERVICES, shared(SERVICES[0]))
    web = _unit("alarmdesk-web.service")
    for key, value in [
        ("User", "alarmdesk"),
        ("EnvironmentFile", "/etc/alarmdesk/alarmdesk.env"),
        ("StateDirectory", "alarmdesk"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
    ]:
        assert web[("Service", key)] == [value]
    for name in SERVICES:
        assert _unit(f"{name}.service")[("Service", "Restart")] == ["on-failure"]


def test_each_queue_has_one_worker_and_there_is_one_beat():
    queues = {"celery"} | {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    consumed = [
        queue
        for name in SERVICES
        if "worker" in _exec_start(name)
        for queue in _option(_exec_start(name), "-Q").split(",")
    ]
    assert sorted(consumed) == sorted(queues)
    assert [name for name in SERVICES if "beat" in _exec_start(name)] == ["alarmdesk-beat"]
    assert _option(_exec_start("alarmdesk-worker-sync"), "--concurrency") == "1"


def test_a_stop_waits_for_the_longest_task_of_each_worker():
    celery_app.loader.import_default_modules()
    limits = {}
    for name, task in celery_app.tasks.items():
        if name.startswith("alarmdesk."):
            queue = settings.CELERY_TASK_ROUTES.get(name, {}).get("queue", "celery")
            limit = task.time_limit or settings.CELERY_TASK_TIME_LIMIT
            limits[queue] = max(limits.get(queue, 0), limit)
    for name in ("alarmdesk-worker", "alarmdesk-worker-sync", "alarmdesk-worker-notify"):
        [mode] = _unit(f"{name}.service")[("Service", "KillMode")]
        assert mode == "mixed"  # SIGTERM to the main process only: Celery's warm shutdown
        longest = max(limits[queue] for queue in _option(_exec_start(name), "-Q").split(","))
        assert _seconds(name, "TimeoutStopSec") > longest, name


def test_a_web_stop_outlasts_gunicorn_s_graceful_timeout():
    graceful = int(_option(_exec_start("alarmdesk-web"), "--graceful-timeout"))
    assert _seconds("alarmdesk-web", "TimeoutStopSec") > graceful


def test_gunicorn_listens_where_nginx_sends_and_keeps_connections_longer():
    arguments = _exec_start("alarmdesk-web")
    upstream = re.search(r"upstream alarmdesk \{(.*?)\}", SITE.read_text(), re.DOTALL)[1]
    assert f"server {_option(arguments, '--bind')};" in upstream
    nginx_idle = int(re.search(r"keepalive_timeout (\d+)s;", upstream)[1])
    assert int(_option(arguments, "--keep-alive")) > nginx_idle


# --- the environment file -----------------------------------------------------------------------


def _environment_reads():
    """{name: literal default or None} of every environment variable AlarmDesk reads: the
    env_* helpers' calls in settings.py, and any os.environ / os.getenv read with a fixed
    name under alarmdesk/ (a setdefault is a write, not a read)."""
    reads = {}
    for path in (ROOT / "alarmdesk").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Subscript)
                and ast.unparse(node.value) == "os.environ"
                and isinstance(node.ctx, ast.Load)
                and isinstance(node.slice, ast.Constant)
            ):
                reads.setdefault(node.slice.value, None)
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name, function = node.args[0], ast.unparse(node.func)
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                continue
            if function in ("os.environ.get", "os.getenv"):
                reads.setdefault(name.value, None)
            elif (
                isinstance(node.func, ast.Name)
                and node.func.id.startswith("env_")
                and path.name == "settings.py"
            ):
                reads.setdefault(name.value, None)
                # A computed default (the demo account when TB_URL is unset) has none to show.
                if len(node.args) > 1:
                    with contextlib.suppress(ValueError):
                        reads[name.value] = ast.literal_eval(node.args[1])
    return reads


def _template_lines():
    """(name, value, commented) for each NAME=value line of the template."""
    pattern = re.compile(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$")
    lines = (pattern.match(line) for line in ENV_TEMPLATE.read_text().splitlines())
    return [(m[2], m[3], m[1] == "#") for m in lines if m]


def test_the_env_template_names_every_setting_and_nothing_else():
    names = [name for name, _, _ in _template_lines()]
    assert len(names) == len(set(names)), "a name given twice"
    assert set(names) == set(_environment_reads())


def test_the_env_template_s_commented_lines_show_the_defaults():
    defaults = _environment_reads()
    for name, value, commented in _template_lines():
        if not commented:
            continue
        default = defaults[name]
        assert default is not None, f"{name} has no fixed default to show: give it a value"
        if isinstance(default, bool):
            default = "true" if default else "false"
        elif isinstance(default, list):
            default = ",".join(default)
        assert value == str(default), name


def test_the_shell_reads_the_env_template_as_systemd_does(tmp_path):
    # deploy/manage.sh sources the file; systemd reads it as plain NAME=value lines. With
    # no quotes, spaces or `$` in a value, the two agree.
    dump = subprocess.run(
        ["sh", "-c", 'set -a; . "$0"; set +a; env -0', str(ENV_TEMPLATE)],
        capture_output=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout.decode()
    shell = dict(item.split("=", 1) for item in dump.split("\0") if item)
    for name, value, commented in _template_lines():
        if not commented:
            assert shell.get(name) == value, name


# --- backups ------------------------------------------------------------------------------------


def _backup(tmp_path, pg_dump_script):
    """deploy/backup.sh into tmp_path/backups with a stand-in pg_dump; its exit status."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pg_dump = bin_dir / "pg_dump"
    pg_dump.write_text("#!/bin/sh\n" + pg_dump_script)
    pg_dump.chmod(0o755)
    return subprocess.run(
        [str(DEPLOY / "backup.sh"), str(tmp_path / "backups"), "14"],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "DATABASE_URL": "postgres:///alarmdesk"},
        capture_output=True,
        text=True,
    )


def _aged(path, days):
    path.write_text("an older dump")
    then = time.time() - days * 86400
    os.utime(path, (then, then))
    return path


# The stand-in writes its arguments where pg_dump's --file says.
RECORDING_PG_DUMP = 'for a; do case $a in --file=*) f=${a#--file=};; esac; done; echo "$@" >"$f"\n'


def test_a_backup_dumps_the_database_and_keeps_two_weeks(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    old = _aged(backups / "alarmdesk-20000101T031500Z.dump", 15)
    recent = _aged(backups / "alarmdesk-20000102T031500Z.dump", 13)
    result = _backup(tmp_path, RECORDING_PG_DUMP)
    assert result.returncode == 0, result.stderr
    [new] = [path for path in backups.iterdir() if path not in (old, recent)]
    assert re.fullmatch(r"alarmdesk-\d{8}T\d{6}Z\.dump", new.name)
    assert new.read_text().split() == [
        "--format=custom",
        "--dbname=postgres:///alarmdesk",
        f"--file={new}.partial",
    ]
    assert recent.exists()
    assert not old.exists()


def test_a_failed_backup_leaves_no_dump_and_deletes_nothing(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    old = _aged(backups / "alarmdesk-20000101T031500Z.dump", 15)
    result = _backup(tmp_path, RECORDING_PG_DUMP + "exit 1\n")
    assert result.returncode != 0
    assert list(backups.iterdir()) == [old]
