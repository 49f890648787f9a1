"""/devices/<uuid>/ and /assets/<uuid>/ per persona, against the simulator: what ThingsBoard
lets each read (info, latest values with their age, attributes by scope) beside the store's
alarms of that originator; another customer's device, an unknown id or a system
administrator get 404; ThingsBoard down shows what the store knows, or says so."""

import re

import pytest
import requests

from alarmdesk.alarms.models import Alarm, Customer
from tests.alarms.conftest import sim
from tests.conftest import CUSTOMER_A, CUSTOMER_B, SYSADMIN, TENANT, TbSession

UNKNOWN = "0b1e6f3c-5d5e-4a8e-9f1b-3c2d4e5f6a7b"


def device_of(title):
    customer = Customer.objects.get(title=title)
    return Alarm.objects.filter(customer_id=customer.id, originator_type="DEVICE").first()


def text(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_a_tenant_admin_reads_a_device_s_info_values_attributes_and_alarms(as_user, store):
    alarm = device_of("Customer A")
    page = as_user(TENANT).get(f"/devices/{alarm.originator_id}/")
    assert page.status_code == 200
    words = text(page)
    with TbSession(store.url, TENANT) as tb:
        info = tb.get(f"/api/device/info/{alarm.originator_id}").json()
        latest = tb.get(
            f"/api/plugins/telemetry/DEVICE/{alarm.originator_id}/values/timeseries"
        ).json()
    assert info["name"] in words
    assert f"Device profile {info['deviceProfileName']}" in words
    assert "Owner Customer A" in words
    assert ("Activity active" if info["active"] else "Activity inactive") in words
    for key in latest:
        assert f" {key} " in words  # each key's latest value, with its age
    for scope in ("Client attributes", "Shared attributes", "Server attributes"):
        assert scope in words
    assert f'href="/alarms/{alarm.id}/"' in page.content.decode()


def test_a_customer_user_reads_its_own_device_and_not_another_customer_s(as_user, store):
    client = as_user(CUSTOMER_A)
    own, other = device_of("Customer A"), device_of("Customer B")
    assert client.get(f"/devices/{own.originator_id}/").status_code == 200
    assert client.get(f"/devices/{other.originator_id}/").status_code == 404
    assert client.get(f"/devices/{UNKNOWN}/").status_code == 404
    # A device typed into the asset URL is not an asset.
    assert client.get(f"/assets/{own.originator_id}/").status_code == 404


def test_an_asset_page_has_server_attributes_only(as_user, store):
    with TbSession(store.url, TENANT) as tb:
        asset = tb.get("/api/tenant/assets", params={"page": 0, "pageSize": 1}).json()["data"][0]
    page = as_user(TENANT).get(f"/assets/{asset['id']['id']}/")
    assert page.status_code == 200
    words = text(page)
    assert asset["name"] in words
    assert "Server attributes" in words
    assert "Client attributes" not in words
    assert "Activity" not in words


def test_signed_out_is_sent_to_sign_in_and_only_get_is_served(client, as_user, store):
    alarm = device_of("Customer A")
    url = f"/devices/{alarm.originator_id}/"
    answer = client.get(url)
    assert answer.status_code == 302
    assert answer["Location"].startswith("/login/")
    assert as_user(TENANT).put(url).status_code == 405


def test_thingsboard_down_shows_the_store_s_alarms_or_says_so(as_user, store):
    client = as_user(TENANT)
    alarm = device_of("Customer A")
    with TbSession(store.url, TENANT) as tb:
        assets = tb.get("/api/tenant/assets", params={"page": 0, "pageSize": 100}).json()
    quiet = next(
        a for a in assets["data"] if not Alarm.objects.filter(originator_id=a["id"]["id"]).exists()
    )
    sim(store, "/sim/faults", {"outage": True})
    try:
        page = client.get(f"/devices/{alarm.originator_id}/")
        assert page.status_code == 200
        assert "ThingsBoard cannot be reached" in text(page)
        assert f'href="/alarms/{alarm.id}/"' in page.content.decode()
        unknown = client.get(f"/assets/{quiet['id']['id']}/")
        assert unknown.status_code == 503
        assert "ThingsBoard cannot be reached" in text(unknown)
    finally:
        requests.delete(f"{store.url}/sim/faults", timeout=5)


@pytest.mark.parametrize("persona", [TENANT, CUSTOMER_A])
def test_the_page_asks_thingsboard_each_part_once(as_user, store, persona):
    client = as_user(persona)
    alarm = device_of("Customer A")
    sim(store, "/sim/stats/reset")
    assert client.get(f"/devices/{alarm.originator_id}/").status_code == 200
    routes = sim(store, "/sim/stats", method="GET")["routes"]
    asked = {route: entry["count"] for route, entry in routes.items() if "/api/" in route}
    assert asked == {
        "GET /api/device/info/<entity_id>": 1,
        "GET /api/plugins/telemetry/<entity_type>/<entity_id>/values/timeseries": 1,
        # client, shared and server
        "GET /api/plugins/telemetry/<entity_type>/<entity_id>/values/attributes/<scope>": 3,
        "POST /api/relations/info": 1,  # what contains it, every level in one query
        "GET /api/users": 1,  # whom an alarm raised here may be assigned to
    }


def test_the_alarm_page_shows_its_originator_in_short_and_links_its_page(as_user, store):
    alarm = device_of("Customer A")
    page = as_user(CUSTOMER_A).get(f"/alarms/{alarm.id}/")
    html = page.content.decode()
    assert html.count(f'href="/devices/{alarm.originator_id}/"') == 2  # the heading, the panel
    words = text(page)
    assert "Latest values" in words
    assert "Active alarms" in words
    assert "Client attributes" not in words  # on the originator's own page


def test_the_alarm_page_without_thingsboard_has_no_panel_but_the_link(as_user, store):
    client = as_user(TENANT)
    alarm = device_of("Customer A")
    sim(store, "/sim/faults", {"outage": True})
    try:
        page = client.get(f"/alarms/{alarm.id}/")
    finally:
        requests.delete(f"{store.url}/sim/faults", timeout=5)
    assert page.status_code == 200
    assert f'href="/devices/{alarm.originator_id}/"' in page.content.decode()
    assert "Latest values" not in text(page)


def test_the_list_s_originator_cell_links_to_its_page(as_user, store):
    html = as_user(TENANT).get("/alarms/", {"status": "ANY"}).content.decode()
    alarm = Alarm.objects.filter(originator_type="DEVICE").order_by("-start_ts").first()
    row = html.split(f'data-alarm-id="{alarm.id}"', 1)[1].split("</tr>", 1)[0]
    assert f'<td data-label="Originator"><a href="/devices/{alarm.originator_id}/">' in row


def test_a_device_names_the_assets_it_sits_in_however_deep(as_user, store):
    alarm = device_of("Customer A")
    with TbSession(store.url, TENANT) as tb:
        up = tb.post(
            "/api/relations/info",
            json={
                "parameters": {
                    "rootId": str(alarm.originator_id),
                    "rootType": "DEVICE",
                    "direction": "TO",
                    "relationTypeGroup": "COMMON",
                    "maxLevel": 0,
                },
                "filters": [{"relationType": "Contains", "entityTypes": []}],
            },
        ).json()
    names = {r["fromName"]: r["from"]["id"] for r in up}
    assert len(names) >= 2  # a building and its site, at least
    html = as_user(CUSTOMER_A).get(f"/devices/{alarm.originator_id}/").content.decode()
    for name, asset_id in names.items():
        assert f'<a href="/assets/{asset_id}/">{name}</a>' in html


def test_customer_b_reads_its_own_and_not_customer_a_s(as_user, store):
    client = as_user(CUSTOMER_B)
    own, other = device_of("Customer B"), device_of("Customer A")
    assert client.get(f"/devices/{own.originator_id}/").status_code == 200
    assert client.get(f"/devices/{other.originator_id}/").status_code == 404
    answer = client.post(
        f"/devices/{other.originator_id}/",
        {"action": "raise", "type": "Not Yours", "severity": "MAJOR"},
    )
    assert answer.status_code == 404
    assert not Alarm.objects.filter(type="Not Yours").exists()


def test_a_system_administrator_never_reaches_a_device_page(client, store):
    """ThingsBoard's system administrator has no alarms, devices or assets to read; AlarmDesk
    says so at sign-in, and keeps no session for them."""
    alarm = device_of("Customer A")
    answer = client.post("/login/", {"username": SYSADMIN[0], "password": SYSADMIN[1]})
    assert answer.status_code != 302
    page = client.get(f"/devices/{alarm.originator_id}/")
    assert page.status_code == 302
    assert page["Location"].startswith("/login/")
