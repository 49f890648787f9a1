"""The README's screenshots: a private AlarmDesk in demo mode, photographed in Chromium.

Run from the repository root (or `make screenshots`):

    .venv/bin/python scripts/screenshots.py
    .venv/bin/python scripts/screenshots.py --keep   # keep the temporary var dir and its logs

What it does:
- starts, on free ports and with a throwaway var dir (SQLite store, static files, beat's
  schedule, the logs), its own redis-server, the simulator (`--scenario demo`, live generator
  on), and the Procfile's web, worker-sync, worker-notify, worker and beat, with the
  Procfile's commands;
- waits until /healthz says the sync has run and the backfill is done, and reads the
  comments of recent alarms once (who acknowledged and cleared, for /history/);
- signs in Debian's Chromium (never a downloaded one) as the demo tenant administrator and
  saves what a user sees on the first screen (the viewport, not the full page) of the alarm
  list, a High Temperature alarm's page with its chart, on-call and history, at each size
  of VIEWPORTS, into docs/screenshots/<page>-<size>[-dark].png.

It fails (exit status 1, saying why) when a page logs a console error (a CSP violation is
one), reports a CSP violation, throws, or answers an HTTP error, or when a page is not ready
in time. A page wider than its viewport (sideways scroll) is reported but not fatal.
"""

import argparse
import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
TENANT = ("tenant@thingsboard.org", "tenant")
PROCESSES = ("web", "worker-sync", "worker-notify", "worker", "beat")
SETTINGS_MODULE = "screenshots_settings"
# The Django settings, with the static files collected into the throwaway var dir (settings.py
# puts STATIC_ROOT under the repository's var/, which `make run` owns).
SETTINGS_TEXT = """from alarmdesk.settings import *  # noqa: F403

STATIC_ROOT = {static_root!r}
"""
# The alarm whose page is photographed: the newest High Temperature alarm, which has a chart.
DETAIL_LIST = "/alarms/?" + urlencode({"status": "ANY", "type": "High Temperature"})
SIZE_BUDGET = 3_000_000  # bytes, all PNGs together: they are committed


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int
    dark: bool = False
    phone: bool = False

    @property
    def suffix(self):
        return f"{self.width}x{self.height}" + ("-dark" if self.dark else "")

    def context_options(self):
        options = {
            "viewport": {"width": self.width, "height": self.height},
            "color_scheme": "dark" if self.dark else "light",
            "device_scale_factor": 2 if self.phone else 1,
            "locale": "en-US",
            "timezone_id": "UTC",
            "reduced_motion": "reduce",
        }
        if self.phone:
            options.update(is_mobile=True, has_touch=True)
        return options


VIEWPORTS = (
    Viewport("laptop", 1366, 768),
    Viewport("desktop", 1440, 900),
    Viewport("desktop, dark", 1440, 900, dark=True),
    Viewport("phone", 360, 740, phone=True),
)

# What tells that a page has drawn what matters (besides the network going quiet).
ALARM_ROW = "tr[id^=row-], [data-alarm-id]"  # a list row, an on-call card
CHART_CANVAS = "#telemetry-chart canvas"
# How many alarms (rows, cards) are whole on the first screen: the list and on-call are
# judged by it (three on a phone, say).
WHOLE_ALARMS = """height => Array.from(document.querySelectorAll(
    "main tr[id^=row-], main [data-alarm-id]"))
  .filter(e => {
    const box = e.getBoundingClientRect();
    return box.height > 0 && box.top >= 0 && box.bottom <= height;
  }).length"""
CANVAS_PAINTED = """canvas => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  return pixels.some((value, i) => i % 4 === 3 && value > 0);
}"""
# Reports CSP violations to the script (a second witness beside Chromium's console message).
CSP_LISTENER = """document.addEventListener("securitypolicyviolation", event =>
  window.__reportCspViolation(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} ` +
    `(${event.sourceFile || document.location.href}:${event.lineNumber})`));"""


class Failure(Exception):
    """Something the person running the script must hear about; exit status 1."""


# --- the processes ---------------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class System:
    """The processes of a private AlarmDesk, each logging to a file in the var dir."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.started = {}  # name -> Popen
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TB_", "ALARMDESK_"))},
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)]),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"sqlite:///{workdir / 'alarmdesk.sqlite3'}",
            # Demo mode, but on a free port: TB_URL names the private simulator, so the sync
            # account is the demo's own tenant administrator, as demo mode would choose.
            "TB_SYNC_USERNAME": TENANT[0],
            "TB_SYNC_PASSWORD": TENANT[1],
        }

    def log(self, name):
        return self.workdir / f"{name}.log"

    def start(self, name, argv):
        with open(self.log(name), "wb") as log:
            self.started[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopped here, with its children, not by a Ctrl-C
            )
        return self.started[name]

    def check_alive(self):
        for name, process in self.started.items():
            if process.poll() is not None:
                raise Failure(f"{name} exited with status {process.returncode}")

    def run(self, what, argv):
        """A short command (migrate, collectstatic) with the system's environment."""
        done = subprocess.run(
            argv, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise Failure(f"{what} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def stop(self):
        for process in reversed(self.started.values()):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for name, process in reversed(self.started.items()):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in 15 s: killed", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def tails(self, lines=15):
        parts = []
        for name in self.started:
            text = self.log(name).read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {name} ({self.log(name)}), last lines:\n" + "\n".join(text))
        return "\n".join(parts)


def procfile_commands(web_port, schedule):
    """The Procfile's command of each process, on the private ports and var dir."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    entries = dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))
    commands = {name: shlex.split(entries[name]) for name in PROCESSES}
    commands["web"][commands["web"].index("--bind") + 1] = f"127.0.0.1:{web_port}"
    commands["beat"][commands["beat"].index("--schedule") + 1] = str(schedule)
    return commands


def wait_for(condition, timeout, what, system, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        system.check_alive()
        if time.monotonic() > deadline:
            raise Failure(f"not within {timeout} s: {what}")
        time.sleep(interval)


def start_redis(system):
    port = free_port()
    (system.workdir / "redis").mkdir()
    options = {"--port": port, "--bind": "127.0.0.1", "--save": "", "--appendonly": "no"}
    options["--dir"] = system.workdir / "redis"
    system.start("redis", ["redis-server", *(str(p) for item in options.items() for p in item)])

    def pong():
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as c:
            c.sendall(b"PING\r\n")
            return c.recv(16).startswith(b"+PONG")
        return False

    wait_for(pong, 15, "redis-server answers PING", system)
    system.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"


def start_simulator(system):
    """The demo scenario with its live generator, on a port of its choosing."""
    argv = [sys.executable, "-m", "alarmdesk.tbsim", "--host", "127.0.0.1", "--port", "0"]
    system.start("tbsim", [*argv, "--scenario", "demo"])

    def announced():
        found = re.search(r"listening on (http://[\d.]+:\d+)", system.log("tbsim").read_text())
        return found and found.group(1)

    url = wait_for(announced, 60, "the simulator says where it listens", system)
    system.env["TB_URL"] = url
    return url


def start_dashboard(system):
    (system.workdir / SETTINGS_MODULE).with_suffix(".py").write_text(
        SETTINGS_TEXT.format(static_root=str(system.workdir / "static"))
    )
    manage = [sys.executable, "manage.py"]
    system.run("migrate", [*manage, "migrate", "--no-input", "-v", "0"])
    system.run("collectstatic", [*manage, "collectstatic", "--no-input", "-v", "0"])
    port = free_port()
    for name, argv in procfile_commands(port, system.workdir / "celerybeat-schedule").items():
        system.start(name, argv)
    return f"http://127.0.0.1:{port}"


def wait_for_store(system, base):
    """Until /healthz says a sync run succeeded and the history is loaded."""

    def synced():
        try:
            health = requests.get(f"{base}/healthz", timeout=5).json()
        except (requests.RequestException, ValueError):
            return None
        done = health.get("last_sync") and health.get("backfill_percent") == 100
        return health if done and not health.get("last_sync_error") else None

    health = wait_for(synced, 300, "the sync has filled the store (/healthz)", system, 1)
    # Who acknowledged and cleared recent alarms (beat asks every 60 s; asked here at once).
    identify = "from alarmdesk.alarms import actors; print(actors.identify())"
    for _ in range(3):
        answer = system.run("who acted", [sys.executable, "manage.py", "shell", "-c", identify])
        if answer.strip() in ("0", "None"):
            break
    return health


# --- the browser -----------------------------------------------------------------------------


class Witness:
    """Every console error, uncaught exception, CSP violation, HTTP error and failed request
    of a browser context, with the page it happened on."""

    def __init__(self, context):
        self.problems = []
        context.on("console", self.console)
        context.on("weberror", lambda error: self.add(f"uncaught error: {error.error}"))
        context.on("response", self.response)
        context.on("requestfailed", self.request_failed)
        context.expose_binding("__reportCspViolation", self.csp)
        context.add_init_script(CSP_LISTENER)

    def add(self, text, page=None):
        where = f" on {urlsplit(page.url).path}" if page is not None else ""
        self.problems.append(f"{text}{where}")

    def console(self, message):
        if message.type == "error":
            self.add(f"console error: {message.text}", message.page)

    def response(self, response):
        if response.status >= 400:
            self.add(f"HTTP {response.status} for {response.request.method} {response.url}")

    def request_failed(self, request):
        # A poll cut short by the next navigation is aborted: not the page's fault.
        if request.failure and "ERR_ABORTED" not in request.failure:
            self.add(f"request failed: {request.method} {request.url}: {request.failure}")

    def csp(self, source, text):
        self.add(f"CSP violation: {text}", source["page"])

    def check(self, what):
        if self.problems:
            listed = "\n  ".join(dict.fromkeys(self.problems))
            raise Failure(f"{what}:\n  {listed}")


def settle(page):
    """The network quiet (live polls come every few seconds), web fonts and layout done."""
    page.wait_for_load_state("load")
    with contextlib.suppress(Exception):  # a poll may keep it busy: then go on regardless
        page.wait_for_load_state("networkidle", timeout=5000)
    page.evaluate("document.fonts.ready.then(() => new Promise(requestAnimationFrame))")
    page.wait_for_timeout(300)


def open_page(page, base, path, ready=None):
    answer = page.goto(f"{base}{path}")
    if answer is None or not answer.ok:
        raise Failure(f"{path} answered {answer and answer.status}")
    if urlsplit(page.url).path.startswith("/login/"):
        raise Failure(f"{path} sent the browser to the sign-in page")
    if ready:
        page.locator(ready).first.wait_for(state="visible", timeout=15000)
    settle(page)


def sign_in(page, base):
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(TENANT[0])
    page.get_by_label("Password").fill(TENANT[1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/alarms/"), timeout=15000)


def detail_path(page, base):
    """The page of the first alarm the High Temperature list shows (its row's link)."""
    open_page(page, base, DETAIL_LIST, ALARM_ROW)
    row = page.locator("tr[id^=row-]").first
    alarm_id = row.get_attribute("id").removeprefix("row-")
    link = row.locator(f'a[href*="{alarm_id}"]')
    href = link.first.get_attribute("href") if link.count() else f"/alarms/{alarm_id}/"
    return urlsplit(href).path


def open_detail(page, base, path):
    open_page(page, base, path, CHART_CANVAS)
    canvas = page.locator(CHART_CANVAS).first
    deadline = time.monotonic() + 10
    while not canvas.evaluate(CANVAS_PAINTED):
        if time.monotonic() > deadline:
            raise Failure(f"the chart on {path} was never drawn")
        page.wait_for_timeout(100)


def photograph(browser, base, viewport, detail, out):
    """The four pages at one viewport; returns [(file, note)]."""
    context = browser.new_context(**viewport.context_options())
    witness = Witness(context)
    page = context.new_page()
    taken = []
    try:
        sign_in(page, base)
        witness.check(f"signing in ({viewport.name})")
        if detail is None:
            detail = detail_path(page, base)
        shots = (
            ("list", lambda: open_page(page, base, "/alarms/", ALARM_ROW)),
            ("detail", lambda: open_detail(page, base, detail)),
            ("oncall", lambda: open_page(page, base, "/oncall/", "main")),
            ("history", lambda: open_page(page, base, "/history/", "main")),
        )
        for name, show in shots:
            show()
            file = out / f"{name}-{viewport.suffix}.png"
            page.screenshot(path=file, animations="disabled", caret="hide")
            witness.check(f"{name} at {viewport.name} {viewport.suffix}")
            notes = []
            if name in ("list", "oncall"):
                notes.append(f"{page.evaluate(WHOLE_ALARMS, viewport.height)} alarms whole")
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > viewport.width:
                notes.append(f"WARNING: scrolls sideways, {wide} px wide")
            taken.append((file, "; ".join(notes)))
    finally:
        context.close()
    return taken, detail


def take_screenshots(base, out):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    taken, detail = [], None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for viewport in VIEWPORTS:
                shots, detail = photograph(browser, base, viewport, detail, out)
                taken += shots
        except PlaywrightError as error:
            raise Failure(f"the browser: {error}") from error
        finally:
            browser.close()
    return taken, detail


# --- main ------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary var dir (logs, database)"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # SIGTERM ends the run as Ctrl-C does: every process started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    missing = [p for p in ("redis-server", CHROMIUM) if shutil.which(p) is None]
    if missing:
        print(
            f"screenshots: {' and '.join(missing)} missing; `make screenshots` installs them"
            " (scripts/system-packages.sh --browser)",
            file=sys.stderr,
        )
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="alarmdesk-screenshots-"))
    system = System(workdir)
    failed = True
    try:
        print(f"var dir: {workdir}", flush=True)
        start_redis(system)
        print(f"simulator: {start_simulator(system)} (demo, live generator)", flush=True)
        base = start_dashboard(system)
        print(f"AlarmDesk: {base}; waiting for the sync to fill the store", flush=True)
        health = wait_for_store(system, base)
        print(f"synced at {health['last_sync']}; photographing", flush=True)
        taken, detail = take_screenshots(base, args.out)
        system.check_alive()
        failed = False
    except Failure as failure:
        print(f"\nscreenshots FAILED: {failure}\n", file=sys.stderr)
        if system.started:
            print(system.tails(), file=sys.stderr)
        return 1
    finally:
        system.stop()
        if args.keep or failed:
            print(f"kept {workdir} (logs: *.log)", file=sys.stderr if failed else sys.stdout)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    total = 0
    print(f"\nalarm page: {detail}")
    for file, note in taken:
        size = file.stat().st_size
        total += size
        shown = file.relative_to(ROOT) if file.is_relative_to(ROOT) else file
        print(f"{shown!s:<45} {size / 1000:4.0f} kB  {note}".rstrip())
    print(f"{len(taken)} screenshots, {total / 1e6:.2f} MB in all")
    if total > SIZE_BUDGET:
        print(f"WARNING: more than {SIZE_BUDGET / 1e6:.0f} MB: they are committed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
