"""The sync as Celery runs it: a real worker (a thread of this process, or a subprocess
killed with SIGKILL mid-cycle), the real broker (the session Redis), the real lock.

Never eager mode: the tasks go through Redis to a worker, as in production.
"""

import os
import signal
from collections import Counter
from pathlib import Path

from django.conf import settings as django_settings

from alarmdesk.alarms import models, sync
from alarmdesk.alarms.models import Alarm, AlarmEvent, SyncState
from alarmdesk.alarms.tasks import run_bulk_job, sync_alarms
from tests.alarms.conftest import sim, store_differences
from tests.conftest import wait_until, worker_thread

Kind = AlarmEvent.Kind
# Kinds an alarm can record at most once.
ONCE = (Kind.CREATED, Kind.ACKNOWLEDGED, Kind.CLEARED, Kind.DELETED)


def raise_alarm(tbsim, tb, alarm_type):
    devices = tb.get("/api/tenant/deviceInfos", params={"page": 0, "pageSize": 1}).json()
    device = devices["data"][0]["name"]
    return sim(tbsim, "/sim/alarms", {"device": device, "type": alarm_type, "severity": "MAJOR"})


def test_a_worker_runs_the_sync_and_brings_new_alarms(synced, tb, celery_app, task_results):
    with worker_thread(celery_app, pool="solo", queues=["sync"]):
        first = sync_alarms.delay().id
        wait_until(lambda: first in task_results, 60, "the first sync task to finish")
        assert task_results[first]["created"] == len(tb.alarms()) > 1000
        assert SyncState.objects.get().backfill_done
        assert store_differences(tb) == {}

        new = raise_alarm(synced, tb, "Through Celery")["id"]["id"]
        second = sync_alarms.delay().id
        wait_until(lambda: Alarm.objects.filter(id=new).exists(), 30, "the new alarm stored")
        wait_until(lambda: second in task_results, 30, "the second sync task to finish")

    assert task_results[second]["created"] == 1
    assert list(AlarmEvent.objects.filter(alarm_id=new).values_list("kind", flat=True)) == [
        Kind.CREATED
    ]
    assert store_differences(tb) == {}


def test_the_sync_runs_on_its_own_queue(synced, celery_app, task_results, redis_server):
    # Bulk jobs (and anything else) wait on the default queue, for `worker`; the sync has its
    # own queue and process (`worker-sync`), so a busy `worker` never delays it.
    run_bulk_job.delay(0)
    sync_alarms.delay()
    assert (redis_server.llen("sync"), redis_server.llen("celery")) == (1, 1)

    with worker_thread(celery_app, pool="solo", queues=["sync"]):
        [result] = wait_until(lambda: list(task_results.values()), 60, "the sync to run")
    assert result["created"] > 0
    assert redis_server.llen("celery") == 1  # the bulk job still waits for `worker`

    procfile = dict(
        line.split(":", 1)
        for line in Path(django_settings.BASE_DIR, "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert "-Q sync " in procfile["worker-sync"]
    assert "sync" not in procfile["worker"]


def test_two_tasks_at_once_one_runs_and_the_other_skips(
    synced, tbsim, celery_app, task_results, redis_server
):
    sync.run_cycle()  # the backfill, quickly, before ThingsBoard slows down
    sim(tbsim, "/sim/faults", {"latency_ms": 300})  # a cycle of 4 requests lasts > 1 s
    with worker_thread(celery_app, pool="threads", concurrency=2, queues=["sync"]):
        ids = [sync_alarms.delay().id, sync_alarms.delay().id]
        wait_until(lambda: all(i in task_results for i in ids), 30, "both tasks to finish")

    results = [task_results[i] for i in ids]
    assert sum(result is None for result in results) == 1, results
    [ran] = [result for result in results if result is not None]
    assert ran["requests"] == 4
    assert not redis_server.exists(sync.LOCK_KEY)  # released by the run that held it


def test_a_worker_killed_mid_cycle_loses_nothing(
    synced, tb, tbsim, celery_app, worker_process, redis_server
):
    # ThingsBoard slow: the first cycle (about ten requests, the backfill of ~1,400 alarms)
    # lasts seconds, and the worker is killed while it is writing them.
    assert len(tb.alarms()) > models.BACKFILL_PAGE_SIZE  # a backfill of two pages at least
    sim(tbsim, "/sim/faults", {"latency_ms": 300})
    worker = worker_process("sync")
    sync_alarms.delay()

    # Killed once the backfill has committed its first page and is reading the next: some
    # alarms stored, the backfill's progress saved, the run unfinished.
    def mid_backfill():
        state = SyncState.objects.filter(backfill_page__gte=1).first()
        return state is not None and not state.backfill_done

    wait_until(mid_backfill, 60, "the killed worker's cycle to reach its backfill")
    os.kill(worker.pid, signal.SIGKILL)  # --pool solo: this process runs the task itself
    assert worker.wait(timeout=10) == -signal.SIGKILL

    state = SyncState.objects.get()
    assert not state.backfill_done
    assert state.last_success is None  # the killed run never finished
    assert 0 < Alarm.objects.count() < len(tb.alarms())

    # The dead worker's lock stays, bounded by its timeout, and holds other runs off till then.
    assert 0 < redis_server.ttl(sync.LOCK_KEY) <= sync.LOCK_TIMEOUT
    assert sync.run_cycle() is None
    # Waiting out the rest of the 75 s would exceed this file's budget: the TTL is bounded
    # (above), so Redis is only asked to expire the key now, and expires it itself.
    redis_server.pexpire(sync.LOCK_KEY, 1)
    wait_until(lambda: not redis_server.exists(sync.LOCK_KEY), 5, "the lock to expire")

    sim(tbsim, "/sim/faults", method="DELETE")
    counts = sync.run_cycle()
    assert counts is not None
    assert SyncState.objects.get().backfill_done
    assert store_differences(tb) == {}

    once = Counter(
        AlarmEvent.objects.filter(kind__in=ONCE).values_list("alarm_id", "kind").iterator()
    )
    assert [pair for pair, number in once.items() if number > 1] == []
    created = Counter(
        AlarmEvent.objects.filter(kind=Kind.CREATED).values_list("alarm_id", flat=True)
    )
    assert set(created) == set(Alarm.objects.values_list("id", flat=True))
    assert set(created.values()) == {1}
