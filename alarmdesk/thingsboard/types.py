"""Frozen dataclasses parsed from ThingsBoard's JSON (thingsboard-api.md sections 2, 4, 6).

Every `from_json` ignores fields it does not know, and raises ProtocolError when a field it
needs is missing or of the wrong kind. Entity ids become plain uuid strings.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

import jwt

from .errors import ProtocolError

# "No owner" in users, devices and assets; alarms say null instead (section 1, section 9.4).
NULL_UUID = "13814000-1dd2-11b2-8080-808080808080"

T = TypeVar("T")


@contextmanager
def _parsing(what):
    """Turn the lookups of a parser into ProtocolError when the JSON is not as expected."""
    try:
        yield
    except KeyError as error:
        raise ProtocolError(f"{what} without the field {error}") from None
    except (TypeError, ValueError, AttributeError) as error:
        raise ProtocolError(f"{what} in an unexpected shape: {error}") from None


def _text(value):
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _optional_text(value):
    return None if value is None else _text(value)


def _int(value):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _bool(value):
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _id(value):
    """`{"entityType": "DEVICE", "id": "<uuid>"}` (or `{"id": ...}` for comments) -> uuid."""
    return _text(value["id"])


def _optional_id(value):
    return None if value is None else _id(value)


def _customer_id(value):
    """A customer id, None for both JSON null (alarms) and the null UUID (everything else)."""
    customer = _optional_id(value)
    return None if customer == NULL_UUID else customer


def _full_name(first_name, last_name, email):
    """ThingsBoard's User.getTitle(): first and last name, or the e-mail when both are empty."""
    return f"{first_name or ''} {last_name or ''}".strip() or email


@dataclass(frozen=True, slots=True)
class TokenPair:
    """The answer of POST /api/auth/login and /api/auth/token (section 2.2, 2.4)."""

    token: str
    refresh_token: str
    access_expires_at: datetime  # the access token's `exp`, UTC

    @classmethod
    def from_json(cls, data):
        with _parsing("token pair"):
            token = _text(data["token"])
            refresh_token = _text(data["refreshToken"])
        try:
            # Lifetimes are configurable by SYS_ADMIN, so read `exp` rather than assume
            # the 9000 s default (section 2.3). The signature is ThingsBoard's business.
            claims = jwt.decode(token, options={"verify_signature": False})
            expires_at = datetime.fromtimestamp(_int(claims["exp"]), tz=UTC)
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError, OverflowError):
            raise ProtocolError("the access token is not a JWT with an `exp` claim") from None
        return cls(token, refresh_token, expires_at)


@dataclass(frozen=True, slots=True)
class User:
    """GET /api/auth/user (section 2.5)."""

    id: str
    email: str
    first_name: str | None
    last_name: str | None
    authority: str  # SYS_ADMIN, TENANT_ADMIN or CUSTOMER_USER
    tenant_id: str  # the null UUID for SYS_ADMIN
    customer_id: str | None  # None for tenant admins and SYS_ADMIN

    @property
    def display_name(self):
        return _full_name(self.first_name, self.last_name, self.email)

    @classmethod
    def from_json(cls, data):
        with _parsing("user"):
            return cls(
                id=_id(data["id"]),
                email=_text(data["email"]),
                first_name=_optional_text(data.get("firstName")),
                last_name=_optional_text(data.get("lastName")),
                authority=_text(data["authority"]),
                tenant_id=_id(data["tenantId"]),
                customer_id=_customer_id(data.get("customerId")),
            )


@dataclass(frozen=True, slots=True)
class UserEmailInfo:
    """A user in short: candidates of GET /api/users/assign/{alarmId}, and an alarm's
    `assignee` (ThingsBoard's AlarmAssignee has exactly these fields)."""

    id: str
    email: str
    first_name: str | None
    last_name: str | None

    @property
    def display_name(self):
        return _full_name(self.first_name, self.last_name, self.email)

    @classmethod
    def from_json(cls, data):
        with _parsing("user e-mail info"):
            return cls(
                id=_id(data["id"]),
                email=_text(data["email"]),
                first_name=_optional_text(data.get("firstName")),
                last_name=_optional_text(data.get("lastName")),
            )


@dataclass(frozen=True, slots=True)
class AlarmInfo:
    """An alarm with its originator's names and its assignee (section 4.2)."""

    id: str
    created_time: int
    tenant_id: str
    customer_id: str | None
    type: str
    originator_type: str
    originator_id: str
    severity: str
    acknowledged: bool
    cleared: bool
    assignee_id: str | None
    start_ts: int
    end_ts: int
    ack_ts: int
    clear_ts: int
    assign_ts: int
    details: Any
    propagate: bool
    propagate_to_owner: bool
    propagate_to_tenant: bool
    propagate_relation_types: tuple[str, ...]
    name: str
    status: str  # ACTIVE_UNACK, ACTIVE_ACK, CLEARED_UNACK or CLEARED_ACK
    originator_name: str
    originator_label: str | None
    originator_display_name: str
    assignee: UserEmailInfo | None

    @classmethod
    def from_json(cls, data):
        with _parsing("alarm"):
            originator = data["originator"]
            originator_name = _text(data["originatorName"])
            originator_label = _optional_text(data.get("originatorLabel"))
            alarm_type = _text(data["type"])
            assignee = data.get("assignee")
            return cls(
                id=_id(data["id"]),
                created_time=_int(data["createdTime"]),
                tenant_id=_id(data["tenantId"]),
                customer_id=_customer_id(data.get("customerId")),
                type=alarm_type,
                originator_type=_text(originator["entityType"]),
                originator_id=_id(originator),
                severity=_text(data["severity"]),
                acknowledged=_bool(data["acknowledged"]),
                cleared=_bool(data["cleared"]),
                assignee_id=_optional_id(data.get("assigneeId")),
                start_ts=_int(data["startTs"]),
                end_ts=_int(data["endTs"]),
                ack_ts=_int(data["ackTs"]),
                clear_ts=_int(data["clearTs"]),
                assign_ts=_int(data.get("assignTs", 0)),
                details=data.get("details"),
                propagate=_bool(data.get("propagate", False)),
                propagate_to_owner=_bool(data.get("propagateToOwner", False)),
                propagate_to_tenant=_bool(data.get("propagateToTenant", False)),
                propagate_relation_types=tuple(
                    _text(t) for t in data.get("propagateRelationTypes") or ()
                ),
                name=_text(data.get("name", alarm_type)),
                status=_text(data["status"]),
                originator_name=originator_name,
                originator_label=originator_label,
                # 4.3+; before, ThingsBoard's own fallback: label, then name (section 4.2).
                originator_display_name=_text(
                    data.get("originatorDisplayName") or originator_label or originator_name
                ),
                assignee=None if assignee is None else UserEmailInfo.from_json(assignee),
            )


@dataclass(frozen=True, slots=True)
class AlarmComment:
    """An alarm comment, or a SYSTEM entry recording an action (section 4.7).

    First and last name and e-mail come with the list (AlarmCommentInfo) and are None in
    the answer to posting a comment.
    """

    id: str
    alarm_id: str
    user_id: str | None  # None for some SYSTEM comments
    type: str  # SYSTEM or OTHER
    text: str
    subtype: str | None  # ACKED_BY_USER, CLEARED_BY_USER, ... on SYSTEM comments
    comment: dict
    created_time: int
    first_name: str | None
    last_name: str | None
    email: str | None

    @classmethod
    def from_json(cls, data):
        with _parsing("alarm comment"):
            comment = data["comment"]
            if not isinstance(comment, dict):
                raise TypeError(f"expected a JSON object as comment, got {comment!r}")
            return cls(
                id=_id(data["id"]),
                alarm_id=_id(data["alarmId"]),
                user_id=_optional_id(data.get("userId")),
                type=_text(data["type"]),
                # The API accepts any JSON object; ThingsBoard's UI and ours write "text".
                text=str(comment.get("text", "")),
                subtype=_optional_text(comment.get("subtype")),
                comment=comment,
                created_time=_int(data["createdTime"]),
                first_name=_optional_text(data.get("firstName")),
                last_name=_optional_text(data.get("lastName")),
                email=_optional_text(data.get("email")),
            )


@dataclass(frozen=True, slots=True)
class Entity:
    """A device or an asset (section 6.1, 6.2); `type` is its profile's name."""

    entity_type: str  # DEVICE or ASSET
    id: str
    name: str
    label: str | None
    type: str
    customer_id: str | None  # None when unassigned

    @classmethod
    def from_json(cls, data):
        with _parsing("entity"):
            return cls(
                entity_type=_text(data["id"]["entityType"]),
                id=_id(data["id"]),
                name=_text(data["name"]),
                label=_optional_text(data.get("label")),
                type=_text(data["type"]),
                customer_id=_customer_id(data.get("customerId")),
            )


@dataclass(frozen=True, slots=True)
class EntityInfo:
    """A device's or an asset's info (DeviceInfo, AssetInfo: section 6.1, 6.2): the entity,
    its owner's title, its profile's name and, for a device, whether it is active (the
    `active` server attribute ThingsBoard's device state service keeps; assets: None)."""

    entity: Entity
    customer_title: str | None
    profile: str
    active: bool | None

    @classmethod
    def from_json(cls, data):
        with _parsing("entity info"):
            entity = Entity.from_json(data)
            profile = data.get("deviceProfileName") or data.get("assetProfileName")
            active = data.get("active") if entity.entity_type == "DEVICE" else None
            return cls(
                entity=entity,
                customer_title=_optional_text(data.get("customerTitle")),
                profile=_text(profile) if profile is not None else entity.type,
                active=None if active is None else _bool(active),
            )


@dataclass(frozen=True, slots=True)
class Relation:
    """An EntityRelationInfo (POST /api/relations/info): `from_` relates to `to` by `type`
    ("Contains"); the far end's name is the one ThingsBoard fills (toName walking from the
    root, fromName walking to it)."""

    from_type: str
    from_id: str
    to_type: str
    to_id: str
    type: str
    from_name: str | None
    to_name: str | None

    @classmethod
    def from_json(cls, data):
        with _parsing("relation"):
            return cls(
                from_type=_text(data["from"]["entityType"]),
                from_id=_id(data["from"]),
                to_type=_text(data["to"]["entityType"]),
                to_id=_id(data["to"]),
                type=_text(data["type"]),
                from_name=_optional_text(data.get("fromName")),
                to_name=_optional_text(data.get("toName")),
            )


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of one scope (GET .../values/attributes/{scope}: section 6.4); its
    value as ThingsBoard typed it (number, boolean, string, or JSON as a dict or list)."""

    key: str
    value: Any
    last_update_ts: int

    @classmethod
    def from_json(cls, data):
        with _parsing("attribute"):
            return cls(
                key=_text(data["key"]),
                value=data.get("value"),
                last_update_ts=_int(data["lastUpdateTs"]),
            )


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer of the tenant (section 6.3)."""

    id: str
    title: str

    @classmethod
    def from_json(cls, data):
        with _parsing("customer"):
            return cls(id=_id(data["id"]), title=_text(data["title"]))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a paged list (PageData, section 1)."""

    data: tuple[T, ...]
    total_pages: int
    total_elements: int
    has_next: bool

    @classmethod
    def from_json(cls, data, parse_item: Callable[[Any], T]):
        with _parsing("page"):
            rows = data["data"]
            if not isinstance(rows, list):
                raise TypeError(f"expected a list of rows, got {rows!r}")
            total_pages = _int(data["totalPages"])
            total_elements = _int(data["totalElements"])
            has_next = _bool(data["hasNext"])
        return cls(tuple(parse_item(row) for row in rows), total_pages, total_elements, has_next)


class Point(NamedTuple):
    ts: int  # epoch milliseconds
    value: bool | int | float | str | None


_INTEGER = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|NaN|-?Infinity")


def telemetry_value(value):
    """A telemetry value as Python: ThingsBoard sends strings unless asked for strict data
    types (section 6.4), so "21.5" -> 21.5, "42" -> 42, "true" -> True, None stays None.
    Anything else, JSON text included, stays a string."""
    if not isinstance(value, str):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    if _INTEGER.fullmatch(value):
        return int(value)
    if _DECIMAL.fullmatch(value):
        # Java's Double.toString: "21.5", "1.0E10", "NaN", "Infinity".
        return float(value.replace("Infinity", "inf"))
    return value


@dataclass(frozen=True, slots=True)
class TimeSeries(Mapping[str, tuple[Point, ...]]):
    """Telemetry by key: `series["temperature"]` -> ((ts, value), ...), oldest first.

    Keys with no data in the range are absent; a requested latest key that was never
    written has one point whose value is None (section 6.4).
    """

    series: dict[str, tuple[Point, ...]]

    def __getitem__(self, key):
        return self.series[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.series)

    def __len__(self):
        return len(self.series)

    @classmethod
    def from_json(cls, data):
        with _parsing("telemetry"):
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {data!r}")
            series = {}
            for key, points in data.items():
                parsed = [Point(_int(p["ts"]), telemetry_value(p["value"])) for p in points]
                parsed.sort(key=lambda point: point.ts)
                series[key] = tuple(parsed)
            return cls(series)
