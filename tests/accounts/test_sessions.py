"""Sessions follow ThingsBoard: a user disabled, deleted or re-scoped there loses AlarmDesk
too, within ALARMDESK_SESSION_CHECK_SECONDS while reading and at once on an action; and
what AlarmDesk keeps about a session is for its owner's eyes only."""

import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import requests
from django.db.utils import ConnectionHandler

from alarmdesk.accounts.tokens import SESSION_KEY
from alarmdesk.alarms.models import Alarm
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT, TbSession

ROOT = Path(__file__).resolve().parents[2]
ROW_ID = re.compile(r'<tr id="row-([0-9a-f-]{36})"')


def disable(tbsim, persona):
    requests.post(f"{tbsim.url}/sim/users/{persona[0]}/disable", timeout=5).raise_for_status()


def delete(tbsim, persona):
    """A tenant administrator deletes the user in ThingsBoard (DELETE /api/user/{userId})."""
    with TbSession(tbsim.url, persona) as session:
        user_id = session.me["id"]["id"]
    with TbSession(tbsim.url, TENANT) as admin:
        admin.delete(f"/api/user/{user_id}").raise_for_status()


def sent_to_sign_in(response, page):
    return response.status_code == 302 and response["Location"].startswith(
        "/login/?next=" + requests.utils.quote(page, safe="")
    )


def customer_of(tbsim, persona):
    with TbSession(tbsim.url, persona) as session:
        return session.me["customerId"]["id"]


def edit_session(client, *, expires_at=None, token=None, **user_fields):
    """Make the session hold what an older one might: a due refresh, a dead token, a user
    whom ThingsBoard now sees otherwise."""
    session = client.session
    data = session[SESSION_KEY]
    if expires_at is not None:
        data["expires_at"] = expires_at
    if token is not None:
        data["token"] = token
    data["user"].update(user_fields)
    session.save()


def active_unacked_of(customer_id):
    return Alarm.objects.filter(customer_id=customer_id, cleared=False, acknowledged=False).first()


# --- disabled, deleted, re-scoped ---------------------------------------------------------------


def test_a_user_disabled_in_thingsboard_loses_access_within_the_check_interval_while_only_reading(
    as_user, tbsim, settings
):
    settings.ALARMDESK_SESSION_CHECK_SECONDS = 1
    client = as_user(CUSTOMER_A)
    assert client.get("/alarms/").status_code == 200
    disable(tbsim, CUSTOMER_A)
    time.sleep(1.2)
    assert sent_to_sign_in(client.get("/alarms/"), "/alarms/")
    assert SESSION_KEY not in client.session


def test_reading_within_the_check_interval_asks_thingsboard_nothing(as_user, tbsim):
    client = as_user(CUSTOMER_A)
    requests.post(f"{tbsim.url}/sim/stats/reset", timeout=5).raise_for_status()
    for page in ("/alarms/", "/oncall/", "/history/"):
        assert client.get(page).status_code == 200
    assert requests.get(f"{tbsim.url}/sim/stats", timeout=5).json()["total"] == 0


def test_while_thingsboard_is_down_pages_do_not_each_wait_for_a_confirmation(
    as_user, tbsim, settings
):
    settings.ALARMDESK_SESSION_CHECK_SECONDS = 1
    client = as_user(CUSTOMER_A)
    time.sleep(1.2)
    # Down behind its proxy: every call answered 503 (and counted, unlike a dropped one).
    faults = {"error_rate": 1.0, "error_status": 503}
    requests.post(f"{tbsim.url}/sim/faults", json=faults, timeout=5).raise_for_status()
    requests.post(f"{tbsim.url}/sim/stats/reset", timeout=5).raise_for_status()

    for page in ("/alarms/", "/oncall/", "/history/"):
        assert client.get(page).status_code == 200  # served from the store

    asked = requests.get(f"{tbsim.url}/sim/stats", timeout=5).json()["routes"]
    refreshes = asked.get("POST /api/auth/token", {}).get("count", 0)
    assert refreshes == 1  # one confirmation tried, not one a page


def test_a_disabled_user_is_signed_out_at_once_on_an_action(as_user, tbsim):
    client = as_user(CUSTOMER_A)
    alarm = active_unacked_of(customer_of(tbsim, CUSTOMER_A))
    disable(tbsim, CUSTOMER_A)
    response = client.post(f"/alarms/{alarm.id}/", {"action": "ack"})
    assert sent_to_sign_in(response, f"/alarms/{alarm.id}/")
    with TbSession(tbsim.url, TENANT) as admin:
        assert not admin.get(f"/api/alarm/info/{alarm.id}").json()["acknowledged"]


def test_a_deleted_user_loses_access_within_the_check_interval_and_cannot_sign_in_again(
    as_user, tbsim, settings
):
    settings.ALARMDESK_SESSION_CHECK_SECONDS = 1
    client = as_user(CUSTOMER_A)
    delete(tbsim, CUSTOMER_A)
    time.sleep(1.2)
    assert sent_to_sign_in(client.get("/oncall/"), "/oncall/")
    again = client.post("/login/", {"username": CUSTOMER_A[0], "password": CUSTOMER_A[1]})
    assert "Wrong email or password" in again.content.decode()


def test_a_deleted_user_is_signed_out_at_once_on_an_action(as_user, tbsim):
    client = as_user(CUSTOMER_A)
    alarm = active_unacked_of(customer_of(tbsim, CUSTOMER_A))
    delete(tbsim, CUSTOMER_A)
    response = client.post(f"/alarms/{alarm.id}/", {"action": "ack"})
    assert sent_to_sign_in(response, f"/alarms/{alarm.id}/")


def test_a_refresh_reads_the_users_customer_again(as_user, tbsim):
    # ThingsBoard cannot move a user to another customer (UserDataValidator.validateUpdate:
    # "Can't update user customer id!"), so the session is made to hold a customer that is
    # not the user's: the next refresh puts back the one ThingsBoard has.
    mine, theirs = customer_of(tbsim, CUSTOMER_A), customer_of(tbsim, CUSTOMER_B)
    client = as_user(CUSTOMER_A)
    edit_session(client, expires_at=0, customer_id=theirs)
    shown = set(ROW_ID.findall(client.get("/alarms/?status=ANY").content.decode()))
    assert client.session[SESSION_KEY]["user"]["customer_id"] == mine
    assert shown
    assert shown <= {str(alarm.id) for alarm in Alarm.objects.filter(customer_id=mine)}


def test_a_refresh_that_finds_the_user_in_another_tenant_signs_them_out(as_user):
    client = as_user(TENANT)
    edit_session(client, expires_at=0, tenant_id="00000000-0000-0000-0000-000000000001")
    assert sent_to_sign_in(client.get("/alarms/"), "/alarms/")
    assert SESSION_KEY not in client.session


def test_a_401_on_a_data_call_signs_the_user_out(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.first()
    edit_session(client, token="no-longer-a-token")  # ThingsBoard: 401 code 10
    assert sent_to_sign_in(client.get(f"/alarms/{alarm.id}/"), f"/alarms/{alarm.id}/")
    assert SESSION_KEY not in client.session


def test_a_401_on_a_data_call_of_htmx_gets_hx_redirect(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.first()
    edit_session(client, token="no-longer-a-token")
    response = client.get(f"/alarms/{alarm.id}/", headers={"HX-Request": "true"})
    assert response["HX-Redirect"].startswith("/login/?next=")


# --- nothing kept by the browser --------------------------------------------------------------


def no_store(response):
    return "no-store" in response.get("Cache-Control", "")


def test_signed_in_pages_and_the_csv_are_not_stored_by_the_browser(as_user, client):
    assert no_store(client.get("/login/"))
    signed_in = as_user(TENANT)
    alarm = Alarm.objects.first()
    for page in (
        "/alarms/",
        f"/alarms/{alarm.id}/",
        "/oncall/",
        "/history/",
        "/history/?format=csv",
    ):
        response = signed_in.get(page)
        assert response.status_code == 200, page
        assert no_store(response), page


def test_static_files_keep_their_caching(as_user, settings):
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    client = as_user(TENANT)
    css = next(p for p in (ROOT / "static").rglob("*.css"))
    response = client.get("/static/" + css.relative_to(ROOT / "static").as_posix())
    assert response.status_code == 200
    assert not no_store(response)


# --- files under var/ -------------------------------------------------------------------------


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_sqlite_database_is_readable_by_its_owner_only(tmp_path, settings, django_db_blocker):
    older = tmp_path / "older.sqlite3"
    older.touch(mode=0o644)
    previous = os.umask(0o022)  # what a deployment's process may well run with
    try:
        for path in (tmp_path / "new.sqlite3", older):
            # A SQLite file opened as settings.py opens one (WAL), whichever database this
            # pass runs on.
            database = {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(path),
                "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;"},
                "TEST": {},
            }
            connection = ConnectionHandler({"default": database})["default"]
            with django_db_blocker.unblock(), connection.cursor() as cursor:
                cursor.execute("CREATE TABLE sessions (data)")
                cursor.execute("INSERT INTO sessions VALUES ('tokens')")
            for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                assert mode(name) == 0o600, name
            connection.close()
    finally:
        os.umask(previous)


FAKE_PYTHON = """\
#!/usr/bin/env bash
# Stands in for the venv's python: records the umask the real commands would run with.
case "$1" in
    -c) [[ "$2" == *secrets* ]] && exec "{python}" "$@"; exit 1 ;;  # port checks: "free"
    manage.py)
        umask >"var/umask-$2"
        if [ "$2" = migrate ]; then : >var/alarmdesk.sqlite3; : >var/alarmdesk.sqlite3-wal; fi
        if [ "$2" = collectstatic ]; then mkdir -p var/static/css; : >var/static/css/app.css; fi
        ;;
esac
"""
FAKE_HONCHO = """\
#!/usr/bin/env bash
umask >var/umask-honcho
: >var/celerybeat-schedule
: >var/redis/dump.rdb
"""


def test_make_run_keeps_what_it_creates_under_var_for_its_owner(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "run.sh", tmp_path / "scripts" / "run.sh")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    real_python = shutil.which("python3")
    (bin_dir / "python").write_text(FAKE_PYTHON.replace("{python}", real_python))
    (bin_dir / "honcho").write_text(FAKE_HONCHO)
    for fake in ("python", "honcho"):
        (bin_dir / fake).chmod(0o755)
    var = tmp_path / "var"
    (var / "redis").mkdir(parents=True)
    for older in ("alarmdesk.sqlite3", "secret_key", "redis/dump.rdb"):
        (var / older).write_text("from an older install\n")
        (var / older).chmod(0o644)
    (var / "secret_key").unlink()  # a new key is made
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "TB_URL": "http://127.0.0.1:1",
    }
    subprocess.run(
        ["bash", str(tmp_path / "scripts" / "run.sh")],
        env=env,
        check=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert (var / "umask-migrate").read_text().strip() == "0077"
    assert (var / "umask-honcho").read_text().strip() == "0077"
    for private in (
        "secret_key",
        "alarmdesk.sqlite3",
        "alarmdesk.sqlite3-wal",
        "celerybeat-schedule",
        "redis/dump.rdb",
    ):
        assert mode(var / private) == 0o600, private
    assert mode(var / "redis") == 0o700
    assert mode(var / "static") == 0o755
    assert mode(var / "static" / "css" / "app.css") == 0o644
    assert mode(var) & 0o011 == 0o011, "others can reach var/static"
    assert not mode(var) & 0o044, "others cannot list var/"
