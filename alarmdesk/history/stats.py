"""What the history says about how alarms were handled: plain functions over the store.

Times to acknowledge (ackTs - startTs) and to clear (clearTs - startTs) are counted only
for alarms that were acknowledged or cleared: an alarm never acknowledged, or still open,
is reported as such, never as a time of zero. Medians are the middle value (the mean of
the two middle ones for an even count); the 90th percentile is by nearest rank: the
smallest time at least 90 % of the alarms were handled within.
"""

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db.models import Count

from alarmdesk.alarms.models import SEVERITIES

DAY_MS = 86_400_000
# The same originator and type raised at least this many times in the range: flapping.
FLAPPING_AT = 3
FLAPPING_SHOWN = 20  # the worst ones


def percentile(values, fraction):
    """Nearest rank: the smallest value with at least `fraction` of them at or below it."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True)
class Durations:
    """How long alarms took to be acknowledged (or cleared), in milliseconds."""

    count: int  # alarms measured
    missing: int  # alarms never acknowledged (or still open)
    median: float | None
    p90: int | None

    @classmethod
    def of(cls, durations, missing):
        return cls(
            count=len(durations),
            missing=missing,
            median=statistics.median(durations) if durations else None,
            p90=percentile(durations, 0.9),
        )


def _duration(start_ts, end_ts):
    # A re-trigger may move startTs past an earlier acknowledgement (section 4.6): zero.
    return None if end_ts is None else max(0, end_ts - start_ts)


@dataclass(frozen=True)
class Summary:
    total: int
    by_severity: list  # [(severity, count)], every severity, in rank order
    by_type: list  # [(type, count)], most first
    by_customer: list  # [(customer id or None, count)], most first
    noisiest: list  # [(originator name, count)], top ten
    flapping: list  # [(originator name, type, count)], FLAPPING_AT or more, the 20 worst
    per_day: list  # [(day start ms, {severity: count})], oldest first, every day of the range
    ack: Durations
    clear: Durations
    ack_by_type: list  # [(type, Durations)]
    clear_by_type: list
    trend: list  # [(day start ms, median ack ms or None, median clear ms or None)]


def summarize(alarms, since_ms, until_ms, *, by_customer=True):
    """The summary of `alarms` (a queryset already scoped and filtered to the range).

    One pass over the range's rows computes everything but the customers' counts (a GROUP
    BY, for tenant administrators only). Originators are told apart by name, which
    ThingsBoard keeps unique per tenant for each entity type."""
    # Unordered: sorting the range would cost more than everything else here.
    rows = alarms.order_by().values_list(
        "type", "severity", "start_ts", "ack_ts", "clear_ts", "originator_name"
    )
    by_severity, by_type, by_originator, by_pair = Counter(), Counter(), Counter(), Counter()
    per_day = defaultdict(Counter)
    ack, clear = [], []
    ack_by_type, clear_by_type = defaultdict(list), defaultdict(list)
    missing_ack, missing_clear = Counter(), Counter()
    ack_by_day, clear_by_day = defaultdict(list), defaultdict(list)
    for alarm_type, severity, start_ts, ack_ts, clear_ts, originator in rows:
        by_severity[severity] += 1
        by_type[alarm_type] += 1
        by_originator[originator] += 1
        by_pair[originator, alarm_type] += 1
        day = start_ts - start_ts % DAY_MS
        per_day[day][severity] += 1
        for end_ts, overall, by_type_list, missing, by_day in (
            (ack_ts, ack, ack_by_type, missing_ack, ack_by_day),
            (clear_ts, clear, clear_by_type, missing_clear, clear_by_day),
        ):
            duration = _duration(start_ts, end_ts)
            if duration is None:
                missing[alarm_type] += 1
                continue
            overall.append(duration)
            by_type_list[alarm_type].append(duration)
            by_day[day].append(duration)
    first_day = since_ms - since_ms % DAY_MS
    days = range(first_day, until_ms, DAY_MS)
    return Summary(
        total=sum(by_severity.values()),
        by_severity=[(s, by_severity.get(s, 0)) for s in SEVERITIES],
        by_type=by_type.most_common(),
        by_customer=_by_customer(alarms) if by_customer else [],
        noisiest=_most(by_originator, 10),
        flapping=[
            (name, alarm_type, n)
            for (name, alarm_type), n in _most(by_pair, FLAPPING_SHOWN)
            if n >= FLAPPING_AT
        ],
        per_day=[(day, dict(per_day.get(day, {}))) for day in days],
        ack=Durations.of(ack, sum(missing_ack.values())),
        clear=Durations.of(clear, sum(missing_clear.values())),
        ack_by_type=[
            (t, Durations.of(ack_by_type.get(t, []), missing_ack.get(t, 0)))
            for t, _ in by_type.most_common()
        ],
        clear_by_type=[
            (t, Durations.of(clear_by_type.get(t, []), missing_clear.get(t, 0)))
            for t, _ in by_type.most_common()
        ],
        trend=[
            (
                day,
                statistics.median(ack_by_day[day]) if ack_by_day.get(day) else None,
                statistics.median(clear_by_day[day]) if clear_by_day.get(day) else None,
            )
            for day in days
        ],
    )


def _most(counter, limit):
    """The `limit` largest counts, ties by name: stable from one look to the next."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]


def _by_customer(alarms):
    grouped = alarms.order_by().values("customer_id").annotate(n=Count("id"))
    return [(row["customer_id"], row["n"]) for row in grouped.order_by("-n", "customer_id")]
