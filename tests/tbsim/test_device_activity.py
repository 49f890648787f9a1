"""Device activity as ThingsBoard's device state service keeps it (DefaultDeviceStateService,
state.persistToTelemetry false: server-scope attributes), matching the simulator's telemetry:
a device that sends nothing ("Device Offline") is inactive since its silence began, and its
lastActivityTime is its last telemetry point, not the time of the question."""

import json
import time

import requests
import test_conformance
from tb_ce_client.models import AttributeData, DeviceInfo, PageDataDeviceInfo
from test_conformance import conforming, device_named

ACTIVITY_KEYS = {"active", "lastActivityTime", "lastConnectTime", "lastDisconnectTime"}

# test_conformance.py's personas, signed in through the official client.
connect, tenant = test_conformance.connect, test_conformance.tenant
customer_a = test_conformance.customer_a


def server_attributes(client, device_id):
    """{key: AttributeData} of the device's SERVER_SCOPE attributes."""
    answer = client.get_attributes_by_scope_with_http_info("DEVICE", device_id, "SERVER_SCOPE")
    conforming(answer, list[AttributeData])
    # The client declares no schema for this answer and parses nothing itself.
    rows = [AttributeData.from_dict(a) for a in json.loads(answer.raw_data)]
    return {a.key: a for a in rows}


def latest_ts(client, device_id):
    latest = client.get_latest_timeseries("DEVICE", device_id)
    return max(points[0].ts for points in latest.values())


def info(client, device_id):
    return conforming(client.get_device_info_by_id_with_http_info(device_id), DeviceInfo)


def go_silent(tbsim, name):
    """A "Device Offline" alarm raised now by the rule engine: the device stops reporting."""
    answer = requests.post(
        f"{tbsim.url}/sim/alarms",
        json={"device": name, "type": "Device Offline", "severity": "MAJOR"},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()


def test_an_online_device_is_active_since_its_last_telemetry(tenant):
    device_id = str(device_named(tenant, "Thermostat A07").id.id)
    before = int(time.time() * 1000)

    attributes = server_attributes(tenant, device_id)

    assert info(tenant, device_id).active is True
    assert attributes["active"].value is True
    assert attributes["lastActivityTime"].value == latest_ts(tenant, device_id)
    assert before - 60_000 <= attributes["lastActivityTime"].value <= before
    assert attributes["lastActivityTime"].last_update_ts == attributes["lastActivityTime"].value
    assert attributes["lastConnectTime"].value <= attributes["lastActivityTime"].value
    assert attributes["active"].last_update_ts <= before


def test_a_silent_device_is_inactive_since_its_last_point(tenant, tbsim):
    device_id = str(device_named(tenant, "Pump A06").id.id)
    assert info(tenant, device_id).active is True

    alarm = go_silent(tbsim, "Pump A06")
    time.sleep(0.01)
    attributes = server_attributes(tenant, device_id)
    last_point, silent_since = latest_ts(tenant, device_id), alarm["startTs"]

    assert info(tenant, device_id).active is False
    assert silent_since - 60_000 <= last_point
    assert attributes["active"].value is False
    assert attributes["active"].last_update_ts == silent_since
    assert attributes["lastActivityTime"].value == last_point < silent_since
    assert attributes["inactivityAlarmTime"].value == silent_since
    assert attributes["lastDisconnectTime"].value == silent_since
    assert ACTIVITY_KEYS | {"inactivityAlarmTime"} <= set(attributes)


def test_the_device_list_filters_on_the_same_activity(tenant, tbsim):
    go_silent(tbsim, "Pump A06")

    inactive = conforming(
        tenant.get_tenant_device_infos_with_http_info(page_size=100, page=0, active=False),
        PageDataDeviceInfo,
    )

    assert "Pump A06" in {d.name for d in inactive.data}
    assert all(d.active is False for d in inactive.data)


def test_a_device_back_from_silence_is_active_and_remembers_it(tenant, tbsim):
    device_id = str(device_named(tenant, "Pump A06").id.id)
    alarm = go_silent(tbsim, "Pump A06")
    time.sleep(0.01)

    cleared = requests.post(f"{tbsim.url}/sim/alarms/{alarm['id']['id']}/clear", timeout=10)
    cleared.raise_for_status()
    back_at = cleared.json()["clearTs"]
    attributes = server_attributes(tenant, device_id)

    assert info(tenant, device_id).active is True
    assert attributes["active"].value is True
    assert attributes["active"].last_update_ts == back_at
    assert attributes["lastConnectTime"].value == back_at
    assert attributes["lastDisconnectTime"].value == alarm["startTs"]
    assert attributes["inactivityAlarmTime"].value == alarm["startTs"]


def test_a_customer_user_reads_its_devices_activity(customer_a, tenant):
    device_id = str(device_named(tenant, "Thermostat A07").id.id)

    attributes = server_attributes(customer_a, device_id)

    assert attributes["active"].value == info(customer_a, device_id).active
