"""Deleting an alarm in ThingsBoard from its page: only after a confirmation (the page asks
without script; an htmx request that skipped the question is refused in words), by a
tenant administrator or a customer user for their customer's alarm; the store keeps it,
marked deleted, with who deleted it, on its timeline and in the history, out of the list."""

import pytest

from alarmdesk.alarms.models import Alarm, AuditEntry, Customer
from tests.alarms.test_detail import HTMX, timeline_lines
from tests.conftest import CUSTOMER_A, TENANT, TbSession


def alarm_of(title):
    customer = Customer.objects.get(title=title)
    return Alarm.objects.filter(customer_id=customer.id, deleted=False).first()


def in_thingsboard(tbsim, alarm):
    with TbSession(tbsim.url, TENANT) as tb:
        return tb.get(f"/api/alarm/info/{alarm.id}").status_code != 404


def test_deleting_asks_first_then_thingsboard_forgets_and_the_store_keeps(as_user, store):
    client = as_user(TENANT)
    alarm = alarm_of("Customer A")
    page = client.get(f"/alarms/{alarm.id}/").content.decode()
    assert 'name="action" value="delete"' in page
    assert f'data-confirm="Delete {alarm.type} on {alarm.originator_name}?"' in page

    asked = client.post(f"/alarms/{alarm.id}/", {"action": "delete"})
    assert asked.status_code == 200
    assert "Deleting removes the alarm from ThingsBoard" in asked.content.decode()
    refused = client.post(f"/alarms/{alarm.id}/", {"action": "delete"}, headers=HTMX)
    assert "Nothing was deleted: deleting asks first" in refused.content.decode()
    assert in_thingsboard(store, alarm)

    done = client.post(
        f"/alarms/{alarm.id}/", {"action": "delete", "confirmed": "1"}, headers=HTMX
    ).content.decode()
    assert "Deleted in ThingsBoard" in done
    assert not in_thingsboard(store, alarm)
    alarm.refresh_from_db()
    assert alarm.deleted
    assert alarm.deleted_by == TENANT[0]
    [entry] = AuditEntry.objects.filter(alarm_uuid=alarm.id, action="delete")
    assert entry.outcome == AuditEntry.Outcome.DONE
    lines = timeline_lines(client.get(f"/alarms/{alarm.id}/").content.decode())
    assert any(
        "Deleted" in line and TENANT[0] in line and "through AlarmDesk" in line for line in lines
    ), lines
    listed = client.get("/alarms/", {"status": "ANY"}).content.decode()
    assert f'data-alarm-id="{alarm.id}"' not in listed


def test_a_customer_user_deletes_their_customer_s_alarm_not_another_s(as_user, store):
    client = as_user(CUSTOMER_A)
    own, other = alarm_of("Customer A"), alarm_of("Customer B")
    client.post(f"/alarms/{own.id}/", {"action": "delete", "confirmed": "1"})
    assert not in_thingsboard(store, own)
    answer = client.post(f"/alarms/{other.id}/", {"action": "delete", "confirmed": "1"})
    assert answer.status_code == 404
    assert in_thingsboard(store, other)


def test_a_deleted_alarm_offers_no_action(as_user, store):
    client = as_user(TENANT)
    alarm = alarm_of("Customer A")
    client.post(f"/alarms/{alarm.id}/", {"action": "delete", "confirmed": "1"})
    page = client.get(f"/alarms/{alarm.id}/").content.decode()
    assert 'name="action" value="delete"' not in page
    again = client.post(
        f"/alarms/{alarm.id}/", {"action": "delete", "confirmed": "1"}, headers=HTMX
    ).content.decode()
    assert "already deleted" in again.lower() or "no longer exists" in again


@pytest.mark.parametrize("confirmed", ["", "1"])
def test_deleting_is_logged_before_thingsboard_is_asked(as_user, store, confirmed):
    client = as_user(TENANT)
    alarm = alarm_of("Customer B")
    client.post(f"/alarms/{alarm.id}/", {"action": "delete", "confirmed": confirmed}, headers=HTMX)
    logged = AuditEntry.objects.filter(alarm_uuid=alarm.id, action="delete").count()
    assert logged == (1 if confirmed else 0)  # an unconfirmed delete is not even attempted
