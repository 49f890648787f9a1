"""The outbox through a real notify worker (a subprocess, `--pool solo -Q notify`) and the real
broker: a worker SIGKILLed in the middle of a send, and Redis restarted without its
messages, lose no page. The delivery stays pending in the database, and beat's sweep hands
it to the next worker once the dead one's lease is over."""

import os
import signal
from datetime import timedelta

from django.conf import settings as django_settings
from django.utils import timezone

from alarmdesk.alarms import sync
from alarmdesk.oncall import outbox, push
from alarmdesk.oncall.models import Delivery
from tests.conftest import TENANT, raise_alarm, wait_until
from tests.oncall.conftest import on_call, subscribe

State = Delivery.State
SWEEP = "alarmdesk.oncall.tasks.sweep"  # what beat sends every 15 s, sent by name as beat does


def push_settings(service):
    """What a notify worker needs to reach the test's push service with the test's key."""
    push.public_key()  # the key file, made once
    return {
        "ALARMDESK_VAPID_PRIVATE_KEY": django_settings.ALARMDESK_VAPID_KEY_FILE.read_text(),
        "ALARMDESK_VAPID_SUBJECT": django_settings.ALARMDESK_VAPID_SUBJECT,
        "ALARMDESK_PUSH_HOSTS": "http://127.0.0.1",
    }


def test_a_worker_killed_mid_send_and_redis_restarted_lose_no_page(
    as_user, service, planned, worker_process, celery_app, redis_server
):
    client = as_user(TENANT)
    on_call(client)
    subscription = service.subscribe()
    subscribe(client, subscription)
    held = service.hold(subscription["endpoint"])

    alarm_id = raise_alarm(planned, "Killed Mid Send", "CRITICAL", "Pump U01")
    sync.run_cycle()
    outbox.plan()  # the delivery written, then queued on the notify queue
    first = worker_process("notify", **push_settings(service))
    assert held.wait(60), "the worker never sent the push"
    os.kill(first.pid, signal.SIGKILL)  # --pool solo: this process was sending it
    assert first.wait(timeout=10) == -signal.SIGKILL
    redis_server.flushall()  # and Redis restarted without persistence: no message left

    [delivery] = Delivery.objects.all()
    assert (delivery.state, delivery.attempts) == (State.PENDING, 1)
    # The dead send's lease is bounded and expires by itself; waiting it out would only make
    # this test longer, so it is expired now, as the sync's and the bulk jobs' tests do.
    assert delivery.due_at - timezone.now() <= outbox.LEASE
    Delivery.objects.filter(id=delivery.id).update(due_at=timezone.now() - timedelta(seconds=1))
    service.release(subscription["endpoint"])

    worker_process("notify", **push_settings(service))
    celery_app.send_task(SWEEP)  # beat's next tick
    wait_until(
        lambda: Delivery.objects.get(id=delivery.id).state == State.SENT,
        60,
        "the sweep to hand the delivery to the second worker",
    )
    [received] = service.received
    assert received.json()["alarm"] == alarm_id
    assert Delivery.objects.get(id=delivery.id).attempts == 2
