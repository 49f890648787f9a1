"""Bulk jobs as Celery runs them: a real worker (a thread of this process, or a subprocess
killed with SIGKILL mid-job), the real broker (the session Redis, lost, frozen), the
simulator with its faults. Never eager mode.
"""

import base64
import contextlib
import json
import os
import signal
import threading
from collections import Counter
from datetime import timedelta

from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.utils import timezone

from alarmdesk.accounts.tokens import SESSION_KEY
from alarmdesk.alarms import bulk, sync
from alarmdesk.alarms.models import Alarm, AuditEntry, BulkJob
from tests.alarms.conftest import ask_bulk, sim
from tests.conftest import (
    CUSTOMER_A,
    TENANT,
    TbSession,
    thingsboard_alarm_ids,
    wait_until,
    worker_thread,
)

# What beat sends every few seconds (CELERY_BEAT_SCHEDULE), sent by name as beat does.
RECOVER = "alarmdesk.alarms.tasks.recover_bulk_jobs"
ACK_ROUTE = "POST /api/alarm/<alarm_id>/ack"


def unacked(tbsim, number):
    """The ids of `number` new alarms, active and unacknowledged, raised by the rule engine
    and synced into the store (the demo has only a dozen active ones)."""
    with TbSession(tbsim.url, TENANT) as tb:
        devices = tb.get("/api/tenant/deviceInfos", params={"page": 0, "pageSize": 1}).json()
    device = devices["data"][0]["name"]
    body = {"device": device, "severity": "MAJOR"}
    ids = [
        sim(tbsim, "/sim/alarms", {**body, "type": f"Bulk {n}"})["id"]["id"] for n in range(number)
    ]
    sync.run_cycle()
    assert Alarm.objects.filter(id__in=ids, acknowledged=False).count() == number
    return ids


def ask(client, ids, action="ack", **kwargs):
    return ask_bulk(client, {"action": action, "ids": ids}, **kwargs)


def job_of(response):
    assert response.status_code == 302, response.content
    return BulkJob.objects.get(id=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))


def finished(job):
    return lambda: BulkJob.objects.filter(id=job.id).exclude(finished_at=None).exists()


def acknowledged_in_thingsboard(tbsim, ids):
    with TbSession(tbsim.url, TENANT) as tb:
        return {i for i in ids if tb.get(f"/api/alarm/info/{i}").json()["acknowledged"]}


def test_a_bulk_job_acts_on_at_most_ten_alarms_a_second(as_user, tbsim, celery_app):
    client = as_user(TENANT)
    job = job_of(ask(client, unacked(tbsim, 21)))
    with worker_thread(celery_app, pool="solo", queues=["celery"]):
        wait_until(finished(job), 60, "the job to finish")
    times = sorted(job.auditentry_set.values_list("at", flat=True))
    assert len(times) == 21
    assert (times[-1] - times[0]).total_seconds() >= 1.9  # 20 intervals of 0.1 s at least


def test_a_user_may_have_at_most_two_bulk_jobs_running(as_user, tbsim, celery_app):
    client = as_user(TENANT)
    ids = unacked(tbsim, 6)
    first, second = job_of(ask(client, ids[0:2])), job_of(ask(client, ids[2:4]))

    page = ask(client, ids[4:6], follow=True)
    assert page.status_code == 200
    assert "You already have 2 bulk jobs running" in page.content.decode()
    assert BulkJob.objects.count() == 2

    # Another person's jobs are theirs: customer A may start one meanwhile.
    other = as_user(CUSTOMER_A)
    theirs = job_of(ask(other, sorted(thingsboard_alarm_ids(tbsim, CUSTOMER_A))[:1]))

    with worker_thread(celery_app, pool="solo", queues=["celery"]):
        for job in (first, second, theirs):
            wait_until(finished(job), 60, "the jobs to finish")
    client = as_user(TENANT)
    assert job_of(ask(client, ids[4:6]))  # one finished: another may start


def test_two_jobs_asked_for_at_once_cannot_both_slip_under_the_limit(as_user, tbsim):
    client = as_user(TENANT)
    me = job_of(ask(client, unacked(tbsim, 1)))
    # Two requests at once: each wrote its job before either counted.
    racing = [
        BulkJob.objects.create(
            user_id=me.user_id,
            user_email=me.user_email,
            action="ack",
            alarm_ids=me.alarm_ids,
            confirmed_at=timezone.now(),
        )
        for _ in range(2)
    ]

    assert [bulk.admitted(job) for job in racing] == [True, False]
    assert sorted(BulkJob.objects.values_list("id", flat=True)) == [me.id, racing[0].id]


def test_a_bulk_job_whose_worker_is_killed_finishes_on_another_worker_acting_once_per_alarm(
    as_user, tbsim, worker_process, celery_app
):
    client = as_user(TENANT)
    ids = unacked(tbsim, 12)
    sim(tbsim, "/sim/faults", {"latency_ms": 300})  # each alarm lasts 0.3 s
    sim(tbsim, "/sim/stats/reset")
    job = job_of(ask(client, ids))
    first = worker_process("celery")
    wait_until(lambda: job.auditentry_set.count() >= 3, 60, "the first worker's first alarms")
    os.kill(first.pid, signal.SIGKILL)  # --pool solo: this process runs the job itself
    assert first.wait(timeout=10) == -signal.SIGKILL

    job.refresh_from_db()
    assert job.finished_at is None
    assert 3 <= job.auditentry_set.count() < len(ids)
    # The dead run's lease is bounded and expires by itself; waiting it out would only make
    # this test longer, so it is expired now, as test_worker.py does with the sync's lock.
    lease_left = job.lease_until - timezone.now()
    assert timedelta(0) < lease_left <= timedelta(seconds=bulk.LEASE_SECONDS)
    BulkJob.objects.filter(id=job.id).update(lease_until=timezone.now())

    worker_process("celery")
    celery_app.send_task(RECOVER)  # beat's next tick
    wait_until(finished(job), 60, "the second worker to finish the job")

    per_alarm = Counter(str(i) for i in job.auditentry_set.values_list("alarm_uuid", flat=True))
    assert per_alarm == Counter(ids)  # exactly one outcome each
    assert not job.auditentry_set.filter(outcome=AuditEntry.Outcome.PENDING).exists()
    sim(tbsim, "/sim/faults", method="DELETE")
    acks = sim(tbsim, "/sim/stats", method="GET")["routes"][ACK_ROUTE]["count"]
    assert acks <= len(ids)  # no alarm acknowledged twice
    assert acknowledged_in_thingsboard(tbsim, ids) == set(ids)


def test_a_job_queued_while_redis_lost_it_is_recovered_from_the_database(
    as_user, tbsim, celery_app, redis_server, monkeypatch
):
    client = as_user(TENANT)
    ids = unacked(tbsim, 3)
    job = job_of(ask(client, ids))
    redis_server.flushall()  # a Redis restarted without persistence: the message is gone

    # A job waits this long for a worker before it is thought lost (and queued again).
    monkeypatch.setattr(bulk, "START_WITHIN_SECONDS", 0)
    with worker_thread(celery_app, pool="solo", queues=["celery"]):
        celery_app.send_task(RECOVER)
        wait_until(finished(job), 60, "the lost job to be recovered and run")
    assert set(job.auditentry_set.values_list("outcome", flat=True)) == {"done"}
    assert acknowledged_in_thingsboard(tbsim, ids) == set(ids)


def test_bulk_with_redis_frozen_answers_within_seconds(as_user, tbsim, celery_app, redis_server):
    client = as_user(TENANT)
    ids = unacked(tbsim, 2)
    answer = {}

    def post():
        answer["page"] = ask(client, ids, follow=True)
        connection.close()

    pid = redis_server.info()["process_id"]
    request = threading.Thread(target=post)
    os.kill(pid, signal.SIGSTOP)  # Redis alive but silent: connections open, nothing answers
    try:
        request.start()
        request.join(timeout=30)
        returned = not request.is_alive()
    finally:
        os.kill(pid, signal.SIGCONT)
    request.join()
    assert returned, "POST /alarms/bulk/ still waiting for a frozen Redis after 30 s"
    assert "it starts as soon as the job queue is back" in answer["page"].content.decode()
    [job] = BulkJob.objects.all()
    assert job.finished_at is None

    with worker_thread(celery_app, pool="solo", queues=["celery"]):
        celery_app.send_task(RECOVER)  # beat's next tick, once Redis answers again
        wait_until(finished(job), 60, "the kept job to run")
    assert acknowledged_in_thingsboard(tbsim, ids) == set(ids)


def test_no_session_key_or_token_anywhere_in_redis_after_a_bulk_job(
    as_user, tbsim, celery_app, redis_server
):
    client = as_user(TENANT)
    session_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    tokens = SessionStore(session_key)[SESSION_KEY]
    secrets = {session_key, tokens["token"], tokens["refresh_token"]}
    sim(tbsim, "/sim/faults", {"latency_ms": 100})
    job = job_of(ask(client, unacked(tbsim, 5)))

    seen = everything_in_redis(redis_server)  # queued
    with worker_thread(celery_app, pool="solo", queues=["celery"]):
        wait_until(lambda: job.auditentry_set.exists(), 60, "the job to start")
        seen += everything_in_redis(redis_server)  # running
        wait_until(finished(job), 60, "the job to finish")
    seen += everything_in_redis(redis_server)  # done

    assert len(seen) > 3  # the queue's message and bookkeeping were read
    leaks = [name for name, secret in _named(secrets) if any(secret in blob for blob in seen)]
    assert leaks == []


def _named(secrets):
    return [(f"secret {n}", s.encode()) for n, s in enumerate(sorted(secrets))]


def everything_in_redis(redis):
    """Every key and value in Redis, whatever its type, with JSON strings and base64 bodies
    opened up (kombu writes a message's body in base64 inside its JSON envelope)."""
    blobs = []
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key)
        if kind == b"string":
            values = [redis.get(key)]
        elif kind == b"hash":
            values = [part for pair in redis.hgetall(key).items() for part in pair]
        elif kind == b"list":
            values = redis.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(redis.smembers(key))
        elif kind == b"zset":
            values = redis.zrange(key, 0, -1)
        elif kind == b"stream":
            values = [str(entry).encode() for entry in redis.xrange(key)]
        else:
            raise AssertionError(f"a Redis key of an unexpected type: {key!r} {kind!r}")
        blobs += [key, *(value for value in values if value is not None)]
    return [piece for blob in blobs for piece in _opened(blob)]


def _opened(blob):
    yield blob
    try:
        data = json.loads(blob)
    except ValueError:
        return
    for text in _strings(data):
        yield text.encode()
        with contextlib.suppress(ValueError):  # not base64
            yield from _opened(base64.b64decode(text, validate=True))


def _strings(data):
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)
