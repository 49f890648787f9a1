"""Writing ThingsBoard's answers into the store."""

import pytest
from django.db import connection

from alarmdesk.alarms import store as alarm_store
from alarmdesk.alarms.models import Alarm, AlarmEvent
from alarmdesk.alarms.store import refresh_statistics, save_alarms
from alarmdesk.thingsboard.types import AlarmInfo
from tests.alarms.conftest import expected_row, stored_row
from tests.conftest import TENANT, TbSession


def test_an_older_look_never_overwrites_a_newer_one(store):
    """The sync read a page before a person acknowledged through AlarmDesk, and saves it
    after the action saved ThingsBoard's answer: the store keeps the acknowledgement."""
    tb = TbSession(store.url, TENANT)
    alarm = Alarm.objects.filter(cleared=False, acknowledged=False).first()
    before = AlarmInfo.from_json(tb.get(f"/api/alarm/info/{alarm.id}").json())
    after = AlarmInfo.from_json(tb.post(f"/api/alarm/{alarm.id}/ack").json())

    save_alarms([after])
    changes = save_alarms([before])

    stored = Alarm.objects.get(id=alarm.id)
    assert stored.acknowledged
    assert stored.ack_ts == after.ack_ts
    assert changes.updated == 0
    kinds = list(AlarmEvent.objects.filter(alarm_id=alarm.id).values_list("kind", flat=True))
    assert kinds.count("acknowledged") == 1


def test_an_alarm_whose_end_goes_back_still_takes_later_changes(store, tb):
    """An update without endTs sets it back to startTs (section 4.6): not a stale look."""
    from alarmdesk.alarms import sync

    alarm = Alarm.objects.filter(cleared=False, acknowledged=False).first()
    body = tb.get(f"/api/alarm/{alarm.id}").json()
    body.pop("endTs")
    tb.post("/api/alarm", json={**body, "severity": "CRITICAL"}).raise_for_status()
    tb.post(f"/api/alarm/{alarm.id}/ack").raise_for_status()
    sync.run_cycle(reconcile_now=True)
    stored = Alarm.objects.get(id=alarm.id)
    assert stored.severity == "CRITICAL"
    assert stored.acknowledged


@pytest.mark.django_db(transaction=True)
def test_the_end_of_a_backfill_vacuums_the_table_on_postgresql():
    """So that the history's reads of its covering indexes stay in the index: right after
    a bulk load, before autovacuum came by, they visited the table (362 ms instead of 224
    for a week of 1,000,000 alarms)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no visibility map")
    refresh_statistics(thorough=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = %s",
            [Alarm._meta.db_table],
        )
        assert cursor.fetchone() == (True,)


def test_an_alarm_an_action_stores_while_the_sync_first_reads_it_keeps_the_action(
    synced, tb, monkeypatch
):
    """The sync's page says an alarm the store has never seen is unacknowledged; before
    the sync writes it, a person's acknowledgement through AlarmDesk stores ThingsBoard's
    answer. The sync's older look is not written over it, and no event comes twice."""
    page = tb.get("/api/v2/alarms", params={"page": 0, "pageSize": 1, "statusList": "ACTIVE,UNACK"})
    before = AlarmInfo.from_json(page.json()["data"][0])
    after = AlarmInfo.from_json(tb.post(f"/api/alarm/{before.id}/ack").json())
    compared = alarm_store._stored

    def compared_then_the_action_lands(alarms):
        found = compared(alarms)
        monkeypatch.setattr(alarm_store, "_stored", compared)
        save_alarms([after])
        return found

    monkeypatch.setattr(alarm_store, "_stored", compared_then_the_action_lands)
    changes = save_alarms([before])

    stored = Alarm.objects.get(id=before.id)
    assert stored.acknowledged
    assert stored.ack_ts == after.ack_ts
    assert changes.created == changes.updated == 0
    kinds = list(AlarmEvent.objects.filter(alarm_id=before.id).values_list("kind", flat=True))
    assert sorted(kinds) == ["acknowledged", "created"]


def test_a_new_alarm_is_stored_as_thingsboard_sent_it_whatever_its_text(synced, tb):
    """Quotes, backslashes, tabs, line breaks and non-ASCII in an alarm's type, details
    and relation types come back as ThingsBoard sent them, with every event, for an alarm
    the store writes as new (on PostgreSQL, COPY: a text format with escapes of its own)."""
    awkward = 'Tab\there, "quoted", back\\slash, new\nline, \\N, Zürich ✓'
    devices = tb.get("/api/tenant/deviceInfos", params={"page": 0, "pageSize": 1}).json()
    body = {
        "originator": devices["data"][0]["id"],
        "type": awkward,
        "severity": "MAJOR",
        "details": {"note": awkward, "nested": [1, None, {"key": awkward}]},
        "propagate": True,
        "propagateRelationTypes": ["Contains", awkward],
    }
    alarm_id = tb.post("/api/alarm", json=body).json()["id"]["id"]
    users = tb.get(f"/api/users/assign/{alarm_id}", params={"page": 0, "pageSize": 1}).json()
    user = users["data"][0]
    tb.post(f"/api/alarm/{alarm_id}/assign/{user['id']['id']}").raise_for_status()
    tb.post(f"/api/alarm/{alarm_id}/ack").raise_for_status()
    sent = tb.get(f"/api/alarm/info/{alarm_id}").json()

    save_alarms([AlarmInfo.from_json(sent)])

    alarm = Alarm.objects.get(id=alarm_id)
    assert stored_row(alarm) == expected_row(sent)
    assert alarm.type == awkward
    assert (alarm.assignee_first_name, alarm.assignee_last_name) == (
        user.get("firstName") or "",
        user.get("lastName") or "",
    )
    events = AlarmEvent.objects.filter(alarm_id=alarm_id).order_by("id")
    assert list(events.values_list("kind", "ts", "data")) == [
        ("created", sent["startTs"], {"severity": "MAJOR"}),
        ("acknowledged", sent["ackTs"], {}),
        (
            "assigned",
            sent["assignTs"],
            {"assignee_id": user["id"]["id"], "assignee": user["email"]},
        ),
    ]
