"""Escalation: an alarm still unacknowledged past its severity's rule after one line was
called calls the next line of those on call for it; an acknowledgement anywhere (in
ThingsBoard, seen by the sync) stops it. Tenant administrators set the rules; each person
says which line they are. The delays are short by backdating the first call, and every
call goes out for real (push to the local service)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from alarmdesk.alarms import sync
from alarmdesk.oncall import outbox
from alarmdesk.oncall.models import Duty, EscalationRule, Notice
from tests.conftest import CUSTOMER_A, TENANT, TbSession
from tests.oncall.conftest import device_of, on_call, raise_and_send, send_all, subscribe

HTMX = {"HX-Request": "true"}


def rule(client, **minutes):
    data = {"action": "escalation"} | {f"minutes_{s}": m for s, m in minutes.items()}
    return client.post("/oncall/", data, headers=HTMX)


def later(minutes):
    """As though every call so far was made `minutes` ago."""
    Notice.objects.update(created_at=timezone.now() - timedelta(minutes=minutes))


def called(alarm_id):
    return sorted(
        Notice.objects.filter(alarm_id=alarm_id).values_list("email", "transition", "tier")
    )


@pytest.fixture
def lines(as_user, own_client, service, planned):
    """Customer A's user on the first line, the tenant administrator on the second, each
    with a browser subscribed; a CRITICAL rule of 5 minutes."""
    first = own_client(CUSTOMER_A)
    on_call(first, severities=["CRITICAL"], tier="1")
    subscribe(first, service.subscribe())
    second = as_user(TENANT)
    on_call(second, severities=["CRITICAL"], tier="2")
    subscribe(second, service.subscribe())
    answer = rule(second, CRITICAL="5")
    assert "next line after 5 min" in answer.content.decode()
    return first, second


def test_unacknowledged_past_the_rule_calls_the_next_line(lines, service, planned):
    alarm_id = raise_and_send(planned, "Escalate Me", device_of("Customer A"))
    assert called(alarm_id) == [(CUSTOMER_A[0], "raised", 1)]
    service.wait(1)

    outbox.sweep()  # not yet: the first line has five minutes
    assert len(called(alarm_id)) == 1

    later(5)
    outbox.sweep()
    assert called(alarm_id) == [(CUSTOMER_A[0], "raised", 1), (TENANT[0], "escalated:2", 2)]
    send_all()
    pushed = service.wait(2)[1].json()
    assert pushed["alarm"] == alarm_id
    assert pushed["title"] == "Not acknowledged: Critical: Escalate Me"

    later(60)
    outbox.sweep()  # no third line on call: nobody more, and nobody twice
    assert len(called(alarm_id)) == 2


def test_an_acknowledgement_in_thingsboard_stops_it(lines, service, planned):
    alarm_id = raise_and_send(planned, "Acked In Time", device_of("Customer A"))
    with TbSession(planned.url, CUSTOMER_A) as session:
        session.post(f"/api/alarm/{alarm_id}/ack").raise_for_status()
    sync.run_cycle()  # the sync sees ThingsBoard's acknowledgement
    later(5)
    outbox.sweep()
    assert called(alarm_id) == [(CUSTOMER_A[0], "raised", 1)]


def test_a_cleared_alarm_is_not_escalated(lines, service, planned):
    alarm_id = raise_and_send(planned, "Cleared In Time", device_of("Customer A"))
    with TbSession(planned.url, TENANT) as session:
        session.post(f"/api/alarm/{alarm_id}/clear").raise_for_status()
    sync.run_cycle()
    later(5)
    outbox.sweep()
    assert len(called(alarm_id)) == 1


def test_no_rule_for_the_severity_no_escalation(lines, service, planned):
    Duty.objects.update(severities=["CRITICAL", "MAJOR"])
    alarm_id = raise_and_send(planned, "Major Waits", device_of("Customer A"), "MAJOR")
    later(600)
    outbox.sweep()
    assert called(alarm_id) == [(CUSTOMER_A[0], "raised", 1)]


def test_nobody_on_the_first_line_for_it_calls_the_second_at_once(lines, service, planned):
    # Customer A's user may not see customer B's alarm: the second line is its first.
    alarm_id = raise_and_send(planned, "Of B", device_of("Customer B"))
    assert called(alarm_id) == [(TENANT[0], "raised", 2)]
    later(60)
    outbox.sweep()
    assert len(called(alarm_id)) == 1  # the customer user is never called for it


def test_the_next_line_only_when_no_one_on_it_acknowledged(lines, service, planned):
    """Escalation goes up, never back down: the first line is not called again."""
    alarm_id = raise_and_send(planned, "Up Only", device_of("Customer A"))
    later(5)
    outbox.sweep()
    later(5)
    outbox.sweep()
    assert [t for _, _, t in called(alarm_id)] == [1, 2]


def test_rules_are_a_tenant_administrator_s_and_refused_in_words(as_user, store):
    customer = as_user(CUSTOMER_A)
    assert rule(customer, CRITICAL="5").status_code == 302
    assert "Only a tenant administrator" in customer.get("/oncall/").content.decode()
    assert not EscalationRule.objects.exists()
    assert 'id="escalation"' not in customer.get("/oncall/").content.decode()

    admin = as_user(TENANT)
    for bad in ("0", "-3", "five", "100000"):
        page = rule(admin, CRITICAL=bad).content.decode()
        assert "Nothing was saved" in page, bad
    assert not EscalationRule.objects.exists()

    rule(admin, CRITICAL="5", MAJOR="15")
    assert sorted(EscalationRule.objects.values_list("severity", "minutes")) == [
        ("CRITICAL", 5),
        ("MAJOR", 15),
    ]
    page = rule(admin, CRITICAL="", MAJOR="20").content.decode()  # empty: no rule
    assert list(EscalationRule.objects.values_list("severity", "minutes")) == [("MAJOR", 20)]
    assert "Major: next line after 20 min" in page


def test_a_person_chooses_their_line_and_the_administrator_sees_it(as_user, own_client, store):
    first = own_client(CUSTOMER_A)
    on_call(first, tier="3")
    assert Duty.objects.get(email=CUSTOMER_A[0]).tier == 3
    answer = first.post(
        "/oncall/",
        {"action": "duty", "severities": ["CRITICAL"], "time_zone": "UTC", "tier": "9"},
        headers=HTMX,
    )
    assert "9 is not one of the available choices" in answer.content.decode()
    assert Duty.objects.get(email=CUSTOMER_A[0]).tier == 3
    page = as_user(TENANT).get("/oncall/").content.decode()
    now = page[page.index('id="on-call-now-title"') :]
    assert re.search(r"<li>customerA@thingsboard.org: critical, major · third line</li>", now)
