"""Alarm and alarm-comment endpoints (AlarmController, AlarmCommentController; section 4)."""

from .api_entities import user_page
from .errors import bad_request
from .http import empty_response, json_response, page_response, raw_json_response
from .model import SEVERITIES, User
from .query import ALARM_STATUSES, SEARCH_STATUSES, AlarmQuery, StatusFilter
from .routes import ALL_USERS, route
from .state import parse_uuid

ENUM_PACKAGE = "org.thingsboard.server.common.data.alarm"


def _enum(value, allowed, enum_name):
    if value not in allowed:
        raise bad_request(f"No enum constant {ENUM_PACKAGE}.{enum_name}.{value}")
    return value


def _common_query(call, status):
    assignee = call.param("assigneeId")
    return AlarmQuery(
        status=status,
        assignee_id=parse_uuid(assignee) if assignee else None,
        start_time=call.long_param("startTime"),
        end_time=call.long_param("endTime"),
        text_search=call.param("textSearch"),
    )


def _v1_status(call):
    search_status, status = call.param("searchStatus"), call.param("status")
    if search_status and status:
        raise bad_request(
            "Invalid alarms search query: Both parameters 'searchStatus' and 'status' "
            "can't be specified at the same time!"
        )
    if search_status:
        return StatusFilter.from_search_status(
            _enum(search_status, SEARCH_STATUSES, "AlarmSearchStatus")
        )
    if status:
        return StatusFilter.from_status(_enum(status, ALARM_STATUSES, "AlarmStatus"))
    return StatusFilter()


def _v1_query(call):
    return _common_query(call, _v1_status(call))


def _v2_query(call):
    statuses = [
        _enum(s, SEARCH_STATUSES, "AlarmSearchStatus") for s in call.list_param("statusList")
    ]
    query = _common_query(call, StatusFilter.from_list(statuses))
    severities = [_enum(s, SEVERITIES, "AlarmSeverity") for s in call.list_param("severityList")]
    types = call.list_param("typeList")
    return AlarmQuery(
        status=query.status,
        severities=frozenset(severities) or None,
        types=frozenset(types) or None,
        assignee_id=query.assignee_id,
        start_time=query.start_time,
        end_time=query.end_time,
        text_search=query.text_search,
    )


def _alarm_page(call, query, entity=None):
    page_link = call.page_link()
    state = call.state
    with state.lock:
        rows = state.find_alarms(
            call.user, query, page_link.sort_property, page_link.sort_desc, entity
        )
        start = page_link.page * page_link.page_size
        chunk = [state.alarm_info_bytes(a) for a in rows[start : start + page_link.page_size]]
    total = len(rows)
    total_pages = -(-total // page_link.page_size)
    has_next = "true" if start + page_link.page_size < total else "false"
    body = (
        b'{"data":['
        + b",".join(chunk)
        + b"],"
        + f'"totalPages":{total_pages},"totalElements":{total},"hasNext":{has_next}}}'.encode()
    )
    return raw_json_response(body)


def _entity(call, entity_type, entity_id):
    with call.state.lock:
        # checkEntityId(READ): checkDeviceId's lookup is tenant-scoped, so another tenant's
        # device is a 404; assets and customers are found and refused (section 3.3).
        call.state.check_entity(
            call.user, entity_type, entity_id, tenant_scoped_lookup=entity_type == "DEVICE"
        )
    return (entity_type, parse_uuid(entity_id))


@route("/api/alarms", "GET")
def alarms(call):
    return _alarm_page(call, _v1_query(call))


@route("/api/v2/alarms", "GET")
def alarms_v2(call):
    return _alarm_page(call, _v2_query(call))


@route("/api/alarm/<entity_type>/<entity_id>", "GET", ALL_USERS)
def entity_alarms(call, entity_type, entity_id):
    return _alarm_page(call, _v1_query(call), _entity(call, entity_type, entity_id))


@route("/api/v2/alarm/<entity_type>/<entity_id>", "GET", ALL_USERS)
def entity_alarms_v2(call, entity_type, entity_id):
    return _alarm_page(call, _v2_query(call), _entity(call, entity_type, entity_id))


@route("/api/alarm/<alarm_id>", "GET")
def alarm(call, alarm_id):
    with call.state.lock:
        return json_response(call.state.check_alarm(call.user, alarm_id).to_json())


@route("/api/alarm/info/<alarm_id>", "GET")
def alarm_info(call, alarm_id):
    state = call.state
    with state.lock:
        found = state.check_alarm(call.user, alarm_id, tenant_scoped_lookup=True)
        return raw_json_response(state.alarm_info_bytes(found))


@route("/api/alarm", "POST")
def save_alarm(call):
    body = call.json_body()
    if not isinstance(body, dict):
        raise bad_request("Invalid request body: an Alarm object is expected")
    if body.get("severity") is not None:
        # Jackson reads the body before any check: an unknown severity is unreadable.
        _enum(body["severity"], SEVERITIES, "AlarmSeverity")
    return json_response(call.state.save_alarm(call.user, body))


@route("/api/alarm/<alarm_id>", "DELETE")
def delete_alarm(call, alarm_id):
    call.state.delete_alarm(call.user, alarm_id)
    return json_response(True)


@route("/api/alarm/<alarm_id>/ack", "POST")
def ack(call, alarm_id):
    return json_response(call.state.acknowledge(call.user, alarm_id))


@route("/api/alarm/<alarm_id>/clear", "POST")
def clear(call, alarm_id):
    return json_response(call.state.clear(call.user, alarm_id))


@route("/api/alarm/<alarm_id>/assign/<assignee_id>", "POST")
def assign(call, alarm_id, assignee_id):
    return json_response(call.state.assign(call.user, alarm_id, assignee_id))


@route("/api/alarm/<alarm_id>/assign", "DELETE")
def unassign(call, alarm_id):
    return json_response(call.state.unassign(call.user, alarm_id))


@route("/api/alarm/highestSeverity/<entity_type>/<entity_id>", "GET")
def highest_severity(call, entity_type, entity_id):
    entity = _entity(call, entity_type, entity_id)
    query = _common_query(call, _v1_status(call))
    with call.state.lock:
        severity = call.state.highest_severity(call.user, entity, query)
    # A null return value is an empty 200 body (UNVERIFIED, section 4.4).
    return json_response(severity) if severity else empty_response()


@route("/api/alarm/types", "GET")
def alarm_types(call):
    page_link = call.page_link()
    with call.state.lock:
        types = sorted(call.state.alarm_types.get(call.user.tenant_id, ()))
    if page_link.text_search:
        types = [t for t in types if page_link.text_search.lower() in t.lower()]
    if page_link.sort_desc:
        types.reverse()
    tenant = {"entityType": "TENANT", "id": call.user.tenant_id}
    return page_response(
        types, page_link, lambda t: {"tenantId": tenant, "entityType": "ALARM", "type": t}
    )


@route("/api/users/assign/<alarm_id>", "GET")
def users_for_assign(call, alarm_id):
    page_link = call.page_link()
    users = call.state.users_for_assign(call.user, alarm_id)
    return user_page(page_link, users, User.email_info)


@route("/api/alarm/<alarm_id>/comment", "GET", ALL_USERS)
def comments(call, alarm_id):
    page_link = call.page_link()
    state = call.state
    rows = sorted(state.list_comments(call.user, alarm_id), key=lambda c: c.id)
    if page_link.sort_property == "createdTime":
        rows.sort(key=lambda c: c.created_time, reverse=page_link.sort_desc)
    elif page_link.sort_property == "id" and page_link.sort_desc:
        rows.reverse()
    with state.lock:
        return page_response(rows, page_link, state.comment_info)


@route("/api/alarm/<alarm_id>/comment", "POST")
def save_comment(call, alarm_id):
    body = call.json_body()
    if not isinstance(body, dict):
        raise bad_request("Invalid request body: an AlarmComment object is expected")
    return json_response(call.state.save_comment(call.user, alarm_id, body))


@route("/api/alarm/<alarm_id>/comment/<comment_id>", "DELETE")
def delete_comment(call, alarm_id, comment_id):
    call.state.delete_comment(call.user, alarm_id, comment_id)
    return empty_response()
