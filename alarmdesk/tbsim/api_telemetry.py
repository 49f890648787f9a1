"""Telemetry and attribute reads (TelemetryController; section 6.4).

These endpoints validate access through AccessValidator, so their 403 and 404 answers are
plain text, unlike the JSON errors of the rest of the API.
"""

from .errors import PlainTextError, bad_request
from .http import json_response
from .model import SYS_ADMIN
from .routes import ALL_USERS, route
from .state import now_ms, parse_uuid

ENTITY_TYPE_ENUM = "org.thingsboard.server.common.data.EntityType"
ENTITY_TYPES = (
    "TENANT",
    "CUSTOMER",
    "USER",
    "DASHBOARD",
    "ASSET",
    "DEVICE",
    "ALARM",
    "ENTITY_VIEW",
    "EDGE",
    "DEVICE_PROFILE",
    "ASSET_PROFILE",
    "RULE_CHAIN",
)
SCOPES = ("CLIENT_SCOPE", "SERVER_SCOPE", "SHARED_SCOPE")
AGGREGATION_ENUM = "org.thingsboard.server.common.data.kv.Aggregation"
DIRECTION_ENUM = "org.springframework.data.domain.Sort.Direction"
AGGREGATIONS = ("MIN", "MAX", "AVG", "SUM", "COUNT", "NONE")
SYSADMIN_NOT_ALLOWED = "System administrator is not allowed to perform this operation!"
# ts_kv.max_intervals in thingsboard.yml.
MAX_INTERVALS = 700
PREFIX = "/api/plugins/telemetry/<entity_type>/<entity_id>"


def _entity(call, entity_type, entity_id):
    """AccessValidator.validateEntityAndCallback, with its plain-text answers."""
    if entity_type not in ENTITY_TYPES:
        raise bad_request(f"No enum constant {ENTITY_TYPE_ENUM}.{entity_type}")
    entity_id = parse_uuid(entity_id)
    state, user = call.state, call.user
    with state.lock:
        if entity_type in ("DEVICE", "ASSET"):
            # validateDevice/validateAsset refuse a sysadmin before any lookup.
            if user.authority == SYS_ADMIN:
                raise PlainTextError(403, SYSADMIN_NOT_ALLOWED)
            entity = state.devices.get(entity_id)
            label = entity_type.capitalize()
            # findDeviceById(tenantId, id) is tenant-scoped, so another tenant's device is
            # "not found"; findAssetById ignores the tenant (section 3.3).
            foreign_device = (
                entity is not None
                and entity_type == "DEVICE"
                and entity.tenant_id != user.tenant_id
            )
            if entity is None or entity.entity_type != entity_type or foreign_device:
                raise PlainTextError(404, f"{label} with requested id wasn't found!")
            if not state.may_read(user, entity):
                raise PlainTextError(403, "You don't have permission to perform this operation!")
            return entity
        if entity_type == "CUSTOMER":
            customer = state.customers.get(entity_id)
            if customer is None:
                raise PlainTextError(404, "Customer with requested id wasn't found!")
            if (
                user.authority == SYS_ADMIN
                or customer.tenant_id != user.tenant_id
                or (user.authority == "CUSTOMER_USER" and customer.id != user.customer_id)
            ):
                raise PlainTextError(403, "You don't have permission to perform this operation!")
            return None
    # The simulator keeps telemetry for devices only; other entities have none.
    return None


def _value(value, strict):
    if strict:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _series(points, strict):
    return {
        key: [{"ts": ts, "value": _value(v, strict)} for ts, v in rows]
        for key, rows in points.items()
    }


def _strict(call):
    return (call.param("useStrictDataTypes") or "false").lower() == "true"


def _keys(call):
    keys = []
    for raw in call.args.getlist("keys") + call.args.getlist("key"):
        keys.extend(k.strip() for k in raw.split(",") if k.strip())
    return keys


@route(f"{PREFIX}/keys/timeseries", "GET", ALL_USERS)
def timeseries_keys(call, entity_type, entity_id):
    entity = _entity(call, entity_type, entity_id)
    if entity is None or entity.entity_type != "DEVICE":
        return json_response([])
    return json_response(call.state.telemetry.keys(entity.id, entity.type))


@route(f"{PREFIX}/values/timeseries", "GET", ALL_USERS)
def timeseries(call, entity_type, entity_id):
    # The classic path also serves history when startTs and endTs are given (section 6.4).
    if "startTs" in call.args or "endTs" in call.args:
        return timeseries_history(call, entity_type, entity_id)
    entity = _entity(call, entity_type, entity_id)
    keys, now = _keys(call), now_ms()
    if entity is None or entity.entity_type != "DEVICE":
        latest = {}
    else:
        telemetry = call.state.telemetry
        latest = telemetry.latest(
            entity.id, entity.type, keys or telemetry.keys(entity.id, entity.type), now
        )
    result = _series({k: [v] for k, v in latest.items()}, _strict(call))
    # A requested key never written comes back as {"ts": now, "value": null} (section 6.4).
    for key in keys:
        result.setdefault(key, [{"ts": now, "value": None}])
    return json_response(result)


@route(f"{PREFIX}/values/timeseries/history", "GET", ALL_USERS)
def timeseries_history(call, entity_type, entity_id):
    start_ts = call.long_param("startTs", required=True)
    end_ts = call.long_param("endTs", required=True)
    interval = call.long_param("interval") or 0
    limit = call.int_param("limit")
    agg = call.param("agg") or "NONE"
    order = (call.param("orderBy") or "DESC").upper()
    entity = _entity(call, entity_type, entity_id)
    if agg not in AGGREGATIONS:
        raise PlainTextError(400, f"No enum constant {AGGREGATION_ENUM}.{agg}")
    if order not in ("ASC", "DESC"):
        raise PlainTextError(400, f"No enum constant {DIRECTION_ENUM}.{order}")
    if agg != "NONE" and interval >= 1 and (end_ts - start_ts) // interval > MAX_INTERVALS:
        # BaseTimeseriesService.validate refuses queries with too many intervals.
        raise PlainTextError(
            400, f"Incorrect TsKvQuery. Number of intervals is to high - {MAX_INTERVALS}"
        )
    if agg != "NONE" and interval < 1:
        raise PlainTextError(400, "Incorrect TsKvQuery. Interval can't be less than 1")
    keys = _keys(call)
    if not keys or entity is None or entity.entity_type != "DEVICE":
        return json_response({})
    points = call.state.telemetry.history(
        entity.id,
        entity.type,
        keys,
        start_ts,
        end_ts,
        interval=interval,
        agg=agg,
        limit=100 if limit is None else limit,
        order_desc=order == "DESC",
    )
    return json_response(_series(points, _strict(call)))


def _attributes(call, entity, scope):
    if entity is None or entity.entity_type != "DEVICE":
        return []
    return call.state.device_attributes(entity, scope)


def _check_scope(scope):
    if scope is not None and scope not in SCOPES:
        raise PlainTextError(400, f"Invalid attribute scope: {scope}")


@route(f"{PREFIX}/keys/attributes", "GET", ALL_USERS)
@route(f"{PREFIX}/keys/attributes/<scope>", "GET", ALL_USERS)
def attribute_keys(call, entity_type, entity_id, scope=None):
    entity = _entity(call, entity_type, entity_id)
    _check_scope(scope)
    return json_response([a["key"] for a in _attributes(call, entity, scope)])


@route(f"{PREFIX}/values/attributes", "GET", ALL_USERS)
@route(f"{PREFIX}/values/attributes/<scope>", "GET", ALL_USERS)
def attribute_values(call, entity_type, entity_id, scope=None):
    entity = _entity(call, entity_type, entity_id)
    _check_scope(scope)
    keys = set(_keys(call))
    rows = _attributes(call, entity, scope)
    return json_response([a for a in rows if not keys or a["key"] in keys])
