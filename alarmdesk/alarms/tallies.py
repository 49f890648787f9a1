"""The history's daily counts (models.DailyCount, DailyPair), kept as alarms are written.

Every write of an alarm goes through store.py, which knows the row before and after: the
old row's counts are taken off its day, the new row's added to its own (an update may move
startTs to another day, section 4.6), in the same transaction as the alarm itself, so a
rolled-back write leaves the counts as they were. Counts are added in SQL
(`INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`, the same on SQLite and
PostgreSQL), in one order of keys, so two writers add up rather than overwrite each other
and never wait on each other in a circle. `rebuild` counts them again from the alarms: for
a store filled some other way (a migration, a benchmark, a test).
"""

from collections import defaultdict

from django.db import connection
from django.db.models import Count, F

from .models import COUNT_KEY, NO_CUSTOMER, PAIR_KEY, Alarm, DailyCount, DailyPair

DAY_MS = 86_400_000


def day_of(ts):
    """The start of the UTC day of `ts` (epoch ms), as the history groups by."""
    return ts - ts % DAY_MS


def start_day():
    """day_of(startTs) in SQL: the history's counts of the alarms and `rebuild` group by
    it (and migration 0010's statistics name it)."""
    return F("start_ts") - F("start_ts") % DAY_MS


class Tallies:
    """The changes one write makes to the daily counts."""

    def __init__(self):
        self.counts = defaultdict(lambda: [0, 0, 0])  # key -> [alarms, with_ack, with_clear]
        self.pairs = defaultdict(lambda: [0])

    def change(self, old, new):
        """An alarm's row went from `old` (None: new to the store) to `new`."""
        if old is not None:
            self._add(old, -1)
        self._add(new, 1)

    def _add(self, row, sign):
        day = day_of(row["start_ts"])
        customer = row["customer_id"] or NO_CUSTOMER
        tenant, alarm_type = row["tenant_id"], row["type"]
        key = (tenant, day, customer, row["severity"], alarm_type, row["acknowledged"])
        counted = self.counts[(*key, row["cleared"])]
        counted[0] += sign
        counted[1] += sign * (row["ack_ts"] is not None)
        counted[2] += sign * (row["clear_ts"] is not None)
        self.pairs[tenant, day, customer, row["originator_name"], alarm_type][0] += sign

    def save(self):
        """Add the changes to the stored counts (inside the write's transaction)."""
        _add_up(DailyCount, self.counts)
        _add_up(DailyPair, self.pairs)


# Rows per INSERT on SQLite: 10 values each, well under its 32,766 parameters.
ROWS_PER_STATEMENT = 500


def _add_up(model, changes):
    """Add `changes` ({key: counts}) to the model's rows, in the order of their keys: two
    writers adding to the same keys at once then wait for each other, never in a circle."""
    rows = [(*key, *values) for key, values in changes.items() if any(values)]
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    fields = [model._meta.get_field(name) for name in (*model.KEY, *model.COUNTED)]
    columns = ", ".join(quote(f.column) for f in fields)
    keys = ", ".join(quote(name) for name in model.KEY)
    added = ", ".join(
        f"{quote(name)} = {table}.{quote(name)} + EXCLUDED.{quote(name)}" for name in model.COUNTED
    )
    upsert = f"ON CONFLICT ({keys}) DO UPDATE SET {added}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array per column, the values as they are (uuid, int, str, bool: what
            # psycopg adapts), sorted by the database: 500 rows of VALUES took 100 ms to
            # parse and bind (5,000 parameters) and Django's preparing of each value as
            # long again, when adding them up takes 7 ms.
            arrays = ", ".join(f"%b::{field.db_type(connection)}[]" for field in fields)
            order = ", ".join(str(n) for n in range(1, len(model.KEY) + 1))
            import psycopg  # installed with the postgres extra, as Django's backend needs

            # Bound by the server, the arrays sent in binary: Django's own cursors quote
            # every value into the statement's text, in Python.
            with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as bound:
                bound.execute(
                    f"INSERT INTO {table} ({columns}) "
                    f"SELECT * FROM unnest({arrays}) ORDER BY {order} {upsert}",
                    [list(column) for column in zip(*rows, strict=True)],
                )
            return
        # SQLite: one writer at a time, so any order; its UUIDs as text.
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            part = rows[start : start + ROWS_PER_STATEMENT]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(part))} {upsert}",
                [
                    field.get_db_prep_save(value, connection)
                    for row in part
                    for field, value in zip(fields, row, strict=True)
                ],
            )


def rebuild(alarm_model=Alarm, count_model=DailyCount, pair_model=DailyPair):
    """Count every day again from the alarms (models given by a migration, else the app's)."""
    alarms = alarm_model.objects.order_by().annotate(day=start_day())
    counted = {
        count_model: (COUNT_KEY, {"with_ack": Count("ack_ts"), "with_clear": Count("clear_ts")}),
        pair_model: (PAIR_KEY, {}),
    }
    for model, (key, aggregates) in counted.items():
        model.objects.all().delete()
        rows = alarms.values(*key).annotate(alarms=Count("*"), **aggregates)
        model.objects.bulk_create(
            (
                model(**{**row, "customer_id": row["customer_id"] or NO_CUSTOMER})
                for row in rows.iterator()
            ),
            batch_size=2000,
        )
