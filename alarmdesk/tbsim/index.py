"""Alarm lists kept sorted as alarms come, change and go (thingsboard-api.md 4.3, 7.2, 7.3).

ThingsBoard answers a list page from database indexes; the simulator used to filter and sort
the whole store for every question it had not been asked since the last change, which at
1,000,000 alarms is seconds per request. So it keeps, per tenant and scope, one list for
each ordering AlarmDesk's sync reads (createdTime, endTs, ackTs and clearTs, newest first
with ThingsBoard's `id ASC` tie-breaker: ascending by (-value, id)). The scopes are all of a
tenant's alarms and only its active (not cleared) ones, and the same two for each customer,
as a customer user's lists go by the alarm's stored customerId. A page of one of those,
within a createdTime window or not, is then a bisect and a slice.

The tenant-wide lists are sorted when the store is built (one sort each, about a second at
1,000,000 alarms); a customer's or the active alarms' list is filtered out of its tenant's
the first time it is asked for (which keeps the order, a tenth of that), and from then on
kept like the others.

A list may only be bisected while every alarm in it holds the values it is sorted by, so
every change to a sorted value, or to whether an alarm is active, goes through `moving()`:
the alarm leaves the lists it may move in before the change and is put back after it.
"""

from bisect import bisect_left
from collections import defaultdict
from contextlib import contextmanager
from itertools import compress
from operator import attrgetter, eq

ORDERINGS = {
    "createdTime": "created_time",
    "endTs": "end_ts",
    "ackTs": "ack_ts",
    "clearTs": "clear_ts",
}


def _newest_first(attribute):
    value = attrgetter(attribute)
    return lambda alarm: (-value(alarm), alarm.id)


KEYS = {ordering: _newest_first(attribute) for ordering, attribute in ORDERINGS.items()}
BY_ID = attrgetter("id")


def newest_first(alarms, attribute):
    """sorted(alarms, key=KEYS[...]) in about half the time for a whole store: one sort on
    the value alone (plain numbers compare fast; a (value, id) pair falls through to the
    ids wherever values are equal, as the ackTs of every unacknowledged alarm is), then
    each run of equal values put in id order."""
    value = attrgetter(attribute)
    ordered = sorted(alarms, key=value, reverse=True)
    values = list(map(value, ordered))
    # Positions whose value equals the one before: the runs to put in id order.
    ties = compress(range(1, len(values)), map(eq, values[1:], values))
    start = end = None
    for at in ties:
        if at != end:
            if start is not None:
                ordered[start:end] = sorted(ordered[start:end], key=BY_ID)
            start = at - 1
        end = at + 1
    if start is not None:
        ordered[start:end] = sorted(ordered[start:end], key=BY_ID)
    return ordered


class Window:
    """`rows[lo:hi]` of a sorted list without copying it: what a page is cut from. Valid
    until the store next changes (the state's lock is held meanwhile)."""

    __slots__ = ("hi", "lo", "rows")

    def __init__(self, rows, lo=0, hi=None):
        self.rows = rows
        self.lo = lo
        self.hi = len(rows) if hi is None else hi

    def __len__(self):
        return self.hi - self.lo

    def __getitem__(self, item):
        start, stop, _ = item.indices(self.hi - self.lo)  # slices only, as pages are
        return self.rows[self.lo + start : self.lo + stop]


def created_between(rows, start_time, end_time):
    """(lo, hi) of the alarms of a createdTime list with start_time <= createdTime <=
    end_time, both inclusive and either open (AR); the list is newest first."""
    key = KEYS["createdTime"]
    # A 1-tuple sorts before every (-value, id) of the same value, so these land on the
    # first alarm created at end_time and the first created before start_time.
    lo = 0 if end_time is None else bisect_left(rows, (-end_time,), key=key)
    hi = len(rows) if start_time is None else bisect_left(rows, (-start_time + 1,), key=key)
    return lo, max(lo, hi)


class SortedAlarms:
    def __init__(self):
        # (tenant id, customer id or None for the whole tenant, active only, ordering) -> list
        self._lists = {}

    def rows(self, tenant_id, customer_id, active_only, ordering):
        list_key = (tenant_id, customer_id, active_only, ordering)
        rows = self._lists.get(list_key)
        if rows is None:
            rows = self._lists.get((tenant_id, None, False, ordering))
            if rows is None:
                return []  # a tenant without alarms
            rows = self._lists[list_key] = [
                alarm
                for alarm in rows
                if (customer_id is None or alarm.customer_id == customer_id)
                and not (active_only and alarm.cleared)
            ]
        return rows

    def build(self, alarms):
        """The tenant-wide lists from scratch, one sort each; the others as they are asked for."""
        alarms = list(alarms)
        tenants = defaultdict(list)
        if len(set(map(attrgetter("tenant_id"), alarms))) == 1:
            tenants[alarms[0].tenant_id] = alarms  # the usual store: no pass to split it
        else:
            for alarm in alarms:
                tenants[alarm.tenant_id].append(alarm)
        self._lists = {
            (tenant, None, False, ordering): newest_first(members, attribute)
            for tenant, members in tenants.items()
            for ordering, attribute in ORDERINGS.items()
        }

    def add(self, alarm):
        for list_key, sort_key in self._entries(alarm).items():
            self._insert(list_key, alarm, sort_key)

    def remove(self, alarm):
        for list_key, sort_key in self._entries(alarm).items():
            self._delete(list_key, alarm, sort_key)

    @contextmanager
    def moving(self, alarm, orderings, *, may_clear=False):
        """Around a change of `alarm` that may move its values of `orderings` and, with
        `may_clear`, take it out of the active lists."""
        before = self._entries(alarm)
        taken = {
            list_key: sort_key
            for list_key, sort_key in before.items()
            if list_key[3] in orderings or (may_clear and list_key[2])
        }
        for list_key, sort_key in taken.items():
            self._delete(list_key, alarm, sort_key)
        try:
            yield
        finally:
            after = self._entries(alarm)
            for list_key, sort_key in after.items():
                if list_key in taken or list_key not in before:
                    self._insert(list_key, alarm, sort_key)
            undeclared = [
                list_key
                for list_key in before.keys() - taken.keys()
                if after.get(list_key) != before[list_key]
            ]
            if undeclared:
                # A bug in the caller: put the alarm right, then say so loudly.
                for list_key in undeclared:
                    self._drop(list_key, alarm)
                    if list_key in after:
                        self._insert(list_key, alarm, after[list_key])
                raise AssertionError(f"alarm {alarm.id} moved in {undeclared} undeclared")

    def _entries(self, alarm):
        """{list key: sort key} for every list `alarm` belongs in now: its tenant's, and
        those of its scopes that were asked for."""
        keys = [(ordering, key(alarm)) for ordering, key in KEYS.items()]
        tenant, customer = alarm.tenant_id, alarm.customer_id
        entries = {(tenant, None, False, ordering): sort_key for ordering, sort_key in keys}
        scopes = [(customer, False)] if customer is not None else []
        if not alarm.cleared:
            scopes.append((None, True))
            if customer is not None:
                scopes.append((customer, True))
        built = self._lists
        for scope_customer, active_only in scopes:
            for ordering, sort_key in keys:
                list_key = (tenant, scope_customer, active_only, ordering)
                if list_key in built:
                    entries[list_key] = sort_key
        return entries

    def _insert(self, list_key, alarm, sort_key):
        rows = self._lists.setdefault(list_key, [])
        rows.insert(bisect_left(rows, sort_key, key=KEYS[list_key[3]]), alarm)

    def _delete(self, list_key, alarm, sort_key):
        rows = self._lists.get(list_key, [])
        at = bisect_left(rows, sort_key, key=KEYS[list_key[3]])
        if at < len(rows) and rows[at] is alarm:
            del rows[at]
        else:
            self._drop(list_key, alarm)
            raise AssertionError(f"alarm {alarm.id} was not where {list_key} sorts it")

    def _drop(self, list_key, alarm):
        rows = self._lists.get(list_key, [])
        for at, candidate in enumerate(rows):
            if candidate is alarm:
                del rows[at]
                return
