"""The history's daily counts, kept by the store as it writes alarms: always what counting
the alarms again gives, whatever the writes (tallies.py)."""

import pytest

from alarmdesk.alarms import sync, tallies
from alarmdesk.alarms.models import Alarm, AlarmEvent, DailyCount, DailyPair
from alarmdesk.alarms.store import save_alarms
from alarmdesk.thingsboard.types import AlarmInfo
from tests.conftest import TENANT, TbSession

DAY = tallies.DAY_MS


def kept():
    """The counts as kept, leaving out keys that came back to zero."""
    counts = {
        row[:-3]: row[-3:]
        for row in DailyCount.objects.values_list(*DailyCount.KEY, *DailyCount.COUNTED)
        if any(row[-3:])
    }
    pairs = {
        row[:-1]: row[-1]
        for row in DailyPair.objects.values_list(*DailyPair.KEY, "alarms")
        if row[-1]
    }
    return counts, pairs


def counted_again():
    tallies.rebuild()
    return kept()


def test_the_synced_store_holds_its_daily_counts(store):
    counts, pairs = kept()
    assert sum(n for n, _, _ in counts.values()) == Alarm.objects.count() > 0
    assert sum(pairs.values()) == Alarm.objects.count()
    assert (counts, pairs) == counted_again()


def test_acknowledging_clearing_and_moving_an_alarm_to_another_day_keep_the_counts(store):
    tb = TbSession(store.url, TENANT)
    open_alarms = list(Alarm.objects.filter(cleared=False, acknowledged=False)[:2])
    tb.post(f"/api/alarm/{open_alarms[0].id}/ack").raise_for_status()
    tb.post(f"/api/alarm/{open_alarms[1].id}/clear").raise_for_status()
    # An update sets startTs back three days (section 4.6), and raises its severity.
    moved = tb.get(f"/api/alarm/{open_alarms[0].id}").json()
    moved["startTs"] -= 3 * DAY
    moved["endTs"] = moved["startTs"]
    moved["severity"] = "CRITICAL" if moved["severity"] != "CRITICAL" else "MAJOR"
    tb.post("/api/alarm", json=moved).raise_for_status()
    sync.run_cycle()

    stored = Alarm.objects.get(id=open_alarms[0].id)
    assert stored.start_ts == moved["startTs"]
    assert stored.acknowledged
    assert kept() == counted_again()


def test_a_stale_look_and_an_unchanged_one_change_no_count(store):
    tb = TbSession(store.url, TENANT)
    alarm = Alarm.objects.filter(cleared=False, acknowledged=False).first()
    before = AlarmInfo.from_json(tb.get(f"/api/alarm/info/{alarm.id}").json())
    after = AlarmInfo.from_json(tb.post(f"/api/alarm/{alarm.id}/ack").json())
    save_alarms([after])
    once = kept()

    save_alarms([before])  # older: not written
    save_alarms([after])  # the same: not written

    assert kept() == once == counted_again()


@pytest.mark.parametrize("fail_in", ["insert", "update"])
def test_a_write_that_fails_leaves_the_counts_as_they_were(store, monkeypatch, fail_in):
    """The counts are written in the alarms' transaction: rolled back with them."""
    from alarmdesk.alarms import store as alarm_store

    tb = TbSession(store.url, TENANT)
    alarm = Alarm.objects.filter(cleared=False, acknowledged=False).first()
    if fail_in == "insert":
        info = AlarmInfo.from_json(tb.get(f"/api/alarm/info/{alarm.id}").json())
        AlarmEvent.objects.filter(alarm_id=alarm.id).delete()
        alarm.delete()  # new to the store again
    else:
        info = AlarmInfo.from_json(tb.post(f"/api/alarm/{alarm.id}/ack").json())
    tallies.rebuild()
    before = kept()

    def refuse(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(alarm_store.AlarmEvent.objects, "bulk_create", refuse)
    monkeypatch.setattr(alarm_store, "_copy", refuse)
    with pytest.raises(RuntimeError):
        save_alarms([info])

    assert kept() == before


def test_recount_history_puts_counts_edited_by_hand_right(store):
    from django.core.management import call_command

    before = kept()
    DailyCount.objects.update(alarms=7)
    DailyPair.objects.all().delete()

    call_command("recount_history")

    assert kept() == before
