"""Actions tell the truth: a lost answer is read back, a 404 about someone else never hides
an alarm, a claim never takes an alarm from someone, and the audit log survives a locked
database. Against the simulator, through the dashboard's own pages."""

import sqlite3
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client

from alarmdesk.accounts.tokens import session_user
from alarmdesk.alarms import actions
from alarmdesk.alarms.models import Alarm, AlarmEvent, AuditEntry, BulkJob
from tests.alarms.conftest import sim
from tests.conftest import CUSTOMER_A, TENANT, TbSession, wait_until

OLIVIA = ("olivia.ops@thingsboard.org", "tenant")
ARTHUR = ("arthur.field@thingsboard.org", "customer")


def tb_as(tbsim, persona):
    return TbSession(tbsim.url, persona)


def waiting_alarm(customer_id=None):
    alarms = Alarm.objects.filter(cleared=False, acknowledged=False, assignee_id=None)
    if customer_id:
        alarms = alarms.filter(customer_id=customer_id)
    return alarms.order_by("id").first()


def act(client, alarm, **data):
    return client.post(f"/alarms/{alarm.id}/", data, headers={"HX-Request": "true"})


@pytest.fixture
def short_timeout(settings):
    """ThingsBoard's answers are awaited one second instead of ten."""
    settings.TB_TIMEOUT = (3.05, 1)


# --- a 404 is not always about the alarm ---------------------------------------------------


def test_assigning_to_a_user_that_does_not_exist_says_so_and_hides_nothing(as_user, store):
    client = as_user(TENANT)
    alarm = waiting_alarm()

    response = act(client, alarm, action="assign", assignee=str(uuid.uuid4()))

    assert "That user does not exist in ThingsBoard" in response.content.decode()
    stored = Alarm.objects.get(id=alarm.id)
    assert not stored.deleted  # still on every list
    assert stored.assignee_id is None
    assert not AlarmEvent.objects.filter(alarm_id=alarm.id, kind="deleted").exists()
    assert AuditEntry.objects.get().outcome == "failed"


def test_an_alarm_is_marked_deleted_only_when_thingsboard_confirms_it(as_user, store):
    client = as_user(TENANT)
    alarm = waiting_alarm()
    tb_as(store, TENANT).delete(f"/api/alarm/{alarm.id}").raise_for_status()

    response = act(client, alarm, action="ack")

    assert "no longer exists" in response.content.decode()
    assert Alarm.objects.get(id=alarm.id).deleted
    assert AuditEntry.objects.get().outcome == "not_found"


# --- a lost answer is read back -----------------------------------------------------------


def test_an_acknowledgement_answered_too_late_is_reported_done(as_user, store, short_timeout):
    client = as_user(TENANT)
    alarm = waiting_alarm()
    sim(store, "/sim/faults", {"write_answer_delay_ms": 1500})

    response = act(client, alarm, action="ack")

    html = response.content.decode()
    assert "Acknowledged." in html
    assert "answered late" in html
    assert Alarm.objects.get(id=alarm.id).acknowledged
    entry = AuditEntry.objects.get()
    assert entry.outcome == "done"


def test_when_thingsboard_answers_nothing_the_outcome_is_unknown(as_user, store, short_timeout):
    client = as_user(TENANT)
    alarm = waiting_alarm()
    sim(store, "/sim/faults", {"latency_ms": 1500})  # the read-back times out too

    response = act(client, alarm, action="ack")

    html = response.content.decode()
    assert "whether the alarm was acknowledged is not known" in html
    assert "nothing was changed" not in html
    assert AuditEntry.objects.get().outcome == "unknown"


def test_a_comment_whose_answer_was_lost_is_never_posted_twice(as_user, store, short_timeout):
    client = as_user(TENANT)
    alarm = waiting_alarm()
    tb = tb_as(store, TENANT)
    text = "Replaced the fan; watching it"
    sim(store, "/sim/faults", {"latency_ms": 1500})
    first = act(client, alarm, action="comment", text=text)
    assert "whether your comment was posted is not known" in first.content.decode()

    sim(store, "/sim/faults", method="DELETE")

    def posted():
        comments = tb.get(
            f"/api/alarm/{alarm.id}/comment", params={"page": 0, "pageSize": 100}
        ).json()["data"]
        return [c for c in comments if c["type"] == "OTHER" and c["comment"]["text"] == text]

    wait_until(posted, 10, "the slow comment to land in ThingsBoard")
    again = act(client, alarm, action="comment", text=text)

    assert "already posted" in again.content.decode()
    assert len(posted()) == 1


def test_a_refused_connection_says_nothing_was_changed(as_user, store, settings):
    client = as_user(TENANT)
    alarm = waiting_alarm()
    with socket_closed() as url:
        settings.TB_URL = url
        response = act(client, alarm, action="ack")

    assert "could not be reached, so nothing was changed" in response.content.decode()
    assert "What you typed" not in response.content.decode()  # nothing was typed
    assert AuditEntry.objects.get().outcome == "failed"


class socket_closed:
    """The URL of a port nobody listens on."""

    def __enter__(self):
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return f"http://127.0.0.1:{probe.getsockname()[1]}"

    def __exit__(self, *exc_info):
        return False


# --- claim --------------------------------------------------------------------------------


def test_claiming_an_alarm_someone_else_has_says_who_and_changes_nothing(as_user, store):
    me = tb_as(store, CUSTOMER_A).me
    arthur = tb_as(store, ARTHUR)
    alarm = waiting_alarm(me["customerId"]["id"])
    arthur.post(f"/api/alarm/{alarm.id}/assign/{arthur.me['id']['id']}").raise_for_status()
    client = as_user(CUSTOMER_A)

    response = client.post(
        "/oncall/", {"alarm": alarm.id, "action": "claim"}, headers={"HX-Request": "true"}
    )

    assert "Arthur Field (arthur.field@thingsboard.org) already has this alarm" in (
        response.content.decode()
    )
    info = arthur.get(f"/api/alarm/info/{alarm.id}").json()
    assert info["assigneeId"]["id"] == arthur.me["id"]["id"]
    assert info["acknowledged"] is False
    assert AuditEntry.objects.get().outcome == "failed"


def test_two_people_claiming_at_once_one_gets_it_and_the_other_is_told(store, live_clients):
    alarm = waiting_alarm()
    tenant, olivia = live_clients(TENANT), live_clients(OLIVIA)
    sim(store, "/sim/faults", {"latency_ms": 200})  # both claims overlap in ThingsBoard
    answers = {}

    def claim(name, client):
        answers[name] = client.post(
            "/oncall/", {"alarm": alarm.id, "action": "claim"}, headers={"HX-Request": "true"}
        ).content.decode()

    threads = [
        threading.Thread(target=claim, args=(name, c))
        for name, c in (("tenant", tenant), ("olivia", olivia))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    winners = [name for name, html in answers.items() if "assigned to you" in html]
    assert len(winners) == 1, answers
    [loser] = set(answers) - set(winners)
    assert "nothing was changed" in answers[loser] or "claiming this alarm" in answers[loser]
    info = tb_as(store, TENANT).get(f"/api/alarm/info/{alarm.id}").json()
    winner_email = {"tenant": TENANT[0], "olivia": OLIVIA[0]}[winners[0]]
    assert info["assignee"]["email"] == winner_email


@pytest.fixture
def live_clients(store):
    """live_clients(persona) -> a new test Client signed in as that persona."""

    def make(persona):
        client = Client()
        answer = client.post("/login/", {"username": persona[0], "password": persona[1]})
        assert answer.status_code == 302
        return client

    return make


# --- the audit log survives a locked database ---------------------------------------------


@pytest.fixture
def quick_busy_timeout():
    """SQLite gives up on a lock after 0.2 s instead of the configured wait."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's database lock")
    connection.close()
    options = connection.settings_dict.setdefault("OPTIONS", {})
    saved = options.get("timeout")
    options["timeout"] = 0.2
    yield connection.settings_dict["NAME"]
    connection.close()
    options["timeout"] = saved


def hold_write_lock(path, seconds):
    """Another process's long write: the database's write lock, taken once the action's
    pending audit entry is written (ThingsBoard is being called), held for `seconds`."""

    def hold():
        other = sqlite3.connect(path, isolation_level=None)
        pending = "SELECT count(*) FROM alarms_auditentry WHERE outcome = 'pending'"
        wait_until(lambda: other.execute(pending).fetchone()[0], 30, "the pending entry")
        other.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        other.execute("ROLLBACK")
        other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("locked_seconds", "logged_as"),
    [
        # Locked while ThingsBoard acts and a while after it answered: the first tries to
        # complete the audit entry fail, a later one succeeds.
        (1.5, "done"),
        # Locked past every try: the action stays in the log, its outcome not written.
        (5, "pending"),
    ],
)
def test_an_action_that_reached_thingsboard_is_logged_though_the_database_was_locked(
    as_user, store, quick_busy_timeout, locked_seconds, logged_as
):
    client = as_user(TENANT)
    alarm = waiting_alarm()
    sim(store, "/sim/faults", {"latency_ms": 1000})
    holder = hold_write_lock(quick_busy_timeout, seconds=locked_seconds)

    response = act(client, alarm, action="ack")
    holder.join()

    assert response.status_code == 200  # never a 500, never a 400
    assert "Acknowledged." in response.content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.outcome) == ("ack", logged_as)
    assert tb_as(store, TENANT).get(f"/api/alarm/info/{alarm.id}").json()["acknowledged"]


# --- a dead run's pending entry ---------------------------------------------------------


def pending_entry(client, alarm, action="ack"):
    """What a bulk job's worker killed mid-call leaves: the entry written, no outcome."""
    user = session_user(SimpleNamespace(session=client.session))
    job = BulkJob.objects.create(
        user_id=user.id, user_email=user.email, action=action, alarm_ids=[str(alarm.id)]
    )
    entry = AuditEntry.objects.create(
        user_id=user.id,
        user_email=user.email,
        alarm_id=alarm.id,
        alarm_uuid=alarm.id,
        action=action,
        outcome="pending",
        bulk_job=job,
    )
    return SimpleNamespace(session=client.session), user, entry


def test_a_pending_action_that_reached_thingsboard_is_settled_as_done_without_a_second_call(
    as_user, store
):
    client = as_user(TENANT)
    alarm = waiting_alarm()
    request, user, entry = pending_entry(client, alarm)
    tb_as(store, TENANT).post(f"/api/alarm/{alarm.id}/ack").raise_for_status()  # it landed
    sim(store, "/sim/stats/reset")

    result = actions.settle(request, user, entry)

    assert result.outcome == "done"
    assert AuditEntry.objects.get(id=entry.id).outcome == "done"
    routes = sim(store, "/sim/stats", method="GET")["routes"]
    assert "POST /api/alarm/<alarm_id>/ack" not in routes


def test_a_pending_action_that_never_reached_thingsboard_is_done_under_the_same_entry(
    as_user, store
):
    client = as_user(TENANT)
    alarm = waiting_alarm()
    request, user, entry = pending_entry(client, alarm)

    result = actions.settle(request, user, entry)

    assert result.outcome == "done"
    assert AuditEntry.objects.get().outcome == "done"  # one entry, completed
    assert tb_as(store, TENANT).get(f"/api/alarm/info/{alarm.id}").json()["acknowledged"]
