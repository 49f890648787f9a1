"""The `scale` scenario (benchmarks, up to 1,000,000 alarms): that ThingsBoard's client reads
it as it reads the demo, that its fast build is the world the seed always gave, and that
the lists the simulator keeps sorted for it answer exactly as a filter and a sort of the
whole store would, through every kind of change."""

import contextlib
import json
import random
import time
from dataclasses import astuple

import pytest
from conftest import CUSTOMER_A, CUSTOMER_B, TENANT
from tb_ce_client.client import ThingsboardClient
from tb_ce_client.models import AlarmInfo, PageDataAlarmInfo
from test_conformance import conforming, ids

from alarmdesk.tbsim import index, scenarios
from alarmdesk.tbsim.app import Options, Simulator
from alarmdesk.tbsim.errors import TbError
from alarmdesk.tbsim.index import Window
from alarmdesk.tbsim.model import NULL_UUID, Alarm
from alarmdesk.tbsim.query import AlarmQuery, StatusFilter, sort_alarms
from alarmdesk.tbsim.server import RunningSimulator
from alarmdesk.tbsim.state import SimState
from alarmdesk.tbsim.telemetry import alarm_types_for_profile

ALARMS, ACTIVE = 3000, 300
DAY = 86_400_000
SYNC_ORDERINGS = ("createdTime", "endTs", "ackTs", "clearTs")
FIELDS = {"createdTime": "created_time", "endTs": "end_ts", "ackTs": "ack_ts"}
FIELDS["clearTs"] = "clear_ts"


@pytest.fixture(scope="module")
def scale():
    with RunningSimulator(Options(scenario="scale", alarms=ALARMS, active=ACTIVE)) as running:
        yield running


@pytest.fixture
def connect(scale):
    clients = []

    def make(credentials):
        client = ThingsboardClient(scale.url, username=credentials[0], password=credentials[1])
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def pages(client, page_size=500, **filters):
    """Every page of a v2 list, each checked key by key against the client's models."""
    found, page = [], 0
    while True:
        answer = conforming(
            client.get_all_alarms_v2_with_http_info(page_size=page_size, page=page, **filters),
            PageDataAlarmInfo,
        )
        found.append(answer)
        if not answer.has_next:
            return found
        page += 1


def rows(client, **filters):
    return [alarm for page in pages(client, **filters) for alarm in page.data]


def newest_first(alarms, attribute):
    """ThingsBoard's order for sortOrder=DESC: the value descending, then id ascending."""
    return sorted(alarms, key=lambda a: (-getattr(a, attribute), str(a.id.id)))


# --- through tb-ce-client ---------------------------------------------------------------------


def test_the_scale_store_reads_as_thingsboard_serves_it(connect):
    tenant = connect(TENANT)
    me = tenant.get_user()
    now = int(time.time() * 1000)

    alarms = rows(tenant, sort_property="createdTime", sort_order="DESC")
    active = rows(tenant, status_list=["ACTIVE"], sort_property="createdTime", sort_order="DESC")

    assert len(alarms) == ALARMS
    assert len(active) == ACTIVE
    assert ids(alarms) == ids(newest_first(alarms, "created_time"))
    assert ids(active) == ids(a for a in alarms if not a.cleared)
    assert all(a.tenant_id == me.tenant_id and a.name == a.type for a in alarms)
    assert all(a.created_time <= now and a.end_ts <= now and a.ack_ts <= now for a in alarms)
    assert all(bool(a.ack_ts) == a.acknowledged and bool(a.clear_ts) == a.cleared for a in alarms)
    # ThingsBoard's dedup: one alarm not cleared per originator and type.
    assert len({(a.originator.id, a.type) for a in active}) == ACTIVE
    assert {a.status for a in alarms} == {"ACTIVE_UNACK", "ACTIVE_ACK", "CLEARED_UNACK"} | {
        "CLEARED_ACK"
    }


def test_each_ordering_the_sync_reads_is_thingsboards(connect):
    tenant = connect(TENANT)
    everything = rows(tenant, sort_property="createdTime", sort_order="DESC")

    for ordering in SYNC_ORDERINGS:
        first = pages(tenant, page_size=1000, sort_property=ordering, sort_order="DESC")[0]
        expected = newest_first(everything, FIELDS[ordering])[:1000]

        assert first.total_elements == ALARMS
        assert ids(first.data) == ids(expected), ordering


def test_a_customer_user_of_the_scale_store_lists_its_customers_alarms(connect):
    customer, tenant = connect(CUSTOMER_A), connect(TENANT)
    mine = customer.get_user().customer_id
    everything = rows(tenant, sort_property="createdTime", sort_order="DESC")

    listed = rows(customer, sort_property="createdTime", sort_order="DESC")
    active = rows(customer, status_list=["ACTIVE"], sort_property="createdTime", sort_order="DESC")

    assert listed
    assert ids(listed) == ids(a for a in everything if a.customer_id == mine)
    assert active
    assert ids(active) == ids(a for a in listed if not a.cleared)


def test_the_sync_backfills_and_counts_the_scale_store(connect):
    """As alarmdesk.alarms.sync reads it: pages of 1,000 over a createdTime window, newest
    first, and the window's count as one page of one."""
    tenant = connect(TENANT)
    everything = rows(tenant, sort_property="createdTime", sort_order="DESC")
    until = everything[len(everything) // 3].created_time
    since = until - 15 * DAY
    window = dict(start_time=since, end_time=until, sort_property="createdTime")

    backfill = pages(tenant, page_size=1000, sort_order="DESC", **window)
    count = pages(tenant, page_size=1, sort_order="DESC", **window)[0]

    inside = [a for a in everything if since <= a.created_time <= until]
    assert len(inside) > 1000
    assert len(backfill) == -(-len(inside) // 1000)
    assert ids(a for page in backfill for a in page.data) == ids(inside)
    assert count.total_elements == len(inside)
    assert ids(count.data) == ids(inside[:1])


def test_alarm_info_of_the_scale_store_is_the_listed_alarm(connect):
    tenant = connect(TENANT)
    listed = pages(tenant, page_size=100, sort_property="endTs", sort_order="DESC")[0].data

    for alarm in listed[:: len(listed) // 10]:
        info = conforming(tenant.get_alarm_info_by_id_with_http_info(str(alarm.id.id)), AlarmInfo)

        assert info == alarm


# --- the build --------------------------------------------------------------------------------


def build_scale_one_alarm_at_a_time(state, options, rng):
    """The scale builder as it was before it was made fast (draw by draw the same world)."""
    minute, hour = 60_000, 3_600_000
    ids_ = scenarios.Ids(rng)
    now = scenarios.now_ms()
    tenant, _, customers = scenarios._accounts(state, rng, ids_, now)
    per_owner = max(8, options.active // 12 + 10)
    devices = scenarios._fleet(state, rng, ids_, tenant, [*customers, None], (per_owner,) * 4, now)
    pairs = [(d, t) for d in devices for t in alarm_types_for_profile(d.type)]
    active_pairs = rng.sample(pairs, options.active)
    cleared = max(0, options.alarms - options.active)
    records = []
    for i in range(options.alarms):
        if i < cleared:
            device, alarm_type = pairs[rng.randrange(len(pairs))]
            start = now - rng.randint(3 * DAY, 30 * DAY)
        else:
            device, alarm_type = active_pairs[i - cleared]
            start = now - rng.randint(minute, 3 * DAY)
        alarm = Alarm(
            ids_(),
            tenant,
            None if device.customer_id == NULL_UUID else device.customer_id,
            alarm_type,
            "DEVICE",
            device.id,
            scenarios.SEVERITY_BY_TYPE[alarm_type],
            created_time=min(now, start + rng.randint(5, 900)),
            start_ts=start,
            end_ts=min(now, start + rng.randint(0, hour)),
        )
        if rng.random() < 0.6:
            alarm.acknowledged = True
            alarm.ack_ts = min(now, start + rng.randint(minute, 2 * hour))
        if i < cleared:
            alarm.cleared, alarm.clear_ts = True, start + rng.randint(2 * hour, 2 * DAY)
        records.append(alarm)
    records.sort(key=lambda a: a.created_time)
    for alarm in records:
        state.insert_alarm(alarm)


def test_the_fast_build_is_the_world_the_seed_always_gave(monkeypatch):
    monkeypatch.setattr(scenarios, "now_ms", lambda: 1_780_000_000_000)
    options = Options(scenario="scale", alarms=4000, active=900, seed=7)
    fast, slow = SimState(), SimState()

    scenarios.build_scale(fast, options, random.Random(options.seed))
    build_scale_one_alarm_at_a_time(slow, options, random.Random(options.seed))

    def world(state):
        return (
            [astuple(alarm) for alarms in state.alarms_by_tenant.values() for alarm in alarms],
            [astuple(entity) for entity in state.devices.values()],
            sorted((key, alarm.id) for key, alarm in state.active_by_pair.items()),
            state.alarm_types,
        )

    assert world(fast) == world(slow)
    # One batch or one alarm at a time: the same sorted lists.
    assert lists(fast) == lists(slow)


# --- the kept-sorted lists through changes -----------------------------------------------------


def lists(state):
    return {key: [a.id for a in rows] for key, rows in state.sorted._lists.items()}


def assert_lists_are_as_built_afresh(state):
    """Every list the store keeps (a scope's built when first asked for) as a fresh build of
    the same alarms gives it."""
    rebuilt = SimState()
    rebuilt.sorted.build(state.alarms.values())
    for key in state.sorted._lists:
        rebuilt.sorted.rows(*key)
    assert lists(state) == lists(rebuilt)


def full_sort(state, user, query, sort_property, sort_desc):
    """The answer without any kept-sorted list: every alarm tested, then sorted."""
    scoped = [
        a
        for a in state.alarms.values()
        if a.tenant_id == user.tenant_id
        and (user.authority != "CUSTOMER_USER" or a.customer_id == user.customer_id)
        and query.matches(a)
    ]
    return sort_alarms(scoped, sort_property, sort_desc)


def queries(state):
    middle = sorted(a.created_time for a in state.alarms.values())[len(state.alarms) // 2]
    return [
        AlarmQuery(),
        AlarmQuery(status=StatusFilter(cleared=False)),
        AlarmQuery(status=StatusFilter(cleared=True)),
        AlarmQuery(status=StatusFilter(cleared=False, acknowledged=False)),
        AlarmQuery(status=StatusFilter(acknowledged=True)),
        AlarmQuery(start_time=middle - 3 * DAY, end_time=middle),
        AlarmQuery(start_time=middle),
        AlarmQuery(end_time=middle, status=StatusFilter(cleared=False)),
        AlarmQuery(severities=frozenset({"CRITICAL", "MINOR"}), start_time=middle - DAY),
        AlarmQuery(types=frozenset({"Device Offline"}), status=StatusFilter(cleared=False)),
        AlarmQuery(text_search="ack"),
    ]


def assert_lists_answer_as_a_full_sort(state, users):
    assert_lists_are_as_built_afresh(state)
    for user in users:
        for query in queries(state):
            for sort_property in (*SYNC_ORDERINGS, "startTs", "severity", None):
                for sort_desc in (True, False):
                    found = state.find_alarms(user, query, sort_property, sort_desc)
                    expected = full_sort(state, user, query, sort_property, sort_desc)
                    assert len(found) == len(expected)
                    assert [a.id for a in found[0 : len(found)]] == [a.id for a in expected]
                    assert [a.id for a in found[3:13]] == [a.id for a in expected[3:13]]


def random_change(state, rng, admin, customer_user, users):
    alarms = list(state.alarms.values())
    alarm = rng.choice(alarms)
    active = [a for a in alarms if not a.cleared]
    kind = rng.choice(
        ["ack", "clear", "assign", "unassign", "raise", "rule_clear", "update", "delete", "own"]
    )
    actor = admin
    # A refusal ThingsBoard would give ("already acknowledged", another customer's alarm)
    # changes nothing; anything else is a failure.
    with contextlib.suppress(TbError):
        if kind == "ack":
            state.acknowledge(actor, alarm.id)
        elif kind == "clear":
            state.clear(actor, rng.choice(active).id if active else alarm.id)
        elif kind == "assign":
            state.assign(actor, alarm.id, rng.choice(users).id)
        elif kind == "unassign":
            state.unassign(actor, alarm.id)
        elif kind == "raise":
            # A new alarm or a re-trigger of the active one, as the rule engine does.
            devices = [d for d in state.devices.values() if d.entity_type == "DEVICE"]
            device = rng.choice(devices)
            alarm_type = rng.choice(alarm_types_for_profile(device.type))
            severity = rng.choice(["CRITICAL", "MAJOR", "MINOR", "WARNING"])
            ts = rng.choice([None, alarm.created_time, alarm.end_ts + 1])
            state.rule_engine_alarm(device.name, alarm_type, severity, ts)
        elif kind == "rule_clear":
            state.rule_engine_clear(rng.choice(active).id if active else alarm.id)
        elif kind == "update":
            # POST /api/alarm with the id: new times (even into the past), maybe acked too.
            body = alarm.to_json()
            body["endTs"] = rng.choice([alarm.start_ts, alarm.end_ts + 5000, alarm.created_time])
            body["startTs"] = min(body["endTs"], alarm.start_ts + rng.randint(-9000, 9000))
            body["acknowledged"] = rng.random() < 0.5
            state.save_alarm(actor, body)
        elif kind == "delete":
            state.delete_alarm(actor, alarm.id)
        else:
            # A customer user acts on an alarm of its own customer.
            own = [a for a in alarms if a.customer_id == customer_user.customer_id]
            state.acknowledge(customer_user, rng.choice(own).id)


def test_the_kept_sorted_lists_answer_as_a_full_sort_through_every_change():
    state = Simulator(Options(scenario="scale", alarms=2500, active=400, seed=3)).state
    admin = state.user_by_email(TENANT[0])
    customer_a = state.user_by_email(CUSTOMER_A[0])
    customer_b = state.user_by_email(CUSTOMER_B[0])
    users = [u for u in state.users.values() if u.tenant_id == admin.tenant_id]
    users = [u for u in users if u.customer_id == NULL_UUID]
    rng = random.Random(11)

    assert_lists_answer_as_a_full_sort(state, [admin, customer_a])
    for _ in range(3):
        for _ in range(150):
            random_change(state, rng, admin, customer_a, users)
        assert_lists_answer_as_a_full_sort(state, [admin, customer_a, customer_b])


def test_a_window_is_a_slice_of_its_list_without_a_copy():
    window = Window(list(range(10)), 2, 8)

    assert len(window) == 6
    assert window[0:6] == [2, 3, 4, 5, 6, 7]
    assert window[4:100] == [6, 7]
    assert window[9:12] == []


def test_a_change_the_lists_were_not_told_of_is_put_right_and_reported():
    state = Simulator(Options(scenario="scale", alarms=200, active=50)).state
    alarm = next(a for a in state.alarms.values() if not a.acknowledged)

    with pytest.raises(AssertionError, match="undeclared"), state.sorted.moving(alarm, ("endTs",)):
        alarm.ack_ts = alarm.created_time + 1

    assert_lists_are_as_built_afresh(state)


def test_the_alarm_info_cache_keeps_only_the_alarms_served_last_and_forgets_changes():
    state = Simulator(Options(scenario="scale", alarms=300, active=60)).state
    state.INFO_CACHE_SIZE = 10
    admin = state.user_by_email(TENANT[0])
    alarms = sorted(state.alarms.values(), key=lambda a: a.id)

    for alarm in alarms[:30]:
        assert json.loads(state.alarm_info_bytes(alarm)) == state.alarm_info(alarm)
    unacked = next(a for a in alarms[20:30] if not a.acknowledged)
    before = state.alarm_info_bytes(unacked)
    state.acknowledge(admin, unacked.id)

    assert len(state._info_cache) <= 10
    assert set(state._info_cache) <= {a.id for a in alarms[20:30]}
    assert json.loads(before)["acknowledged"] is False
    assert json.loads(state.alarm_info_bytes(unacked))["acknowledged"] is True


def test_a_whole_store_is_sorted_newest_first_with_equal_values_in_id_order():
    rng = random.Random(5)
    alarms = [
        Alarm(str(rng.getrandbits(64)), "t", None, "x", "DEVICE", "d", "MAJOR", *values)
        for values in (
            (rng.choice([0, 5, 9, rng.randint(0, 10**6)]), 1, rng.randint(0, 3))
            for _ in range(5000)
        )
    ]

    for ordering, attribute in FIELDS.items():
        assert index.newest_first(alarms, attribute) == sorted(alarms, key=index.KEYS[ordering])
