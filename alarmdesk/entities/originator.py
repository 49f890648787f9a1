"""What an alarm's originator is saying, read from ThingsBoard with the user's own token:
its info (owner, profile, activity), the latest value of every telemetry key, its
attributes by scope, and from the store its other alarms.

ThingsBoard decides what the user may read: the entity's info refused or unknown means the
page is not theirs (404), whatever the store holds. Every call of a look is made at once
(accounts.tokens.tb_calls): the page waits for ThingsBoard's slowest answer, not their sum.
"""

import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.http import Http404
from django.utils import timezone

from alarmdesk.accounts.tokens import tb_calls
from alarmdesk.alarms import access
from alarmdesk.alarms.models import FALSE
from alarmdesk.thingsboard.errors import NotFound, PermissionDenied, ThingsBoardError

from .hierarchy import paths_up

# The attribute scopes ThingsBoard has for each kind of entity (AttributeScope: client and
# shared attributes are a device's only).
SCOPES = {
    "DEVICE": ("CLIENT_SCOPE", "SHARED_SCOPE", "SERVER_SCOPE"),
    "ASSET": ("SERVER_SCOPE",),
}
SCOPE_NAMES = {
    "CLIENT_SCOPE": "Client attributes",
    "SHARED_SCOPE": "Shared attributes",
    "SERVER_SCOPE": "Server attributes",
}
# The originators that have a page of their own, by the URL's name.
PAGES = {"DEVICE": "device_detail", "ASSET": "asset_detail"}
RECENT = timedelta(days=30)
UNREACHABLE = "ThingsBoard cannot be reached: only AlarmDesk's copy of its alarms is shown."
SHOWN = 50  # alarms of each list


@dataclass
class Latest:
    key: str
    value: object
    ts: int
    age_ms: int


@dataclass
class Scope:
    scope: str
    name: str
    attributes: tuple = ()
    error: str = ""


@dataclass
class Originator:
    entity_type: str
    entity_id: str
    info: object = None  # thingsboard.types.EntityInfo; None when ThingsBoard was not reached
    latest: list = field(default_factory=list)
    scopes: list = field(default_factory=list)
    last_activity_ts: int | None = None
    unreachable: str = ""  # why ThingsBoard's part is missing
    active_alarms: list = field(default_factory=list)
    recent_alarms: list = field(default_factory=list)
    parents: list = field(default_factory=list)  # chains of containers, nearest first
    assignees: list = field(default_factory=list)  # whom an alarm raised here may go to
    series: object = None  # the latest telemetry as ThingsBoard sent it (the chart reuses it)
    name: str = ""

    @property
    def page_name(self):
        return PAGES[self.entity_type]


def look(request, user, entity_type, entity_id, *, attributes=True):
    """The originator as the user may see it now; raises Http404 when ThingsBoard says it is
    not theirs (or not there). With `attributes` (its own page): its attributes by scope,
    and the people an alarm raised on it may be assigned to."""
    calls = {
        "info": lambda tb: tb.entity_info(entity_type, entity_id),
        "latest": lambda tb: tb.latest(entity_type, entity_id),
        # The device state service's lastActivityTime is a server attribute.
        "SERVER_SCOPE": lambda tb: tb.attributes(entity_type, entity_id, "SERVER_SCOPE"),
        "parents": lambda tb: tb.related(entity_type, entity_id, "TO"),
    }
    if attributes:
        for scope in SCOPES[entity_type]:
            calls[scope] = lambda tb, scope=scope: tb.attributes(entity_type, entity_id, scope)
        calls["people"] = lambda tb: tb.users(page_size=100).data
    got = tb_calls(request, calls)
    found = Originator(entity_type, str(entity_id))
    info = got["info"]
    if isinstance(info, PermissionDenied | NotFound):
        raise Http404("No such device or asset of yours.")
    _alarms(found, user, entity_id)
    if isinstance(info, ThingsBoardError):
        if not found.active_alarms and not found.recent_alarms:
            raise Unreachable(str(info))
        found.unreachable = UNREACHABLE
        return found
    found.info, found.name = info, info.entity.name
    now = int(time.time() * 1000)
    if not isinstance(got["latest"], ThingsBoardError):
        found.series = got["latest"]
        found.latest = [
            Latest(key, points[-1].value, points[-1].ts, max(0, now - points[-1].ts))
            for key, points in sorted(got["latest"].items())
            if points and points[-1].value is not None
        ]
    if not isinstance(got["parents"], ThingsBoardError):
        found.parents = paths_up(got["parents"], entity_id)
    server = got["SERVER_SCOPE"]
    if not isinstance(server, ThingsBoardError):
        activity = {a.key: a.value for a in server}.get("lastActivityTime")
        found.last_activity_ts = activity if isinstance(activity, int) and activity > 0 else None
    if attributes and not isinstance(got["people"], ThingsBoardError):
        owner = info.entity.customer_id
        # ThingsBoard's candidates for an alarm (users/assign): the tenant's administrators
        # and the users of the alarm's customer (the originator's owner).
        found.assignees = [
            p for p in got["people"] if p.authority == "TENANT_ADMIN" or p.customer_id == owner
        ]
    if attributes:
        for scope in SCOPES[entity_type]:
            answer = got[scope]
            if isinstance(answer, ThingsBoardError):
                found.scopes.append(Scope(scope, SCOPE_NAMES[scope], error=_refusal(answer)))
            else:
                found.scopes.append(Scope(scope, SCOPE_NAMES[scope], answer))
    return found


class Unreachable(Exception):
    """ThingsBoard did not answer, and the store knows nothing of the entity for the user."""


def _refusal(error):
    if isinstance(error, PermissionDenied):
        return f"ThingsBoard does not let you read these: {error}"
    return f"ThingsBoard did not send these: {error}"


def _alarms(found, user, entity_id):
    """Its other alarms, from the store, through the one access rule."""
    mine = access.visible_alarms(user).filter(originator_id=entity_id)
    found.active_alarms = list(
        mine.filter(cleared=FALSE).order_by("severity_rank", "-start_ts", "id")[:SHOWN]
    )
    since = int((timezone.now() - RECENT).timestamp() * 1000)
    found.recent_alarms = list(mine.filter(start_ts__gte=since).order_by("-start_ts", "id")[:SHOWN])
    if not found.name and (found.active_alarms or found.recent_alarms):
        found.name = (found.active_alarms or found.recent_alarms)[0].originator_name
