"""The client against the ThingsBoard simulator over a real socket, as the demo personas."""

import time

import pytest
import requests

from alarmdesk.tbsim.app import Options
from alarmdesk.tbsim.server import RunningSimulator
from alarmdesk.thingsboard.client import ThingsBoardClient
from alarmdesk.thingsboard.errors import (
    AuthenticationFailed,
    BadRequest,
    NotFound,
    PermissionDenied,
    TokenExpired,
    Unavailable,
)

TENANT = ("tenant@thingsboard.org", "tenant")
CUSTOMER_A = ("customerA@thingsboard.org", "customer")
SYSADMIN = ("sysadmin@thingsboard.org", "sysadmin")
# The tenant admin's API key in the simulator's scenarios (README, "Demo accounts").
DEMO_API_KEY = "tb_alarmdesk_demo_sync_key"
UNKNOWN_ID = "0b1e6f3c-5d5e-4a8e-9f1b-3c2d4e5f6a7b"
HOUR_MS = 3_600_000


@pytest.fixture
def connect(tbsim):
    """connect(TENANT) -> a client signed in as that persona; connect() -> not signed in."""
    clients = []

    def make(credentials=None, url=None):
        client = ThingsBoardClient(url or tbsim.url, timeout=(1, 5))
        clients.append(client)
        if credentials:
            client.token = client.login(*credentials).token
        return client

    yield make
    for client in clients:
        client.close()


def set_faults(tbsim, **faults):
    requests.post(f"{tbsim.url}/sim/faults", json=faults, timeout=5).raise_for_status()


def requests_seen(tbsim):
    """Statuses of the API requests the simulator answered since its statistics were reset."""
    stats = requests.get(f"{tbsim.url}/sim/stats", timeout=5).json()
    statuses = {}
    for route in stats["routes"].values():
        for status, count in route["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return statuses


def reset_stats(tbsim):
    requests.post(f"{tbsim.url}/sim/stats/reset", timeout=5).raise_for_status()


def active_alarm(client, status_list=("ACTIVE",), **filters):
    return client.alarms(page=0, page_size=1, status_list=status_list, **filters).data[0]


# --- signing in ---------------------------------------------------------------------------


def test_a_tenant_admin_signs_in_and_belongs_to_no_customer(connect):
    client = connect()
    pair = client.login(*TENANT)
    remaining = pair.access_expires_at.timestamp() - time.time()
    assert 8990 < remaining <= 9000
    user = client.with_token(pair.token).current_user()
    assert user.email == "tenant@thingsboard.org"
    assert user.authority == "TENANT_ADMIN"
    assert user.customer_id is None
    assert user.display_name == "tenant@thingsboard.org"


def test_a_customer_user_signs_in_as_a_user_of_its_customer(connect):
    user = connect(CUSTOMER_A).current_user()
    assert user.authority == "CUSTOMER_USER"
    assert user.customer_id is not None
    assert user.tenant_id == connect(TENANT).current_user().tenant_id


def test_a_wrong_password_fails_authentication(connect):
    with pytest.raises(AuthenticationFailed) as caught:
        connect().login("tenant@thingsboard.org", "wrong")
    assert (caught.value.status, caught.value.code) == (401, 10)
    assert caught.value.message == "Invalid username or password"


def test_a_disabled_account_is_told_it_is_not_active(connect, tbsim):
    requests.post(
        f"{tbsim.url}/sim/users/customerA@thingsboard.org/disable", timeout=5
    ).raise_for_status()
    with pytest.raises(AuthenticationFailed, match="User account is not active"):
        connect(CUSTOMER_A)


def test_the_sync_account_signs_in_with_its_api_key(tbsim):
    with ThingsBoardClient(tbsim.url, api_key=DEMO_API_KEY) as client:
        assert client.current_user().email == "tenant@thingsboard.org"


def test_after_logout_the_token_is_refused_as_expired(connect):
    client = connect(TENANT)
    client.logout()
    with pytest.raises(TokenExpired):
        client.current_user()


@pytest.fixture
def short_lived_tokens():
    """A simulator of its own whose access tokens live one second."""
    with RunningSimulator(Options(scenario="demo", token_ttl=1)) as running:
        yield running


def test_an_expired_token_raises_token_expired_and_one_refresh_recovers(short_lived_tokens):
    with ThingsBoardClient(short_lived_tokens.url, timeout=(1, 5)) as client:
        pair = client.login(*TENANT)
        signed_in = client.with_token(pair.token)
        assert signed_in.current_user().authority == "TENANT_ADMIN"
        time.sleep(max(0.0, pair.access_expires_at.timestamp() - time.time()) + 0.2)
        with pytest.raises(TokenExpired) as caught:
            signed_in.current_user()
        assert (caught.value.status, caught.value.code) == (401, 11)
        # What the caller does: refresh once, keep the new pair, repeat the call.
        fresh = client.refresh(pair.refresh_token)
        assert fresh.refresh_token != pair.refresh_token
        assert client.with_token(fresh.token).current_user().authority == "TENANT_ADMIN"


# --- listing alarms -----------------------------------------------------------------------


def test_the_active_filter_lists_only_alarms_not_cleared(connect):
    page = connect(TENANT).alarms(page=0, page_size=100, status_list=("ACTIVE",))
    assert page.total_elements > 0
    assert all(not alarm.cleared for alarm in page.data)
    assert all(alarm.status.startswith("ACTIVE_") for alarm in page.data)


def test_active_and_unacknowledged_filters_combine(connect):
    page = connect(TENANT).alarms(page=0, page_size=100, status_list=("ACTIVE", "UNACK"))
    assert page.total_elements > 0
    assert {alarm.status for alarm in page.data} == {"ACTIVE_UNACK"}


def test_severity_and_type_filters_narrow_the_list(connect):
    client = connect(TENANT)
    everything = client.alarms(page=0, page_size=1)
    critical = client.alarms(page=0, page_size=100, severity_list=("CRITICAL",))
    assert 0 < critical.total_elements < everything.total_elements
    assert {alarm.severity for alarm in critical.data} == {"CRITICAL"}
    battery = client.alarms(page=0, page_size=100, type_list=("Low Battery", "Door Open"))
    assert battery.total_elements > 0
    assert {alarm.type for alarm in battery.data} <= {"Low Battery", "Door Open"}


def test_alarms_come_newest_first_one_page_at_a_time(connect):
    client = connect(TENANT)
    first = client.alarms(page=0, page_size=20)
    second = client.alarms(page=1, page_size=20)
    assert len(first.data) == 20
    assert first.has_next
    assert first.total_pages == -(-first.total_elements // 20)
    created = [alarm.created_time for alarm in first.data + second.data]
    assert created == sorted(created, reverse=True)
    assert not {a.id for a in first.data} & {a.id for a in second.data}


def test_a_time_window_filters_on_creation_time(connect):
    client = connect(TENANT)
    newest = client.alarms(page=0, page_size=1).data[0]
    since = newest.created_time - 24 * HOUR_MS
    page = client.alarms(page=0, page_size=500, start_time=since, end_time=newest.created_time)
    assert page.total_elements > 0
    assert all(since <= alarm.created_time <= newest.created_time for alarm in page.data)


def test_a_customer_user_lists_only_its_customers_alarms(connect):
    me = connect(CUSTOMER_A).current_user()
    mine = connect(CUSTOMER_A).alarms(page=0, page_size=500)
    everything = connect(TENANT).alarms(page=0, page_size=1)
    assert 0 < mine.total_elements < everything.total_elements
    assert {alarm.customer_id for alarm in mine.data} == {me.customer_id}


def test_a_system_administrator_may_not_list_alarms(connect):
    with pytest.raises(PermissionDenied) as caught:
        connect(SYSADMIN).alarms(page=0, page_size=10)
    assert (caught.value.status, caught.value.code) == (403, 20)


def test_alarm_types_are_listed_in_alphabetical_order(connect):
    types = connect(TENANT).alarm_types().data
    assert "High Temperature" in types
    assert list(types) == sorted(types)


# --- acting on alarms ---------------------------------------------------------------------


def test_acknowledging_twice_reports_the_second_as_already_done(connect):
    client = connect(TENANT)
    alarm = active_alarm(client, status_list=("ACTIVE", "UNACK"))
    acknowledged = client.acknowledge(alarm.id)
    assert acknowledged.acknowledged
    assert acknowledged.status == "ACTIVE_ACK"
    assert acknowledged.ack_ts > 0
    with pytest.raises(BadRequest) as caught:
        client.acknowledge(alarm.id)
    assert caught.value.already_done
    assert caught.value.already == "acknowledged"
    assert client.alarm_info(alarm.id).acknowledged


def test_clearing_keeps_the_acknowledgement_and_cannot_be_repeated(connect):
    client = connect(TENANT)
    alarm = active_alarm(client, status_list=("ACTIVE", "UNACK"))
    cleared = client.clear(alarm.id)
    assert cleared.cleared
    assert cleared.status == "CLEARED_UNACK"
    with pytest.raises(BadRequest) as caught:
        client.clear(alarm.id)
    assert caught.value.already == "cleared"


def test_assigning_and_unassigning_name_the_assignee_then_none(connect):
    client = connect(TENANT)
    alarm = active_alarm(client)
    candidates = client.users_for_assign(alarm.id).data
    olivia = next(user for user in candidates if user.email == "olivia.ops@thingsboard.org")
    assigned = client.assign(alarm.id, olivia.id)
    assert assigned.assignee_id == olivia.id
    assert assigned.assignee.display_name == "Olivia Ops"
    with pytest.raises(BadRequest) as caught:
        client.assign(alarm.id, olivia.id)
    assert caught.value.already == "assigned"
    unassigned = client.unassign(alarm.id)
    assert unassigned.assignee is None
    with pytest.raises(BadRequest) as caught:
        client.unassign(alarm.id)
    assert caught.value.already == "unassigned"


def test_candidate_assignees_can_be_searched(connect):
    client = connect(TENANT)
    alarm = active_alarm(client)
    found = client.users_for_assign(alarm.id, text_search="olivia").data
    assert [user.email for user in found] == ["olivia.ops@thingsboard.org"]


def test_comments_list_system_entries_and_remarks_oldest_first(connect):
    client = connect(TENANT)
    alarm = active_alarm(client, status_list=("ACTIVE", "UNACK"))
    client.acknowledge(alarm.id)
    posted = client.add_comment(alarm.id, "On my way.")
    assert (posted.type, posted.text, posted.alarm_id) == ("OTHER", "On my way.", alarm.id)
    comments = client.comments(alarm.id).data
    created = [comment.created_time for comment in comments]
    assert created == sorted(created)
    ack, remark = comments[-2:]
    assert (ack.type, ack.subtype) == ("SYSTEM", "ACKED_BY_USER")
    assert ack.text == "Alarm was acknowledged by user tenant@thingsboard.org"
    assert (remark.type, remark.text, remark.email) == (
        "OTHER",
        "On my way.",
        "tenant@thingsboard.org",
    )


def test_a_customer_user_may_not_acknowledge_another_customers_alarm(connect):
    mine = connect(CUSTOMER_A).current_user().customer_id
    tenant_view = connect(TENANT).alarms(page=0, page_size=100, status_list=("ACTIVE", "UNACK"))
    foreign = next(a for a in tenant_view.data if a.customer_id not in (None, mine))
    with pytest.raises(PermissionDenied):
        connect(CUSTOMER_A).acknowledge(foreign.id)


def test_an_unknown_alarm_is_not_found(connect):
    with pytest.raises(NotFound) as caught:
        connect(TENANT).alarm_info(UNKNOWN_ID)
    assert (caught.value.status, caught.value.code) == (404, 32)


# --- devices and telemetry ----------------------------------------------------------------


def test_a_device_is_read_with_its_customer(connect):
    client = connect(TENANT)
    devices = client.devices(page_size=100).data
    assert {device.customer_id for device in devices} > {None}
    named = [device.name for device in devices]
    assert named == sorted(named)
    assert client.device(devices[0].id) == devices[0]


def test_a_device_s_info_names_its_owner_profile_and_activity(connect):
    client = connect(TENANT)
    device = next(d for d in client.devices(page_size=100).data if d.customer_id)
    info = client.entity_info("DEVICE", device.id)
    assert info.entity == device
    assert info.customer_title.startswith("Customer ")
    assert info.profile == device.type
    assert isinstance(info.active, bool)


def test_an_asset_s_info_has_no_activity(connect, tbsim):
    client = connect(TENANT)
    listed = requests.get(
        f"{tbsim.url}/api/tenant/assets",
        params={"page": 0, "pageSize": 1},
        headers={"X-Authorization": f"Bearer {client.token}"},
        timeout=5,
    ).json()["data"][0]
    info = client.entity_info("ASSET", listed["id"]["id"])
    assert (info.entity.entity_type, info.entity.name) == ("ASSET", listed["name"])
    assert info.active is None


def test_another_customer_s_device_info_is_refused(connect):
    tenant = connect(TENANT)
    customer_a = connect(CUSTOMER_A)
    own = customer_a.current_user().customer_id
    other = next(d for d in tenant.devices(page_size=100).data if d.customer_id not in (None, own))
    with pytest.raises(PermissionDenied):
        customer_a.entity_info("DEVICE", other.id)
    with pytest.raises(NotFound):
        tenant.entity_info("DEVICE", UNKNOWN_ID)


def test_attributes_come_by_scope_with_their_types(connect):
    client = connect(TENANT)
    device = client.devices(page_size=1).data[0]
    client_scope = client.attributes("DEVICE", device.id, "CLIENT_SCOPE")
    assert [a.key for a in client_scope] == sorted(a.key for a in client_scope)
    assert all(a.last_update_ts > 0 for a in client_scope)
    server = {a.key: a.value for a in client.attributes("DEVICE", device.id, "SERVER_SCOPE")}
    assert isinstance(server["active"], bool)


def test_a_tenant_admin_lists_its_customers_by_title(connect):
    customers = connect(TENANT).customers(page_size=100).data
    titles = [customer.title for customer in customers]
    assert titles == sorted(titles)
    assert {"Customer A", "Customer B", "Customer C"} <= set(titles)


def test_a_customer_user_may_not_list_customers(connect):
    with pytest.raises(PermissionDenied):
        connect(CUSTOMER_A).customers()


def test_telemetry_history_comes_as_numbers_oldest_first_within_the_range(connect):
    client = connect(TENANT)
    alarm = active_alarm(client, type_list=("High Temperature", "Low Temperature"))
    end = alarm.end_ts + 1
    start = end - 6 * HOUR_MS
    series = client.timeseries(
        alarm.originator_type, alarm.originator_id, ["temperature"], start, end, limit=500
    )
    points = series["temperature"]
    assert len(points) > 1
    assert all(type(point.value) is float for point in points)
    timestamps = [point.ts for point in points]
    assert timestamps == sorted(timestamps)
    assert start <= timestamps[0]
    assert timestamps[-1] < end


def test_aggregated_telemetry_gives_one_value_per_interval(connect):
    client = connect(TENANT)
    alarm = active_alarm(client, type_list=("High Temperature", "Low Temperature"))
    end = alarm.end_ts + 1
    series = client.timeseries(
        alarm.originator_type,
        alarm.originator_id,
        ["temperature"],
        end - 6 * HOUR_MS,
        end,
        agg="AVG",
        interval=HOUR_MS,
    )
    assert 1 <= len(series["temperature"]) <= 6
    assert all(isinstance(point.value, float) for point in series["temperature"])


def test_latest_telemetry_keeps_none_for_a_key_never_written(connect):
    client = connect(TENANT)
    alarm = active_alarm(client, type_list=("High Temperature", "Low Temperature"))
    latest = client.latest(alarm.originator_type, alarm.originator_id, ["temperature", "nope"])
    assert isinstance(latest["temperature"][0].value, float)
    assert latest["nope"][0].value is None


def test_telemetry_of_an_unknown_device_is_not_found_in_plain_text(connect):
    with pytest.raises(NotFound) as caught:
        connect(TENANT).latest("DEVICE", UNKNOWN_ID, ["temperature"])
    assert caught.value.message == "Device with requested id wasn't found!"
    assert caught.value.code is None


# --- ThingsBoard down, overloaded or slow -------------------------------------------------


def test_an_outage_is_reported_as_unavailable_within_a_second_or_two(connect, tbsim):
    client = connect(TENANT)
    set_faults(tbsim, outage=True)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        client.current_user()
    assert time.monotonic() - started < 2
    requests.delete(f"{tbsim.url}/sim/faults", timeout=5).raise_for_status()
    assert client.current_user().email == "tenant@thingsboard.org"


def test_a_get_meeting_503s_is_tried_three_times_then_unavailable(connect, tbsim):
    client = connect(TENANT)
    set_faults(tbsim, error_rate=1.0, error_status=503)
    reset_stats(tbsim)
    with pytest.raises(Unavailable) as caught:
        client.alarms(page=0, page_size=10)
    assert caught.value.status == 503
    assert requests_seen(tbsim) == {"503": 3}


def test_a_post_meeting_a_503_is_sent_once(connect, tbsim):
    client = connect(TENANT)
    alarm = active_alarm(client, status_list=("ACTIVE", "UNACK"))
    set_faults(tbsim, error_rate=1.0, error_status=503)
    reset_stats(tbsim)
    with pytest.raises(Unavailable):
        client.acknowledge(alarm.id)
    assert requests_seen(tbsim) == {"503": 1}


def test_a_slow_thingsboard_is_unavailable_after_one_read_timeout(tbsim):
    set_faults(tbsim, latency_ms=1500)
    reset_stats(tbsim)
    with ThingsBoardClient(tbsim.url, api_key=DEMO_API_KEY, timeout=(1, 0.5)) as client:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            client.current_user()
        assert time.monotonic() - started < 1.2
    # The simulator answers once its latency has passed: it saw the request only once.
    deadline = time.monotonic() + 5
    while not requests_seen(tbsim) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    assert requests_seen(tbsim) == {"200": 1}
