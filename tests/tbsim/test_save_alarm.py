"""POST /api/alarm and DELETE /api/alarm/{id} as tb-ce-client sees them
(AlarmController.saveAlarm and deleteAlarm, DefaultTbAlarmService.save; thingsboard-api.md
section 4.6).

saveAlarm checks every permission before the service validates the body or stores
anything: WRITE on the stored alarm (or CREATE on the body), READ on the originator, then
READ on the assignee. A refusal leaves the store as it was.
"""

import json
import uuid

import pytest
import test_conformance
from conftest import CUSTOMER_A, CUSTOMER_B, OTHER_TENANT, SYSADMIN, TENANT
from tb_ce_client.models import Alarm
from test_conformance import conforming, device_named, raise_alarm, refusal

from alarmdesk.tbsim.state import now_ms

connect, tenant, customer_a = (
    test_conformance.connect,
    test_conformance.tenant,
    test_conformance.customer_a,
)

NO_PERMISSION = "You don't have permission to perform this operation!"
ASSIGNED_AT = 1_700_000_000_000
UNASSIGNED_AT = 1_700_000_600_000


def new_alarm(originator, alarm_type="Save Probe", severity="MINOR", **fields):
    """An Alarm the client accepts: it declares name and status required, which the server
    ignores."""
    body = {
        "type": alarm_type,
        "originator": originator if isinstance(originator, dict) else as_json(originator),
        "severity": severity,
        "acknowledged": False,
        "cleared": False,
        "name": alarm_type,
        "status": "ACTIVE_UNACK",
        **fields,
    }
    return Alarm.from_dict(body)


def as_json(model):
    return json.loads(model.to_json())


def store(client):
    """Every alarm `client` lists, as raw JSON: what a refusal must leave untouched."""
    answer = client.get_all_alarms_v2_with_http_info(
        page_size=100_000, page=0, sort_property="createdTime", sort_order="DESC"
    )
    assert answer.status_code == 200
    return answer.raw_data


def user_id(client):
    return as_json(client.get_user().id)


# --- (a) assignTs through POST /api/alarm ------------------------------------------------------


def test_assigning_and_unassigning_through_save_keep_the_bodys_assign_ts(tenant, tbsim):
    alarm = tenant.get_alarm_by_id(raise_alarm(tbsim, "Pump U01", "Save Assign"))
    alarm.assignee_id = tenant.get_user().id
    alarm.assign_ts = ASSIGNED_AT

    assigned = conforming(tenant.save_alarm_with_http_info(alarm), Alarm)
    kept = (assigned.assignee_id, assigned.assign_ts)
    assigned.assignee_id, assigned.assign_ts = None, UNASSIGNED_AT
    unassigned = conforming(tenant.save_alarm_with_http_info(assigned), Alarm)

    assert kept == (tenant.get_user().id, ASSIGNED_AT)
    assert (unassigned.assignee_id, unassigned.assign_ts) == (None, UNASSIGNED_AT)
    assert tenant.get_alarm_info_by_id(str(alarm.id.id)).assign_ts == UNASSIGNED_AT


def test_an_assign_ts_of_zero_means_now(tenant, tbsim):
    alarm = tenant.get_alarm_by_id(raise_alarm(tbsim, "Pump U01", "Save Assign"))
    alarm.assignee_id, alarm.assign_ts = tenant.get_user().id, 0

    before = now_ms()
    assigned = tenant.save_alarm(alarm)

    assert before <= assigned.assign_ts <= now_ms()


def test_the_bodys_ack_and_clear_ts_are_kept_too(tenant, tbsim):
    alarm = tenant.get_alarm_by_id(raise_alarm(tbsim, "Pump U01", "Save Ack"))
    alarm.acknowledged, alarm.ack_ts = True, ASSIGNED_AT
    alarm.cleared, alarm.clear_ts = True, UNASSIGNED_AT

    saved = tenant.save_alarm(alarm)

    assert (saved.ack_ts, saved.clear_ts, saved.status) == (
        ASSIGNED_AT,
        UNASSIGNED_AT,
        "CLEARED_ACK",
    )


# --- (b) with an id: WRITE on the stored alarm first -------------------------------------------


def test_another_tenants_alarm_id_is_refused_before_the_originator_is_looked_up(
    connect, tenant, tbsim
):
    alarm = tenant.get_alarm_by_id(raise_alarm(tbsim, "Pump U01", "Save Foreign"))
    stranger = connect(OTHER_TENANT)
    before = store(tenant)

    # For the other tenant the originator is a device it cannot find (a 404), but the
    # stored alarm is checked first.
    status, body = refusal(stranger.save_alarm, alarm)

    assert (status, body["errorCode"], body["message"]) == (403, 20, NO_PERMISSION)
    assert store(tenant) == before


def test_another_customers_alarm_id_is_refused_even_with_an_own_originator(
    customer_a, tenant, tbsim
):
    foreign = tenant.get_alarm_by_id(raise_alarm(tbsim, "Pump B01", "Save Foreign"))
    own_device = device_named(tenant, "Pump A06")
    body = new_alarm(own_device.id, "Save Foreign", id=as_json(foreign.id))
    before = store(tenant)

    status, answer = refusal(customer_a.save_alarm, body)

    assert (status, answer["message"]) == (403, NO_PERMISSION)
    assert store(tenant) == before


def test_an_unknown_alarm_id_is_not_found_before_the_originator_is(tenant):
    missing = str(uuid.uuid4())
    originator = {"entityType": "DEVICE", "id": str(uuid.uuid4())}
    nowhere = new_alarm(originator, id={"entityType": "ALARM", "id": missing})

    status, body = refusal(tenant.save_alarm, nowhere)

    assert (status, body["errorCode"]) == (404, 32)
    assert body["message"] == f"Alarm with id [{missing}] is not found"


# --- (c) READ on the assignee before validation and before anything is stored -----------------


@pytest.mark.parametrize(
    ("actor", "assignee"),
    [("tenant", OTHER_TENANT), ("customer A", CUSTOMER_B), ("customer A", "tenant admin")],
    ids=["another tenants user", "another customers user", "a tenant admin for a customer user"],
)
def test_a_refused_assignee_leaves_no_alarm_behind(connect, tenant, customer_a, actor, assignee):
    client = tenant if actor == "tenant" else customer_a
    target = user_id(tenant) if assignee == "tenant admin" else user_id(connect(assignee))
    device = device_named(tenant, "Pump A06")
    fields = {"assigneeId": target}
    if actor == "customer A":
        fields["customerId"] = as_json(device.customer_id)
    before = store(tenant)

    status, body = refusal(client.save_alarm, new_alarm(device.id, "Save Refused", **fields))

    assert (status, body["errorCode"], body["message"]) == (403, 20, NO_PERMISSION)
    assert store(tenant) == before


def test_a_refused_assignee_changes_nothing_on_an_update(connect, tenant, tbsim):
    alarm = tenant.get_alarm_by_id(raise_alarm(tbsim, "Pump U01", "Save Update", "MINOR"))
    alarm.severity, alarm.acknowledged = "CRITICAL", True
    alarm.assignee_id = connect(OTHER_TENANT).get_user().id
    before = store(tenant)

    status, _ = refusal(tenant.save_alarm, alarm)

    assert status == 403
    assert store(tenant) == before


def test_an_unknown_assignee_is_not_found_and_stores_nothing(tenant):
    missing = str(uuid.uuid4())
    device = device_named(tenant, "Pump U01")
    before = store(tenant)

    status, body = refusal(
        tenant.save_alarm, new_alarm(device.id, assigneeId={"entityType": "USER", "id": missing})
    )

    assert (status, body["message"]) == (404, f"User with id [{missing}] is not found")
    assert store(tenant) == before


def test_the_assignee_is_checked_before_the_body_is_validated(sign_in, connect):
    # The client's Alarm requires a type, so this body goes without it.
    session = sign_in(TENANT)
    device = session.get("/api/tenant/device", params={"deviceName": "Pump U01"}).json()
    stranger = user_id(connect(OTHER_TENANT))
    body = {"originator": device["id"], "severity": "MINOR"}

    refused = session.post("/api/alarm", json={**body, "assigneeId": stranger})
    invalid = session.post("/api/alarm", json=body)

    assert (refused.status_code, refused.json()["errorCode"]) == (403, 20)
    assert (invalid.status_code, invalid.json()["errorCode"]) == (400, 31)
    assert invalid.json()["message"] == "Validation error: type must not be null"


# --- the checks before them, and the service's validation after ------------------------------


def test_a_customer_users_create_is_refused_before_the_originator_is_looked_up(connect, customer_a):
    foreign_device = connect(OTHER_TENANT).get_tenant_device_by_name(
        device_name="Foreign Thermostat"
    )

    status, body = refusal(customer_a.save_alarm, new_alarm(foreign_device.id))

    assert (status, body["message"]) == (403, NO_PERMISSION)


def test_the_service_names_each_missing_field(sign_in):
    session = sign_in(TENANT)
    device = session.get("/api/tenant/device", params={"deviceName": "Pump U01"}).json()

    neither = session.post("/api/alarm", json={"originator": device["id"]})
    long_type = session.post(
        "/api/alarm", json={"originator": device["id"], "type": "x" * 256, "severity": "MINOR"}
    )
    no_originator = session.post("/api/alarm", json={"type": "Save Probe", "severity": "MINOR"})

    assert (neither.status_code, neither.json()["message"]) == (
        400,
        "Validation error: severity must not be null, type must not be null",
    )
    assert (long_type.status_code, long_type.json()["message"]) == (
        400,
        "Validation error: type length must be equal or less than 255",
    )
    assert (no_originator.status_code, no_originator.json()["errorCode"]) == (404, 32)
    assert no_originator.json()["message"] == "Requested item wasn't found!"


def test_an_update_needs_no_type_and_keeps_its_own(sign_in, tbsim):
    session = sign_in(TENANT)
    alarm = session.get(f"/api/alarm/{raise_alarm(tbsim, 'Pump U01', 'Save Typeless')}").json()
    del alarm["type"]

    answer = session.post("/api/alarm", json={**alarm, "severity": "CRITICAL"})

    assert answer.status_code == 200
    assert (answer.json()["type"], answer.json()["severity"]) == ("Save Typeless", "CRITICAL")


def test_an_unknown_severity_is_unreadable_before_any_check(sign_in, tenant, tbsim):
    # The client's Alarm holds only known severities, so this body goes without it.
    alarm = as_json(tenant.get_alarm_by_id(raise_alarm(tbsim, "Pump U01", "Save Severity")))
    stranger = sign_in(OTHER_TENANT)
    before = store(tenant)

    known = stranger.post("/api/alarm", json=alarm)
    unknown = stranger.post("/api/alarm", json={**alarm, "severity": "HIGH"})

    assert known.status_code == 403
    assert (unknown.status_code, unknown.json()["errorCode"]) == (400, 31)
    assert store(tenant) == before


def test_a_start_after_the_end_is_a_bad_request(tenant):
    device = device_named(tenant, "Pump U01")
    before = store(tenant)

    status, body = refusal(tenant.save_alarm, new_alarm(device.id, startTs=2000, endTs=1000))

    assert (status, body["message"]) == (400, "Alarm start ts can't be greater then alarm end ts!")
    assert store(tenant) == before


# --- DELETE /api/alarm/{alarmId} ---------------------------------------------------------------


def test_a_tenant_admin_deletes_an_alarm_and_is_answered_true(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump B01", "Save Delete")

    answer = tenant.delete_alarm_with_http_info(alarm_id)
    gone = refusal(tenant.get_alarm_by_id, alarm_id)

    assert (answer.status_code, answer.raw_data, answer.data) == (200, b"true", True)
    assert gone[0] == 404


def test_a_customer_user_deletes_its_customers_alarm(customer_a, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump A06", "Save Delete")

    assert customer_a.delete_alarm(alarm_id) is True


@pytest.mark.parametrize(
    ("who", "device", "expected"),
    [
        ("customer A", "Pump B01", (403, 20)),
        ("customer A", "Pump U01", (403, 20)),
        ("other tenant", "Pump A06", (403, 20)),
        ("sysadmin", "Pump A06", (403, 20)),
    ],
    ids=["another customers alarm", "the tenants own alarm", "another tenants alarm", "sysadmin"],
)
def test_who_may_not_delete_an_alarm(connect, tenant, tbsim, who, device, expected):
    alarm_id = raise_alarm(tbsim, device, "Save Delete")
    credentials = {"customer A": CUSTOMER_A, "other tenant": OTHER_TENANT}
    client = connect(credentials.get(who, SYSADMIN))
    before = store(tenant)

    status, body = refusal(client.delete_alarm, alarm_id)

    assert (status, body["errorCode"]) == expected
    assert store(tenant) == before


def test_deleting_an_unknown_alarm_is_not_found(tenant):
    missing = str(uuid.uuid4())

    status, body = refusal(tenant.delete_alarm, missing)

    assert (status, body["message"]) == (404, f"Alarm with id [{missing}] is not found")
