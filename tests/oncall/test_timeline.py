"""The outbox on the alarm's timeline: every delivery and its outcome ("Pushed to Olivia",
"E-mail to ... not sent: acknowledged before it went out"), and an acknowledgement made
from the notification said so. A tenant administrator sees everyone's deliveries; a
customer user only their own (never whom else the tenant called, nor its chat channels)."""

from alarmdesk.alarms import sync
from alarmdesk.oncall import outbox
from alarmdesk.oncall.models import Delivery
from tests.alarms.test_detail import timeline_lines
from tests.conftest import CUSTOMER_A, TENANT, raise_alarm
from tests.oncall.conftest import device_of, on_call, raise_and_send, send_all, subscribe
from tests.oncall.test_links import tap

State = Delivery.State


def test_deliveries_and_the_notification_s_acknowledgement_on_the_timeline(
    as_user, own_client, service, planned
):
    customer = own_client(CUSTOMER_A)
    on_call(customer)
    theirs = service.subscribe()
    subscribe(customer, theirs)
    tenant = as_user(TENANT)
    on_call(tenant)
    subscribe(tenant, service.subscribe())

    alarm_id = raise_and_send(planned, "On The Timeline", device_of("Customer A"))
    [push] = [r.json() for r in service.wait(2) if r.endpoint == theirs["endpoint"]]
    token = push["actions"]["ack"].split("/")[3]  # /oncall/n/<token>/
    assert tap(customer, token).json()["ok"]

    lines = timeline_lines(tenant.get(f"/alarms/{alarm_id}/").content.decode())
    pushes = [line for line in lines if "Pushed to" in line]
    assert len(pushes) == 2, lines
    assert [line for line in pushes if f"Pushed to {TENANT[0]}" in line]
    [to_customer] = [line for line in pushes if f"Pushed to {CUSTOMER_A[0]}" in line]
    assert "first line" in to_customer
    [acked] = [line for line in lines if "Acknowledged by" in line]
    assert acked.endswith(f"Acknowledged by {CUSTOMER_A[0]}, from the notification"), acked
    assert lines.index(to_customer) < lines.index(acked)

    # The customer user sees their own delivery only.
    seen = timeline_lines(customer.get(f"/alarms/{alarm_id}/").content.decode())
    assert [line for line in seen if "Pushed to" in line] == [to_customer]


def test_a_delivery_not_sent_says_why(as_user, service, planned, settings):
    tenant = as_user(TENANT)
    on_call(tenant, by_email="on")
    subscribe(tenant, service.subscribe())
    alarm_id = raise_alarm(planned, "Acked First", "CRITICAL", "Pump U01")
    sync.run_cycle()
    outbox.plan()  # planned, not yet sent
    tenant.post(f"/alarms/{alarm_id}/", {"action": "ack"})
    send_all()
    lines = timeline_lines(tenant.get(f"/alarms/{alarm_id}/").content.decode())
    assert any(
        f"Push to {TENANT[0]} not sent: acknowledged before it went out" in line for line in lines
    ), lines
    assert any(f"E-mail to {TENANT[0]} not sent" in line for line in lines), lines


def test_a_failed_delivery_says_so_with_its_error(as_user, service, planned, settings):
    settings.ALARMDESK_NOTIFY_ATTEMPTS = 1
    tenant = as_user(TENANT)
    on_call(tenant)
    subscription = service.subscribe()
    subscribe(tenant, subscription)
    service.fail(subscription["endpoint"], times=5)
    alarm_id = raise_and_send(planned, "Push Down", "Pump U01")
    assert Delivery.objects.get().state == State.FAILED
    lines = timeline_lines(tenant.get(f"/alarms/{alarm_id}/").content.decode())
    assert any(f"Push to {TENANT[0]} failed after 1 attempt" in line for line in lines), lines
