"""The sync against the simulator: backfill, fast cycles, reconciliation, failures."""

import contextlib
import threading
import time

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alarmdesk.alarms import account, sync
from alarmdesk.alarms.models import Alarm, AlarmEvent, SyncState
from alarmdesk.alarms.store import scope_key
from alarmdesk.thingsboard.errors import ThingsBoardError, Unavailable
from tests.alarms.conftest import sim, store_differences
from tests.conftest import TENANT

Kind = AlarmEvent.Kind


def requests_counted(tbsim):
    return sim(tbsim, "/sim/stats", method="GET")


def api_requests(tbsim):
    stats = requests_counted(tbsim)["routes"]
    return sum(v["count"] for route, v in stats.items() if " /api/" in route)


def kinds(alarm_id):
    return list(
        AlarmEvent.objects.filter(alarm_id=alarm_id).order_by("id").values_list("kind", flat=True)
    )


def a_device(tb, customer=False):
    devices = tb.get("/api/tenant/deviceInfos", params={"page": 0, "pageSize": 100}).json()
    for device in devices["data"]:
        has_customer = device["customerId"]["id"] != "13814000-1dd2-11b2-8080-808080808080"
        if has_customer == customer:
            return device
    raise AssertionError("no such device in the demo")


def raise_alarm(tbsim, device, alarm_type="Sync Test", severity="MAJOR"):
    return sim(
        tbsim, "/sim/alarms", {"device": device["name"], "type": alarm_type, "severity": severity}
    )


def test_the_first_cycles_backfill_the_history_and_match_thingsboard(synced, tb):
    sync.run_cycle()
    state = SyncState.objects.get()
    assert state.backfill_done
    assert store_differences(tb) == {}
    assert Alarm.objects.count() == len(tb.alarms()) > 1000
    # Every alarm got its "created" event, and those already handled their other events.
    acked = Alarm.objects.filter(acknowledged=True).first()
    assert kinds(acked.id)[:2] == [Kind.CREATED, Kind.ACKNOWLEDGED]


def test_the_backfill_resumes_in_slices_and_reports_progress(synced, tb, monkeypatch, client):
    monkeypatch.setattr(sync, "BACKFILL_BUDGET_SECONDS", 0)  # one page per run
    monkeypatch.setattr("alarmdesk.alarms.models.BACKFILL_PAGE_SIZE", 300)
    sync.run_cycle()
    state = SyncState.objects.get()
    assert not state.backfill_done
    assert 0 < state.backfill_percent < 100
    health = client.get("/healthz").json()
    assert health["backfill_percent"] == state.backfill_percent
    runs = 1
    while not SyncState.objects.get().backfill_done:
        sync.run_cycle()
        runs += 1
    assert runs == -(-SyncState.objects.get().backfill_total // 300)
    assert client.get("/healthz").json()["backfill_percent"] == 100
    assert store_differences(tb) == {}


def test_a_backfill_cut_short_while_reading_ahead_resumes_without_a_gap(synced, tb, monkeypatch):
    """The next page is read while one is saved; when time runs out, the page read ahead
    is read again by the next run: no alarm is missed, none is created twice."""
    monkeypatch.setattr(sync, "BACKFILL_BUDGET_SECONDS", 0.05)
    monkeypatch.setattr("alarmdesk.alarms.models.BACKFILL_PAGE_SIZE", 100)
    sync.run_cycle()
    runs = 1
    while not SyncState.objects.get().backfill_done:
        sync.run_cycle()
        runs += 1
    assert runs > 1
    assert store_differences(tb) == {}
    assert AlarmEvent.objects.filter(kind=Kind.CREATED).count() == Alarm.objects.count()


def test_an_unchanged_cycle_costs_four_requests_and_writes_nothing(synced, tbsim):
    sync.run_cycle()
    sim(tbsim, "/sim/stats/reset")
    with CaptureQueriesContext(connection) as queries:
        counts = sync.run_cycle()
    assert api_requests(tbsim) == 4
    assert counts["requests"] == 4
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []


def test_one_fast_cycle_brings_new_retriggered_acknowledged_and_cleared_alarms(synced, tb, tbsim):
    sync.run_cycle()
    device = a_device(tb, customer=True)
    new = raise_alarm(tbsim, device, "Brand New")
    retriggered = raise_alarm(tbsim, device, "Fires Twice", "MINOR")
    to_ack = raise_alarm(tbsim, device, "To Acknowledge")
    to_clear = raise_alarm(tbsim, device, "To Clear")
    sync.run_cycle()
    raise_alarm(tbsim, device, "Fires Twice", "CRITICAL")
    tb.post(f"/api/alarm/{to_ack['id']['id']}/ack").raise_for_status()
    tb.post(f"/api/alarm/{to_clear['id']['id']}/clear").raise_for_status()
    fleeting = raise_alarm(tbsim, device, "Raised And Cleared")
    sim(tbsim, f"/sim/alarms/{fleeting['id']['id']}/clear")

    sync.run_cycle()

    assert kinds(new["id"]["id"]) == [Kind.CREATED]
    assert kinds(retriggered["id"]["id"]) == [
        Kind.CREATED,
        Kind.RETRIGGERED,
        Kind.SEVERITY_CHANGED,
    ]
    change = AlarmEvent.objects.get(alarm_id=retriggered["id"]["id"], kind=Kind.SEVERITY_CHANGED)
    assert change.data == {"from": "MINOR", "to": "CRITICAL"}
    assert kinds(to_ack["id"]["id"]) == [Kind.CREATED, Kind.ACKNOWLEDGED]
    assert kinds(to_clear["id"]["id"]) == [Kind.CREATED, Kind.CLEARED]
    assert kinds(fleeting["id"]["id"]) == [Kind.CREATED, Kind.CLEARED]
    ack = AlarmEvent.objects.get(alarm_id=to_ack["id"]["id"], kind=Kind.ACKNOWLEDGED)
    assert ack.ts == tb.get(f"/api/alarm/info/{to_ack['id']['id']}").json()["ackTs"]
    assert store_differences(tb) == {}


def test_reconciliation_catches_assignments_severity_edits_and_deletions(synced, tb, tbsim):
    sync.run_cycle()
    device = a_device(tb)
    assigned = raise_alarm(tbsim, device, "To Assign")
    edited = raise_alarm(tbsim, device, "To Edit", "MINOR")
    deleted = raise_alarm(tbsim, device, "To Delete")
    gone_cleared = Alarm.objects.filter(cleared=True).first()
    sync.run_cycle()

    tb.post(f"/api/alarm/{assigned['id']['id']}/assign/{tb.me['id']['id']}").raise_for_status()
    body = tb.get(f"/api/alarm/{edited['id']['id']}").json()
    tb.post("/api/alarm", json={**body, "severity": "WARNING"}).raise_for_status()
    tb.delete(f"/api/alarm/{deleted['id']['id']}").raise_for_status()
    tb.delete(f"/api/alarm/{gone_cleared.id}").raise_for_status()

    sync.run_cycle()  # no ordering reveals a deletion
    assert not Alarm.objects.filter(deleted=True).exists()
    sync.run_cycle(reconcile_now=True)

    assert store_differences(tb) == {}
    assert kinds(assigned["id"]["id"]) == [Kind.CREATED, Kind.ASSIGNED]
    assert kinds(edited["id"]["id"]) == [Kind.CREATED, Kind.SEVERITY_CHANGED]
    assert kinds(deleted["id"]["id"]) == [Kind.CREATED, Kind.DELETED]
    assert kinds(gone_cleared.id)[-1] == Kind.DELETED
    assert Alarm.objects.get(id=deleted["id"]["id"]).deleted  # kept, for history


def test_changes_move_the_counters_of_the_scopes_they_touch(synced, tb, tbsim, redis_server):
    sync.run_cycle()
    customer_device = a_device(tb, customer=True)
    customer_key = scope_key("customer", customer_device["customerId"]["id"])
    tenant_key = scope_key("tenant", tb.me["tenantId"]["id"])
    other_customers = [k for k in redis_server.keys("alarmdesk:scope:customer:*")]
    before = {k: redis_server.get(k) for k in [tenant_key, customer_key, *other_customers]}

    raise_alarm(tbsim, customer_device, "Counter Test")
    sync.run_cycle()

    assert int(redis_server.get(tenant_key)) == int(before[tenant_key]) + 1
    assert int(redis_server.get(customer_key)) == int(before[customer_key] or 0) + 1
    for key in other_customers:
        if key.decode() != customer_key:
            assert redis_server.get(key) == before[key]
    sync.run_cycle()  # nothing changed: nothing moves
    assert int(redis_server.get(tenant_key)) == int(before[tenant_key]) + 1


def test_a_refused_token_signs_in_again_once(synced, tbsim):
    sync.run_cycle()
    kept = account.ServiceAccount()._stored_pair  # the pair as kept (encrypted) in Redis

    # ThingsBoard forgets the session (a logout elsewhere, a restart with a new key).
    stolen = kept()["token"]
    requests.post(
        f"{tbsim.url}/api/auth/logout", headers={"X-Authorization": f"Bearer {stolen}"}, timeout=5
    ).raise_for_status()
    assert sync.run_cycle()["requests"] == 4
    assert kept()["token"] != stolen


def test_thingsboard_down_fails_fast_is_recorded_and_the_next_cycle_converges(
    synced, tb, tbsim, client
):
    sync.run_cycle()
    device = a_device(tb)
    sim(tbsim, "/sim/faults", {"outage": True})
    started = time.monotonic()
    with pytest.raises(Unavailable):
        sync.run_cycle()
    assert time.monotonic() - started < 5
    health = client.get("/healthz").json()
    assert "unreachable" in health["last_sync_error"]
    assert health["last_sync"] is not None  # the store's age stays known
    assert "unreachable" in SyncState.objects.get().last_error

    sim(tbsim, "/sim/faults", method="DELETE")
    raise_alarm(tbsim, device, "During Outage")
    sync.run_cycle()
    assert SyncState.objects.get().last_error == ""
    assert client.get("/healthz").json()["last_sync_error"] is None
    assert store_differences(tb) == {}


@pytest.mark.parametrize(
    "fault", [{"error_rate": 0.3, "error_status": 503}, {"error_rate": 0.3, "error_status": 429}]
)
def test_transient_errors_are_retried_or_left_to_the_next_cycle(synced, tb, tbsim, fault):
    sync.run_cycle()
    device = a_device(tb)
    sim(tbsim, "/sim/faults", fault)
    for number in range(8):
        raise_alarm(tbsim, device, f"Flaky {number}")
        with contextlib.suppress(ThingsBoardError):  # retried, then left to the next cycle
            sync.run_cycle(reconcile_now=number % 3 == 0)
    sim(tbsim, "/sim/faults", method="DELETE")
    sync.run_cycle(reconcile_now=True)
    assert store_differences(tb) == {}


def test_two_concurrent_runs_do_not_both_run(synced, tbsim):
    sync.run_cycle()
    sim(tbsim, "/sim/faults", {"latency_ms": 300})
    results = []
    threads = [threading.Thread(target=lambda: results.append(sync.run_cycle())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=lambda r: r is not None)[0] is None
    assert sum(r is not None for r in results) == 1


def test_the_signed_in_tenant_is_the_one_synced(synced, tb):
    sync.run_cycle()
    assert str(SyncState.objects.get().tenant_id) == tb.me["tenantId"]["id"]
    assert TENANT[0] == tb.me["email"]


def test_an_alarm_stamped_in_the_future_does_not_hide_later_changes(synced, tb, tbsim, monkeypatch):
    """endTs comes from the message that raised the alarm; a device with a fast clock must
    not freeze the endTs ordering."""
    monkeypatch.setattr(sync, "PAGE_SIZE", 3)
    sync.run_cycle()
    device = a_device(tb)
    future = sync.now_ms() + 3_600_000
    for number in range(4):
        tb.post(
            "/api/alarm",
            json={
                "originator": device["id"],
                "type": f"Fast Clock {number}",
                "severity": "MINOR",
                "startTs": future - 1000,
                "endTs": future,
            },
        ).raise_for_status()
    later = raise_alarm(tbsim, device, "Later", "MAJOR")
    sync.run_cycle()
    raise_alarm(tbsim, device, "Later", "CRITICAL")  # a re-trigger: endTs = now
    sync.run_cycle()
    assert kinds(later["id"]["id"]) == [Kind.CREATED, Kind.RETRIGGERED, Kind.SEVERITY_CHANGED]


def test_a_deleted_cleared_alarm_is_found_without_reading_the_whole_history(
    synced, tb, tbsim, monkeypatch
):
    monkeypatch.setattr(sync, "RECONCILE_PAGE_SIZE", 50)
    sync.run_cycle()
    baseline = sync.run_cycle(reconcile_now=True)["requests"]  # counts agree at once
    gone = Alarm.objects.filter(cleared=True).order_by("created_time")[700]
    tb.delete(f"/api/alarm/{gone.id}").raise_for_status()

    counts = sync.run_cycle(reconcile_now=True)

    assert Alarm.objects.get(id=gone.id).deleted
    assert store_differences(tb) == {}
    full_read = -(-len(tb.alarms()) // 50)
    # A few halvings and one small page, rather than every page of the window.
    assert counts["requests"] - baseline < full_read / 2
