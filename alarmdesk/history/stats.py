"""What the history says about how alarms were handled: plain functions over the store.

Times to acknowledge (ackTs - startTs) and to clear (clearTs - startTs) are counted only
for alarms that were acknowledged or cleared: an alarm never acknowledged, or still open,
is reported as such, never as a time of zero. Medians are the middle value (the mean of
the two middle ones for an even count); the 90th percentile is by nearest rank: the
smallest time at least 90 % of the alarms were handled within.

Every count is the database's, exact: the range's whole days from the daily counts the
store keeps (alarms/tallies.py) where the filter allows, the rest counted from the alarms.
The times are read alarm by alarm: from all of them when the range holds at most
SAMPLE_ABOVE alarms, else from an even sample of about SAMPLE_SIZE (and every alarm of the
types with at most WHOLE_TYPE), which the page says.
"""

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Count, F, Q, Sum

from alarmdesk.alarms.models import NO_CUSTOMER, SEVERITIES
from alarmdesk.alarms.tallies import DAY_MS, day_of, start_day

# The same originator and type raised at least this many times in the range: flapping.
FLAPPING_AT = 3
FLAPPING_SHOWN = 20  # the worst ones
# Above this many alarms in the range, the times to acknowledge and clear are read from an
# even sample of about SAMPLE_SIZE (the counts stay exact): reading every row of a week of
# 1,000,000 alarms (232,000 rows) took 1.9 s; a sample of 10,000 puts a 90th percentile
# within about 0.3 % of the alarms' ranks (its standard error), a type's of 1,000 within 1 %.
# A type with at most WHOLE_TYPE alarms is read whole.
SAMPLE_ABOVE = 20_000
SAMPLE_SIZE = 10_000
WHOLE_TYPE = 2_000
SAMPLE_MODULUS = 997  # a prime: createdTimes in whole seconds still spread over residues


def percentile(values, fraction, presorted=False):
    """Nearest rank: the smallest value with at least `fraction` of them at or below it
    (`presorted`: the values are sorted already)."""
    ordered = values if presorted else sorted(values)
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
    def of(cls, durations, missing, count=None):
        """From the `durations` measured (or a sample of them, `count` being how many
        were measured in all)."""
        ordered = sorted(durations)  # once: the median and the percentile share it
        return cls(
            count=len(durations) if count is None else count,
            missing=missing,
            median=statistics.median(ordered) if ordered else None,
            p90=percentile(ordered, 0.9, presorted=True),
        )


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
    sample: "Sample | None" = None  # when the times were read from a sample


class Daily(NamedTuple):
    """The daily counts standing for the alarms of a summary (scoped and filtered alike):
    models.DailyCount rows, and DailyPair rows or None where the filter needs what pairs
    do not keep (a severity or a status)."""

    counts: object
    pairs: object


def summarize(alarms, since_ms, until_ms, *, by_customer=True, daily=None):
    """The summary of `alarms` (a queryset already scoped and filtered to the range).

    Counted per day, severity, type and customer, and per originator and type: for the
    range's whole days from `daily` when given (a week of 1,000,000 alarms: 1,746 daily
    counts and 31,000 pairs instead of 232,000 alarms, twice), for the rest by the
    database's GROUP BY over the alarms. The times are read row by row, from every alarm of
    the range when it holds at most SAMPLE_ABOVE of them, else from an even sample
    (`sample_of`). Originators are told apart by name, which ThingsBoard keeps unique per
    tenant for each entity type."""
    alarms = alarms.order_by()  # unordered: sorting the range costs more than counting it
    days = _whole_days(since_ms, until_ms)
    by_severity, by_type, by_customer = Counter(), Counter(), Counter()
    per_day = defaultdict(Counter)
    acked, cleared = Counter(), Counter()
    for day, severity, alarm_type, customer_id, n, n_acked, n_cleared in _counted(
        alarms, daily and daily.counts, days, _day_counts, _kept_day_counts
    ):
        customer_id = None if customer_id == NO_CUSTOMER else customer_id
        by_severity[severity] += n
        by_type[alarm_type] += n
        by_customer[customer_id] += n
        per_day[day][severity] += n
        acked[alarm_type] += n_acked
        cleared[alarm_type] += n_cleared
    by_pair = Counter()
    by_originator = Counter()
    pairs = _pairs(alarms, daily and daily.pairs, days)
    for originator, alarm_type, n in pairs:
        by_pair[originator, alarm_type] += n
        by_originator[originator] += n
    sample = sample_of(alarms, by_type)
    ack, clear = defaultdict(list), defaultdict(list)  # by type
    ack_by_day, clear_by_day = defaultdict(list), defaultdict(list)
    rows = sample.rows.values_list("type", "start_ts", "ack_ts", "clear_ts")
    for alarm_type, start_ts, ack_ts, clear_ts in rows:
        day = day_of(start_ts)
        if ack_ts is not None:
            # A re-trigger may move startTs past an acknowledgement (section 4.6): zero.
            duration = max(0, ack_ts - start_ts)
            ack[alarm_type].append(duration)
            ack_by_day[day].append(duration)
        if clear_ts is not None:
            duration = max(0, clear_ts - start_ts)
            clear[alarm_type].append(duration)
            clear_by_day[day].append(duration)
    days = range(day_of(since_ms), until_ms, DAY_MS)
    ranked = _most(by_type, None)  # ties by name: the same whichever way it was counted
    types = [t for t, _ in ranked]
    total = sum(by_severity.values())

    def durations(by_kind, measured, of_types):
        values = [d for t in of_types for d in by_kind.get(t, ())]
        n = sum(measured[t] for t in of_types)
        return Durations.of(values, sum(by_type[t] for t in of_types) - n, count=n)

    return Summary(
        total=total,
        by_severity=[(s, by_severity.get(s, 0)) for s in SEVERITIES],
        by_type=ranked,
        by_customer=_customers(by_customer) if by_customer else [],
        noisiest=_most(by_originator, 10),
        flapping=[
            (name, alarm_type, n)
            for (name, alarm_type), n in _most(by_pair, FLAPPING_SHOWN)
            if n >= FLAPPING_AT
        ],
        per_day=[(day, dict(per_day.get(day, {}))) for day in days],
        ack=durations(ack, acked, types),
        clear=durations(clear, cleared, types),
        ack_by_type=[(t, durations(ack, acked, [t])) for t in types],
        clear_by_type=[(t, durations(clear, cleared, [t])) for t in types],
        trend=[
            (
                day,
                statistics.median(ack_by_day[day]) if ack_by_day.get(day) else None,
                statistics.median(clear_by_day[day]) if clear_by_day.get(day) else None,
            )
            for day in days
        ],
        sample=sample if sample.sampled else None,
    )


@dataclass(frozen=True)
class Sample:
    """The alarms whose times are read: all of them, or an even part of the numerous types.

    An alarm is in the sample when its createdTime (ThingsBoard's own clock, to the
    millisecond) modulo a prime falls below a threshold: a part as even as the clock's
    last digits, unrelated to how long the alarm took, the same from one look to the next,
    and chosen by the database on the index it already reads."""

    rows: object  # the queryset
    sampled: bool
    read: int  # alarms read (expected)
    total: int  # alarms in the range
    whole_types: int  # types too few to sample, read whole


def sample_of(alarms, by_type):
    """All of `alarms` when there are at most SAMPLE_ABOVE; else every alarm of the types
    with at most WHOLE_TYPE of them, and about SAMPLE_SIZE of the rest."""
    total = sum(by_type.values())
    whole = Sample(alarms, False, total, total, len(by_type))
    if total <= SAMPLE_ABOVE:
        return whole
    few = [t for t, n in by_type.items() if n <= WHOLE_TYPE]
    numerous = total - sum(by_type[t] for t in few)
    below = max(1, math.ceil(SAMPLE_MODULUS * SAMPLE_SIZE / numerous))
    if below >= SAMPLE_MODULUS:
        return whole
    residue = alarms.annotate(residue=F("created_time") % SAMPLE_MODULUS)
    taken = residue.filter(Q(type__in=few) | Q(residue__lt=below))
    read = total - numerous + round(numerous * below / SAMPLE_MODULUS)
    return Sample(taken, True, read, total, len(few))


def _whole_days(since_ms, until_ms):
    """[first, last) of the whole UTC days within [since_ms, until_ms), or None."""
    first = since_ms + (-since_ms) % DAY_MS
    last = day_of(until_ms)
    return (first, last) if first < last else None


def _parts(alarms, kept, days, count, count_kept):
    """The querysets that count `alarms` over the range: its whole `days` from the `kept`
    daily counts when there are both, and the parts of a day at either end from the
    alarms."""
    if kept is None or days is None:
        return [count(alarms)]
    first, last = days
    return [
        count_kept(kept.filter(day__gte=first, day__lt=last)),
        count(alarms.filter(start_ts__lt=first)),
        count(alarms.filter(start_ts__gte=last)),
    ]


def _counted(alarms, kept, days, count, count_kept):
    return [row for part in _parts(alarms, kept, days, count, count_kept) for row in part]


def _pairs(alarms, kept, days):
    """[(originator name, type, alarms)] over the range, the parts added up by the
    database, and read as it sends them (text and numbers): a week of 1,000,000 alarms has
    4,400 pairs, but 13,000 rows in its three parts, and Django's converters (int() of each
    count) cost about 3 us a row."""
    selects, params = [], []
    for n, part in enumerate(_parts(alarms, kept, days, _pair_counts, _kept_pair_counts)):
        try:
            sql, part_params = part.query.sql_with_params()
        except EmptyResultSet:  # a filter nothing can pass (Alarm.objects.none())
            continue
        selects.append(f"SELECT * FROM ({sql}) AS part{n}")
        params += part_params
    if not selects:
        return []
    added = (
        f"SELECT originator_name, type, SUM(n) FROM ({' UNION ALL '.join(selects)}) AS parts "
        "GROUP BY originator_name, type HAVING SUM(n) > 0"
    )
    with connections[alarms.db].cursor() as cursor:
        cursor.execute(added, params)
        return cursor.fetchall()


def _day_counts(alarms):
    return (
        alarms.annotate(day=start_day())
        .values_list("day", "severity", "type", "customer_id")
        .annotate(n=Count("*"), acked=Count("ack_ts"), cleared=Count("clear_ts"))
    )


def _kept_day_counts(counts):
    return (
        counts.values_list("day", "severity", "type", "customer_id")
        .annotate(n=Sum("alarms"), acked=Sum("with_ack"), cleared=Sum("with_clear"))
        .filter(n__gt=0)  # a key whose alarms all moved to another day or severity
    )


def _pair_counts(alarms):
    return alarms.values_list("originator_name", "type").annotate(n=Count("*"))


def _kept_pair_counts(pairs):
    return pairs.values_list("originator_name", "type").annotate(n=Sum("alarms"))


def _most(counter, limit):
    """The `limit` largest counts (None: all), ties by name: stable from one look to the
    next."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]


def _customers(counter):
    """(customer id or None, count), most first, ties by id, no customer last."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0] is None, str(item[0])))
