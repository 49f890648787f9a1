"""Telemetry reads, attribute reads, writes and deletes (TelemetryController; section 6.4).

These endpoints validate access through AccessValidator, so their 403 and 404 answers are
plain text, unlike the JSON errors of the rest of the API.
"""

from .attributes import NotAnObject, UnparsableValue, parse_attributes
from .errors import GENERAL, PlainTextError, TbError, bad_request
from .http import empty_response, json_response
from .model import CUSTOMER_USER, SYS_ADMIN
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
SCOPE_ENUM = "org.thingsboard.server.common.data.AttributeScope"
# Entity types AccessValidator.validate has no branch for: it throws "Not Implemented!".
NOT_VALIDATED = ("ALARM", "DASHBOARD")
AGGREGATION_ENUM = "org.thingsboard.server.common.data.kv.Aggregation"
DIRECTION_ENUM = "org.springframework.data.domain.Sort.Direction"
AGGREGATIONS = ("MIN", "MAX", "AVG", "SUM", "COUNT", "NONE")
SYSADMIN_NOT_ALLOWED = "System administrator is not allowed to perform this operation!"
# ts_kv.max_intervals in thingsboard.yml.
MAX_INTERVALS = 700
PREFIX = "/api/plugins/telemetry/<entity_type>/<entity_id>"
DEVICE_PREFIX = "/api/plugins/telemetry/<entity_id>"
NO_PERMISSION = "You don't have permission to perform this operation!"


def _entity_id(entity_type, entity_id):
    """EntityIdFactory.getByTypeAndId: a bad type or UUID is a JSON 400, code 31."""
    if entity_type not in ENTITY_TYPES:
        raise bad_request(f"No enum constant {ENTITY_TYPE_ENUM}.{entity_type}")
    return parse_uuid(entity_id)


def _entity(call, entity_type, entity_id, *, writing=False):
    """AccessValidator.validateEntityAndCallback, with its plain-text answers: for a READ_*
    operation, or WRITE_ATTRIBUTES when `writing`."""
    entity_id = _entity_id(entity_type, entity_id)
    if entity_type in NOT_VALIDATED:
        raise TbError(GENERAL, "Not Implemented!")
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
            # customerEntityPermissionChecker grants READ_* and WRITE_ATTRIBUTES alike.
            if not state.may_read(user, entity):
                raise PlainTextError(403, NO_PERMISSION)
            return entity
        if entity_type == "CUSTOMER":
            customer = state.customers.get(entity_id)
            if customer is None:
                raise PlainTextError(404, "Customer with requested id wasn't found!")
            # A customer user may only read its own customer (customerPermissionChecker).
            if (
                user.authority == SYS_ADMIN
                or customer.tenant_id != user.tenant_id
                or (
                    user.authority == CUSTOMER_USER and (writing or customer.id != user.customer_id)
                )
            ):
                raise PlainTextError(403, NO_PERMISSION)
            return None
    if writing:
        raise PlainTextError(501, f"The simulator keeps no attributes of {entity_type} entities")
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


def _attributes(call, entity_id, entity, scope):
    """The computed attributes of a device, under what users wrote and deleted."""
    state, rows = call.state, []
    with state.lock:
        for name in (scope,) if scope else SCOPES:
            is_device = entity is not None and entity.entity_type == "DEVICE"
            computed = state.device_attributes(entity, name) if is_device else []
            rows += state.attributes.merged(parse_uuid(entity_id), name, computed)
    return rows


def _scope(scope):
    """The {scope} path variable, which Spring binds to AttributeScope before the controller
    runs: another name is a MethodArgumentTypeMismatchException, 400 code 31
    (BaseController.handleException). The message's wording is UNVERIFIED."""
    if scope is not None and scope not in SCOPES:
        raise bad_request(
            f"Failed to convert value of type 'java.lang.String' to required type "
            f"'{SCOPE_ENUM}'; No enum constant {SCOPE_ENUM}.{scope}"
        )
    return scope


@route(f"{PREFIX}/keys/attributes", "GET", ALL_USERS)
@route(f"{PREFIX}/keys/attributes/<scope>", "GET", ALL_USERS)
def attribute_keys(call, entity_type, entity_id, scope=None):
    scope = _scope(scope)
    entity = _entity(call, entity_type, entity_id)
    return json_response([a["key"] for a in _attributes(call, entity_id, entity, scope)])


@route(f"{PREFIX}/values/attributes", "GET", ALL_USERS)
@route(f"{PREFIX}/values/attributes/<scope>", "GET", ALL_USERS)
def attribute_values(call, entity_type, entity_id, scope=None):
    scope = _scope(scope)
    entity = _entity(call, entity_type, entity_id)
    keys = set(_keys(call))
    rows = _attributes(call, entity_id, entity, scope)
    return json_response([a for a in rows if not keys or a["key"] in keys])


def _body(call, method):
    """@RequestBody String: a missing body is Spring's HttpMessageNotReadableException, which
    BaseController's catch-all answers as a 500, code 2 (the message is Spring's,
    UNVERIFIED)."""
    data = call.request.get_data(cache=True)
    if not data:
        raise TbError(
            GENERAL,
            "Required request body is missing: public org.springframework.web.context.request"
            ".async.DeferredResult<org.springframework.http.ResponseEntity> "
            f"org.thingsboard.server.controller.TelemetryController.{method} throws "
            "org.thingsboard.server.common.data.exception.ThingsboardException",
        )
    return data


def _save(call, entity_type, entity_id, scope, data):
    """TelemetryController.saveAttributes, in its order: the scope, the body, then access,
    then the DAO's checks of each key."""
    entity_id = _entity_id(entity_type, entity_id)
    if scope not in ("SERVER_SCOPE", "SHARED_SCOPE"):
        raise PlainTextError(400, f"Invalid scope: {scope}")
    try:
        values = parse_attributes(data.decode())
    except (ValueError, UnicodeDecodeError):
        raise PlainTextError(400, "Invalid JSON") from None
    except NotAnObject:
        raise PlainTextError(400, "Request is not a JSON object") from None
    except UnparsableValue as error:
        # JsonConverter's JsonSyntaxException is not caught: BaseController answers it.
        raise TbError(GENERAL, str(error)) from None
    if not values:
        raise PlainTextError(400, "No attributes data found in request body!")
    if any(not key.strip() for key in values):
        raise PlainTextError(400, "Key cannot be blank")
    _entity(call, entity_type, entity_id, writing=True)
    if any(len(key) > 255 for key in values):
        # KvUtils.validate in the DAO; AccessValidator.handleError makes it a plain 400.
        raise PlainTextError(400, "Validation error: key length must be equal or less than 255")
    with call.state.lock:
        call.state.attributes.save(entity_id, scope, values, now_ms())
    return empty_response()


@route(f"{PREFIX}/attributes/<scope>", "POST", ALL_USERS)
def save_entity_attributes_v2(call, entity_type, entity_id, scope):
    scope = _scope(scope)
    data = _body(
        call,
        f"saveEntityAttributesV2(java.lang.String,java.lang.String,{SCOPE_ENUM},java.lang.String)",
    )
    return _save(call, entity_type, entity_id, scope, data)


@route(f"{PREFIX}/<scope>", "POST", ALL_USERS)
def save_entity_attributes_v1(call, entity_type, entity_id, scope):
    scope = _scope(scope)
    data = _body(
        call,
        f"saveEntityAttributesV1(java.lang.String,java.lang.String,{SCOPE_ENUM},java.lang.String)",
    )
    return _save(call, entity_type, entity_id, scope, data)


@route(f"{DEVICE_PREFIX}/<scope>", "POST", ALL_USERS)
def save_device_attributes(call, entity_id, scope):
    scope = _scope(scope)
    data = _body(call, f"saveDeviceAttributes(java.lang.String,{SCOPE_ENUM},java.lang.String)")
    return _save(call, "DEVICE", entity_id, scope, data)


def _delete_keys(call):
    """TelemetryController.getKeys: repeated `key` parameters win over the `keys` list,
    which is split as Java's String.split does (trailing empty keys dropped)."""
    if "key" in call.args:
        return call.args.getlist("key")
    keys = (call.args.get("keys") or "").split(",")
    while keys and not keys[-1]:
        keys.pop()
    return keys


@route(f"{PREFIX}/<scope>", "DELETE", ALL_USERS)
@route(f"{DEVICE_PREFIX}/<scope>", "DELETE", ALL_USERS)
def delete_attributes(call, entity_id, scope, entity_type="DEVICE"):
    """deleteEntityAttributes and deleteDeviceAttributes: any scope, CLIENT_SCOPE too; keys
    that were never written are ignored."""
    scope = _scope(scope)
    entity_id = _entity_id(entity_type, entity_id)
    keys = _delete_keys(call)
    if not keys:
        raise PlainTextError(400, "Empty keys: []")
    _entity(call, entity_type, entity_id, writing=True)
    with call.state.lock:
        call.state.attributes.delete(entity_id, scope, keys)
    return empty_response()
