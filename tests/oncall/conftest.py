"""What the outbox's tests share: the planner's first run, and an alarm raised in the
simulator taken through the sync, the planner and the notify worker's sends."""

import pytest

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Alarm, Customer
from alarmdesk.oncall import outbox
from alarmdesk.oncall.models import Delivery
from tests.conftest import raise_alarm


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
