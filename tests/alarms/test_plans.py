"""The list's queries that would read every alarm of a big store without an index, planned
by the database itself: each reads an index that finds its rows, on SQLite and PostgreSQL.

A store of a million alarms cannot be built in a test; the plan is what decides the time
there (bench/list_bench.py measures it). PostgreSQL plans a table this small as a scan
whatever its indexes, so its plans are asked for with sequential scans made costly."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alarmdesk.alarms.models import Alarm
from tests.conftest import CUSTOMER_A, TENANT


def plan_of(sql, bitmaps=True):
    """The database's plan of `sql`; `bitmaps=False`: with PostgreSQL's bitmap reads made
    costly too, for a plan that should read an index alone."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            return " / ".join(row[-1] for row in cursor.fetchall())
        # Planned on the tables as they are, not on autovacuum's timing: their statistics, and
        # the alarms' visibility map, without which an index-only read of pages just written
        # costs as much as reading the table.
        cursor.execute("ANALYZE")
        cursor.execute("VACUUM alarms_alarm")
        cursor.execute("SET enable_seqscan = off")
        if not bitmaps:
            # A few pages of a table this small cost a bitmap read about what the covering
            # index alone does (CI saw a Bitmap Heap Scan twice, after VACUUM too); at a
            # million alarms the index alone wins (bench/history_bench.py).
            cursor.execute("SET enable_bitmapscan = off")
        try:
            cursor.execute(f"EXPLAIN {sql}")
            return " / ".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")


def searched_by(plan):
    """The columns an index is searched by, as the plan names them."""
    if connection.vendor == "sqlite":  # "SEARCH alarms_alarm USING INDEX name (a=? AND b=?)"
        return " ".join(part for part in plan.split(" / ") if "USING INDEX" in part)
    return " ".join(part for part in plan.split(" / ") if "Index Cond" in part)


def queries_on(column, client, url):
    """The statements of one request that select alarms by `column`."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in captured if f'"alarms_alarm"."{column}" = ' in q["sql"]]


def test_the_list_of_one_originator_finds_its_alarms_by_index(as_user):
    """Where a group's "See all" leads, and an open group's rows: at a million alarms a
    scan of the table took 330 ms on PostgreSQL."""
    client = as_user(TENANT)
    originator = Alarm.objects.values_list("originator_id", flat=True).first()
    ran = queries_on("originator_id", client, f"/alarms/?status=ANY&originator={originator}")
    # Its count and its page. Not its name (LIMIT 1): in a table this small, PostgreSQL
    # expects to meet one of its alarms at once through any index.
    counted = [sql for sql in ran if not sql.endswith("LIMIT 1")]
    assert len(counted) >= 2
    for sql in counted:
        assert "originator_id" in searched_by(plan_of(sql)), sql


def test_the_list_grouped_by_originator_reads_the_scope_by_index(as_user):
    """Not the whole originator index in its order, which SQLite prefers for the grouping's
    sake (217 ms instead of 42 at 100,000 alarms when the index came)."""
    client = as_user(TENANT)
    ran = [sql for sql in queries_on("tenant_id", client, "/alarms/?group=originator")]
    headings = [sql for sql in ran if "OVER ()" in sql]
    assert len(headings) == 1
    assert "tenant_id" in searched_by(plan_of(headings[0]))


def read_from_a_range_index(plan):
    """Whether the plan reads a range of start times from one of the two covering indexes
    alone (alarm_tenant_started or alarm_customer_started)."""
    if connection.vendor == "sqlite":  # "SEARCH alarms_alarm USING COVERING INDEX name (...)"
        return re.search(r"USING COVERING INDEX alarm_\w+_started \(.*start_ts[<>]", plan)
    # Which of the two: the planner's choice by the table's statistics. In a table this small
    # a customer's rows cost the same through either (the tenant index's key ends with the
    # customer); at a million, a customer's week through its own (bench/history_bench.py).
    scan = re.search(r"Index Only Scan using alarm_\w+_started on alarms_alarm", plan)
    return scan and re.search(r"Index Cond: .*start_ts [<>]", plan)


@pytest.mark.parametrize("persona", [TENANT, CUSTOMER_A])
def test_the_history_statistics_read_the_range_by_its_covering_index(as_user, persona):
    """Counted per day, severity, type and customer, per originator and type, and the times'
    sample: on PostgreSQL from the index alone (a week of 1,000,000 alarms: 90 ms instead
    of a 270 ms scan of the table), on SQLite through it. The whole days from the daily
    counts, by their scope and day."""
    client = as_user(persona)
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/history/").status_code == 200
    statistics = [q["sql"] for q in captured if "COUNT(*)" in q["sql"]]
    assert len(statistics) >= 2  # the parts of a day at either end, or the range
    for sql in statistics:
        plan = plan_of(sql, bitmaps=False)
        assert read_from_a_range_index(plan), f"{sql}\n{plan}"
    kept = [q["sql"] for q in captured if '"alarms_daily' in q["sql"]]
    assert len(kept) == 2  # counts and pairs
    for sql in kept:  # by their primary key: tenant, day, then customer
        searched = searched_by(plan_of(sql))
        assert "tenant_id" in searched, plan_of(sql)
        assert "day" in searched, plan_of(sql)


def test_the_handover_counts_older_alarms_by_the_time_they_were_handled(as_user):
    """The alarms raised before the shift and acknowledged (cleared) in it: found by the
    time of acknowledgement (clearing), not by a pass over every older alarm (300 ms at
    1,000,000 alarms on PostgreSQL)."""
    client = as_user(TENANT)
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/history/?hours=12").status_code == 200
    for column in ("ack_ts", "clear_ts"):
        counted = [
            q["sql"]
            for q in captured
            if "COUNT(*)" in q["sql"] and f'"alarms_alarm"."{column}" >= ' in q["sql"]
        ]
        assert len(counted) == 1, column
        assert column in searched_by(plan_of(counted[0])), plan_of(counted[0])
