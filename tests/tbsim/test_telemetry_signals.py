"""The simulator's telemetry: readings that explain the alarms raised on them."""

import os
import subprocess
import sys
import time
import uuid
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alarmdesk.tbsim.app import Options, Simulator
from alarmdesk.tbsim.state import now_ms
from alarmdesk.tbsim.telemetry import (
    ALARM_RULES,
    DEVICE_PROFILES,
    SAMPLE_MS,
    Telemetry,
    alarm_types_for_profile,
)

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# 2026-01-01 12:00:17 UTC: alarms start between two samples, as real ones do.
START = 1_767_268_817_000
END = START + 6 * HOUR

THRESHOLD_RULES = [rule for rule in ALARM_RULES.values() if rule.direction != "silent"]
DEVICES = st.text(min_size=1, max_size=40)
TIMES = st.integers(min_value=1_500_000_000_000, max_value=2_500_000_000_000)


def beyond(rule, value):
    return value > rule.threshold if rule.direction == "above" else value < rule.threshold


def profile_with(key):
    return next(profile for profile, keys in DEVICE_PROFILES.items() if key in keys)


def readings(telemetry, profile, key, start, end, device="dev-1"):
    """Every sample of one key in [start, end), oldest first."""
    series = telemetry.history(device, profile, [key], start, end, limit=10**6, order_desc=False)
    return series.get(key, [])


def with_episode(alarm_type, start=START, end=END, device="dev-1"):
    telemetry = Telemetry()
    telemetry.add_episode(device, alarm_type, start, end)
    return telemetry


def test_profiles_report_their_keys():
    telemetry = Telemetry()
    assert telemetry.keys("dev-1", "thermostat") == ["temperature", "humidity"]
    assert telemetry.keys("dev-1", "no-such-profile") == []


def test_alarm_types_for_a_profile_watch_its_keys_or_its_silence():
    assert alarm_types_for_profile("thermostat") == [
        "High Temperature",
        "Low Temperature",
        "High Humidity",
        "Device Offline",
    ]
    assert all("Device Offline" in alarm_types_for_profile(p) for p in DEVICE_PROFILES)


def test_every_alarm_type_fits_some_profile():
    assert len(ALARM_RULES) >= 8
    fitting = {name for profile in DEVICE_PROFILES for name in alarm_types_for_profile(profile)}
    assert fitting == set(ALARM_RULES)


def test_samples_fall_on_whole_minutes():
    series = readings(Telemetry(), "pump", "pressure", START, START + HOUR)
    assert [ts for ts, _ in series] == list(range(START + 43_000, START + HOUR, SAMPLE_MS))


@given(device=DEVICES, profile=st.sampled_from(sorted(DEVICE_PROFILES)), now=TIMES)
def test_baseline_never_crosses_any_threshold(device, profile, now):
    keys = list(DEVICE_PROFILES[profile])
    latest = Telemetry().latest(device, profile, keys, now)
    assert set(latest) == set(keys)
    for key, (_, value) in latest.items():
        for rule in THRESHOLD_RULES:
            if rule.key == key:
                assert not beyond(rule, value), (rule.alarm_type, value)


def test_temperature_crosses_threshold_at_alarm_start():
    telemetry = with_episode("High Temperature")
    series = readings(telemetry, "thermostat", "temperature", START - HOUR, END)
    quiet = readings(Telemetry(), "thermostat", "temperature", START - HOUR, START)
    ramp_begins = START - 10 * MINUTE
    # Untouched until ten minutes before the alarm, then heading for 30 °C without reaching it.
    assert [s for s in series if s[0] < ramp_begins] == [s for s in quiet if s[0] < ramp_begins]
    last_before, first_after = [
        value for ts, value in series if START - MINUTE <= ts < START + MINUTE
    ]
    assert 28.5 <= last_before <= 30 < first_after


@given(rule=st.sampled_from(THRESHOLD_RULES), device=DEVICES, start=TIMES)
def test_each_alarm_reading_crosses_its_threshold_at_alarm_start(rule, device, start):
    profile = profile_with(rule.key)
    telemetry = with_episode(rule.alarm_type, start, start + HOUR, device)
    # Two days and more: a battery drains for two days before its alarm.
    series = readings(telemetry, profile, rule.key, start - 2 * DAY - HOUR, start + HOUR, device)
    before = [value for ts, value in series if ts < start]
    first_after = next(value for ts, value in series if ts >= start)
    assert not any(beyond(rule, value) for value in before)
    assert beyond(rule, first_after)


@given(
    rule=st.sampled_from(THRESHOLD_RULES),
    device=DEVICES,
    start=TIMES,
    duration=st.integers(min_value=1, max_value=DAY),
)
def test_reading_stays_beyond_threshold_until_cleared(rule, device, start, duration):
    profile = profile_with(rule.key)
    telemetry = with_episode(rule.alarm_type, start, start + duration, device)
    series = readings(telemetry, profile, rule.key, start, start + duration, device)
    assert all(beyond(rule, value) for _, value in series)


@given(
    rule=st.sampled_from(THRESHOLD_RULES),
    device=DEVICES,
    start=TIMES,
    duration=st.integers(min_value=1, max_value=3 * HOUR),
    gap=st.integers(min_value=0, max_value=30 * MINUTE),
)
def test_back_to_back_alarms_each_cross_at_their_start(rule, device, start, duration, gap):
    first = (start, start + duration)
    second = (first[1] + gap, first[1] + gap + HOUR)
    telemetry = Telemetry()
    for begins, ends in (first, second):
        telemetry.add_episode(device, rule.alarm_type, begins, ends)
    series = readings(telemetry, profile_with(rule.key), rule.key, start, second[1], device)
    for ts, value in series:
        if first[0] <= ts < first[1] or second[0] <= ts < second[1]:
            assert beyond(rule, value)
        elif ts >= second[0] - 10 * MINUTE:
            assert not beyond(rule, value)


def test_alarm_reading_wobbles_while_active():
    series = readings(with_episode("High CO2"), "air-quality", "co2", START, END)
    assert len({value for _, value in series}) > 10


def test_active_alarm_reading_stays_beyond_threshold_indefinitely():
    telemetry = Telemetry()
    telemetry.open_episode("dev-1", "High Pressure", START)
    series = readings(telemetry, "pump", "pressure", START + 20 * DAY, START + 21 * DAY)
    assert all(value > 6.0 for _, value in series)


@pytest.mark.parametrize("rule", THRESHOLD_RULES, ids=lambda rule: rule.alarm_type)
def test_reading_returns_to_baseline_after_clear(rule):
    profile = profile_with(rule.key)
    settled = (END + 5 * MINUTE, END + 2 * HOUR)
    quiet = readings(Telemetry(), profile, rule.key, *settled)
    assert readings(with_episode(rule.alarm_type), profile, rule.key, *settled) == quiet


def test_battery_drains_to_threshold_at_alarm_start():
    telemetry = with_episode("Low Battery")
    series = readings(telemetry, "door-sensor", "battery", START - 2 * DAY, START + HOUR)
    draining = [value for ts, value in series if ts < START]
    assert draining[0] > 80
    assert all(later <= earlier for earlier, later in pairwise(draining))
    assert draining[-1] == 20
    assert next(value for ts, value in series if ts >= START) < 20


def test_battery_is_full_again_once_replaced():
    series = readings(with_episode("Low Battery"), "door-sensor", "battery", END, END + HOUR)
    assert all(value > 80 for _, value in series)


def test_leak_flag_rises_at_alarm_start_and_falls_at_clear():
    series = readings(
        with_episode("Leak Detected"), "water-meter", "leak", START - HOUR, END + HOUR
    )
    flags = {ts: value for ts, value in series}
    assert {value for ts, value in flags.items() if START <= ts < END} == {1}
    assert {value for ts, value in flags.items() if not START <= ts < END} == {0}
    assert all(isinstance(value, int) for value in flags.values())


def test_silent_device_has_no_samples_during_outage():
    telemetry = with_episode("Device Offline")
    series = telemetry.history(
        "dev-1", "pump", list(DEVICE_PROFILES["pump"]), START - HOUR, END + HOUR, limit=10**6
    )
    for points in series.values():
        stamps = [ts for ts, _ in points]
        assert not [ts for ts in stamps if START <= ts < END]
        assert min(stamps) < START
        assert max(stamps) >= END


def test_latest_during_outage_is_the_last_sample_before_it():
    telemetry = with_episode("Device Offline")
    last_before = (START // SAMPLE_MS) * SAMPLE_MS
    latest = telemetry.latest("dev-1", "thermostat", ["temperature"], START + HOUR)
    assert latest["temperature"][0] == last_before
    assert telemetry.last_sample_ts("dev-1", START + HOUR) == last_before
    assert not telemetry.is_online("dev-1", START + HOUR)
    assert telemetry.is_online("dev-1", END)


def test_device_offline_until_cleared_stays_silent():
    telemetry = Telemetry()
    telemetry.open_episode("dev-1", "Device Offline", START)
    assert telemetry.history("dev-1", "gateway", ["rssi"], START, START + 30 * DAY) == {}
    assert telemetry.last_sample_ts("dev-1", START + 30 * DAY) < START
    telemetry.close_episode("dev-1", "Device Offline", END)
    assert telemetry.last_sample_ts("dev-1", START + 30 * DAY) == START + 30 * DAY - 17_000


def test_a_reading_alarm_on_a_silent_device_ends_its_silence_with_that_reading():
    telemetry = Telemetry()
    telemetry.open_episode("dev-1", "Device Offline", START)
    telemetry.open_episode("dev-1", "High Temperature", START + 2 * HOUR)
    assert not readings(telemetry, "thermostat", "temperature", START, START + 2 * HOUR)
    series = readings(telemetry, "thermostat", "temperature", START + 2 * HOUR, END)
    assert series
    assert all(value > 30 for _, value in series)
    assert telemetry.is_online("dev-1", END)


def first_reading_since(state, alarm, until):
    """The originator's first reading of the alarm's key at or after its start, or None."""
    device = state.devices[alarm.originator_id]
    key = ALARM_RULES[alarm.type].key
    series = state.telemetry.history(
        device.id, device.type, [key], alarm.start_ts, until, limit=1, order_desc=False
    )
    return next(iter(series.get(key, ())), (None, None))[1]


def reading_alarms(alarms, state):
    """The alarms raised by a device's reading (not by its silence, nor by a client)."""
    rules = {rule.alarm_type for rule in THRESHOLD_RULES}
    return [a for a in alarms if a.originator_id in state.devices and a.type in rules]


def test_every_demo_alarm_shows_the_reading_that_raised_it():
    state = Simulator(Options(scenario="demo")).state
    now = now_ms()
    for alarm in reading_alarms(state.alarms.values(), state):
        until = alarm.clear_ts + 1 if alarm.cleared else now + 1
        value = first_reading_since(state, alarm, until)
        rule = ALARM_RULES[alarm.type]
        assert value is not None, (alarm.type, alarm.originator_id)
        assert beyond(rule, value), (alarm.type, alarm.originator_id, value)


def test_an_alarm_the_generator_raises_shows_its_reading_at_once():
    sim = Simulator(Options(scenario="demo"))
    state, seen = sim.state, 0
    for _ in range(300):
        for event in sim.generator_step():
            alarm = state.alarms[str(uuid.UUID(event["alarm"]))]
            if event["event"] != "raised" or not reading_alarms([alarm], state):
                continue
            value = first_reading_since(state, alarm, now_ms() + 1)
            assert value is not None, (alarm.type, event["device"])
            assert beyond(ALARM_RULES[alarm.type], value), (alarm.type, event["device"], value)
            seen += 1
    assert seen > 20


def test_overlapping_alarms_on_different_keys_compose():
    telemetry = Telemetry()
    telemetry.add_episode("dev-1", "High Temperature", START, END)
    telemetry.add_episode("dev-1", "High Humidity", START + HOUR, END + HOUR)
    telemetry.add_episode("dev-1", "Device Offline", START + 2 * HOUR, START + 3 * HOUR)
    series = telemetry.history(
        "dev-1", "thermostat", ["temperature", "humidity"], START, END + HOUR, limit=10**6
    )
    temperature = dict(series["temperature"])
    humidity = dict(series["humidity"])
    assert all(value > 30 for ts, value in temperature.items() if ts < END)
    assert all(value > 70 for ts, value in humidity.items() if ts >= START + HOUR)
    assert not [ts for ts in temperature if START + 2 * HOUR <= ts < START + 3 * HOUR]


def test_a_retriggered_alarm_keeps_crossing_at_its_first_start():
    telemetry = Telemetry()
    telemetry.open_episode("dev-1", "High Vibration", START)
    telemetry.open_episode("dev-1", "High Vibration", START + HOUR)
    series = readings(telemetry, "pump", "vibration", START, START + 2 * HOUR)
    assert all(value > 7.1 for _, value in series)


def test_clearing_an_alarm_without_an_episode_changes_nothing():
    telemetry = Telemetry()
    telemetry.close_episode("dev-1", "High Temperature", END)
    telemetry.close_episode("dev-1", "Somebody's Custom Alarm", END)
    assert readings(telemetry, "thermostat", "temperature", START, END) == readings(
        Telemetry(), "thermostat", "temperature", START, END
    )


def test_alarm_types_without_a_rule_leave_readings_alone():
    telemetry = Telemetry()
    telemetry.open_episode("dev-1", "Somebody's Custom Alarm", START)
    assert readings(telemetry, "thermostat", "temperature", START, END) == readings(
        Telemetry(), "thermostat", "temperature", START, END
    )


def test_an_episode_cannot_end_before_it_starts():
    with pytest.raises(ValueError, match="before its start"):
        Telemetry().add_episode("dev-1", "High Temperature", START, START - 1)


def test_latest_is_the_last_sample_at_or_before_now():
    telemetry = Telemetry()
    on_sample = START - 17_000
    assert telemetry.latest("dev-1", "pump", ["power"], on_sample)["power"][0] == on_sample
    assert telemetry.latest("dev-1", "pump", ["power"], on_sample - 1)["power"][0] == (
        on_sample - SAMPLE_MS
    )


def test_latest_leaves_out_keys_the_profile_lacks():
    latest = Telemetry().latest("dev-1", "door-sensor", ["door", "temperature", "door"], START)
    assert list(latest) == ["door"]
    assert latest["door"][1] == 0


def test_history_end_is_exclusive():
    on_sample = START - 17_000
    series = readings(Telemetry(), "gateway", "rssi", on_sample, on_sample + 3 * SAMPLE_MS)
    assert [ts for ts, _ in series] == [on_sample, on_sample + SAMPLE_MS, on_sample + 2 * SAMPLE_MS]


def test_history_default_limit_and_newest_first():
    series = Telemetry().history("dev-1", "gateway", ["rssi", "cpu"], START - 30 * DAY, START)
    for points in series.values():
        stamps = [ts for ts, _ in points]
        assert len(stamps) == 100
        assert stamps[0] == START - 17_000
        assert stamps == sorted(stamps, reverse=True)


def test_history_in_ascending_order_starts_from_the_oldest():
    series = Telemetry().history(
        "dev-1", "gateway", ["rssi"], START, START + DAY, limit=3, order_desc=False
    )
    assert [ts for ts, _ in series["rssi"]] == [START + 43_000 + n * SAMPLE_MS for n in range(3)]


def test_history_leaves_out_keys_without_data_in_range():
    telemetry = with_episode("Device Offline")
    assert telemetry.history("dev-1", "pump", ["pressure"], START + 1, START + 2) == {}
    assert telemetry.history("dev-1", "pump", ["pressure"], START + MINUTE, START + HOUR) == {}
    assert telemetry.history("dev-1", "pump", ["no-such-key"], START - DAY, START) == {}


def test_aggregates_by_interval():
    telemetry = Telemetry()
    begin, end = START, START + 2 * HOUR + 30 * MINUTE
    raw = readings(telemetry, "air-quality", "co2", begin, end)

    def aggregate(agg):
        series = telemetry.history(
            "dev-1", "air-quality", ["co2"], begin, end, interval=HOUR, agg=agg, order_desc=False
        )
        return series["co2"]

    counts = aggregate("COUNT")
    # Stamped at the middle of each interval; the last one is cut short by endTs.
    assert [ts for ts, _ in counts] == [
        begin + 30 * MINUTE,
        begin + 90 * MINUTE,
        begin + 135 * MINUTE,
    ]
    assert [count for _, count in counts] == [60, 60, 30]
    first_hour = [value for ts, value in raw if ts < begin + HOUR]
    assert aggregate("MIN")[0][1] == min(first_hour)
    assert aggregate("MAX")[0][1] == max(first_hour)
    assert aggregate("SUM")[0][1] == sum(first_hour)
    assert aggregate("AVG")[0][1] == pytest.approx(sum(first_hour) / 60, abs=0.05)


def test_aggregates_come_newest_first_by_default():
    series = Telemetry().history(
        "dev-1", "pump", ["power"], START, START + DAY, interval=HOUR, agg="AVG"
    )
    stamps = [ts for ts, _ in series["power"]]
    assert len(stamps) == 24
    assert stamps == sorted(stamps, reverse=True)


def test_aggregate_leaves_out_intervals_without_samples():
    telemetry = with_episode("Device Offline", START + HOUR, START + 2 * HOUR)
    series = telemetry.history(
        "dev-1", "pump", ["pressure"], START, START + 3 * HOUR, interval=HOUR, agg="COUNT"
    )
    assert series["pressure"] == [(START + 150 * MINUTE, 60), (START + 30 * MINUTE, 60)]


def test_zero_interval_turns_aggregation_off():
    series = Telemetry().history("dev-1", "pump", ["power"], START, START + DAY, agg="AVG")
    assert len(series["power"]) == 100


def test_unknown_aggregation_is_rejected():
    with pytest.raises(ValueError, match="MEDIAN"):
        Telemetry().history("dev-1", "pump", ["power"], START, END, interval=HOUR, agg="MEDIAN")


def test_values_are_deterministic_across_instances():
    def sampled():
        telemetry = with_episode("High Humidity")
        return telemetry.history("dev-1", "thermostat", ["temperature", "humidity"], START, END)

    assert sampled() == sampled()


def test_values_are_deterministic_across_processes():
    # Python salts hash() per process; the readings must not depend on it.
    script = (
        "from alarmdesk.tbsim.telemetry import Telemetry;"
        f"print(Telemetry().latest('dev-1', 'thermostat', ['temperature', 'humidity'], {START}))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert str(Telemetry().latest("dev-1", "thermostat", ["temperature", "humidity"], START)) in (
        outputs.pop()
    )


def test_a_busy_device_answers_long_ranges_quickly():
    telemetry = Telemetry()
    for n in range(300):
        begins = START - 30 * DAY + n * 2 * HOUR
        telemetry.add_episode(
            "dev-1", ("High Temperature", "Device Offline")[n % 2], begins, begins + HOUR
        )

    began = time.perf_counter()
    raw = telemetry.history("dev-1", "thermostat", ["temperature"], START - 30 * DAY, START)
    averages = telemetry.history(
        "dev-1", "thermostat", ["temperature"], START - 7 * DAY, START, interval=HOUR, agg="AVG"
    )
    elapsed = time.perf_counter() - began

    assert len(raw["temperature"]) == 100
    assert averages["temperature"]
    # Measured at about 25 ms; the bound leaves room for a slow CI machine.
    assert elapsed < 0.5
