"""The detail page's chart of the originator's telemetry around the alarm."""

import json
import re
import time
from datetime import UTC, datetime

from django.db.models import Q

from alarmdesk.alarms.models import Alarm
from alarmdesk.tbsim.telemetry import ALARM_RULES, DEVICE_PROFILES
from alarmdesk.thingsboard.client import ThingsBoardClient
from alarmdesk.thingsboard.errors import Unavailable
from alarmdesk.thingsboard.types import TimeSeries
from tests.alarms.conftest import sim
from tests.conftest import CUSTOMER_A, TENANT, TbSession

CHART_DATA = re.compile(
    r'<script id="alarm-telemetry" type="application/json">(.*?)</script>', re.S
)
TABLE_ROW = re.compile(r'<tr(?: class="active")?><th scope="row">')
HOUR = 3_600_000
DAY = 24 * HOUR
TELEMETRY_ROUTE = "GET /api/plugins/telemetry/<entity_type>/<entity_id>/values/timeseries"


# The same as tests/alarms/test_views.py's.


def tb_as(tbsim, persona):
    return TbSession(tbsim.url, persona)


def chart_of(response):
    assert response.status_code == 200
    found = CHART_DATA.search(response.content.decode())
    return json.loads(found.group(1)) if found else None


def profile_of(tbsim, alarm):
    device = tb_as(tbsim, TENANT).get(f"/api/device/{alarm.originator_id}").json()
    return device["type"]


def telemetry_requests(tbsim):
    routes = requests_by_route(tbsim)
    return routes.get(TELEMETRY_ROUTE, {"count": 0})["count"]


def requests_by_route(tbsim):
    return sim(tbsim, "/sim/stats", method="GET")["routes"]


def raise_alarm(tbsim, originator, alarm_type, **fields):
    """An alarm raised through ThingsBoard's REST API, as a client may (section 4.6)."""
    body = {"originator": originator, "type": alarm_type, "severity": "MAJOR", **fields}
    return tb_as(tbsim, TENANT).post("/api/alarm", json=body).json()["id"]["id"]


def quiet_alarm(alarm_type):
    """The latest cleared alarm of this type whose device raised nothing else from two hours
    before it to an hour after: its chart shows this alarm's episode alone."""
    for alarm in Alarm.objects.filter(
        originator_type="DEVICE", type=alarm_type, cleared=True
    ).order_by("-start_ts"):
        others = Alarm.objects.filter(
            originator_id=alarm.originator_id,
            start_ts__lt=alarm.clear_ts + HOUR,
            clear_ts__gt=alarm.start_ts - 2 * HOUR,
        ).exclude(id=alarm.id)
        if not others.exists():
            return alarm
    raise AssertionError(f"no quiet {alarm_type} alarm in the demo")


def always_online(since, until):
    """An alarm of a device that is online now and was from `since` to `until`."""
    offline = Alarm.objects.filter(type="Device Offline").filter(
        Q(cleared=False) | Q(start_ts__lt=until, clear_ts__gt=since)
    )
    silent = offline.values_list("originator_id", flat=True)
    return Alarm.objects.filter(originator_type="DEVICE").exclude(originator_id__in=silent).first()


def test_a_device_alarm_charts_every_key_of_its_originator_from_an_hour_before_to_its_clear(
    as_user, store
):
    alarm = quiet_alarm("High Temperature")
    client = as_user(TENANT)
    sim(store, "/sim/stats/reset")
    response = client.get(f"/alarms/{alarm.id}/")
    assert telemetry_requests(store) == 2  # the latest values, then the history
    chart = chart_of(response)

    keys = [series["key"] for series in chart["series"]]
    assert keys[0] == "temperature"  # the key the alarm type names comes first
    assert sorted(keys) == sorted(DEVICE_PROFILES[profile_of(store, alarm)])
    assert chart["window"] == [alarm.start_ts - HOUR, alarm.clear_ts + 1]
    assert (chart["alarm_start"], chart["alarm_clear"]) == (alarm.start_ts, alarm.clear_ts)
    interval, times = chart["interval"], chart["timestamps"]
    assert times == sorted(times)
    assert alarm.start_ts - HOUR <= times[0] < alarm.start_ts - HOUR + interval
    assert alarm.clear_ts - 2 * interval <= times[-1] <= alarm.clear_ts  # the last may be short
    assert all(len(series["values"]) == len(times) for series in chart["series"])

    # The reading that raised the alarm: beyond the threshold while it lasted, short of it
    # well before (the simulator's lead-in takes ten minutes).
    threshold = ALARM_RULES["High Temperature"].threshold
    temperature = dict(zip(times, chart["series"][0]["values"], strict=True))
    during = [
        v
        for ts, v in temperature.items()
        if alarm.start_ts + interval <= ts < alarm.clear_ts - interval
    ]
    before = [v for ts, v in temperature.items() if ts < alarm.start_ts - 15 * 60_000]
    assert during
    assert min(during) > threshold
    assert before
    assert max(before) < threshold

    html = response.content.decode()
    assert "Telemetry around the alarm" in html
    assert "Show as a table" in html
    section = html.split('aria-labelledby="telemetry-title"', 1)[1].split("</section>", 1)[0]
    assert len(TABLE_ROW.findall(section)) == len(times)
    assert 'class="active"' in html  # rows while the alarm was active say so
    assert "uplot-1.6.32.iife.min.js" in html
    assert "static/alarmdesk/chart.js" in html


def test_a_month_long_alarm_is_still_one_history_request_of_at_most_300_points(as_user, store):
    now = int(time.time() * 1000)
    device = always_online(now - 30 * DAY - HOUR, now - 28 * DAY)
    alarm_id = raise_alarm(
        store,
        {"entityType": "DEVICE", "id": str(device.originator_id)},
        "Odd Reading",
        startTs=now - 30 * DAY,
    )
    client = as_user(TENANT)
    sim(store, "/sim/stats/reset")
    chart = chart_of(client.get(f"/alarms/{alarm_id}/"))
    statuses = requests_by_route(store)[TELEMETRY_ROUTE]
    assert statuses == {"count": 2, "statuses": {"200": 2}}
    assert chart["alarm_clear"] is None
    start, end = chart["window"]
    assert start == now - 30 * DAY - HOUR
    assert now <= end <= int(time.time() * 1000)
    assert 200 < len(chart["timestamps"]) <= 300
    assert chart["timestamps"][0] < start + chart["interval"]
    assert chart["timestamps"][-1] >= end - 2 * chart["interval"]


def test_a_customer_user_sees_the_chart_of_their_own_device(as_user, store):
    client = as_user(CUSTOMER_A)
    customer_id = tb_as(store, CUSTOMER_A).me["customerId"]["id"]
    alarm = Alarm.objects.filter(customer_id=customer_id, originator_type="DEVICE").first()
    chart = chart_of(client.get(f"/alarms/{alarm.id}/"))
    assert chart["series"]


def test_when_thingsboard_fails_on_telemetry_the_page_says_so_in_words(as_user, store, monkeypatch):
    def unavailable(*args, **kwargs):
        raise Unavailable("ThingsBoard at the test URL is unreachable")

    monkeypatch.setattr(ThingsBoardClient, "timeseries", unavailable)
    alarm = quiet_alarm("High Humidity")
    response = as_user(TENANT).get(f"/alarms/{alarm.id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Telemetry unavailable" in html
    assert chart_of(response) is None
    assert "chart.js" not in html
    assert "AlarmDesk's copy" not in html  # the rest of the page is live


def test_when_thingsboard_is_down_the_page_says_telemetry_is_unavailable(as_user, store):
    alarm = quiet_alarm("High Humidity")
    client = as_user(TENANT)
    sim(store, "/sim/faults", {"outage": True})
    response = client.get(f"/alarms/{alarm.id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "AlarmDesk's copy" in html
    assert "Telemetry unavailable" in html


def test_an_asset_without_telemetry_says_so_without_an_error(as_user, store):
    tb = tb_as(store, TENANT)
    asset = tb.get("/api/tenant/assets", params={"page": 0, "pageSize": 1}).json()["data"][0]
    alarm_id = raise_alarm(store, asset["id"], "Building Alarm")
    response = as_user(TENANT).get(f"/alarms/{alarm_id}/")
    html = response.content.decode()
    assert "Telemetry around the alarm" in html
    assert "reported no numeric telemetry" in html
    assert "Telemetry unavailable" not in html
    assert chart_of(response) is None


def test_a_tenant_alarm_has_no_chart(as_user, store):
    tenant_id = tb_as(store, TENANT).me["tenantId"]["id"]
    alarm_id = raise_alarm(store, {"entityType": "TENANT", "id": tenant_id}, "Quota Reached")
    sim(store, "/sim/stats/reset")
    response = as_user(TENANT).get(f"/alarms/{alarm_id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Telemetry" not in html
    assert telemetry_requests(store) == 0


def test_only_readings_that_are_finite_numbers_are_charted(as_user, store, monkeypatch):
    """ThingsBoard sends values as strings (section 9.6), and a device may send text, flags
    or NaN. The simulator's readings are all numbers, so here the client gets answers in
    ThingsBoard's JSON that have the rest."""
    alarm = quiet_alarm("High Temperature")
    ts = alarm.start_ts
    latest = {
        "temperature": [{"ts": ts, "value": "21.5"}],
        "status": [{"ts": ts, "value": "warm"}],
        "online": [{"ts": ts, "value": "true"}],
        "gain": [{"ts": ts, "value": "NaN"}],
        "firmware": [{"ts": ts, "value": '{"version": 2}'}],
    }
    history = {
        "temperature": [
            {"ts": ts, "value": "31.25"},
            {"ts": ts + 60_000, "value": "Infinity"},
            {"ts": ts + 120_000, "value": "30"},
        ]
    }
    monkeypatch.setattr(ThingsBoardClient, "latest", lambda *a, **k: TimeSeries.from_json(latest))
    monkeypatch.setattr(
        ThingsBoardClient, "timeseries", lambda *a, **k: TimeSeries.from_json(history)
    )
    chart = chart_of(as_user(TENANT).get(f"/alarms/{alarm.id}/"))
    assert chart["series"] == [{"key": "temperature", "values": [31.25, None, 30.0]}]


def test_a_key_named_like_markup_is_inert(as_user, store, monkeypatch):
    """Devices name their own keys."""
    hostile = '<img src=x onerror=alert(1)>"'
    alarm = quiet_alarm("High Temperature")
    answer = {hostile: [{"ts": alarm.start_ts, "value": "1.5"}]}
    monkeypatch.setattr(ThingsBoardClient, "latest", lambda *a, **k: TimeSeries.from_json(answer))
    monkeypatch.setattr(
        ThingsBoardClient, "timeseries", lambda *a, **k: TimeSeries.from_json(answer)
    )
    response = as_user(TENANT).get(f"/alarms/{alarm.id}/")
    assert "<img src=x" not in response.content.decode()
    assert chart_of(response)["series"] == [{"key": hostile, "values": [1.5]}]


def test_the_table_says_utc_and_means_it_whatever_the_time_zone(as_user, store, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    alarm = quiet_alarm("High Temperature")
    response = as_user(TENANT).get(f"/alarms/{alarm.id}/")
    first = datetime.fromtimestamp(chart_of(response)["timestamps"][0] / 1000, tz=UTC)
    assert '<th scope="col">Time (UTC)</th>' in response.content.decode()
    assert f">{first:%Y-%m-%d %H:%M:%S}</time></th>" in response.content.decode()
