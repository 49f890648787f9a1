"""Raising an alarm by hand from a device's or an asset's page: through ThingsBoard with the
user's own token (its dedup applies: an active alarm of that type on that originator is
updated, not doubled, and the page says which happened), in the store and the list at
once, in the audit log and on the alarm's timeline; refused in words when ThingsBoard
refuses, and 404 on another customer's device."""

import pytest

from alarmdesk.alarms.models import Alarm, AuditEntry, Customer
from tests.alarms.test_detail import timeline_lines
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT, TbSession


def device_of(title):
    customer = Customer.objects.get(title=title)
    return Alarm.objects.filter(customer_id=customer.id, originator_type="DEVICE").first()


def raise_on(client, alarm, follow=True, **fields):
    data = {"action": "raise", "type": "Manual Check", "severity": "MAJOR"} | fields
    return client.post(f"/devices/{alarm.originator_id}/", data, follow=follow)


def in_thingsboard(tbsim, originator_id, alarm_type):
    with TbSession(tbsim.url, TENANT) as tb:
        page = tb.get(
            f"/api/alarm/DEVICE/{originator_id}",
            params={"page": 0, "pageSize": 100, "searchStatus": "ACTIVE"},
        ).json()
    return [a for a in page["data"] if a["type"] == alarm_type]


def test_an_alarm_raised_by_hand_is_in_thingsboard_the_store_and_the_list(as_user, store):
    client = as_user(TENANT)
    device = device_of("Customer A")
    page = raise_on(client, device, note="Bearing noise reported by the night shift", assign="me")
    words = page.content.decode()
    assert "Raised: Major Manual Check" in words
    [raised] = in_thingsboard(store, device.originator_id, "Manual Check")
    assert raised["details"] == {"note": "Bearing noise reported by the night shift"}
    assert raised["assigneeId"] is not None
    alarm = Alarm.objects.get(id=raised["id"]["id"])  # in the store at once, not at the sync
    assert (alarm.severity, alarm.customer_id) == ("MAJOR", device.customer_id)
    assert page.redirect_chain[-1][0] == f"/alarms/{alarm.id}/"
    listed = client.get("/alarms/").content.decode()
    assert f'data-alarm-id="{alarm.id}"' in listed
    [entry] = AuditEntry.objects.filter(action="raise")
    assert (entry.outcome, str(entry.alarm_uuid)) == ("done", str(alarm.id))
    lines = timeline_lines(words)
    assert any(f"Raised by {TENANT[0]}, through AlarmDesk" in line for line in lines), lines


def test_raising_the_same_type_again_updates_the_active_alarm(as_user, store):
    client = as_user(TENANT)
    device = device_of("Customer A")
    raise_on(client, device)
    again = raise_on(client, device, severity="CRITICAL").content.decode()
    assert "was already active" in again
    assert "updated it" in again
    [alarm] = in_thingsboard(store, device.originator_id, "Manual Check")
    assert alarm["severity"] == "CRITICAL"
    assert Alarm.objects.filter(type="Manual Check").count() == 1


def test_a_customer_user_raises_on_their_device_and_gets_404_on_another_s(as_user, store):
    client = as_user(CUSTOMER_A)
    own, other = device_of("Customer A"), device_of("Customer B")
    raise_on(client, own)
    [raised] = in_thingsboard(store, own.originator_id, "Manual Check")
    assert raised["customerId"]["id"] == str(own.customer_id)
    assert raise_on(client, other, follow=False).status_code == 404
    assert in_thingsboard(store, other.originator_id, "Manual Check") == []


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"type": ""}, "Name the alarm&#x27;s type"),
        ({"severity": "HUGE"}, "HUGE is not one of"),
        ({"type": "x" * 300}, "at most 255"),
    ],
)
def test_a_raise_not_understood_is_refused_in_words(as_user, store, fields, words):
    client = as_user(TENANT)
    device = device_of("Customer A")
    page = raise_on(client, device, **fields).content.decode()
    assert "Nothing was raised" in page
    assert words in page
    assert not AuditEntry.objects.filter(action="raise").exists()


def test_a_hostile_type_is_inert(as_user, store):
    client = as_user(TENANT)
    device = device_of("Customer A")
    page = raise_on(client, device, type="<script>alert(1)</script>").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_alarm_raised_by_hand_may_go_to_someone_thingsboard_offers(as_user, store):
    client = as_user(TENANT)
    device = device_of("Customer A")
    page = client.get(f"/devices/{device.originator_id}/").content.decode()
    with TbSession(store.url, CUSTOMER_A) as tb:
        customer_user = tb.me
    assert f'<option value="{customer_user["id"]["id"]}">' in page  # the device's customer's
    with TbSession(store.url, CUSTOMER_B) as tb:
        other = tb.me
    assert other["id"]["id"] not in page  # not another customer's
    raise_on(client, device, assign=customer_user["id"]["id"])
    [raised] = in_thingsboard(store, device.originator_id, "Manual Check")
    assert raised["assigneeId"]["id"] == customer_user["id"]["id"]
