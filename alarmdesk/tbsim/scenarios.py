"""The worlds the simulator starts with: `demo`, `empty` and `scale`.

All of them are built from a seeded random generator, so two runs with the same options
hold the same entities and the same alarm history (shifted to the current time).
"""

import gc
import math
import random
import uuid
from contextlib import contextmanager
from operator import attrgetter

from .auth import Tokens
from .model import CUSTOMER_USER, NULL_UUID, SYS_ADMIN, TENANT_ADMIN, Alarm, Customer, Device, User
from .state import SimState, now_ms
from .telemetry import ALARM_RULES, DEVICE_PROFILES, alarm_types_for_profile

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# The tenant admin's API key in every scenario (X-Authorization: ApiKey <key>).
DEMO_API_KEY = "tb_alarmdesk_demo_sync_key"

SEVERITY_BY_TYPE = {
    "High Temperature": "CRITICAL",
    "Low Temperature": "MAJOR",
    "High Humidity": "MINOR",
    "Low Battery": "WARNING",
    "High Pressure": "CRITICAL",
    "High Vibration": "MAJOR",
    "High CO2": "MAJOR",
    "Leak Detected": "CRITICAL",
    "Door Open": "MINOR",
    "Weak Signal": "INDETERMINATE",
    "Device Offline": "MAJOR",
}

OPERATOR_NOTES = (
    "Checked on site, sensor recalibrated.",
    "Known issue, maintenance scheduled for tomorrow.",
    "Called the facility manager, they are on it.",
    "Replaced the battery.",
    "False alarm: door propped open for a delivery.",
    "Escalated to the field team.",
)


class Ids:
    def __init__(self, rng):
        self.rng = rng

    def __call__(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def build_scenario(options):
    builders = {"demo": build_demo, "empty": build_empty, "scale": build_scale}
    if options.scenario not in builders:
        raise ValueError(f"unknown scenario {options.scenario!r}; choose demo, empty or scale")
    state = SimState(Tokens(options.token_ttl, options.refresh_ttl))
    builders[options.scenario](state, options, random.Random(options.seed))
    return state


def _accounts(state, rng, ids, now):
    """ThingsBoard's demo accounts, two named colleagues and a second, foreign tenant."""
    tenant = ids()
    created = now - 90 * DAY
    state.add_user(
        User(
            ids(),
            NULL_UUID,
            NULL_UUID,
            "sysadmin@thingsboard.org",
            "sysadmin",
            SYS_ADMIN,
            None,
            None,
            created,
        )
    )
    admin = User(
        ids(),
        tenant,
        NULL_UUID,
        "tenant@thingsboard.org",
        "tenant",
        TENANT_ADMIN,
        None,
        None,
        created,
    )
    state.add_user(admin)
    state.add_user(
        User(
            ids(),
            tenant,
            NULL_UUID,
            "olivia.ops@thingsboard.org",
            "tenant",
            TENANT_ADMIN,
            "Olivia",
            "Ops",
            created,
        )
    )
    state.api_keys[DEMO_API_KEY] = admin.id
    customers = []
    for letter, city in (("A", "San Francisco"), ("B", "London"), ("C", "Kyiv")):
        customer = Customer(
            ids(),
            tenant,
            f"Customer {letter}",
            created,
            email=f"customer{letter.lower()}@thingsboard.org",
            city=city,
        )
        state.customers[customer.id] = customer
        customers.append(customer)
        state.add_user(
            User(
                ids(),
                tenant,
                customer.id,
                f"customer{letter}@thingsboard.org",
                "customer",
                CUSTOMER_USER,
                None,
                None,
                created,
            )
        )
    state.add_user(
        User(
            ids(),
            tenant,
            customers[0].id,
            "arthur.field@thingsboard.org",
            "customer",
            CUSTOMER_USER,
            "Arthur",
            "Field",
            created,
        )
    )
    # Another tenant: AlarmDesk must refuse its users, and ThingsBoard keeps tenants apart.
    other = ids()
    state.add_user(
        User(
            ids(),
            other,
            NULL_UUID,
            "tenant2@thingsboard.org",
            "tenant",
            TENANT_ADMIN,
            None,
            None,
            created,
        )
    )
    return tenant, other, customers


def build_empty(state, options, rng):
    _accounts(state, rng, Ids(rng), now_ms())


LOCATIONS = (
    "Boiler room",
    "Floor 1",
    "Floor 2",
    "Roof",
    "Basement",
    "Cold store",
    "Lobby",
    "Server room",
    "Loading dock",
    "Kitchen",
)


def _fleet(state, rng, ids, tenant, owners, count_by_owner, now):
    """Devices spread over the owners: each owner's site contains its buildings, and each
    device is inside one of them ("Contains" relations, all owned by the same owner)."""
    profiles = sorted(DEVICE_PROFILES)
    devices = []
    for owner, count, site in zip(owners, count_by_owner, ("A", "B", "C", "U"), strict=True):
        owner_id = owner.id if owner else NULL_UUID
        asset_names = {
            "A": ["Building A"],
            "B": ["Plant B"],
            "C": ["Store C"],
            "U": ["Warehouse North", "HQ Office"],
        }[site]
        top = _site(state, tenant, owner_id, site, now)
        assets = []
        for name in asset_names:
            asset = Device(
                "ASSET", ids(), tenant, owner_id, name, "building", name, ids(), now - 60 * DAY
            )
            state.add_entity(asset, parent=top)
            assets.append(asset)
        for n in range(count):
            profile = profiles[(n + len(devices)) % len(profiles)]
            title = profile.replace("-", " ").title()
            name = f"{title} {site}{n + 1:02d}"
            label = f"{rng.choice(LOCATIONS)}, {assets[n % len(assets)].name}"
            device = Device(
                "DEVICE", ids(), tenant, owner_id, name, profile, label, ids(), now - 60 * DAY
            )
            state.add_entity(device, parent=assets[n % len(assets)])
            devices.append(device)
    return devices


def _site(state, tenant, owner_id, letter, now):
    """The owner's site asset. Its ids are derived from the tenant's, not drawn from the
    scenario's generator: every id and alarm drawn after it stays what it was before sites."""
    name = f"Site {letter}"
    asset = Device(
        "ASSET",
        str(uuid.uuid5(uuid.UUID(tenant), name)),
        tenant,
        owner_id,
        name,
        "site",
        name,
        str(uuid.uuid5(uuid.UUID(tenant), "asset profile site")),
        now - 60 * DAY,
    )
    state.add_entity(asset)
    return asset


def _lognormal_ms(rng, median_ms, sigma):
    return int(median_ms * math.exp(rng.gauss(0, sigma)))


def build_demo(state, options, rng):
    ids = Ids(rng)
    now = now_ms()
    tenant, other_tenant, customers = _accounts(state, rng, ids, now)
    devices = _fleet(state, rng, ids, tenant, [*customers, None], (10, 8, 6, 8), now)
    # One device of the other tenant, with one alarm, for isolation checks.
    foreign = Device(
        "DEVICE",
        ids(),
        other_tenant,
        NULL_UUID,
        "Foreign Thermostat",
        "thermostat",
        "",
        ids(),
        now - 60 * DAY,
    )
    state.add_entity(foreign)
    users = [u for u in state.users.values() if u.tenant_id == tenant]
    # Customer A's first gateway belonged to nobody until ten days ago: its older alarms
    # keep customerId null, so customer A cannot see them (section 9, gotcha 2).
    adopted = next(d for d in devices if d.customer_id == customers[0].id and d.type == "gateway")
    adopted_since = now - 10 * DAY

    active = _active_now(state, rng, ids, devices, users, now)
    # History of a pair stops before its active alarm starts: one non-cleared alarm per
    # originator and type is ThingsBoard's dedup rule (section 4.6).
    history_ends = {(a.originator_id, a.type): a.start_ts for a in active}
    alarms = list(active)
    for device in devices:
        for alarm_type in alarm_types_for_profile(device.type):
            history_end = history_ends.get((device.id, alarm_type), now - 30 * MINUTE)
            # Most pairs fire every few days; a few flap several times a day.
            flapping = rng.random() < 0.04
            mean_gap = 5 * HOUR if flapping else rng.uniform(3, 12) * DAY
            t = now - 30 * DAY + int(rng.expovariate(1 / mean_gap))
            while True:
                duration = _lognormal_ms(rng, (12 if flapping else 40) * MINUTE, 1.0)
                duration = min(max(duration, 2 * MINUTE), 2 * DAY)
                if t + duration >= history_end:
                    break
                customer = None if device.customer_id == NULL_UUID else device.customer_id
                if device is adopted and t < adopted_since:
                    customer = None
                alarms.append(
                    _history_alarm(
                        state, rng, ids, device, alarm_type, customer, t, duration, users
                    )
                )
                t += duration + int(rng.expovariate(1 / mean_gap)) + MINUTE
    alarms.append(
        Alarm(
            ids(),
            other_tenant,
            None,
            "High Temperature",
            "DEVICE",
            foreign.id,
            "CRITICAL",
            now - HOUR,
            now - HOUR,
            now - HOUR,
        )
    )
    history = sorted(alarms, key=lambda a: a.created_time)
    # One batch, as one insert_alarm each in this order would store them: the store sorts
    # its lists once instead of once an alarm (every test resets to this world).
    state.insert_alarms(history)
    for alarm in history:
        rule_device = state.devices.get(alarm.originator_id)
        if rule_device is not None:
            state.telemetry.add_episode(
                alarm.originator_id,
                alarm.type,
                alarm.start_ts,
                alarm.clear_ts if alarm.cleared else None,
            )


def _history_alarm(state, rng, ids, device, alarm_type, customer, start, duration, users):
    """A past alarm with realistic times to acknowledge and clear, and its system comments."""
    severity = SEVERITY_BY_TYPE[alarm_type]
    alarm = Alarm(
        ids(),
        device.tenant_id,
        customer,
        alarm_type,
        "DEVICE",
        device.id,
        severity,
        created_time=start + rng.randint(5, 900),
        start_ts=start,
        end_ts=start + int(duration * rng.uniform(0.3, 1.0)),
        details={"data": _reading_text(alarm_type)},
    )
    people = [u for u in users if u.customer_id in (NULL_UUID, customer)]
    clear_ts = start + duration
    if rng.random() < 0.3:
        assignee = rng.choice(people)
        alarm.assignee_id, alarm.assign_ts = assignee.id, start + _lognormal_ms(rng, 3 * MINUTE, 1)
        _comment(
            state, alarm, rng.choice(people), "ASSIGNED_TO_USER", alarm.assign_ts, assignee=assignee
        )
    if rng.random() < 0.85:
        ack_ts = start + _lognormal_ms(rng, 7 * MINUTE, 1.2)
        if ack_ts < clear_ts or rng.random() < 0.5:
            alarm.acknowledged, alarm.ack_ts = True, ack_ts
            _comment(state, alarm, rng.choice(people), "ACKED_BY_USER", ack_ts)
    alarm.cleared, alarm.clear_ts = True, clear_ts
    if rng.random() < 0.6:
        _comment(state, alarm, rng.choice(people), "CLEARED_BY_USER", clear_ts)
    if rng.random() < 0.15:
        author = rng.choice(people)
        state.add_comment_record(
            alarm.id,
            author.id,
            "OTHER",
            {"text": rng.choice(OPERATOR_NOTES)},
            created_time=start + (clear_ts - start) // 2,
        )
    return alarm


def _active_now(state, rng, ids, devices, users, now):
    """A dozen alarms active now, a few already acknowledged or assigned."""
    pairs = [(d, t) for d in devices for t in alarm_types_for_profile(d.type)]
    active = []
    for device, alarm_type in rng.sample(pairs, 12):
        start = now - _lognormal_ms(rng, 50 * MINUTE, 1.5)
        start = max(start, now - 3 * DAY)
        customer = None if device.customer_id == NULL_UUID else device.customer_id
        alarm = Alarm(
            ids(),
            device.tenant_id,
            customer,
            alarm_type,
            "DEVICE",
            device.id,
            SEVERITY_BY_TYPE[alarm_type],
            created_time=min(now, start + rng.randint(5, 900)),
            start_ts=start,
            end_ts=start + (now - start) // 2,
            details={"data": _reading_text(alarm_type)},
        )
        people = [u for u in users if u.customer_id in (NULL_UUID, customer)]
        roll = rng.random()
        if roll < 0.3:
            alarm.acknowledged, alarm.ack_ts = True, start + (now - start) // 4
            _comment(state, alarm, rng.choice(people), "ACKED_BY_USER", alarm.ack_ts)
        elif roll < 0.45:
            assignee = rng.choice(people)
            alarm.assignee_id, alarm.assign_ts = assignee.id, start + (now - start) // 3
            _comment(
                state,
                alarm,
                rng.choice(people),
                "ASSIGNED_TO_USER",
                alarm.assign_ts,
                assignee=assignee,
            )
        active.append(alarm)
    return active


def _comment(state, alarm, user, subtype, ts, assignee=None):
    texts = {
        "ACKED_BY_USER": f"Alarm was acknowledged by user {user.title}",
        "CLEARED_BY_USER": f"Alarm was cleared by user {user.title}",
        "ASSIGNED_TO_USER": f"Alarm was assigned by user {user.title} to user "
        f"{assignee.title if assignee else ''}",
    }
    comment = {"text": texts[subtype], "subtype": subtype, "userName": user.title}
    if assignee is not None:
        comment["assigneeName"] = assignee.title
    state.add_comment_record(alarm.id, user.id, "SYSTEM", comment, created_time=ts)


def _reading_text(alarm_type):
    rule = ALARM_RULES[alarm_type]
    if rule.key is None:
        return "No telemetry received for 10 minutes"
    word = "above" if rule.direction == "above" else "below"
    return f"{rule.key} {word} threshold {rule.threshold}"


def build_scale(state, options, rng):
    """`--alarms N --active M` over a fleet large enough for M distinct active pairs.

    Built for 1,000,000 alarms within a minute on one core, so the loop avoids per-alarm
    Python overhead: the random draws are `Random.randint`'s own (rejection sampling over
    getrandbits), written out, so a seed gives the same world as before; ids are formatted
    from their 128 random bits directly; each alarm is built in one call; the store takes
    them in one batch; and the cyclic garbage collector waits meanwhile.
    """
    with _collector_paused():
        _build_scale(state, options, rng)


@contextmanager
def _collector_paused():
    """Millions of new objects and none of them garbage: the cyclic collector would only walk
    them again and again (a quarter of the build's time at 1,000,000 alarms). Afterwards
    they are frozen out of its reach: otherwise the first collections after the build walk
    them all, two or three times (one full collection took 5.8 s while serving), and every
    later full one again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _build_scale(state, options, rng):
    ids = Ids(rng)
    now = now_ms()
    tenant, _, customers = _accounts(state, rng, ids, now)
    per_owner = max(8, options.active // 12 + 10)
    devices = _fleet(state, rng, ids, tenant, [*customers, None], (per_owner,) * 4, now)
    pairs = [(d, t) for d in devices for t in alarm_types_for_profile(d.type)]
    if len(pairs) < options.active:
        raise ValueError("not enough devices for that many active alarms")
    active_pairs = rng.sample(pairs, options.active)
    cleared = max(0, options.alarms - options.active)
    # What each alarm needs of its pair, computed once per pair, not once per alarm.
    facts = {
        id(pair): (
            pair[0].id,
            pair[1],
            None if pair[0].customer_id == NULL_UUID else pair[0].customer_id,
            SEVERITY_BY_TYPE[pair[1]],
        )
        for pair in pairs
    }
    pair_facts = [facts[id(pair)] for pair in pairs]
    active_facts = [facts[id(pair)] for pair in active_pairs]
    bits = rng.getrandbits
    random_ = rng.random
    # The ids: str(uuid.UUID(int=bits(128), version=4)), without the UUID object.
    keep, mark = ~((0xC000 << 48) | (0xF000 << 64)), (0x8000 << 48) | (4 << 76)
    # randint(a, b) is a + Random._randbelow(b - a + 1), and _randbelow(n) draws
    # getrandbits(n.bit_length()) until the draw is below n. Each draw below is that, written
    # out (the calls and checks were a third of the loop), so a seed gives the world it did.
    pair_n = len(pairs)
    pair_k = pair_n.bit_length()
    old_low, old_n = 3 * DAY, 27 * DAY + 1
    recent_low, recent_n = MINUTE, 3 * DAY - MINUTE + 1
    created_low, created_n = 5, 896
    end_n = HOUR + 1
    ack_low, ack_n = MINUTE, 2 * HOUR - MINUTE + 1
    clear_low, clear_n = 2 * HOUR, 2 * DAY - 2 * HOUR + 1
    old_k, recent_k, created_k = old_n.bit_length(), recent_n.bit_length(), created_n.bit_length()
    end_k, ack_k, clear_k = end_n.bit_length(), ack_n.bit_length(), clear_n.bit_length()
    records = []
    append = records.append
    for i in range(options.alarms):
        is_cleared = i < cleared
        if is_cleared:
            r = bits(pair_k)
            while r >= pair_n:
                r = bits(pair_k)
            device_id, alarm_type, customer, severity = pair_facts[r]
            r = bits(old_k)
            while r >= old_n:
                r = bits(old_k)
            start = now - (old_low + r)
        else:
            device_id, alarm_type, customer, severity = active_facts[i - cleared]
            r = bits(recent_k)
            while r >= recent_n:
                r = bits(recent_k)
            start = now - (recent_low + r)
        h = f"{(bits(128) & keep) | mark:032x}"
        alarm_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        r = bits(created_k)
        while r >= created_n:
            r = bits(created_k)
        created = start + created_low + r
        created = created if created < now else now
        # ThingsBoard stamps these itself: never later than now.
        r = bits(end_k)
        while r >= end_n:
            r = bits(end_k)
        end = start + r
        end = end if end < now else now
        acknowledged = random_() < 0.6
        ack_ts = clear_ts = 0
        if acknowledged:
            r = bits(ack_k)
            while r >= ack_n:
                r = bits(ack_k)
            ack_ts = start + ack_low + r
            ack_ts = ack_ts if ack_ts < now else now
        if is_cleared:
            r = bits(clear_k)
            while r >= clear_n:
                r = bits(clear_k)
            clear_ts = start + clear_low + r
        append(
            Alarm(
                alarm_id,
                tenant,
                customer,
                alarm_type,
                "DEVICE",
                device_id,
                severity,
                created,
                start,
                end,
                acknowledged,
                is_cleared,
                ack_ts,
                clear_ts,
            )
        )
    records.sort(key=attrgetter("created_time"))
    state.insert_alarms(records)
