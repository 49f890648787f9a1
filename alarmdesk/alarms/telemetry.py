"""The originator's telemetry around an alarm, for the detail page's chart.

Two ThingsBoard requests, made with the user's token (thingsboard-api.md 6.4): the latest
values, to learn which keys are numeric, then their history from an hour before the alarm
started to its clearing (or now), averaged over intervals so that even a month-long alarm is
one request of at most MAX_POINTS points per key.
"""

import logging
import math
import time
from datetime import UTC, datetime

from alarmdesk.accounts.tokens import tb_call
from alarmdesk.thingsboard import errors

log = logging.getLogger(__name__)

# Only these originators have telemetry; an alarm on a tenant or customer has none.
CHARTED_ORIGINATORS = frozenset({"DEVICE", "ASSET"})
BEFORE_MS = 60 * 60 * 1000
MINUTE_MS = 60 * 1000
MAX_POINTS = 300
# More lines than this make the chart unreadable; the keys named in the alarm type come first.
MAX_KEYS = 6


def around_alarm(request, alarm, latest=None):
    """The chart's data, as plain JSON-ready values (epoch milliseconds, floats or None):

    `window` [from, to), `alarm_start` and `alarm_clear` (None while active) to mark,
    `interval` of the averages, `timestamps` and, aligned with them, `series`
    [{"key", "values"}]; `hidden_keys` counts the numeric keys left out. None when
    ThingsBoard did not answer. `latest`: the originator's latest telemetry when the page
    already has it (its originator panel asked), so it is not asked twice.
    """
    start = alarm.start_ts - BEFORE_MS
    end = alarm.clear_ts + 1 if alarm.clear_ts else int(time.time() * 1000)
    end = max(end, alarm.start_ts + 1)  # clients choose startTs, even in the future (4.6)
    interval = _interval(end - start)
    entity = (alarm.originator_type, str(alarm.originator_id))
    try:
        if latest is None:
            latest = tb_call(request, lambda tb: tb.latest(*entity))
        numeric = _numeric_keys(latest, alarm.type)
        keys = numeric[:MAX_KEYS]
        history = {}
        if keys:
            history = tb_call(
                request,
                lambda tb: tb.timeseries(
                    *entity, keys, start, end, limit=MAX_POINTS, agg="AVG", interval=interval
                ),
            )
    except errors.ThingsBoardError as error:
        log.info("telemetry of %s %s unavailable: %s", *entity, error)
        return None
    timestamps, series = _aligned(history, keys, interval)
    return {
        "window": [start, end],
        "alarm_start": alarm.start_ts,
        "alarm_clear": alarm.clear_ts,
        "interval": interval,
        "timestamps": timestamps,
        "series": series,
        "hidden_keys": len(numeric) - len(keys),
    }


def table_rows(chart):
    """The chart as table rows for screen readers: time, values, and whether the alarm was
    active then. The rows that only mark a gap in the chart are left out."""
    clear = chart["alarm_clear"] or math.inf
    for i, ts in enumerate(chart["timestamps"]):
        values = [series["values"][i] for series in chart["series"]]
        if any(value is not None for value in values):
            yield {
                "at": datetime.fromtimestamp(ts / 1000, tz=UTC),
                "values": values,
                "active": chart["alarm_start"] <= ts < clear,
            }


def interval_words(ms):
    """A whole number of minutes in words: "1 minute", "2 hours 24 minutes"."""
    hours, minutes = divmod(ms // MINUTE_MS, 60)
    parts = [(hours, "hour"), (minutes, "minute")]
    return " ".join(f"{n} {unit}{'s' if n > 1 else ''}" for n, unit in parts if n)


def _interval(window_ms):
    """Whole minutes, long enough for at most MAX_POINTS averages across the window."""
    return max(1, -(-window_ms // (MAX_POINTS * MINUTE_MS))) * MINUTE_MS


def _numeric_keys(latest, alarm_type):
    """Keys whose latest value is a number, those named in the alarm type first
    ("High Temperature" -> temperature)."""
    words = alarm_type.lower()
    keys = [
        key for key, points in latest.items() if points and _number(points[-1].value) is not None
    ]
    return sorted(keys, key=lambda key: (key.lower() not in words, key))


def _number(value):
    """A reading as a finite float, or None. Values come as strings unless strict types are
    asked for (9.6); booleans and text are not charted, and NaN has no place in JSON."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return float(f"{number:.6g}") if math.isfinite(number) else None


def _aligned(history, keys, interval):
    """One shared time axis for every key (None where a key has no average); where a key
    skips a whole interval (the device was silent), a row of None breaks the line."""
    by_key = {
        key: {point.ts: _number(point.value) for point in history.get(key, ())} for key in keys
    }
    timestamps = sorted({ts for points in by_key.values() for ts in points})
    rows, previous = [], None
    for ts in timestamps:
        if previous is not None and ts - previous > 1.5 * interval:
            rows.append(previous + interval)
        rows.append(ts)
        previous = ts
    series = [
        {"key": key, "values": [by_key[key].get(ts) for ts in rows]} for key in keys if by_key[key]
    ]
    return rows, series
