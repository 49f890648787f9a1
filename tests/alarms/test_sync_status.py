"""What signed-in users are told about the sync: history loading, the sync failing."""

import pytest

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import SyncState
from tests.alarms.conftest import sim
from tests.conftest import TENANT


@pytest.fixture
def signed_in(client, synced):
    client.post("/login/", {"username": TENANT[0], "password": TENANT[1]})
    return client


def test_before_any_sync_the_page_says_so(signed_in):
    assert "has not run yet" in signed_in.get("/alarms/").content.decode()


def test_loading_history_shows_its_progress(signed_in, monkeypatch):
    monkeypatch.setattr(sync, "BACKFILL_BUDGET_SECONDS", 0)  # one page of 1,000 per run
    sync.run_cycle()
    percent = SyncState.objects.get().backfill_percent
    assert 0 < percent < 100
    page = signed_in.get("/alarms/").content.decode()
    assert f"Loading history: {percent}%" in page
    while not SyncState.objects.get().backfill_done:
        sync.run_cycle()
    page = signed_in.get("/alarms/").content.decode()
    assert "Loading history" not in page
    assert "sync is failing" not in page
    assert "not run yet" not in page


def test_a_failing_sync_is_shown_with_the_age_of_the_data(signed_in, synced):
    sync.run_cycle()
    sim(synced, "/sim/faults", {"outage": True})
    with pytest.raises(sync.ThingsBoardError):
        sync.run_cycle()
    page = signed_in.get("/alarms/").content.decode()
    assert "The alarm sync is failing: alarms are as of" in page


def test_signed_out_pages_say_nothing_about_the_sync(client, synced):
    assert "sync" not in client.get("/login/").content.decode().lower()
