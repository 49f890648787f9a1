"""The simulator's in-memory ThingsBoard: entities, alarms, comments and their rules.

Every public method takes the acting `User` and applies ThingsBoard's permission checks
(section 5), raising `TbError` exactly where ThingsBoard answers with an error. One
re-entrant lock guards everything; HTTP threads and the live generator share it.
"""

import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import replace
from operator import attrgetter

from .attributes import Attributes
from .auth import Tokens, auth_failed
from .errors import ITEM_NOT_FOUND, TbError, bad_request, denied, not_found
from .index import ORDERINGS, SortedAlarms, Window, created_between
from .model import (
    CUSTOMER_USER,
    NULL_UUID,
    SEVERITIES,
    SYS_ADMIN,
    TENANT_ADMIN,
    Alarm,
    Comment,
    compact,
)
from .query import AlarmQuery, StatusFilter, sort_alarms
from .relations import CONTAINS, TO, Relations
from .telemetry import Telemetry

ENTITY_TYPE_ENUM = "org.thingsboard.server.common.data.EntityType"
MATCH_ALL = AlarmQuery()  # an alarm list with no filter


def now_ms():
    return int(time.time() * 1000)


def parse_uuid(value):
    """toUUID(): a bad id is a 400 code 31 (section 3.2)."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise bad_request(f"Invalid UUID string: {value}") from None


class SimState:
    QUERY_CACHE_SIZE = 256
    # Alarms held by the cached lists all together (8 bytes each): at 1,000,000 alarms 256
    # whole-store lists would be 2 GB.
    QUERY_CACHE_ROWS = 2_000_000
    # Serialised AlarmInfo of the alarms served last: list pages are mostly made of alarms
    # that did not change since the last request, but a backfill of 1,000,000 alarms serves
    # every one of them once (about 1.7 KB each to keep).
    INFO_CACHE_SIZE = 20_000

    def __init__(self, tokens=None):
        self.lock = threading.RLock()
        self.tokens = tokens or Tokens()
        # SecuritySettings.maxFailedLoginAttempts: unset by default, so no lockout (2.7).
        self.max_failed_logins = None
        self.failed_logins = {}
        self.tenants = set()
        self.customers = {}
        self.users = {}
        self.users_by_email = {}
        self.devices = {}  # devices and assets by id
        self.relations = Relations()
        self.alarms = {}
        self.alarms_by_tenant = {}  # tenant id -> list of alarms in creation order
        self.sorted = SortedAlarms()  # the orderings the sync reads, per tenant and scope
        self.alarm_types = {}  # tenant id -> set of types (section 4.4: tenant-wide)
        self.active_by_pair = {}  # (originator id, type) -> its non-cleared alarm (dedup)
        self.comments = {}  # alarm id -> list of comments
        self.api_keys = {}  # key -> user id
        self.telemetry = Telemetry()
        self.attributes = Attributes()  # what users wrote and deleted (api_telemetry)
        # Bumped by every alarm change; list queries are cached per version, so a poller
        # asking the same question of an unchanged store costs a dict lookup.
        self.version = 0
        self._query_cache = OrderedDict()
        self._query_cache_rows = 0
        self._info_cache = OrderedDict()  # alarm id -> its AlarmInfo JSON, until it changes

    # --- building (scenarios) -------------------------------------------------------

    def add_user(self, user):
        self.users[user.id] = user
        self.users_by_email[user.email] = user
        if user.authority != SYS_ADMIN:
            self.tenants.add(user.tenant_id)

    def add_entity(self, entity, parent=None):
        """Store a device or asset, and the "Contains" relation from the asset `parent`."""
        self.devices[entity.id] = entity
        if parent is not None:
            self.add_relation(("ASSET", parent.id), (entity.entity_type, entity.id), CONTAINS)

    def add_relation(self, from_, to, relation_type, type_group="COMMON"):
        """Relate two entities, each an (entity type, id) pair."""
        with self.lock:
            return self.relations.save(from_, to, relation_type, type_group)

    def insert_alarm(self, alarm):
        """Store a new alarm as ThingsBoard's create_or_update_active_alarm inserts it."""
        self.alarms[alarm.id] = alarm
        self.alarms_by_tenant.setdefault(alarm.tenant_id, []).append(alarm)
        self.alarm_types.setdefault(alarm.tenant_id, set()).add(alarm.type)
        if not alarm.cleared:
            self.active_by_pair[(alarm.originator_id, alarm.type)] = alarm
        self.sorted.add(alarm)
        self.changed()

    def insert_alarms(self, alarms):
        """Store a scenario's history at once, as insert_alarm of each in turn would, in a
        few passes that map and zip in C (a Python loop over 1,000,000 alarms is tenths of
        a second each)."""
        tenant_of, type_of = attrgetter("tenant_id"), attrgetter("type")
        self.alarms.update(zip(map(attrgetter("id"), alarms), alarms, strict=True))
        kinds = set(zip(map(tenant_of, alarms), map(type_of, alarms), strict=True))
        for tenant, alarm_type in kinds:
            self.alarm_types.setdefault(tenant, set()).add(alarm_type)
        tenants = set(map(tenant_of, alarms))
        for tenant in tenants:
            own = alarms if len(tenants) == 1 else [a for a in alarms if a.tenant_id == tenant]
            self.alarms_by_tenant.setdefault(tenant, []).extend(own)
        active = [alarm for alarm in alarms if not alarm.cleared]
        pairs = zip(map(attrgetter("originator_id"), active), map(type_of, active), strict=True)
        # Later alarms of a pair win, as they would one insert at a time.
        self.active_by_pair.update(zip(pairs, active, strict=True))
        self.sorted.build(self.alarms.values())
        self.changed()

    def _forget_active(self, alarm):
        if self.active_by_pair.get((alarm.originator_id, alarm.type)) is alarm:
            del self.active_by_pair[(alarm.originator_id, alarm.type)]

    def changed(self):
        self.version += 1

    # --- sign-in (section 2.7) --------------------------------------------------------

    def authenticate(self, email, password):
        """validateUserCredentials: wrong password, disabled account, lockout."""
        with self.lock:
            user = self.users_by_email.get(email)
            if user is None:
                raise auth_failed("Invalid username or password")
            if not user.enabled:
                raise auth_failed("User account is not active")
            if user.password != password:
                failures = self.failed_logins.get(user.id, 0) + 1
                self.failed_logins[user.id] = failures
                if self.max_failed_logins is not None and failures > self.max_failed_logins:
                    user.enabled = False
                    raise auth_failed("User account is locked due to security policy")
                raise auth_failed("Invalid username or password")
            self.failed_logins.pop(user.id, None)
            return user

    # --- a user's lifecycle: disabled, re-enabled, deleted (UserController) -----------

    def set_user_credentials_enabled(self, actor, user_id, enabled):
        with self.lock:
            self.set_enabled(self._check_user_admin(actor, user_id), enabled)

    def set_enabled(self, user, enabled):
        """UserServiceImpl.setUserCredentialsEnabled; UserController then publishes
        UserCredentialsInvalidationEvent when disabling, which outdates the user's tokens."""
        with self.lock:
            user.enabled = enabled
            if enabled:
                self.failed_logins.pop(user.id, None)
            else:
                self.tokens.invalidate_user(user.id)

    def delete_user(self, actor, user_id):
        """UserController.deleteUser, then UserServiceImpl.deleteUser: credentials and API
        keys go with the user, and UserCredentialsInvalidationEvent outdates its tokens."""
        with self.lock:
            target = self._check_user_admin(actor, user_id)
            if target.authority == SYS_ADMIN and target.id == actor.id:
                raise denied("Sysadmin is not allowed to delete himself")
            if target.authority == TENANT_ADMIN and not any(
                u.id != target.id
                and u.authority == TENANT_ADMIN
                and u.tenant_id == target.tenant_id
                for u in self.users.values()
            ):
                raise bad_request("At least one tenant administrator must remain!")
            del self.users[target.id]
            del self.users_by_email[target.email]
            self.api_keys = {k: v for k, v in self.api_keys.items() if v != target.id}
            self.failed_logins.pop(target.id, None)
            self.tokens.invalidate_user(target.id)
            self._unassign_alarms_of_deleted(target)

    def _unassign_alarms_of_deleted(self, user):
        """DefaultTbAlarmService.unassignDeletedUserAlarms. ThingsBoard's housekeeper runs it
        shortly after the deletion (AlarmsUnassignTaskProcessor); here it is at once."""
        for alarm in self.alarms_by_tenant.get(user.tenant_id, ()):
            if alarm.assignee_id != user.id:
                continue
            alarm.assignee_id = None
            alarm.assign_ts = now_ms()
            comment = {
                "text": f"Alarm was unassigned because user {user.title} - was deleted",
                "subtype": "UNASSIGNED_FROM_DELETED_USER",
                "userName": user.title,
            }
            self.add_comment_record(alarm.id, None, "SYSTEM", comment)
            self._changed_alarm(alarm)

    def _check_user_admin(self, actor, user_id):
        """checkUserId(userId, WRITE or DELETE): a sysadmin manages sysadmins and tenant
        admins (SysAdminPermissions), a tenant admin its own tenant's users
        (TenantAdminPermissions); both userPermissionCheckers."""
        user_id = parse_uuid(user_id)
        target = self.users.get(user_id)
        if target is None:
            raise not_found("User", user_id)
        if actor.authority == SYS_ADMIN:
            allowed = target.authority != CUSTOMER_USER
        else:
            allowed = target.authority != SYS_ADMIN and target.tenant_id == actor.tenant_id
        if not allowed:
            raise denied()
        return target

    # --- lookups --------------------------------------------------------------------

    def user_by_email(self, email):
        return self.users_by_email.get(email)

    def owner_of(self, entity_type, entity_id):
        """fetchEntityCustomerId: the originator's customer, or None for the tenant."""
        entity = self.devices.get(entity_id)
        if entity is not None:
            return None if entity.customer_id == NULL_UUID else entity.customer_id
        if entity_type == "CUSTOMER":
            return entity_id
        if entity_type == "USER" and entity_id in self.users:
            customer = self.users[entity_id].customer_id
            return None if customer == NULL_UUID else customer
        return None

    def originator_names(self, alarm):
        """The alarm_info view's originatorName and originatorLabel ("Deleted" if gone)."""
        entity = self.devices.get(alarm.originator_id)
        if entity is not None:
            return entity.name, entity.label or entity.name
        customer = self.customers.get(alarm.originator_id)
        if customer is not None:
            return customer.title, customer.title
        user = self.users.get(alarm.originator_id)
        if user is not None:
            return user.email, user.email
        return "Deleted", "Deleted"

    def customer_title(self, entity):
        customer = self.customers.get(entity.customer_id)
        return customer.title if customer else ""

    def device_active(self, device):
        """The `active` server attribute, which DeviceInfo.active reads (device_info_view):
        false while the device is silent (Device Offline)."""
        return self.telemetry.is_online(device.id, now_ms())

    def device_activity(self, device, now):
        """{key: (lastUpdateTs, value)}: the server attributes DefaultDeviceStateService
        keeps (state.persistToTelemetry is false by default), each stamped when it was saved.

        The simulator's device holds one session from its creation: a silence ("Device
        Offline") drops it, and the device reconnects when the silence ends. So `active` is
        false while silent; lastActivityTime is the last telemetry point; lastDisconnectTime
        and inactivityAlarmTime are when the last silence began (the Device Offline alarm's
        start), written only once a device fell silent; lastConnectTime is when its session
        last began. ThingsBoard writes the two session times on transport connect and
        disconnect events: tying them to the silences is the simulator's own model."""
        silence = self.telemetry.last_silence(device.id, now)
        rows = {}
        if silence is None:
            rows["active"] = (device.created_time, True)
            connected = device.created_time
        else:
            began, ended = silence
            rows["active"] = (began, False) if ended is None else (ended, True)
            if ended is None:
                before = self.telemetry.last_silence(device.id, began - 1)
                connected = before[1] if before else device.created_time
            else:
                connected = ended
        last_activity = self.telemetry.last_sample_ts(device.id, now)
        if last_activity is not None:
            rows["lastActivityTime"] = (last_activity, last_activity)
        rows["lastConnectTime"] = (connected, connected)
        if silence is not None:
            rows["lastDisconnectTime"] = (silence[0], silence[0])
            rows["inactivityAlarmTime"] = (silence[0], silence[0])
        return rows

    def device_attributes(self, device, scope):
        """A device's attributes, `[{lastUpdateTs, key, value}]`, one scope or all."""
        fixed = device.created_time
        by_scope = {
            "CLIENT_SCOPE": {
                "firmwareVersion": (fixed, "2.4.1"),
                "serialNumber": (fixed, device.name.upper()),
            },
            "SERVER_SCOPE": self.device_activity(device, now_ms()),
            "SHARED_SCOPE": {"samplingPeriodSec": (fixed, 60)},
        }
        return [
            {"lastUpdateTs": ts, "key": key, "value": value}
            for name, values in by_scope.items()
            if scope in (None, name)
            for key, (ts, value) in values.items()
        ]

    def entity_info(self, entity):
        active = entity.entity_type == "DEVICE" and self.device_active(entity)
        return entity.info_json(self.customers.get(entity.customer_id), active)

    def alarm_info(self, alarm):
        return alarm.info_json(*self.originator_names(alarm), self.users.get(alarm.assignee_id))

    def alarm_info_bytes(self, alarm):
        """Serialised AlarmInfo, cached until the alarm changes (every change calls _touch)
        or enough others were served since."""
        cache = self._info_cache
        body = cache.get(alarm.id)
        if body is None:
            body = cache[alarm.id] = json.dumps(self.alarm_info(alarm)).encode()
            if len(cache) > self.INFO_CACHE_SIZE:
                cache.popitem(last=False)
        else:
            cache.move_to_end(alarm.id)
        return body

    def _touch(self, alarm):
        self._info_cache.pop(alarm.id, None)

    # --- permission checks (section 5 and 3.3) ---------------------------------------

    def check_alarm(self, user, alarm_id, *, tenant_scoped_lookup=False):
        """checkAlarmId / checkAlarmInfoId: 404 when missing, 403 when not permitted.

        `findAlarmById` ignores the tenant, so another tenant's alarm is "found" and
        refused with 403; the AlarmInfo lookup filters by tenant and answers 404.
        """
        alarm_id = parse_uuid(alarm_id)
        alarm = self.alarms.get(alarm_id)
        if alarm is None or (tenant_scoped_lookup and alarm.tenant_id != user.tenant_id):
            raise not_found("Alarm", alarm_id)
        if not self.may_read(user, alarm):
            raise denied()
        return alarm

    @staticmethod
    def may_read(user, owned):
        """PERM for alarms, devices and assets: the tenant's admins, or the owning customer's
        users. For an alarm the owner is its stored customerId, fixed at creation (9.2)."""
        if user.authority == TENANT_ADMIN:
            return owned.tenant_id == user.tenant_id
        if user.authority == CUSTOMER_USER:
            return owned.tenant_id == user.tenant_id and owned.customer_id == user.customer_id
        return False

    def check_entity(self, user, entity_type, entity_id, *, tenant_scoped_lookup=True):
        """READ on a device, asset, customer, user or tenant (PERM, section 3.3)."""
        entity_id = parse_uuid(entity_id)
        if entity_type in ("DEVICE", "ASSET"):
            entity = self.devices.get(entity_id)
            if entity is None or entity.entity_type != entity_type:
                raise not_found(entity_type.capitalize(), entity_id)
            # A sysadmin's lookups use SYS_TENANT_ID, which findDeviceById treats as "any
            # tenant": the device is found and then refused (section 5.1).
            if (
                tenant_scoped_lookup
                and user.authority != SYS_ADMIN
                and entity.tenant_id != user.tenant_id
            ):
                raise not_found(entity_type.capitalize(), entity_id)
            if not self.may_read(user, entity):
                raise denied()
            return entity
        if entity_type == "CUSTOMER":
            customer = self.customers.get(entity_id)
            if customer is None:
                raise not_found("Customer", entity_id)
            if user.authority == SYS_ADMIN or customer.tenant_id != user.tenant_id:
                raise denied()
            if user.authority == CUSTOMER_USER and customer.id != user.customer_id:
                raise denied()
            return customer
        if entity_type == "USER":
            return self.check_user(user, entity_id)
        if entity_type == "TENANT":
            if entity_id not in self.tenants:
                raise not_found("Tenant", entity_id)
            if user.authority == CUSTOMER_USER or (
                user.authority == TENANT_ADMIN and entity_id != user.tenant_id
            ):
                raise denied()
            return None
        raise bad_request(f"No enum constant {ENTITY_TYPE_ENUM}.{entity_type}")

    def check_user(self, user, user_id):
        user_id = parse_uuid(user_id)
        target = self.users.get(user_id)
        if target is None:
            raise not_found("User", user_id)
        if user.authority == SYS_ADMIN:
            return target
        if target.tenant_id != user.tenant_id:
            raise denied()
        if user.authority == CUSTOMER_USER and target.customer_id != user.customer_id:
            raise denied()
        return target

    # --- alarm lists ----------------------------------------------------------------

    def find_alarms(self, user, query, sort_property, sort_desc, entity=None):
        """The sorted alarms a list endpoint pages over: a window of a kept-sorted list when
        one answers the query, else filtered (and sorted) and cached per store version."""
        indexed = entity is None and sort_desc and sort_property in ORDERINGS
        with self.lock:
            if indexed:
                rows, residual = self._scoped(user, query, sort_property)
                lo, hi = 0, len(rows)
                if sort_property == "createdTime":
                    # startTime and endTime bound createdTime: a bisect on its own list.
                    lo, hi = created_between(rows, query.start_time, query.end_time)
                    residual = replace(residual, start_time=None, end_time=None)
                if residual == MATCH_ALL:
                    return Window(rows, lo, hi)
            key = (
                user.tenant_id,
                self._customer_scope(user, entity),
                entity,
                query,
                sort_property,
                sort_desc,
            )
            cached = self._query_cache.get(key)
            if cached is not None and cached[0] == self.version:
                self._query_cache.move_to_end(key)
                return cached[1]
            if indexed:
                matches = residual.matches
                found = [a for a in rows[lo:hi] if matches(a)]
            else:
                found = sort_alarms(self._candidates(user, entity, query), sort_property, sort_desc)
            self._cache_rows(key, found)
            return found

    def _cache_rows(self, key, rows):
        cache = self._query_cache
        stale = cache.pop(key, None)
        if stale is not None:
            self._query_cache_rows -= len(stale[1])
        cache[key] = (self.version, rows)
        self._query_cache_rows += len(rows)
        while len(cache) > 1 and (
            len(cache) > self.QUERY_CACHE_SIZE or self._query_cache_rows > self.QUERY_CACHE_ROWS
        ):
            _, (_, dropped) = cache.popitem(last=False)
            self._query_cache_rows -= len(dropped)

    @staticmethod
    def _customer_scope(user, entity):
        if entity is None and user.authority == CUSTOMER_USER:
            return user.customer_id
        return None

    def _scoped(self, user, query, ordering):
        """The kept-sorted list of `ordering` that is already the user's scope (a customer
        user's: its customer's alarms) and, for ACTIVE, only the active alarms; and the
        part of the query that is left to test alarm by alarm."""
        active_only = query.status.cleared is False
        rows = self.sorted.rows(
            user.tenant_id, self._customer_scope(user, None), active_only, ordering
        )
        if active_only:
            query = replace(query, status=StatusFilter(acknowledged=query.status.acknowledged))
        return rows, query

    def _candidates(self, user, entity, query):
        if entity is None:
            rows, residual = self._scoped(user, query, "createdTime")
            if residual == MATCH_ALL:
                return list(rows)  # an unfiltered list: no test per alarm
            return [a for a in rows if residual.matches(a)]
        alarms = self.alarms_by_tenant.get(user.tenant_id, ())
        return [a for a in alarms if entity in self.propagated_to(a) and query.matches(a)]

    def propagated_to(self, alarm):
        """The entity_alarm rows: originator, the entities related to it, owner and tenant.

        BaseAlarmService.createEntityAlarmRecords: every COMMON relation towards the
        originator, however many levels up (a device's building and its site), narrowed to
        propagateRelationTypes when it names any."""
        originator = (alarm.originator_type, alarm.originator_id)
        targets = {originator}
        if alarm.propagate:
            kinds = alarm.propagate_relation_types
            targets.update(
                relation.from_
                for relation in self.relations.query(originator, TO, "COMMON", 0, False)
                if not kinds or relation.type in kinds
            )
        if alarm.propagate_to_owner:
            if alarm.customer_id:
                targets.add(("CUSTOMER", alarm.customer_id))
            else:
                targets.add(("TENANT", alarm.tenant_id))
        if alarm.propagate_to_tenant:
            targets.add(("TENANT", alarm.tenant_id))
        return targets

    def highest_severity(self, user, entity, query):
        alarms = self._candidates(user, entity, query)
        if not alarms:
            return None
        return min((a.severity for a in alarms), key=SEVERITIES.index)

    # --- alarm actions (section 4.5) ------------------------------------------------

    def acknowledge(self, user, alarm_id, ts=None):
        with self.lock:
            alarm = self.check_alarm(user, alarm_id)
            if alarm.acknowledged:
                raise bad_request("Alarm was already acknowledged!")
            with self.sorted.moving(alarm, ("ackTs",)):
                alarm.acknowledged = True
                alarm.ack_ts = ts or now_ms()
            text = f"Alarm was acknowledged by user {user.title}"
            self._system_comment(alarm, user, "ACKED_BY_USER", text, userName=user.title)
            return self._changed_alarm(alarm)

    def clear(self, user, alarm_id, ts=None):
        with self.lock:
            alarm = self.check_alarm(user, alarm_id)
            if alarm.cleared:
                raise bad_request("Alarm was already cleared!")
            self._clear(alarm, ts or now_ms())
            self._system_comment(
                alarm,
                user,
                "CLEARED_BY_USER",
                f"Alarm was cleared by user {user.title}",
                userName=user.title,
            )
            return self._changed_alarm(alarm)

    def _clear(self, alarm, ts):
        with self.sorted.moving(alarm, ("clearTs",), may_clear=True):
            alarm.cleared = True
            alarm.clear_ts = ts
        self._forget_active(alarm)
        if alarm.originator_type == "DEVICE":
            self.telemetry.close_episode(alarm.originator_id, alarm.type, ts)

    def assign(self, user, alarm_id, assignee_id, ts=None):
        with self.lock:
            alarm = self.check_alarm(user, alarm_id)
            assignee = self.check_user(user, assignee_id)
            if alarm.assignee_id == assignee.id:
                raise bad_request("Alarm was already assigned to this user!")
            alarm.assignee_id = assignee.id
            alarm.assign_ts = ts or now_ms()
            self._system_comment(
                alarm,
                user,
                "ASSIGNED_TO_USER",
                f"Alarm was assigned by user {user.title} to user {assignee.title}",
                userName=user.title,
                assigneeName=assignee.title,
            )
            return self._changed_alarm(alarm)

    def unassign(self, user, alarm_id, ts=None):
        with self.lock:
            alarm = self.check_alarm(user, alarm_id)
            if alarm.assignee_id is None:
                raise bad_request("Alarm was already unassigned!")
            alarm.assignee_id = None
            alarm.assign_ts = ts or now_ms()
            self._system_comment(
                alarm,
                user,
                "UNASSIGNED_BY_USER",
                f"Alarm was unassigned by user {user.title}",
                userName=user.title,
            )
            return self._changed_alarm(alarm)

    def delete_alarm(self, user, alarm_id):
        with self.lock:
            alarm = self.check_alarm(user, alarm_id)
            self.sorted.remove(alarm)
            del self.alarms[alarm.id]
            tenant_alarms = self.alarms_by_tenant[alarm.tenant_id]
            # By identity: list.remove would compare every alarm field by field on the way.
            del tenant_alarms[next(i for i, a in enumerate(tenant_alarms) if a is alarm)]
            self.comments.pop(alarm.id, None)
            self._touch(alarm)
            self._forget_active(alarm)
            # delAlarmTypes: the type leaves /api/alarm/types once no alarm of it remains.
            if not any(a.type == alarm.type for a in tenant_alarms):
                self.alarm_types[alarm.tenant_id].discard(alarm.type)
            if alarm.originator_type == "DEVICE" and not alarm.cleared:
                self.telemetry.close_episode(alarm.originator_id, alarm.type, now_ms())
            self.changed()

    def _changed_alarm(self, alarm):
        self._touch(alarm)
        self.changed()
        return self.alarm_info(alarm)

    # --- create / update (section 4.6) ----------------------------------------------

    def save_alarm(self, user, body):
        """POST /api/alarm: create, dedup onto the active alarm, or update by id.

        AlarmController.saveAlarm checks every permission before DefaultTbAlarmService.save
        validates the body or stores anything: WRITE on the stored alarm (CREATE on the body
        for a new one), READ on the originator, READ on the assignee."""
        with self.lock:
            originator = body.get("originator")
            if not isinstance(originator, dict) or not originator.get("id"):
                # checkNotNull(alarm.getOriginator()).
                raise TbError(ITEM_NOT_FOUND, "Requested item wasn't found!")
            alarm_id = (body.get("id") or {}).get("id")
            stored = self.check_alarm(user, alarm_id) if alarm_id else None
            requested = (body.get("customerId") or {}).get("id")
            # The CREATE check compares the body's customerId with the user's (PERM): a
            # customer user naming no or another customer gets 403, whatever the originator.
            if stored is None and user.authority == CUSTOMER_USER and requested != user.customer_id:
                raise denied()
            entity_type = originator.get("entityType")
            # checkEntityId: only the device lookup is tenant-scoped (section 3.3).
            self.check_entity(
                user, entity_type, originator["id"], tenant_scoped_lookup=entity_type == "DEVICE"
            )
            assignee = (body.get("assigneeId") or {}).get("id")
            if assignee:
                self.check_user(user, assignee)
            fields = self._alarm_fields(body, creating=stored is None)
            if stored is None:
                alarm = self._create_or_update_active(user, fields, requested)
            else:
                alarm = stored
                self._update(alarm, fields, by=user)
            self._apply_state_changes(user, alarm, body)
            self._touch(alarm)
            self.changed()
            return alarm.to_json()

    @staticmethod
    def _alarm_fields(body, *, creating):
        """BaseAlarmService.validateAlarmRequest: the request's constraints, sorted as
        ConstraintValidator joins them (an update carries no type), then the times."""
        errors = ["severity must not be null"] if body.get("severity") is None else []
        if creating and body.get("type") is None:
            errors.append("type must not be null")
        elif creating and len(body["type"]) > 255:
            errors.append("type length must be equal or less than 255")
        if errors:
            raise bad_request("Validation error: " + ", ".join(sorted(errors)))
        start_ts, end_ts = body.get("startTs") or 0, body.get("endTs") or 0
        if end_ts > 0 and start_ts > end_ts:
            raise bad_request("Alarm start ts can't be greater then alarm end ts!")
        start_ts = start_ts or now_ms()
        originator = body["originator"]
        return {
            "type": body.get("type"),
            "originator_type": originator.get("entityType"),
            "originator_id": str(uuid.UUID(originator["id"])),
            "severity": body["severity"],
            "start_ts": start_ts,
            "end_ts": end_ts or start_ts,
            "details": body.get("details"),
            "propagate": bool(body.get("propagate")),
            "propagate_to_owner": bool(body.get("propagateToOwner")),
            "propagate_to_tenant": bool(body.get("propagateToTenant")),
            "propagate_relation_types": list(body.get("propagateRelationTypes") or []),
        }

    def _create_or_update_active(self, user, fields, requested):
        owner = self.owner_of(fields["originator_type"], fields["originator_id"])
        if requested and requested != NULL_UUID and requested != owner:
            raise bad_request(
                "Can't assign alarm to customer. Originator is not assigned to customer!"
                if owner is None
                else "Can't assign alarm to customer. Originator belongs to different customer!"
            )
        existing = self.active_alarm(fields["originator_id"], fields["type"])
        if existing is not None:
            self._update(existing, fields, by=user)
            return existing
        return self.raise_alarm(tenant_id=user.tenant_id, customer_id=owner, **fields)

    def active_alarm(self, originator_id, alarm_type):
        """The non-cleared alarm of this type for this originator (the dedup key)."""
        return self.active_by_pair.get((originator_id, alarm_type))

    def raise_alarm(
        self,
        *,
        tenant_id,
        customer_id,
        originator_type,
        originator_id,
        type,
        severity,
        start_ts,
        end_ts=None,
        created_time=None,
        alarm_id=None,
        **extra,
    ):
        """Insert a new alarm (also used by scenarios and the live generator)."""
        now = now_ms()
        alarm = Alarm(
            id=alarm_id or str(uuid.uuid4()),
            tenant_id=tenant_id,
            customer_id=customer_id,
            type=type,
            originator_type=originator_type,
            originator_id=originator_id,
            severity=severity,
            created_time=created_time or now,
            start_ts=start_ts,
            end_ts=end_ts or start_ts,
            **extra,
        )
        self.insert_alarm(alarm)
        if originator_type == "DEVICE":
            self.telemetry.open_episode(originator_id, type, start_ts)
        return alarm

    def _update(self, alarm, fields, by=None):
        """update_alarm: severity, times, details and propagation only."""
        old_severity = alarm.severity
        with self.sorted.moving(alarm, ("endTs",)):
            alarm.severity = fields["severity"]
            alarm.start_ts = fields["start_ts"]
            alarm.end_ts = fields["end_ts"]
            alarm.details = fields["details"]
            alarm.propagate = fields["propagate"]
            alarm.propagate_to_owner = fields["propagate_to_owner"]
            alarm.propagate_to_tenant = fields["propagate_to_tenant"]
            alarm.propagate_relation_types = fields["propagate_relation_types"]
        if old_severity != alarm.severity:
            comment = {
                "text": f"Alarm severity was updated from {old_severity} to {alarm.severity}",
                "subtype": "SEVERITY_CHANGED",
                "oldSeverity": old_severity,
                "newSeverity": alarm.severity,
            }
            self.add_comment_record(alarm.id, by.id if by else None, "SYSTEM", comment)
        self._touch(alarm)

    def _apply_state_changes(self, user, alarm, body):
        """TAS.save also acks, clears and (un)assigns from the body's flags, at the body's
        ackTs, clearTs and assignTs when they are above 0 (getOrDefault)."""

        def ts(name):
            value = body.get(name) or 0
            return value if value > 0 else None

        if body.get("acknowledged") and not alarm.acknowledged:
            self.acknowledge(user, alarm.id, ts=ts("ackTs"))
        if body.get("cleared") and not alarm.cleared:
            self.clear(user, alarm.id, ts=ts("clearTs"))
        assignee = (body.get("assigneeId") or {}).get("id")
        if assignee and assignee != alarm.assignee_id:
            self.assign(user, alarm.id, assignee, ts=ts("assignTs"))
        elif not assignee and alarm.assignee_id:
            # Omitting assigneeId unassigns (section 4.6): always echo it back.
            self.unassign(user, alarm.id, ts=ts("assignTs"))

    # --- the rule engine: what device telemetry does to alarms ---------------------------

    def device_by_name(self, name):
        for entity in self.devices.values():
            if entity.entity_type == "DEVICE" and entity.name == name:
                return entity
        raise not_found("Device", name)

    def rule_engine_alarm(self, device_name, alarm_type, severity, ts=None):
        """Create-or-update as an alarm rule does: a new alarm, or a re-trigger of the active."""
        if severity not in SEVERITIES:
            raise bad_request(f"Unknown severity {severity}")
        with self.lock:
            device = self.device_by_name(device_name)
            ts = ts or now_ms()
            existing = self.active_alarm(device.id, alarm_type)
            if existing is not None:
                self.retrigger(existing, severity, ts)
                return self.alarm_info(existing)
            alarm = self.raise_alarm(
                tenant_id=device.tenant_id,
                customer_id=None if device.customer_id == NULL_UUID else device.customer_id,
                originator_type="DEVICE",
                originator_id=device.id,
                type=alarm_type,
                severity=severity,
                start_ts=ts,
                created_time=ts,
                details={"data": f"{alarm_type} detected on {device.name}"},
            )
            return self.alarm_info(alarm)

    def retrigger(self, alarm, severity, ts):
        """The rule fires again on an active alarm: endTs moves, severity may change."""
        fields = {
            "severity": severity,
            "start_ts": alarm.start_ts,
            "end_ts": ts,
            "details": alarm.details,
            "propagate": alarm.propagate,
            "propagate_to_owner": alarm.propagate_to_owner,
            "propagate_to_tenant": alarm.propagate_to_tenant,
            "propagate_relation_types": alarm.propagate_relation_types,
        }
        self._update(alarm, fields)
        self.changed()

    def rule_engine_clear(self, alarm_id, ts=None):
        """The rule's clear condition: clears without a user, so without a system comment."""
        with self.lock:
            alarm = self.alarms.get(parse_uuid(alarm_id))
            if alarm is None:
                raise not_found("Alarm", alarm_id)
            if alarm.cleared:
                raise bad_request("Alarm was already cleared!")
            self._clear(alarm, ts or now_ms())
            return self._changed_alarm(alarm)

    # --- comments (section 4.7) -----------------------------------------------------

    def _system_comment(self, alarm, user, subtype, text, **params):
        self.add_comment_record(
            alarm.id, user.id, "SYSTEM", {"text": text, "subtype": subtype, **params}
        )

    def add_comment_record(self, alarm_id, user_id, kind, comment, created_time=None):
        record = Comment(
            id=str(uuid.uuid1()),
            alarm_id=alarm_id,
            user_id=user_id,
            type=kind,
            comment=comment,
            created_time=created_time or now_ms(),
        )
        self.comments.setdefault(alarm_id, []).append(record)
        return record

    def comment_info(self, comment):
        return comment.info_json(self.users.get(comment.user_id))

    def list_comments(self, user, alarm_id):
        with self.lock:
            alarm = self.check_alarm(user, alarm_id)
            return list(self.comments.get(alarm.id, ()))

    def save_comment(self, user, alarm_id, body):
        with self.lock:
            alarm = self.check_alarm(user, alarm_id, tenant_scoped_lookup=True)
            comment = body.get("comment")
            if not isinstance(comment, dict):
                raise bad_request("Alarm comment should be specified!")
            if len(compact(comment)) > 10000:
                raise bad_request("Alarm comment length should be less than 10000 characters!")
            comment_id = (body.get("id") or {}).get("id")
            if not comment_id:
                return self.add_comment_record(alarm.id, user.id, "OTHER", comment).to_json()
            existing = self._find_comment(alarm, comment_id)
            if existing.type == "SYSTEM":
                raise bad_request("System alarm comment can't be updated!")
            if existing.user_id != user.id:
                raise denied("User is not allowed to edit other user's comment")
            existing.comment = {**comment, "edited": "true", "editedOn": now_ms()}
            return existing.to_json()

    def delete_comment(self, user, alarm_id, comment_id):
        with self.lock:
            alarm = self.check_alarm(user, alarm_id)
            existing = self._find_comment(alarm, comment_id)
            if existing.type == "SYSTEM":
                raise bad_request("System comment could not be deleted")
            if user.authority == CUSTOMER_USER and existing.user_id != user.id:
                raise denied("User is not allowed to delete other user's comment")
            # A soft delete: the comment becomes a SYSTEM note of its deletion.
            existing.type = "SYSTEM"
            existing.user_id = None
            existing.comment = {
                "text": f"Comment was deleted by user {user.title}",
                "subtype": "COMMENT_DELETED",
                "userName": user.title,
            }

    def _find_comment(self, alarm, comment_id):
        comment_id = parse_uuid(comment_id)
        for comment in self.comments.get(alarm.id, ()):
            if comment.id == comment_id:
                return comment
        for comments in self.comments.values():
            if any(c.id == comment_id for c in comments):
                raise bad_request("Alarm id does not match with comment alarm id")
        raise not_found("Alarm comment", comment_id)

    # --- users for assignment (UserController.getUsersForAssign) ---------------------

    def users_for_assign(self, user, alarm_id):
        with self.lock:
            alarm = self.check_alarm(user, alarm_id)
            tenant_users = [u for u in self.users.values() if u.tenant_id == user.tenant_id]
            if user.authority == TENANT_ADMIN:
                if alarm.customer_id is None:
                    return [u for u in tenant_users if u.authority == TENANT_ADMIN]
                owner = self.owner_of(alarm.originator_type, alarm.originator_id)
                allowed = {NULL_UUID, owner}
                return [u for u in tenant_users if u.customer_id in allowed]
            return [u for u in tenant_users if u.customer_id == alarm.customer_id]
