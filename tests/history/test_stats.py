"""History statistics on a fixed data set, computed by hand."""

import uuid

import pytest

from alarmdesk.alarms.models import SEVERITY_RANK, Alarm
from alarmdesk.history import stats
from alarmdesk.history.stats import Durations, percentile, summarize

MINUTE = 60_000
DAY = 86_400_000
D = 1_790_000_000_000 - 1_790_000_000_000 % DAY  # the start of a day (UTC)
TENANT = uuid.uuid4()
X, Y, Z = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
NAMES = {X: "Pump X", Y: "Pump Y", Z: "Pump Z"}


def alarm(alarm_type, severity, originator, start_minute, ack_after=None, clear_after=None):
    start = D + start_minute * MINUTE
    return Alarm(
        id=uuid.uuid4(),
        tenant_id=TENANT,
        customer_id=None,
        type=alarm_type,
        originator_type="DEVICE",
        originator_id=originator,
        originator_name=NAMES[originator],
        originator_label=None,
        originator_display_name=NAMES[originator],
        severity=severity,
        severity_rank=SEVERITY_RANK[severity],
        acknowledged=ack_after is not None,
        cleared=clear_after is not None,
        status="CLEARED_ACK",
        created_time=start,
        start_ts=start,
        end_ts=start,
        ack_ts=None if ack_after is None else start + ack_after * MINUTE,
        clear_ts=None if clear_after is None else start + clear_after * MINUTE,
        changed_at="2026-01-01T00:00:00Z",
    )


@pytest.fixture
def summary(db):
    Alarm.objects.bulk_create(
        [
            # Type A, CRITICAL, all on X (flapping: three times).
            alarm("A", "CRITICAL", X, 0, ack_after=2, clear_after=10),
            alarm("A", "CRITICAL", X, 60, ack_after=4, clear_after=30),
            alarm("A", "CRITICAL", X, 120),  # never acknowledged, still open
            # Type B, MAJOR, twice on Y and twice on Z.
            alarm("B", "MAJOR", Y, 10, ack_after=1, clear_after=60),
            alarm("B", "MAJOR", Y, 20, ack_after=3, clear_after=20),
            alarm("B", "MAJOR", Z, 30, ack_after=5, clear_after=40),
            alarm("B", "MAJOR", Z, 40, ack_after=7),  # acknowledged, still open
            # The day before the range: not counted.
            alarm("B", "MAJOR", Z, -600, ack_after=1000, clear_after=1000),
        ]
    )
    alarms = Alarm.objects.filter(start_ts__gte=D, start_ts__lt=D + DAY)
    return summarize(alarms, D, D + DAY)


def test_counts_by_severity_type_and_originator(summary):
    assert summary.total == 7
    assert summary.by_severity == [
        ("CRITICAL", 3),
        ("MAJOR", 4),
        ("MINOR", 0),
        ("WARNING", 0),
        ("INDETERMINATE", 0),
    ]
    assert summary.by_type == [("B", 4), ("A", 3)]
    assert summary.noisiest == [
        ("Pump X", 3),
        ("Pump Y", 2),
        ("Pump Z", 2),
    ]


def test_time_to_acknowledge_median_and_90th_percentile(summary):
    # Acknowledged after 2, 4, 1, 3, 5, 7 minutes: sorted 1 2 3 4 5 7.
    assert summary.ack == Durations(count=6, missing=1, median=3.5 * MINUTE, p90=7 * MINUTE)


def test_time_to_clear_leaves_open_alarms_out_and_counts_them(summary):
    # Cleared after 10, 30, 60, 20, 40 minutes: sorted 10 20 30 40 60; two still open.
    assert summary.clear == Durations(count=5, missing=2, median=30 * MINUTE, p90=60 * MINUTE)


def test_times_by_type(summary):
    ack = dict(summary.ack_by_type)
    assert ack["A"] == Durations(count=2, missing=1, median=3 * MINUTE, p90=4 * MINUTE)
    assert ack["B"] == Durations(count=4, missing=0, median=4 * MINUTE, p90=7 * MINUTE)
    clear = dict(summary.clear_by_type)
    assert clear["A"] == Durations(count=2, missing=1, median=20 * MINUTE, p90=30 * MINUTE)
    assert clear["B"] == Durations(count=3, missing=1, median=40 * MINUTE, p90=60 * MINUTE)


def test_flapping_pairs(summary):
    assert summary.flapping == [("Pump X", "A", 3)]


def test_per_day_and_trend_cover_every_day_of_the_range(summary):
    assert summary.per_day == [(D, {"CRITICAL": 3, "MAJOR": 4})]
    assert summary.trend == [(D, 3.5 * MINUTE, 30 * MINUTE)]


def test_nothing_measured_is_none_not_zero(db):
    summary = summarize(Alarm.objects.none(), D, D + 2 * DAY)
    assert summary.ack == Durations(count=0, missing=0, median=None, p90=None)
    assert summary.trend == [(D, None, None), (D + DAY, None, None)]


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([5], 0.9, 5),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9, 9),
        ([3, 1, 2], 0.5, 2),
        ([], 0.9, None),
    ],
)
def test_percentile_by_nearest_rank(values, fraction, expected):
    assert percentile(values, fraction) == expected


@pytest.fixture
def large_range(db, monkeypatch):
    """1,000 alarms of one type acknowledged after 1..1,000 minutes and cleared after twice
    that (every tenth never acknowledged), 10 of another after 5 minutes each; the sample
    made to start above 100 alarms. Created in whole seconds, as a device's clock may."""
    monkeypatch.setattr(stats, "SAMPLE_ABOVE", 100)
    monkeypatch.setattr(stats, "SAMPLE_SIZE", 100)
    monkeypatch.setattr(stats, "WHOLE_TYPE", 20)
    alarms = []
    for n in range(1, 1001):
        row = alarm("Many", "MAJOR", X, n % 1000, ack_after=None if n % 10 == 0 else n)
        row.created_time = D + n * 1000
        if n % 10:
            row.clear_ts = row.start_ts + 2 * n * MINUTE
        alarms.append(row)
    alarms += [alarm("Few", "MINOR", Y, n, ack_after=5) for n in range(10)]
    Alarm.objects.bulk_create(alarms)
    return Alarm.objects.filter(start_ts__gte=D, start_ts__lt=D + DAY)


def test_a_large_range_reads_its_times_from_a_sample_and_counts_every_alarm(large_range):
    summary = summarize(large_range, D, D + DAY)
    # Counts are the database's, exact.
    assert summary.total == 1010
    assert summary.by_type == [("Many", 1000), ("Few", 10)]
    assert summary.per_day == [(D, {"MAJOR": 1000, "MINOR": 10})]
    assert (summary.ack.count, summary.ack.missing) == (910, 100)
    assert (summary.clear.count, summary.clear.missing) == (900, 110)
    # Times: from about 100 of the numerous type (whole-second createdTimes spread over the
    # prime's residues) and all of the few.
    sample = summary.sample
    assert sample.sampled
    assert sample.total == 1010
    assert sample.whole_types == 1
    read = large_range.filter(pk__in=sample.rows.values("pk")).count()
    assert 60 <= read - 10 <= 160
    assert abs(read - sample.read) <= 50
    ack = dict(summary.ack_by_type)
    assert ack["Few"] == Durations(count=10, missing=0, median=5 * MINUTE, p90=5 * MINUTE)
    # The numerous type's true median is 500 minutes, its 90th percentile 900: a sample of
    # about 90 measured puts each within a few ranks' worth (generous bounds: no flakes,
    # as the sample is the same from one run to the next).
    assert 380 * MINUTE <= ack["Many"].median <= 620 * MINUTE
    assert 800 * MINUTE <= ack["Many"].p90 <= 1000 * MINUTE
    assert ack["Many"].count == 900
    assert ack["Many"].missing == 100


def test_a_range_within_the_limit_is_read_whole(large_range, monkeypatch):
    monkeypatch.setattr(stats, "SAMPLE_ABOVE", 1010)
    summary = summarize(large_range, D, D + DAY)
    assert summary.sample is None
    ack = dict(summary.ack_by_type)
    assert ack["Many"] == Durations(count=900, missing=100, median=500 * MINUTE, p90=899 * MINUTE)


def test_postgresql_expects_the_history_counts_groups_not_one_group_per_alarm(db):
    """Without statistics of the day expression PostgreSQL planned as many groups as rows
    and counted a week of 1,000,000 alarms in one process (115 ms, against 72 counted in
    parts side by side): its estimate must be near the groups there are."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite plans no parallel counting")
    Alarm.objects.bulk_create(
        alarm(t, s, X, n % (3 * 24 * 60)) for n in range(3000) for t, s in [("A", "MAJOR")]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE alarms_alarm")
    alarms = Alarm.objects.filter(start_ts__gte=D, start_ts__lt=D + 3 * DAY)
    with CaptureQueriesContext(connection) as captured:
        summarize(alarms, D, D + 3 * DAY)
    (counts,) = [q["sql"] for q in captured if "COUNT(*)" in q["sql"] and "day" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {counts}")
        plan = cursor.fetchone()[0][0]["Plan"]
    assert plan["Plan Rows"] <= 30, plan  # 3 days of one severity, type and customer: 3
