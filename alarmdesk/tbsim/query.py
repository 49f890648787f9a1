"""Alarm list queries: ThingsBoard's filters, sorting and paging (section 4.3)."""

import re
from dataclasses import dataclass
from operator import attrgetter

from .errors import DATABASE, TbError, bad_request

SEARCH_STATUSES = ("ANY", "ACTIVE", "CLEARED", "ACK", "UNACK")
ALARM_STATUSES = ("ACTIVE_UNACK", "ACTIVE_ACK", "CLEARED_UNACK", "CLEARED_ACK")
SORT_PROPERTY_RE = re.compile(r"^[\w-]+$")  # ^[\p{L}0-9_-]+$ in Validator.java

# Columns of AlarmInfoEntity the JPA sort accepts. Severity and status are varchar columns,
# so they sort alphabetically (CRITICAL < INDETERMINATE < MAJOR ...), not by rank.
SORT_KEYS = {
    "createdTime": attrgetter("created_time"),
    "startTs": attrgetter("start_ts"),
    "endTs": attrgetter("end_ts"),
    "ackTs": attrgetter("ack_ts"),
    "clearTs": attrgetter("clear_ts"),
    "assignTs": attrgetter("assign_ts"),
    "type": attrgetter("type"),
    "severity": attrgetter("severity"),
    "status": attrgetter("status"),
    "acknowledged": attrgetter("acknowledged"),
    "cleared": attrgetter("cleared"),
    "id": attrgetter("id"),
}
# Integer columns, sorted in one pass with the id tie-breaker.
TIMESTAMP_SORTS = frozenset({"createdTime", "startTs", "endTs"})


@dataclass(frozen=True, slots=True)
class StatusFilter:
    cleared: bool | None = None
    acknowledged: bool | None = None

    @classmethod
    def from_search_status(cls, value):
        return {
            "ANY": cls(),
            "ACTIVE": cls(cleared=False),
            "CLEARED": cls(cleared=True),
            "ACK": cls(acknowledged=True),
            "UNACK": cls(acknowledged=False),
        }[value]

    @classmethod
    def from_status(cls, value):
        cleared, acked = value.split("_")
        return cls(cleared=cleared == "CLEARED", acknowledged=acked == "ACK")

    @classmethod
    def from_list(cls, values):
        """AlarmStatusFilter.from(Collection): both of a pair, or ANY, leave that dimension open."""
        values = set(values)
        if not values or "ANY" in values:
            return cls()
        cleared = acked = None
        if ("ACTIVE" in values) != ("CLEARED" in values):
            cleared = "CLEARED" in values
        if ("ACK" in values) != ("UNACK" in values):
            acked = "ACK" in values
        return cls(cleared=cleared, acknowledged=acked)


@dataclass(frozen=True, slots=True)
class PageLink:
    page: int
    page_size: int
    text_search: str | None = None
    sort_property: str | None = None
    sort_desc: bool = False

    def paginate(self, rows, to_json):
        total = len(rows)
        start = self.page * self.page_size
        data = [to_json(row) for row in rows[start : start + self.page_size]]
        total_pages = -(-total // self.page_size)
        return data, total, total_pages, start + self.page_size < total


def parse_sort(sort_property, sort_order):
    """BaseController.createPageLink rules for sortProperty and sortOrder (section 1)."""
    if sort_property is not None and not SORT_PROPERTY_RE.match(sort_property):
        raise bad_request("Invalid sort property")
    if sort_order is None or sort_order == "":
        return sort_property or None, False
    if sort_order.upper() not in ("ASC", "DESC"):
        raise bad_request(
            f"Unsupported sort order '{sort_order}'! Only 'ASC' or 'DESC' types are allowed."
        )
    return sort_property or None, sort_order.upper() == "DESC"


@dataclass(frozen=True, slots=True)
class AlarmQuery:
    status: StatusFilter = StatusFilter()
    severities: frozenset | None = None
    types: frozenset | None = None
    assignee_id: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    text_search: str | None = None

    def matches(self, alarm):
        status = self.status
        if status.cleared is not None and alarm.cleared != status.cleared:
            return False
        if status.acknowledged is not None and alarm.acknowledged != status.acknowledged:
            return False
        if self.severities is not None and alarm.severity not in self.severities:
            return False
        if self.types is not None and alarm.type not in self.types:
            return False
        if self.assignee_id is not None and alarm.assignee_id != self.assignee_id:
            return False
        # startTime and endTime bound createdTime, both inclusive (AR).
        if self.start_time is not None and alarm.created_time < self.start_time:
            return False
        if self.end_time is not None and alarm.created_time > self.end_time:
            return False
        if self.text_search:
            # ILIKE over type, severity and status only: never the originator's name.
            needle = self.text_search.lower()
            return (
                needle in alarm.type.lower()
                or needle in alarm.severity.lower()
                or needle in alarm.status.lower()
            )
        return True


def sort_alarms(alarms, sort_property, sort_desc):
    """Sort as DaoUtil.toPageable: the property, then `id ASC` as the tie-breaker."""
    by_id = SORT_KEYS["id"]
    if sort_property in TIMESTAMP_SORTS:
        # Numbers can be negated, so one sort on (time, id) does both keys at once.
        key = SORT_KEYS[sort_property]
        sign = -1 if sort_desc else 1
        return sorted(alarms, key=lambda a: (sign * key(a), a.id))
    rows = sorted(alarms, key=by_id)
    if sort_property and sort_property != "id":
        key = SORT_KEYS.get(sort_property)
        if key is None:
            # UNVERIFIED: JPA rejects an unknown sort property and ThingsBoard reports the
            # DataAccessException as a database error.
            raise TbError(DATABASE, "Database error")
        rows.sort(key=key, reverse=sort_desc)
    elif sort_property == "id" and sort_desc:
        rows.reverse()
    return rows
