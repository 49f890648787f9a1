"""Fixtures for the alarm store, the sync and the bulk jobs: the simulator read independently
of our client, and Celery workers as subprocesses."""

import re
import socket

import pytest
import requests

from alarmdesk.alarms.models import Alarm
from tests.conftest import TENANT


@pytest.fixture
def tb(sign_in):
    """ThingsBoard (the simulator) as the tenant administrator, through plain requests."""
    return sign_in(TENANT)


@pytest.fixture
def celery_app(celery_app):
    """The app, forgetting afterwards the queues a worker thread was told to consume
    (`worker_thread(celery_app, queues=[...])` selects them on the app itself)."""
    yield celery_app
    del celery_app.amqp.queues  # a cached property: rebuilt from the settings on next use


PROPOSED_JOB = re.compile(r'name="job" value="(\d+)"')


def ask_bulk(client, data, **kwargs):
    """Ask for a bulk action and confirm it, as a person does in two steps: the proposal
    (a page saying what will happen to how many) and its confirmation. The answer to the
    confirmation (a redirect to the job's page, or with follow=True that page)."""
    proposal = client.post("/alarms/bulk/", data)
    assert proposal.status_code == 200, proposal
    [job] = PROPOSED_JOB.findall(proposal.content.decode())
    return client.post("/alarms/bulk/", {"job": job, "next": data.get("next", "")}, **kwargs)


def sim(tbsim, path, body=None, method="POST"):
    response = tbsim_request(tbsim, method, path, body)
    response.raise_for_status()
    return response.json() if response.content else None


def tbsim_request(tbsim, method, path, body=None):
    return requests.request(method, f"{tbsim.url}{path}", json=body, timeout=10)


def _never(ts):
    return None if ts == 0 else ts


def expected_row(alarm):
    """What the store must hold for one ThingsBoard AlarmInfo JSON, stated independently of
    alarmdesk.alarms.store (the mapping is what is being tested)."""
    assignee = alarm.get("assignee") or {}
    return {
        "id": alarm["id"]["id"],
        "tenant_id": alarm["tenantId"]["id"],
        "customer_id": (alarm["customerId"] or {}).get("id"),
        "type": alarm["type"],
        "originator_type": alarm["originator"]["entityType"],
        "originator_id": alarm["originator"]["id"],
        "originator_name": alarm["originatorName"],
        "originator_label": alarm["originatorLabel"],
        "severity": alarm["severity"],
        "acknowledged": alarm["acknowledged"],
        "cleared": alarm["cleared"],
        "status": alarm["status"],
        "created_time": alarm["createdTime"],
        "start_ts": alarm["startTs"],
        "end_ts": alarm["endTs"],
        "ack_ts": _never(alarm["ackTs"]),
        "clear_ts": _never(alarm["clearTs"]),
        "assign_ts": _never(alarm["assignTs"]),
        "assignee_id": (alarm["assigneeId"] or {}).get("id"),
        "assignee_email": assignee.get("email", ""),
        "details": alarm["details"],
        "propagate": alarm["propagate"],
        "propagate_to_owner": alarm["propagateToOwner"],
        "propagate_to_tenant": alarm["propagateToTenant"],
        "propagate_relation_types": alarm["propagateRelationTypes"],
        "deleted": False,
    }


# Compared as they are; the ids are compared as strings.
PLAIN_FIELDS = [
    "type",
    "originator_type",
    "originator_name",
    "originator_label",
    "severity",
    "acknowledged",
    "cleared",
    "status",
    "created_time",
    "start_ts",
    "end_ts",
    "ack_ts",
    "clear_ts",
    "assign_ts",
    "assignee_email",
    "details",
    "propagate",
    "propagate_to_owner",
    "propagate_to_tenant",
    "propagate_relation_types",
    "deleted",
]


def stored_row(alarm):
    row = {
        "id": str(alarm.id),
        "tenant_id": str(alarm.tenant_id),
        "customer_id": alarm.customer_id and str(alarm.customer_id),
        "originator_id": str(alarm.originator_id),
        "assignee_id": alarm.assignee_id and str(alarm.assignee_id),
    }
    return {**row, **{name: getattr(alarm, name) for name in PLAIN_FIELDS}}


def store_differences(tb):
    """Alarm by alarm, field by field, how the store differs from ThingsBoard."""
    in_tb = tb.alarms()
    stored = {str(alarm.id): alarm for alarm in Alarm.objects.all()}
    differences = {}
    for alarm_id, alarm in in_tb.items():
        if alarm_id not in stored:
            differences[alarm_id] = "missing from the store"
            continue
        want, have = expected_row(alarm), stored_row(stored[alarm_id])
        diff = {k: (have[k], want[k]) for k in want if have[k] != want[k]}
        if diff:
            differences[alarm_id] = diff
    for alarm_id, alarm in stored.items():
        if alarm_id not in in_tb and not alarm.deleted:
            differences[alarm_id] = "deleted in ThingsBoard, not marked deleted"
    return differences


@pytest.fixture
def redis_down(settings):
    """Redis (the cache's and the counters') at a port nothing listens on."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
    settings.REDIS_URL = url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
