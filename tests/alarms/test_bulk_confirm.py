"""A bulk action asks first: what it will do, to how many alarms; only the confirmation
starts it, on exactly the alarms shown, and its report says if the filter's set changed."""

import requests

from alarmdesk.alarms import bulk, sync
from alarmdesk.alarms.models import Alarm, BulkJob
from tests.alarms.conftest import PROPOSED_JOB
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT, TbSession, thingsboard_alarm_ids


def propose(client, data):
    proposal = client.post("/alarms/bulk/", data)
    assert proposal.status_code == 200
    [job] = PROPOSED_JOB.findall(proposal.content.decode())
    return proposal.content.decode(), job


def test_a_bulk_clear_asks_first_saying_what_and_to_how_many(as_user, store):
    client = as_user(CUSTOMER_A)
    before = thingsboard_alarm_ids(store, CUSTOMER_A, statusList="ACTIVE")
    ids = sorted(before)[:3]

    html, job = propose(client, {"action": "clear", "ids": ids})

    assert "Clear 3 alarms?" in html
    assert "cannot be made active again" in html
    assert thingsboard_alarm_ids(store, CUSTOMER_A, statusList="ACTIVE") == before
    assert BulkJob.objects.get(id=job).confirmed_at is None
    assert bulk.stalled() == []  # a proposal is never run by the recovery either


def test_confirming_acts_on_the_alarms_shown_and_says_that_the_filter_changed(as_user, store):
    client = as_user(CUSTOMER_A)
    shown = thingsboard_alarm_ids(store, CUSTOMER_A, statusList="ACTIVE")
    _, job = propose(client, {"action": "ack", "all": "1", "status": "ACTIVE"})
    # Meanwhile a new alarm of customer A's matches the filter too.
    with TbSession(store.url, CUSTOMER_A) as tb:
        device = tb.get(
            f"/api/customer/{tb.me['customerId']['id']}/deviceInfos",
            params={"page": 0, "pageSize": 1},
        ).json()["data"][0]["name"]
    body = {"device": device, "type": "Arrived Meanwhile", "severity": "CRITICAL"}
    requests.post(f"{store.url}/sim/alarms", json=body, timeout=5).raise_for_status()
    sync.run_cycle()

    confirmed = client.post("/alarms/bulk/", {"job": job})

    assert confirmed.status_code == 302
    job = BulkJob.objects.get(id=job)
    assert set(job.alarm_ids) == shown  # not the one that arrived after
    assert job.note == "1 more matched the filter when you confirmed (left alone)"
    assert job.note in client.get(f"/alarms/bulk/{job.id}/").content.decode()


def test_a_second_click_on_confirm_starts_one_job_once(as_user, store):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(cleared=False, acknowledged=False).first()
    _, job = propose(client, {"action": "ack", "ids": [str(alarm.id)]})

    first = client.post("/alarms/bulk/", {"job": job})
    second = client.post("/alarms/bulk/", {"job": job})

    assert first["Location"] == second["Location"] == f"/alarms/bulk/{job}/"
    assert BulkJob.objects.count() == 1


def test_another_users_proposal_cannot_be_confirmed(as_user, store):
    alarm = Alarm.objects.filter(cleared=False, acknowledged=False).first()
    _, job = propose(as_user(TENANT), {"action": "clear", "ids": [str(alarm.id)]})

    answer = as_user(CUSTOMER_B).post("/alarms/bulk/", {"job": job})

    assert answer.status_code == 404
    assert BulkJob.objects.get(id=job).confirmed_at is None
