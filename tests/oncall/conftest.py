"""What the outbox's tests share: a local push service, a person on call with a browser
subscribed, the planner's first run, and an alarm raised in the simulator taken through
the sync, the planner and the notify worker's sends."""

import json

import pytest

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Alarm, Customer
from alarmdesk.oncall import outbox, push
from alarmdesk.oncall.models import Delivery
from tests.conftest import raise_alarm
from tests.pushservice import PushService


@pytest.fixture
def planned(store):
    """The planner's first run (which takes what the store holds as history)."""
    outbox.plan()
    return store


def send_all():
    """Every pending delivery, as the notify worker would send them; their ids."""
    ids = list(Delivery.objects.filter(state=Delivery.State.PENDING).values_list("id", flat=True))
    for delivery_id in ids:
        outbox.deliver(delivery_id)
    return ids


def raise_and_send(tbsim, alarm_type, device=None, severity="CRITICAL"):
    """Raise in the simulator, sync, plan and send what was planned; the alarm's id."""
    alarm_id = raise_alarm(tbsim, alarm_type, severity, device)
    sync.run_cycle()
    outbox.plan()
    send_all()
    return alarm_id


def device_of(customer_title):
    """A device of that customer's, by name (as the simulator's raise takes it)."""
    customer = Customer.objects.get(title=customer_title)
    return Alarm.objects.filter(customer_id=customer.id).first().originator_name


@pytest.fixture
def service(settings, tmp_path):
    """A push service on loopback that the settings allow, and a VAPID key of the test's."""
    settings.ALARMDESK_VAPID_KEY_FILE = tmp_path / "vapid_private.pem"
    settings.ALARMDESK_VAPID_SUBJECT = "mailto:ops@example.org"
    settings.ALARMDESK_PUSH_HOSTS = ["http://127.0.0.1"]
    push.vapid.cache_clear()
    with PushService() as running:
        yield running
    push.vapid.cache_clear()


def subscribe(client, subscription):
    return client.post(
        "/oncall/push/", json.dumps({"subscription": subscription}), "application/json"
    )


def on_call(client, **fields):
    data = {"action": "duty", "severities": ["CRITICAL", "MAJOR"], "time_zone": "UTC"}
    answer = client.post(
        "/oncall/", data | {"on_call": "1"} | fields, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
