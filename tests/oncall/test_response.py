"""History's time from the first notification to the acknowledgement, per person called and
per rule (the severity, and its escalation rule): only alarms that were acknowledged are
timed, the others are counted as never acknowledged; a customer user sees their own row
only."""

import re
from datetime import UTC, datetime, timedelta

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Alarm
from alarmdesk.oncall.models import EscalationRule, Notice
from tests.conftest import CUSTOMER_A, TENANT, TbSession
from tests.oncall.conftest import device_of, on_call, raise_and_send, subscribe


def rows(html, table):
    """The rows of the table with that class, as lists of cell texts."""
    body = html.split(f'<table class="{table}">', 1)[1].split("</table>", 1)[0]
    return [
        [
            re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in body.split("<tbody>", 1)[1].split("<tr")[1:]
    ]


def called_before_ack(alarm_id, email, seconds):
    """As though `email` was first called `seconds` before the alarm's acknowledgement."""
    ack = datetime.fromtimestamp(Alarm.objects.get(id=alarm_id).ack_ts / 1000, tz=UTC)
    Notice.objects.filter(alarm_id=alarm_id, email=email).update(
        created_at=ack - timedelta(seconds=seconds)
    )


def test_from_notification_to_acknowledgement_per_person_and_rule(
    as_user, own_client, service, planned
):
    customer = own_client(CUSTOMER_A)
    on_call(customer, severities=["CRITICAL"])
    subscribe(customer, service.subscribe())
    tenant = as_user(TENANT)
    on_call(tenant, severities=["CRITICAL"])
    subscribe(tenant, service.subscribe())
    EscalationRule.objects.create(
        tenant_id=Alarm.objects.first().tenant_id, severity="CRITICAL", minutes=5
    )
    acked = raise_and_send(planned, "Answered", device_of("Customer A"))
    raise_and_send(planned, "Unanswered", device_of("Customer A"))
    of_b = raise_and_send(planned, "Of B", device_of("Customer B"))  # the tenant's alone
    with TbSession(planned.url, TENANT) as session:
        for alarm_id in (acked, of_b):
            session.post(f"/api/alarm/{alarm_id}/ack").raise_for_status()
    sync.run_cycle()
    called_before_ack(acked, TENANT[0], 150)
    called_before_ack(acked, CUSTOMER_A[0], 90)
    called_before_ack(of_b, TENANT[0], 30)

    page = tenant.get("/history/").content.decode()
    assert rows(page, "by-person") == [
        # person, alarms called for, median / 90th, never acknowledged
        [CUSTOMER_A[0], "2", "1m 30s / 1m 30s", "1"],
        [TENANT[0], "3", "1m 30s / 2m 30s", "1"],
    ]
    assert rows(page, "by-rule") == [
        # the first call of each alarm, whoever it went to
        ["Critical: next line after 5 min", "3", "1m 30s / 2m 30s", "1"],
    ]

    theirs = customer.get("/history/").content.decode()
    assert rows(theirs, "by-person") == [[CUSTOMER_A[0], "2", "1m 30s / 1m 30s", "1"]]


def test_no_notification_no_table(as_user, store):
    page = as_user(TENANT).get("/history/").content.decode()
    assert 'class="by-person"' not in page
    assert "No alarm of these was notified" in page
