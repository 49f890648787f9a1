"""Device telemetry: a deterministic function of time for every device and key.

Each key follows a smooth baseline that stays on the normal side of every alarm threshold,
so a reading crosses a threshold only while an alarm says it should. An alarm's episode
bends its key past the threshold: the reading heads for the threshold, crosses it at the
alarm's start, stays beyond it until the alarm is cleared, then settles back. A "Device
Offline" episode removes every sample of the device while it lasts. Only the episodes are
stored; the samples are computed when asked for.
"""

import math
import threading
import zlib
from bisect import bisect_right
from dataclasses import dataclass, replace
from itertools import groupby, islice
from statistics import fmean

SAMPLE_MS = 60_000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
TAU = 2 * math.pi
# Not a whole number of days, so the slow drift never lines up with the daily swing.
DRIFT_MS = 5 * DAY_MS + 7 * HOUR_MS
WOBBLE_MS = 47 * MINUTE_MS

Value = float | int


@dataclass(frozen=True)
class _Signal:
    """How one key behaves: base, daily swing, slow drift and per-sample jitter, and how an
    alarm reading looks: `excess` to `excess + wobble` past the threshold."""

    base: float
    daily: float
    drift: float
    jitter: float
    decimals: int  # 0: the key reports integers
    excess: float = 0.0
    wobble: float = 0.0
    lead_ms: int = 10 * MINUTE_MS  # how long the reading takes to reach the threshold
    recovery_ms: int = 5 * MINUTE_MS  # how long it takes to settle after the clear


# Flags do not ramp: a leak or an open door is there or not.
_FLAG = _Signal(0, 0, 0, 0, 0, excess=0.5, lead_ms=0, recovery_ms=0)

_SIGNALS = {
    "temperature": _Signal(21.0, 2.5, 1.5, 0.3, 1, excess=0.6, wobble=3.0),  # °C
    "humidity": _Signal(45.0, 6.0, 4.0, 1.0, 1, excess=1.0, wobble=8.0),  # % RH
    # A battery drains for two days before it raises an alarm, and a replaced one is full
    # at once; no jitter, so the drain reads as a steady fall.
    "battery": _Signal(88, 0, 4, 0, 0, excess=2, lead_ms=2 * DAY_MS, recovery_ms=0),  # %
    "pressure": _Signal(4.0, 0.3, 0.2, 0.05, 2, excess=0.15, wobble=0.8),  # bar
    "vibration": _Signal(2.4, 0.5, 0.4, 0.2, 2, excess=0.3, wobble=3.0),  # mm/s RMS
    "power": _Signal(5.5, 1.0, 0.5, 0.1, 2),  # kW
    "co2": _Signal(650, 150, 80, 20, 0, excess=30, wobble=400),  # ppm
    "flow": _Signal(1.2, 0.6, 0.2, 0.05, 2),  # m³/h
    "leak": _FLAG,
    "door": _FLAG,
    "rssi": _Signal(-67, 4, 3, 2, 0, excess=3, wobble=8),  # dBm
    "cpu": _Signal(25.0, 10.0, 5.0, 3.0, 1),  # %
}

DEVICE_PROFILES: dict[str, tuple[str, ...]] = {
    "thermostat": ("temperature", "humidity"),
    "temperature-sensor": ("temperature", "battery"),
    "air-quality": ("co2", "temperature", "humidity"),
    "pump": ("pressure", "vibration", "power"),
    "water-meter": ("flow", "leak", "battery"),
    "door-sensor": ("door", "battery"),
    "gateway": ("rssi", "cpu"),
}


@dataclass(frozen=True)
class AlarmRule:
    """An alarm type and the reading that raises it: `key` strictly above or below
    `threshold`, or, for "silent", a device that sends nothing (key and threshold None)."""

    alarm_type: str
    key: str | None
    threshold: float | None
    direction: str


ALARM_RULES: dict[str, AlarmRule] = {
    rule.alarm_type: rule
    for rule in (
        AlarmRule("High Temperature", "temperature", 30, "above"),
        AlarmRule("Low Temperature", "temperature", 10, "below"),
        AlarmRule("High Humidity", "humidity", 70, "above"),
        AlarmRule("Low Battery", "battery", 20, "below"),
        AlarmRule("High Pressure", "pressure", 6.0, "above"),
        AlarmRule("High Vibration", "vibration", 7.1, "above"),  # ISO 10816 zone D
        AlarmRule("High CO2", "co2", 1200, "above"),
        AlarmRule("Leak Detected", "leak", 0.5, "above"),
        AlarmRule("Door Open", "door", 0.5, "above"),
        AlarmRule("Weak Signal", "rssi", -90, "below"),
        AlarmRule("Device Offline", None, None, "silent"),
    )
}


def alarm_types_for_profile(profile: str) -> list[str]:
    """The alarm types a device of this profile can plausibly raise."""
    keys = DEVICE_PROFILES.get(profile, ())
    return [name for name, rule in ALARM_RULES.items() if rule.key is None or rule.key in keys]


@dataclass(frozen=True)
class _Episode:
    rule: AlarmRule
    start: int
    end: int | None  # None while the alarm is active

    def active_at(self, ts: int) -> bool:
        return self.start <= ts and (self.end is None or ts < self.end)


@dataclass(frozen=True)
class _Index:
    """The episodes of one device key (or of its silences) cut into spans of time over which
    the same episodes shape the readings, so a sample finds them by bisection."""

    bounds: list[int]
    spans: list[tuple[_Episode, ...]]

    def span(self, ts: int) -> tuple[tuple[_Episode, ...], int | None, int | None]:
        """The episodes shaping `ts`, and where their span begins and ends (None: never)."""
        i = bisect_right(self.bounds, ts) - 1
        upper = self.bounds[i + 1] if i + 1 < len(self.bounds) else None
        if i < 0:
            return (), None, upper
        return self.spans[i], self.bounds[i], upper


class Telemetry:
    """Alarm episodes per device, and the readings they imply.

    Alarm types without a rule leave the readings alone: ThingsBoard lets clients raise
    alarms of any type. Safe to share between threads: queries work on immutable indexes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._episodes: dict[tuple[str, str | None], list[_Episode]] = {}
        self._indexes: dict[tuple[str, str | None], _Index] = {}

    def add_episode(
        self, device_id: str, alarm_type: str, start_ts: int, end_ts: int | None = None
    ) -> None:
        """Record an alarm's episode, cleared at `end_ts` or still active if None."""
        if end_ts is not None and end_ts < start_ts:
            raise ValueError(f"episode ends at {end_ts}, before its start at {start_ts}")
        with self._lock:
            self._insert(device_id, alarm_type, start_ts, end_ts)

    def open_episode(self, device_id: str, alarm_type: str, start_ts: int) -> None:
        """Start an active episode; a re-triggered alarm keeps the episode it already has."""
        with self._lock:
            if self._find_open(device_id, alarm_type) is None:
                self._insert(device_id, alarm_type, start_ts, None)

    def close_episode(self, device_id: str, alarm_type: str, end_ts: int) -> None:
        """End the active episode of this alarm type, if there is one."""
        with self._lock:
            found = self._find_open(device_id, alarm_type)
            if found is None:
                return
            episodes, i = found
            # Clients choose startTs (section 4.6) and may clear before it; the episode then
            # has no active part rather than a negative one.
            episodes[i] = replace(episodes[i], end=max(end_ts, episodes[i].start))
            self._indexes.pop((device_id, episodes[i].rule.key), None)

    def keys(self, device_id: str, profile: str) -> list[str]:
        """Every device of a profile reports the same keys; unknown profiles report none."""
        return list(DEVICE_PROFILES.get(profile, ()))

    def latest(
        self, device_id: str, profile: str, keys: list[str], now_ms: int
    ) -> dict[str, tuple[int, Value]]:
        """The last sample at or before `now_ms` of each requested key the profile has."""
        ts = self.last_sample_ts(device_id, now_ms)
        if ts is None:
            return {}
        return {
            key: (ts, _reading(device_id, key, ts, self._index(device_id, key)))
            for key in _known_keys(profile, keys)
        }

    def last_sample_ts(self, device_id: str, now_ms: int) -> int | None:
        """When the device last reported at or before `now_ms` (its lastActivityTime)."""
        silence = self._index(device_id, None)
        return next(_sample_times(silence, -math.inf, now_ms + 1, descending=True), None)

    def last_silence(self, device_id: str, now_ms: int) -> tuple[int, int | None] | None:
        """The device's latest silence begun at or before `now_ms`, as (start, end), with
        end None while it lasts at `now_ms`; None if the device was never silent."""
        index = self._index(device_id, None)
        i = bisect_right(index.bounds, now_ms) - 1
        while i >= 0 and not index.spans[i]:
            i -= 1
        if i < 0:
            return None
        end = index.bounds[i + 1] if i + 1 < len(index.bounds) else None
        begins = i
        while begins > 0 and index.spans[begins - 1]:  # overlapping silences are one
            begins -= 1
        return index.bounds[begins], end if end is not None and end <= now_ms else None

    def is_online(self, device_id: str, now_ms: int) -> bool:
        """False while a "Device Offline" episode lasts."""
        silent, _, _ = self._index(device_id, None).span(now_ms)
        return not silent

    def history(
        self,
        device_id: str,
        profile: str,
        keys: list[str],
        start_ts: int,
        end_ts: int,
        *,
        interval: int = 0,
        agg: str = "NONE",
        limit: int = 100,
        order_desc: bool = True,
    ) -> dict[str, list[tuple[int, Value]]]:
        """Samples in [start_ts, end_ts) per key, as ThingsBoard's history answers (section
        6.4): raw samples cut to `limit`, or one aggregate per `interval` bucket stamped at
        its middle. Keys without data in the range are absent."""
        if agg != "NONE" and agg not in _AGGREGATES:
            raise ValueError(f"unknown aggregation {agg!r}")
        if interval < 0:
            raise ValueError(f"interval must not be negative, got {interval}")
        # As in ThingsBoard, an interval of 0 turns any aggregation off.
        aggregate = agg != "NONE" and interval > 0
        silence = self._index(device_id, None)
        result = {}
        for key in _known_keys(profile, keys):
            index = self._index(device_id, key)
            if aggregate:
                times = _sample_times(silence, start_ts, end_ts, descending=False)
                samples = ((ts, _reading(device_id, key, ts, index)) for ts in times)
                decimals = _SIGNALS[key].decimals
                points = _aggregate(samples, agg, interval, start_ts, end_ts, decimals)
                if order_desc:
                    points.reverse()
            else:
                # Walking from the requested end means a 30-day range at the default limit
                # computes 100 samples, not 43,200.
                times = _sample_times(silence, start_ts, end_ts, descending=order_desc)
                points = [(ts, _reading(device_id, key, ts, index)) for ts in islice(times, limit)]
            if points:
                result[key] = points
        return result

    def _insert(self, device_id: str, alarm_type: str, start_ts: int, end_ts: int | None) -> None:
        rule = ALARM_RULES.get(alarm_type)
        if rule is None:
            return
        self._episodes.setdefault((device_id, rule.key), []).append(
            _Episode(rule, start_ts, end_ts)
        )
        self._indexes.pop((device_id, rule.key), None)
        self._indexes.pop((device_id, None), None)  # a reading may end a silence

    def _find_open(self, device_id: str, alarm_type: str) -> tuple[list[_Episode], int] | None:
        rule = ALARM_RULES.get(alarm_type)
        if rule is None:
            return None
        episodes = self._episodes.get((device_id, rule.key), [])
        for i in reversed(range(len(episodes))):
            if episodes[i].rule is rule and episodes[i].end is None:
                return episodes, i
        return None

    def _index(self, device_id: str, key: str | None) -> _Index:
        """The index of a device key (None: of its silences), rebuilt after any change."""
        with self._lock:
            index = self._indexes.get((device_id, key))
            if index is None:
                episodes = self._episodes.get((device_id, key), ())
                if key is None:
                    episodes = self._silences(device_id, episodes)
                index = _build_index(episodes)
                self._indexes[(device_id, key)] = index
            return index

    def _silences(self, device_id: str, episodes: list[_Episode]) -> list[_Episode]:
        """The device's silences, shortened so that every alarm raised by a reading has
        that reading (its first sample at or after the alarm's start): an alarm raised
        during a silence ends it (the device came back), and a silence that begins
        between an alarm's start and its first sample begins just after that sample."""
        starts = sorted(
            episode.start
            for (device, key), of_key in self._episodes.items()
            if device == device_id and key is not None
            for episode in of_key
        )
        shortened = []
        for episode in episodes:
            begins, ends = episode.start, episode.end
            for start in starts:
                if start < begins:
                    begins = max(begins, -(-start // SAMPLE_MS) * SAMPLE_MS + 1)
                elif ends is None or start < ends:
                    ends = start
                    break
                else:
                    break
            if ends is not None:
                begins = min(begins, ends)
            shortened.append(replace(episode, start=begins, end=ends))
        return shortened


def _known_keys(profile: str, keys: list[str]) -> list[str]:
    have = DEVICE_PROFILES.get(profile, ())
    return [key for key in dict.fromkeys(keys) if key in have]


def _window(episode: _Episode) -> tuple[int, int | None]:
    """When an episode shapes readings: from its lead-in to the end of its recovery."""
    if episode.rule.key is None:
        lead = recovery = 0
    else:
        signal = _SIGNALS[episode.rule.key]
        lead, recovery = signal.lead_ms, signal.recovery_ms
    end = None if episode.end is None else episode.end + recovery
    return episode.start - lead, end


def _build_index(episodes: list[_Episode]) -> _Index:
    """Sweep the episodes' windows in time order, recording who is live after each edge."""
    edges = []  # (ts, 0 = window opens / 1 = window closes, episode number)
    for n, episode in enumerate(episodes):
        opens, closes = _window(episode)
        edges.append((opens, 0, n))
        if closes is not None:
            edges.append((closes, 1, n))
    edges.sort()
    bounds, spans, live = [], [], {}
    for ts, group in groupby(edges, key=lambda edge: edge[0]):
        for _, closing, n in group:
            if closing:
                del live[n]
            else:
                live[n] = episodes[n]
        bounds.append(ts)
        spans.append(tuple(live.values()))
    return _Index(bounds, spans)


def _sample_times(silence: _Index, start_ts: float, end_ts: int, *, descending: bool):
    """Sample instants in [start_ts, end_ts), jumping over the device's silences."""
    if descending:
        ts = (end_ts - 1) // SAMPLE_MS * SAMPLE_MS
        while ts >= start_ts:
            silent, begins, _ = silence.span(ts)
            if silent:
                ts = (begins - 1) // SAMPLE_MS * SAMPLE_MS
                continue
            yield ts
            ts -= SAMPLE_MS
    else:
        ts = -(-start_ts // SAMPLE_MS) * SAMPLE_MS
        while ts < end_ts:
            silent, _, ends = silence.span(ts)
            if silent:
                if ends is None:
                    return
                ts = -(-ends // SAMPLE_MS) * SAMPLE_MS
                continue
            yield ts
            ts += SAMPLE_MS


def _reading(device_id: str, key: str, ts: int, index: _Index) -> Value:
    signal = _SIGNALS[key]
    value = _baseline(device_id, key, ts)
    episodes, _, _ = index.span(ts)
    if episodes:
        # When episodes of one key overlap, an active alarm's reading wins (it must stay
        # beyond its threshold), then the latest alarm's, so that a new alarm's lead-in
        # cuts short the recovery of the one before and still crosses at its own start.
        episode = max(episodes, key=lambda e: (e.active_at(ts), e.start))
        value = _shaped(episode, value, device_id, ts)
    return round(value, signal.decimals) if signal.decimals else round(value)


def _shaped(episode: _Episode, base: float, device_id: str, ts: int) -> float:
    """The reading at `ts` inside an episode's window, given the baseline there."""
    rule = episode.rule
    signal = _SIGNALS[rule.key]
    if ts < episode.start:
        # The lead-in aims at the threshold itself, so every sample before the start stays
        # on the normal side and the first one at or after it is the first beyond.
        progress = 1 - (episode.start - ts) / signal.lead_ms
        return base + progress * (rule.threshold - base)
    sign = 1 if rule.direction == "above" else -1
    beyond = rule.threshold + sign * (signal.excess + signal.wobble * _wobble(device_id, ts))
    if episode.active_at(ts):
        return beyond
    remaining = 1 - (ts - episode.end) / signal.recovery_ms
    return base + remaining * (beyond - base)


def _baseline(device_id: str, key: str, ts: int) -> float:
    signal = _SIGNALS[key]
    return (
        signal.base
        + signal.daily * math.sin(TAU * ts / DAY_MS + _phase(device_id, key, "daily"))
        + signal.drift * math.sin(TAU * ts / DRIFT_MS + _phase(device_id, key, "drift"))
        + signal.jitter * _jitter(device_id, key, ts)
    )


def _wobble(device_id: str, ts: int) -> float:
    """How far, from 0 to 1, an alarm reading strays past its usual excess."""
    swing = math.sin(TAU * ts / WOBBLE_MS + _phase(device_id, "wobble"))
    return 0.5 + 0.35 * swing + 0.15 * _jitter(device_id, "wobble", ts)


def _phase(*names: str) -> float:
    """A stable angle per name, so no two devices swing in step."""
    return zlib.crc32("/".join(names).encode()) / 2**32 * TAU


def _jitter(device_id: str, key: str, ts: int) -> float:
    """Pseudo-noise in [-1, 1) per sample; crc32, unlike hash(), is the same in every process."""
    return zlib.crc32(f"{device_id}/{key}/{ts // SAMPLE_MS}".encode()) / 2**31 - 1


def _aggregate(samples, agg: str, interval: int, start_ts: int, end_ts: int, decimals: int):
    """One point per interval bucket that has samples, stamped at the bucket's middle (the
    last bucket ends at end_ts), as ThingsBoard stamps its aggregates."""
    points = []
    for bucket, group in groupby(samples, key=lambda sample: (sample[0] - start_ts) // interval):
        begins = start_ts + bucket * interval
        ends = min(begins + interval, end_ts)
        values = [value for _, value in group]
        points.append((begins + (ends - begins) // 2, _combine(agg, values, decimals)))
    return points


def _combine(agg: str, values: list[Value], decimals: int) -> Value:
    # An average keeps one more decimal than the readings it averages; a count stays an
    # int (round() of an int is an int).
    digits = decimals + 1 if agg == "AVG" else decimals
    value = _AGGREGATES[agg](values)
    return round(value, digits) if digits else value


_AGGREGATES = {"MIN": min, "MAX": max, "AVG": fmean, "SUM": sum, "COUNT": len}
