"""The simulator as ThingsBoard's official client sees it (thingsboard-api.md sections 1-6, 9).

Every answer is read through tb-ce-client 4.4.0, so it must parse into the client's strict
models. Pydantic drops keys a model does not declare, so each answer's raw JSON is also
checked key by key: nothing the model does not declare, nothing it requires missing.
"""

import json
import math
from functools import cache
from types import NoneType, UnionType
from typing import Annotated, Union, get_args, get_origin

import jwt
import pytest
import requests
import tb_ce_client.models
from conftest import CUSTOMER_A, CUSTOMER_B, CUSTOMER_C, SYSADMIN, TENANT
from pydantic import BaseModel
from tb_ce_client.client import ThingsboardClient
from tb_ce_client.exceptions import ApiException
from tb_ce_client.models import (
    Alarm,
    AlarmComment,
    AlarmCommentId,
    AlarmInfo,
    Asset,
    AssetInfo,
    AttributeData,
    Customer,
    Device,
    DeviceInfo,
    LoginRequest,
    LoginResponse,
    PageDataAlarmCommentInfo,
    PageDataAlarmInfo,
    PageDataAsset,
    PageDataAssetInfo,
    PageDataCustomer,
    PageDataDevice,
    PageDataDeviceInfo,
    PageDataEntitySubtype,
    PageDataUserEmailInfo,
    RefreshTokenRequest,
    ThingsboardErrorResponse,
    TsData,
    User,
)

from alarmdesk.tbsim.app import Options
from alarmdesk.tbsim.scenarios import DEMO_API_KEY
from alarmdesk.tbsim.server import RunningSimulator

NULL_UUID = "13814000-1dd2-11b2-8080-808080808080"
HOUR = 3_600_000
SEVERITY_RANK = ("CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE")


# --- the raw JSON against the client's models -------------------------------------------------


def mismatches(value, shape, path="$"):
    """Where raw JSON `value` strays from `shape`, a client model or a typing expression."""
    form = structure(shape)
    if value is None or form is None:
        return []
    kind, inner = form
    if kind == "list":
        return [m for i, item in enumerate(value) for m in mismatches(item, inner, f"{path}[{i}]")]
    if kind == "dict":
        return [m for k, item in value.items() for m in mismatches(item, inner, f"{path}.{k}")]
    return model_mismatches(value, inner, path)


@cache
def structure(shape):
    """What `shape` asks of JSON: ("model", class), ("list", item), ("dict", value) or nothing."""
    origin, args = get_origin(shape), get_args(shape)
    if origin is Annotated:
        return structure(args[0])
    if origin in (Union, UnionType):
        arms = [arg for arg in args if arg is not NoneType]
        return structure(arms[0]) if len(arms) == 1 else None
    if origin is list:
        return ("list", args[0])
    if origin is dict:
        return ("dict", args[1])
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        return ("model", shape)
    return None


@cache
def properties(model):
    """The JSON keys `model` declares, and (key, type, required) for each of its fields."""
    declared = frozenset(getattr(model, f"_{model.__name__}__properties"))
    fields = tuple(
        (field.serialization_alias or name, field.annotation, field.is_required())
        for name, field in model.model_fields.items()
    )
    return declared, fields


def model_mismatches(value, model, path):
    if not isinstance(value, dict):
        return [f"{path}: {model.__name__} is a JSON object"]
    model, problems = concrete_model(value, model, path)
    declared, fields = properties(model)
    problems += [
        f"{path}.{k}: not a property of {model.__name__}" for k in value if k not in declared
    ]
    for key, annotation, required in fields:
        if key in value:
            problems += mismatches(value[key], annotation, f"{path}.{key}")
        elif required:
            problems.append(f"{path}.{key}: required by {model.__name__}, missing")
    return problems


def concrete_model(value, model, path):
    """The subtype a discriminator picks (EntityId -> DeviceId), or a wrong tag for `model`."""
    found = discriminator(model)
    if found is None:
        return model, []
    base, tag_name, subtypes = found
    tag = value.get(tag_name)
    if model is base:
        if tag not in subtypes:
            return model, [f"{path}.{tag_name}: {tag!r} names no {base.__name__}"]
        return getattr(tb_ce_client.models, subtypes[tag]), []
    if subtypes.get(tag) != model.__name__:
        return model, [f"{path}.{tag_name}: {tag!r} where a {model.__name__} belongs"]
    return model, []


@cache
def discriminator(model):
    """(base class, tag property, tag -> subtype name) when `model` is a tagged family."""
    for base in model.__mro__:
        tag_name = getattr(base, f"_{base.__name__}__discriminator_property_name", None)
        if tag_name:
            return base, tag_name, getattr(base, f"_{base.__name__}__discriminator_value_class_map")
    return None


def conforming(answer, shape):
    """The parsed data of a `*_with_http_info` answer whose raw JSON matches `shape` exactly."""
    assert answer.status_code == 200
    assert mismatches(json.loads(answer.raw_data), shape) == []
    return answer.data


def refusal(operation, *args, **kwargs):
    """(HTTP status, JSON body) of a call the simulator refuses with ThingsBoard's error body."""
    with pytest.raises(ApiException) as caught:
        operation(*args, **kwargs)
    body = json.loads(caught.value.body)
    assert mismatches(body, ThingsboardErrorResponse) == []
    assert body["status"] == caught.value.status
    return caught.value.status, body


def test_the_shape_check_catches_invented_misspelled_and_missing_fields():
    answer = {
        "data": [
            {
                "id": {"entityType": "ALARM", "id": NULL_UUID},
                "tenantId": {"entityType": "DEVICE", "id": NULL_UUID},
                "type": "t",
                "originator": {"entityType": "DEVICE", "id": NULL_UUID, "name": "x"},
                "severity": "MAJOR",
                "acknowledged": False,
                "cleared": False,
                "status": "ACTIVE_UNACK",
                "originatorname": "x",
            }
        ]
    }

    assert sorted(mismatches(answer, PageDataAlarmInfo)) == [
        "$.data[0].name: required by AlarmInfo, missing",
        "$.data[0].originator.name: not a property of DeviceId",
        "$.data[0].originatorname: not a property of AlarmInfo",
        "$.data[0].tenantId.entityType: 'DEVICE' where a TenantId belongs",
    ]


# --- personas -------------------------------------------------------------------------------


@pytest.fixture
def connect(tbsim):
    """connect(TENANT) -> the official client signed in as that persona; connect(api_key=...),
    connect(token=...) for the client's other modes, connect() for no authentication."""
    clients = []

    def make(credentials=None, **auth):
        if credentials:
            auth = {"username": credentials[0], "password": credentials[1]}
        client = ThingsboardClient(tbsim.url, **auth)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def tenant(connect):
    return connect(TENANT)


@pytest.fixture
def customer_a(connect):
    return connect(CUSTOMER_A)


def raise_alarm(tbsim, device, alarm_type, severity="MAJOR"):
    """The id of an alarm the rule engine raises now (simulator control endpoint)."""
    answer = requests.post(
        f"{tbsim.url}/sim/alarms",
        json={"device": device, "type": alarm_type, "severity": severity},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["id"]["id"]


def all_alarms(client, **filters):
    """Every alarm the v2 list gives under `filters`, newest first, page by page."""
    alarms, page = [], 0
    while True:
        answer = conforming(
            client.get_all_alarms_v2_with_http_info(
                page_size=500, page=page, sort_property="createdTime", sort_order="DESC", **filters
            ),
            PageDataAlarmInfo,
        )
        alarms += answer.data
        if not answer.has_next:
            return alarms
        page += 1


def ids(rows):
    return [str(row.id.id) for row in rows]


def device_named(client, name):
    return conforming(client.get_tenant_device_by_name_with_http_info(device_name=name), Device)


# --- authentication (section 2) ---------------------------------------------------------------

PERSONAS = [
    (TENANT, "TENANT_ADMIN"),
    (CUSTOMER_A, "CUSTOMER_USER"),
    (CUSTOMER_B, "CUSTOMER_USER"),
    (CUSTOMER_C, "CUSTOMER_USER"),
    (SYSADMIN, "SYS_ADMIN"),
]


@pytest.mark.parametrize(("credentials", "authority"), PERSONAS, ids=[p[0][0] for p in PERSONAS])
def test_each_demo_persona_signs_in_and_reads_itself(connect, credentials, authority):
    pair = connect().login_with_http_info(
        LoginRequest(username=credentials[0], password=credentials[1])
    )
    token = conforming(pair, LoginResponse).token
    me = conforming(connect(token=token).get_user_with_http_info(), User)
    claims = jwt.decode(token, options={"verify_signature": False})

    assert (me.email, me.name, me.authority) == (credentials[0], credentials[0], authority)
    assert (claims["sub"], claims["userId"], claims["scopes"]) == (
        me.email,
        str(me.id.id),
        [authority],
    )
    assert (claims["tenantId"], claims["customerId"]) == (
        str(me.tenant_id.id),
        str(me.customer_id.id),
    )


def test_tokens_carry_thingsboards_claims(tenant):
    access = jwt.decode(tenant.get_token(), options={"verify_signature": False})
    refresh = jwt.decode(tenant.get_refresh_token(), options={"verify_signature": False})

    assert jwt.get_unverified_header(tenant.get_token())["alg"] == "HS512"
    # The demo tenant admin has no names: jjwt leaves null claims out (section 2.3).
    assert set(access) == {
        *("sub", "userId", "scopes", "sessionId", "iss", "iat", "exp"),
        *("enabled", "isPublic", "tenantId", "customerId"),
    }
    assert set(refresh) == {
        *("sub", "userId", "scopes", "sessionId", "iss", "iat", "exp"),
        *("isPublic", "jti"),
    }
    assert (refresh["scopes"], refresh["sessionId"]) == (["REFRESH_TOKEN"], access["sessionId"])
    assert (access["iss"], access["enabled"], access["isPublic"]) == ("thingsboard.io", True, False)
    assert access["exp"] - access["iat"] == 9000
    assert refresh["exp"] - refresh["iat"] == 604800


def test_owners_are_the_null_uuid_for_tenant_admins_and_the_sysadmin(connect):
    admin = connect(TENANT).get_user()
    sysadmin = connect(SYSADMIN).get_user()

    assert str(admin.customer_id.id) == NULL_UUID
    assert str(admin.tenant_id.id) != NULL_UUID
    assert (str(sysadmin.tenant_id.id), str(sysadmin.customer_id.id)) == (NULL_UUID, NULL_UUID)


@pytest.mark.parametrize(
    ("credentials", "title"),
    [(CUSTOMER_A, "Customer A"), (CUSTOMER_B, "Customer B"), (CUSTOMER_C, "Customer C")],
    ids=["A", "B", "C"],
)
def test_a_customer_user_belongs_to_its_customer(connect, credentials, title):
    client = connect(credentials)
    me = client.get_user()

    customer = conforming(
        client.get_customer_by_id_with_http_info(str(me.customer_id.id)), Customer
    )

    assert customer.title == title
    assert customer.name == title
    assert customer.tenant_id == me.tenant_id


def test_a_wrong_password_is_refused_with_code_10(tbsim):
    status, body = refusal(ThingsboardClient, tbsim.url, username=TENANT[0], password="nope")

    assert (status, body["errorCode"], body["message"]) == (401, 10, "Invalid username or password")


def test_a_refresh_token_buys_a_new_pair_that_works(tenant, connect):
    old_refresh = tenant.get_refresh_token()

    pair = conforming(
        tenant.refresh_token_with_http_info(RefreshTokenRequest(refresh_token=old_refresh)),
        LoginResponse,
    )

    old_session = jwt.decode(old_refresh, options={"verify_signature": False})["sessionId"]
    new_session = jwt.decode(pair.token, options={"verify_signature": False})["sessionId"]

    assert pair.token != tenant.get_token()
    assert pair.refresh_token != old_refresh
    assert new_session != old_session  # a new session on every refresh (section 2.4)
    assert connect(token=pair.token).get_user().email == TENANT[0]


def test_the_client_refreshes_its_token_before_it_expires():
    # The client refreshes once a token has less than 30 s left: 20 s tokens are due at once.
    with RunningSimulator(Options(scenario="empty", token_ttl=20)) as short_lived:
        with ThingsboardClient(short_lived.url, username=TENANT[0], password=TENANT[1]) as client:
            first = client.get_token()
            assert client.get_user().email == TENANT[0]
            assert client.get_token() != first
        stats = requests.get(f"{short_lived.url}/sim/stats", timeout=10).json()

    refreshes = stats["routes"]["POST /api/auth/token"]
    assert refreshes["statuses"] == {"200": refreshes["count"]}
    assert stats["routes"]["GET /api/auth/user"]["statuses"] == {"200": 1}


def test_the_tenant_api_key_acts_as_the_tenant_admin(connect, tenant):
    client = connect(api_key=DEMO_API_KEY)

    me = conforming(client.get_user_with_http_info(), User)
    page = conforming(
        client.get_all_alarms_v2_with_http_info(page_size=5, page=0), PageDataAlarmInfo
    )

    assert (me.email, me.authority) == (TENANT[0], "TENANT_ADMIN")
    assert page.total_elements == tenant.get_all_alarms_v2(page_size=1, page=0).total_elements


# --- the v2 alarm list (section 4.3) --------------------------------------------------------


def test_the_v2_list_is_alarm_infos_of_the_callers_tenant(tenant):
    me = tenant.get_user()

    alarms = all_alarms(tenant)

    assert len(alarms) > 1000
    assert all(a.tenant_id == me.tenant_id for a in alarms)
    assert all(a.name == a.type for a in alarms)
    assert all(a.originator_name and a.originator_display_name for a in alarms)


def test_a_customer_user_lists_only_alarms_stored_with_its_customer(customer_a, tenant):
    mine = customer_a.get_user().customer_id

    alarms = all_alarms(customer_a)

    assert alarms
    assert ids(alarms) == ids(a for a in all_alarms(tenant) if a.customer_id == mine)


def test_pages_of_the_v2_list_fit_together(tenant):
    everything = ids(all_alarms(tenant))
    pages, page = [], 0
    while True:
        answer = conforming(
            tenant.get_all_alarms_v2_with_http_info(
                page_size=97, page=page, sort_property="createdTime", sort_order="DESC"
            ),
            PageDataAlarmInfo,
        )
        pages.append(answer)
        if not answer.has_next:
            break
        page += 1

    assert [i for p in pages for i in ids(p.data)] == everything
    assert {p.total_elements for p in pages} == {len(everything)}
    assert {p.total_pages for p in pages} == {len(pages)} == {math.ceil(len(everything) / 97)}


STATUS_LISTS = {
    "ACTIVE": lambda a: not a.cleared,
    "CLEARED": lambda a: a.cleared,
    "ACK": lambda a: a.acknowledged,
    "UNACK": lambda a: not a.acknowledged,
    "ACTIVE,UNACK": lambda a: not a.cleared and not a.acknowledged,
    "ACTIVE,ACK": lambda a: not a.cleared and a.acknowledged,
    "CLEARED,UNACK": lambda a: a.cleared and not a.acknowledged,
    "CLEARED,ACK": lambda a: a.cleared and a.acknowledged,
    "ACTIVE,ACK,UNACK": lambda a: not a.cleared,
    "ACTIVE,CLEARED": lambda a: True,
    "ANY": lambda a: True,
    "ANY,ACTIVE": lambda a: True,
}


@pytest.mark.parametrize("statuses", STATUS_LISTS)
def test_the_v2_list_filters_by_each_status_list(tenant, statuses):
    everything = all_alarms(tenant)

    found = all_alarms(tenant, status_list=statuses.split(","))

    expected = [a for a in everything if STATUS_LISTS[statuses](a)]
    assert expected
    assert ids(found) == ids(expected)


def test_the_v2_list_filters_by_severities_and_types(tenant):
    everything = all_alarms(tenant)

    severe = all_alarms(tenant, severity_list=["CRITICAL", "WARNING"])
    typed = all_alarms(tenant, type_list=["Door Open", "Leak Detected"])
    both = all_alarms(tenant, severity_list=["MINOR"], type_list=["Door Open", "Leak Detected"])

    assert ids(severe) == ids(a for a in everything if a.severity in ("CRITICAL", "WARNING"))
    assert ids(typed) == ids(a for a in everything if a.type in ("Door Open", "Leak Detected"))
    assert ids(both) == ids(a for a in typed if a.severity == "MINOR")
    assert 0 < len(both) < len(typed) < len(everything)


def test_the_v2_list_filters_by_assignee(tenant):
    everything = all_alarms(tenant)
    assignee = next(a.assignee for a in everything if a.assignee and a.assignee.first_name)

    found = all_alarms(tenant, assignee_id=str(assignee.id.id))

    assert found
    assert ids(found) == ids(a for a in everything if a.assignee_id == assignee.id)
    assert all(a.assignee == assignee for a in found)


def test_the_v2_list_filters_on_created_time_including_both_ends(tenant):
    everything = all_alarms(tenant)
    start, end = everything[60].created_time, everything[20].created_time

    found = all_alarms(tenant, start_time=start, end_time=end)

    assert ids(found) == ids(a for a in everything if start <= a.created_time <= end)
    assert found[0].created_time == end
    assert found[-1].created_time == start


@pytest.mark.parametrize(
    ("needle", "matches"),
    [
        ("temp", lambda a: "temp" in a.type.lower()),
        ("critical", lambda a: a.severity == "CRITICAL"),
        ("ed_un", lambda a: a.status == "CLEARED_UNACK"),
        ("ACTIVE", lambda a: not a.cleared),
    ],
    ids=["type", "severity", "status", "status prefix"],
)
def test_the_v2_text_search_matches_type_severity_and_status(tenant, needle, matches):
    everything = all_alarms(tenant)

    found = all_alarms(tenant, text_search=needle)

    assert found
    assert ids(found) == ids(a for a in everything if matches(a))


def test_the_v2_text_search_ignores_the_originator_name(tenant):
    everything = all_alarms(tenant)
    name = next(a.originator_name for a in everything if a.type == "Door Open")

    assert all_alarms(tenant, text_search=name) == []


SORT_KEYS = {
    "createdTime": lambda a: a.created_time,
    "startTs": lambda a: a.start_ts,
    "endTs": lambda a: a.end_ts,
    "ackTs": lambda a: a.ack_ts,
    "clearTs": lambda a: a.clear_ts,
    # Varchar columns: alphabetical, not by rank (section 9, gotcha 8).
    "severity": lambda a: a.severity.value,
    "type": lambda a: a.type,
    "status": lambda a: a.status.value,
}


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("sort_property", SORT_KEYS)
def test_the_v2_list_sorts_by_each_property_then_by_id(tenant, sort_property, order):
    key = SORT_KEYS[sort_property]
    page = conforming(
        tenant.get_all_alarms_v2_with_http_info(
            page_size=5000,
            page=0,
            sort_property=sort_property,
            sort_order=order,
            # A few hundred alarms of every severity and both states: fast, and enough ties.
            type_list=["Door Open", "Leak Detected", "Low Battery", "Weak Signal"],
        ),
        PageDataAlarmInfo,
    )
    rows = [(key(a), str(a.id.id)) for a in page.data]

    # The property in the asked direction; equal values by id ASC (PD `DaoUtil.toPageable`).
    descending = order == "DESC"
    expected = sorted(sorted(rows, key=lambda r: r[1]), key=lambda r: r[0], reverse=descending)
    assert rows == expected
    assert len({r[0] for r in rows}) > 1
    assert len(rows) == page.total_elements


def test_without_a_sort_property_the_v2_list_is_in_id_order(tenant):
    page = conforming(
        tenant.get_all_alarms_v2_with_http_info(page_size=5000, page=0), PageDataAlarmInfo
    )

    # Random UUIDs: an order that means nothing (section 9, gotcha 8).
    assert ids(page.data) == sorted(ids(page.data))
    assert ids(page.data) != ids(sorted(page.data, key=lambda a: a.created_time))


def test_severity_sorts_alphabetically_not_by_rank(tenant):
    page = tenant.get_all_alarms_v2(page_size=5000, page=0, sort_property="severity")

    order = list(dict.fromkeys(a.severity.value for a in page.data))

    assert order == ["CRITICAL", "INDETERMINATE", "MAJOR", "MINOR", "WARNING"]


def test_an_unknown_status_in_the_status_list_is_a_bad_request(tenant):
    status, body = refusal(tenant.get_all_alarms_v2, page_size=10, page=0, status_list=["OPEN"])

    assert (status, body["errorCode"]) == (400, 31)


def test_the_sysadmin_may_not_list_tenant_alarms(connect):
    status, body = refusal(connect(SYSADMIN).get_all_alarms_v2, page_size=10, page=0)

    assert (status, body["errorCode"]) == (403, 20)
    assert body["message"] == "You don't have permission to perform this operation!"


# --- the v1 list and entity lists (section 4.3) ---------------------------------------------

V1_FILTERS = {
    ("search_status", "ANY"): lambda a: True,
    ("search_status", "ACTIVE"): lambda a: not a.cleared,
    ("search_status", "CLEARED"): lambda a: a.cleared,
    ("search_status", "ACK"): lambda a: a.acknowledged,
    ("search_status", "UNACK"): lambda a: not a.acknowledged,
    ("status", "ACTIVE_UNACK"): lambda a: a.status == "ACTIVE_UNACK",
    ("status", "ACTIVE_ACK"): lambda a: a.status == "ACTIVE_ACK",
    ("status", "CLEARED_UNACK"): lambda a: a.status == "CLEARED_UNACK",
    ("status", "CLEARED_ACK"): lambda a: a.status == "CLEARED_ACK",
}


@pytest.mark.parametrize("v1_filter", V1_FILTERS, ids="=".join)
def test_the_v1_list_filters_by_search_status_or_status(tenant, v1_filter):
    everything = all_alarms(tenant)
    parameter, value = v1_filter

    page = conforming(
        tenant.get_all_alarms_with_http_info(
            page_size=5000,
            page=0,
            sort_property="createdTime",
            sort_order="DESC",
            **{parameter: value},
        ),
        PageDataAlarmInfo,
    )

    expected = [a for a in everything if V1_FILTERS[v1_filter](a)]
    assert expected
    assert ids(page.data) == ids(expected)


def test_the_v1_list_refuses_search_status_and_status_together(tenant):
    status, body = refusal(
        tenant.get_all_alarms, page_size=10, page=0, search_status="ACTIVE", status="ACTIVE_ACK"
    )

    assert (status, body["errorCode"]) == (400, 31)
    assert body["message"] == (
        "Invalid alarms search query: Both parameters 'searchStatus' and 'status' "
        "can't be specified at the same time!"
    )


def test_an_entity_alarm_list_holds_the_alarms_of_that_device(tenant):
    everything = all_alarms(tenant)
    device = everything[0].originator

    v1 = conforming(
        tenant.get_alarms_by_entity_with_http_info(
            "DEVICE",
            str(device.id),
            page_size=500,
            page=0,
            sort_property="createdTime",
            sort_order="DESC",
            search_status="CLEARED",
        ),
        PageDataAlarmInfo,
    )
    v2 = conforming(
        tenant.get_alarms_v2_with_http_info(
            "DEVICE",
            str(device.id),
            page_size=500,
            page=0,
            sort_property="createdTime",
            sort_order="DESC",
            status_list=["CLEARED"],
        ),
        PageDataAlarmInfo,
    )

    expected = [a for a in everything if a.originator == device and a.cleared]
    assert expected
    assert ids(v1.data) == ids(v2.data) == ids(expected)


def test_a_customer_user_lists_the_alarms_of_its_own_device(customer_a):
    device = customer_a.get_customer_devices(
        str(customer_a.get_user().customer_id.id), page_size=1, page=0, text_search="Gateway"
    ).data[0]

    page = conforming(
        customer_a.get_alarms_v2_with_http_info("DEVICE", str(device.id.id), page_size=500, page=0),
        PageDataAlarmInfo,
    )

    assert page.data
    assert {a.originator.id for a in page.data} == {device.id.id}


# --- one alarm and what users do to it (sections 4.4, 4.5) --------------------------------------


def test_an_alarm_reads_as_alarm_info_and_as_plain_alarm(tenant):
    listed = all_alarms(tenant, status_list=["ACTIVE"])[0]
    alarm_id = str(listed.id.id)

    info = conforming(tenant.get_alarm_info_by_id_with_http_info(alarm_id), AlarmInfo)
    plain = conforming(tenant.get_alarm_by_id_with_http_info(alarm_id), Alarm)

    assert info == listed
    # The plain Alarm carries no originator or assignee details (section 9, gotcha 9).
    assert plain.model_dump() == {
        k: v for k, v in info.model_dump().items() if k in Alarm.model_fields
    }


def test_an_unknown_alarm_is_not_found(tenant):
    missing = "6a1d6a0e-0000-4000-8000-000000000000"

    status, body = refusal(tenant.get_alarm_info_by_id, missing)

    assert (status, body["errorCode"]) == (404, 32)
    assert body["message"] == f"Alarm with id [{missing}] is not found"


def test_acknowledging_answers_the_acknowledged_alarm_info(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump U01", "Conformance Ack")
    before = tenant.get_alarm_info_by_id(alarm_id)

    acked = conforming(tenant.ack_alarm_with_http_info(alarm_id), AlarmInfo)

    assert (acked.acknowledged, acked.cleared, acked.status) == (True, False, "ACTIVE_ACK")
    assert acked.ack_ts >= before.created_time
    assert (acked.start_ts, acked.end_ts) == (before.start_ts, before.end_ts)
    assert acked.clear_ts == 0
    assert acked.customer_id is None  # an unassigned device's alarm (section 9, gotcha 4)


def test_acknowledging_twice_is_thingsboards_400_code_31(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump U01", "Conformance Ack")
    tenant.ack_alarm(alarm_id)

    status, body = refusal(tenant.ack_alarm, alarm_id)

    assert (status, body["errorCode"]) == (400, 31)
    assert body["message"] == "Alarm was already acknowledged!"


def test_clearing_keeps_the_acknowledgement_and_refuses_a_second_clear(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump U01", "Conformance Clear")

    cleared = conforming(tenant.clear_alarm_with_http_info(alarm_id), AlarmInfo)
    status, body = refusal(tenant.clear_alarm, alarm_id)

    assert (cleared.cleared, cleared.acknowledged, cleared.status) == (True, False, "CLEARED_UNACK")
    assert cleared.clear_ts > 0
    assert (status, body["errorCode"], body["message"]) == (400, 31, "Alarm was already cleared!")


def test_a_customer_user_acknowledges_and_clears_its_own_alarm(customer_a, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump A06", "Conformance Customer")

    acked = conforming(customer_a.ack_alarm_with_http_info(alarm_id), AlarmInfo)
    cleared = conforming(customer_a.clear_alarm_with_http_info(alarm_id), AlarmInfo)

    assert acked.customer_id == customer_a.get_user().customer_id
    assert cleared.status == "CLEARED_ACK"


def assignee_named(client, alarm_id, email):
    users = conforming(
        client.get_users_for_assign_with_http_info(alarm_id, page_size=50, page=0),
        PageDataUserEmailInfo,
    )
    return next(u for u in users.data if u.email == email)


def test_users_for_assign_are_user_email_infos(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump U01", "Conformance Assign")

    users = conforming(
        tenant.get_users_for_assign_with_http_info(alarm_id, page_size=50, page=0),
        PageDataUserEmailInfo,
    )

    emails = {u.email for u in users.data}
    assert {"tenant@thingsboard.org", "olivia.ops@thingsboard.org"} <= emails
    assert all(u.id.entity_type == "USER" for u in users.data)
    assert users.total_elements == len(users.data)


def as_alarm_info(answer):
    """An answer the client declares `Alarm` and ThingsBoard builds as AlarmInfo (section 4.4)."""
    assert isinstance(answer.data, Alarm)
    conforming(answer, AlarmInfo)
    return AlarmInfo.from_json(answer.raw_data)


def test_assigning_and_unassigning_answer_the_alarm_with_its_assignee(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump U01", "Conformance Assign")
    olivia = assignee_named(tenant, alarm_id, "olivia.ops@thingsboard.org")

    assigned = as_alarm_info(tenant.assign_alarm_with_http_info(alarm_id, str(olivia.id.id)))
    unassigned = as_alarm_info(tenant.unassign_alarm_with_http_info(alarm_id))

    assert (assigned.assignee_id, assigned.assignee.email) == (olivia.id, olivia.email)
    assert assigned.assign_ts > 0
    assert (unassigned.assignee_id, unassigned.assignee) == (None, None)
    assert unassigned.assign_ts >= assigned.assign_ts


def test_assigning_twice_or_unassigning_nobody_is_a_bad_request(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump U01", "Conformance Assign")
    olivia = assignee_named(tenant, alarm_id, "olivia.ops@thingsboard.org")

    unassign = refusal(tenant.unassign_alarm, alarm_id)
    tenant.assign_alarm(alarm_id, str(olivia.id.id))
    assign = refusal(tenant.assign_alarm, alarm_id, str(olivia.id.id))

    assert (unassign[0], unassign[1]["message"]) == (400, "Alarm was already unassigned!")
    assert (assign[0], assign[1]["message"]) == (400, "Alarm was already assigned to this user!")


def test_alarm_types_are_the_tenants_sorted_entity_subtypes(tenant, customer_a):
    page = conforming(
        tenant.get_alarm_types_with_http_info(page_size=100, page=0), PageDataEntitySubtype
    )
    as_customer = conforming(
        customer_a.get_alarm_types_with_http_info(page_size=100, page=0), PageDataEntitySubtype
    )

    types = [t.type for t in page.data]
    assert types == sorted({a.type for a in all_alarms(tenant)})
    tenant_id = tenant.get_user().tenant_id
    assert all((t.entity_type, t.tenant_id) == ("ALARM", tenant_id) for t in page.data)
    # Tenant-wide even for a customer user (section 4.3).
    assert [t.type for t in as_customer.data] == types


def test_the_highest_severity_of_a_device_is_its_most_severe_alarm(tenant):
    everything = all_alarms(tenant)
    device = everything[0].originator
    severities = {a.severity.value for a in everything if a.originator == device}

    highest = tenant.get_highest_alarm_severity_with_http_info("DEVICE", str(device.id))

    assert json.loads(highest.raw_data) == highest.data
    assert highest.data == min(severities, key=SEVERITY_RANK.index)


# --- comments (section 4.7) ---------------------------------------------------------------------


def comments(client, alarm_id):
    page = conforming(
        client.get_alarm_comments_with_http_info(
            alarm_id, page_size=100, page=0, sort_property="createdTime", sort_order="ASC"
        ),
        PageDataAlarmCommentInfo,
    )
    return page.data


def test_a_comment_is_added_edited_and_soft_deleted(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump U01", "Conformance Comment")
    me = tenant.get_user()

    added = conforming(
        tenant.save_alarm_comment_with_http_info(
            alarm_id, AlarmComment(comment={"text": "Checking the pump."})
        ),
        AlarmComment,
    )
    edited = conforming(
        tenant.save_alarm_comment_with_http_info(
            alarm_id, AlarmComment(id=added.id, comment={"text": "Pump replaced."})
        ),
        AlarmComment,
    )
    listed = comments(tenant, alarm_id)
    tenant.delete_alarm_comment(alarm_id, str(added.id.id))
    deleted = comments(tenant, alarm_id)

    assert (added.type, added.user_id, str(added.alarm_id.id)) == ("OTHER", me.id, alarm_id)
    assert json.loads(added.name) == {"text": "Checking the pump."}
    assert edited.id == added.id
    assert edited.comment["text"] == "Pump replaced."
    assert edited.comment["edited"] == "true"
    assert edited.comment["editedOn"] >= added.created_time
    assert [(c.id, c.email, c.comment) for c in listed] == [(added.id, me.email, edited.comment)]
    assert [(c.id, c.type, c.user_id) for c in deleted] == [(added.id, "SYSTEM", None)]
    assert deleted[0].comment == {
        "text": "Comment was deleted by user tenant@thingsboard.org",
        "subtype": "COMMENT_DELETED",
        "userName": "tenant@thingsboard.org",
    }


def test_a_posted_comment_is_always_the_callers_own_other_comment(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump U01", "Conformance Comment")
    olivia = assignee_named(tenant, alarm_id, "olivia.ops@thingsboard.org")

    saved = conforming(
        tenant.save_alarm_comment_with_http_info(
            alarm_id,
            AlarmComment(comment={"text": "Mine."}, type="SYSTEM", user_id=olivia.id),
        ),
        AlarmComment,
    )

    # The body's type and userId are ignored (section 4.7).
    assert (saved.type, saved.user_id) == ("OTHER", tenant.get_user().id)


def test_a_system_comment_cannot_be_edited_or_deleted(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump U01", "Conformance Comment")
    tenant.ack_alarm(alarm_id)
    system = comments(tenant, alarm_id)[0]

    edit = refusal(
        tenant.save_alarm_comment,
        alarm_id,
        AlarmComment(id=AlarmCommentId(id=system.id.id), comment={"text": "x"}),
    )
    delete = refusal(tenant.delete_alarm_comment, alarm_id, str(system.id.id))

    assert (edit[0], edit[1]["message"]) == (400, "System alarm comment can't be updated!")
    assert (delete[0], delete[1]["message"]) == (400, "System comment could not be deleted")


def test_ack_clear_assign_and_unassign_leave_system_comments_naming_the_user(tenant, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump U01", "Conformance Trail")
    me = tenant.get_user()
    olivia = assignee_named(tenant, alarm_id, "olivia.ops@thingsboard.org")

    tenant.ack_alarm(alarm_id)
    tenant.assign_alarm(alarm_id, str(olivia.id.id))
    tenant.unassign_alarm(alarm_id)
    tenant.clear_alarm(alarm_id)

    trail = {c.comment["subtype"]: c for c in comments(tenant, alarm_id)}
    actor = "tenant@thingsboard.org"  # no first or last name: the title is the e-mail
    assert {k: c.comment for k, c in trail.items()} == {
        "ACKED_BY_USER": {
            "text": f"Alarm was acknowledged by user {actor}",
            "subtype": "ACKED_BY_USER",
            "userName": actor,
        },
        "ASSIGNED_TO_USER": {
            "text": f"Alarm was assigned by user {actor} to user Olivia Ops",
            "subtype": "ASSIGNED_TO_USER",
            "userName": actor,
            "assigneeName": "Olivia Ops",
        },
        "UNASSIGNED_BY_USER": {
            "text": f"Alarm was unassigned by user {actor}",
            "subtype": "UNASSIGNED_BY_USER",
            "userName": actor,
        },
        "CLEARED_BY_USER": {
            "text": f"Alarm was cleared by user {actor}",
            "subtype": "CLEARED_BY_USER",
            "userName": actor,
        },
    }
    assert all((c.type, c.user_id, c.email) == ("SYSTEM", me.id, actor) for c in trail.values())


def test_a_customer_user_reads_the_comments_of_its_alarm(customer_a, tbsim):
    alarm_id = raise_alarm(tbsim, "Pump A06", "Conformance Customer")
    customer_a.ack_alarm(alarm_id)
    customer_a.save_alarm_comment(alarm_id, AlarmComment(comment={"text": "On my way."}))

    listed = comments(customer_a, alarm_id)

    assert [c.type for c in listed] == ["SYSTEM", "OTHER"]
    assert {c.email for c in listed} == {CUSTOMER_A[0]}


# --- devices, assets, customers (section 6.1-6.3) -----------------------------------------------


def test_the_tenant_device_lists_are_devices_and_device_infos(tenant):
    devices = conforming(
        tenant.get_tenant_devices_with_http_info(page_size=100, page=0, sort_property="name"),
        PageDataDevice,
    )
    infos = conforming(
        tenant.get_tenant_device_infos_with_http_info(page_size=100, page=0, sort_property="name"),
        PageDataDeviceInfo,
    )
    customers = {c.id.id: c.title for c in tenant.get_customers(page_size=10, page=0).data}

    assert devices.total_elements >= 30
    assert [d.name for d in devices.data] == sorted(d.name for d in devices.data)
    assert [d.id for d in infos.data] == [d.id for d in devices.data]
    for info in infos.data:
        assert info.device_profile_name == info.type
        assert info.customer_title == customers.get(info.customer_id.id)
        assert info.customer_is_public is False
        assert isinstance(info.active, bool)
    assert NULL_UUID in {str(d.customer_id.id) for d in devices.data}


def test_a_customer_lists_its_devices(customer_a):
    mine = customer_a.get_user().customer_id

    devices = conforming(
        customer_a.get_customer_devices_with_http_info(str(mine.id), page_size=100, page=0),
        PageDataDevice,
    )
    infos = conforming(
        customer_a.get_customer_device_infos_with_http_info(str(mine.id), page_size=100, page=0),
        PageDataDeviceInfo,
    )

    assert devices.data
    assert all(d.customer_id == mine for d in devices.data)
    assert {d.customer_title for d in infos.data} == {"Customer A"}
    assert sorted(ids(infos.data)) == sorted(ids(devices.data))


def test_a_device_reads_by_id_by_name_and_in_a_batch(tenant):
    device = device_named(tenant, "Pump A06")
    device_id = str(device.id.id)

    by_id = conforming(tenant.get_device_by_id_with_http_info(device_id), Device)
    info = conforming(tenant.get_device_info_by_id_with_http_info(device_id), DeviceInfo)
    batch = conforming(tenant.get_devices_by_ids_with_http_info([device_id]), list[Device])

    assert by_id == device == batch[0]
    assert (info.name, info.customer_title, info.device_profile_name) == (
        "Pump A06",
        "Customer A",
        "pump",
    )
    assert device.device_data.configuration.type == "DEFAULT"


def test_assets_read_as_assets_and_asset_infos(tenant, customer_a):
    assets = conforming(
        tenant.get_tenant_assets_with_http_info(page_size=50, page=0), PageDataAsset
    )
    infos = conforming(
        tenant.get_tenant_asset_infos_with_http_info(page_size=50, page=0), PageDataAssetInfo
    )
    mine = customer_a.get_user().customer_id
    own = conforming(
        customer_a.get_customer_asset_infos_with_http_info(str(mine.id), page_size=50, page=0),
        PageDataAssetInfo,
    )
    building = own.data[0]

    assert assets.total_elements == infos.total_elements >= 4
    assert {a.asset_profile_name for a in infos.data} == {a.type for a in assets.data}
    assert {a.customer_title for a in own.data} == {"Customer A"}
    assert conforming(customer_a.get_asset_by_id_with_http_info(str(building.id.id)), Asset).name
    assert (
        conforming(customer_a.get_asset_info_by_id_with_http_info(str(building.id.id)), AssetInfo)
        == building
    )
    assert (
        conforming(
            customer_a.get_customer_assets_with_http_info(str(mine.id), page_size=50, page=0),
            PageDataAsset,
        ).total_elements
        == own.total_elements
    )


def test_the_tenant_lists_its_customers(tenant):
    page = conforming(
        tenant.get_customers_with_http_info(page_size=10, page=0, sort_property="title"),
        PageDataCustomer,
    )

    assert [c.title for c in page.data] == ["Customer A", "Customer B", "Customer C"]
    assert all(c.name == c.title for c in page.data)


def test_a_customer_title_comes_as_application_text(tenant, sign_in):
    customer_id = str(
        tenant.get_customers(page_size=1, page=0, sort_property="title").data[0].id.id
    )

    answer = sign_in(TENANT).get(f"/api/customer/{customer_id}/title")

    # `produces = "application/text"` (section 6.3): not JSON, so the client cannot parse it.
    assert answer.headers["Content-Type"].split(";")[0] == "application/text"
    assert answer.text == "Customer A"


# --- telemetry (section 6.4) --------------------------------------------------------------------


def test_timeseries_keys_and_latest_values_are_strings_unless_strict(tenant):
    device_id = str(device_named(tenant, "Thermostat A07").id.id)

    keys = conforming(tenant.get_timeseries_keys_with_http_info("DEVICE", device_id), list[str])
    latest = conforming(
        tenant.get_latest_timeseries_with_http_info("DEVICE", device_id, keys=",".join(keys)),
        dict[str, list[TsData]],
    )
    every_strict = conforming(
        tenant.get_latest_timeseries_with_http_info(
            "DEVICE", device_id, use_strict_data_types=True
        ),
        dict[str, list[TsData]],
    )

    assert keys
    assert sorted(latest) == sorted(every_strict) == sorted(keys)  # no keys: every key
    assert all(len(points) == 1 for points in latest.values())
    assert all(isinstance(p[0].value, str) for p in latest.values())
    assert any(isinstance(p[0].value, int | float) for p in every_strict.values())


def test_a_latest_key_never_written_comes_back_null(tenant):
    device_id = str(device_named(tenant, "Thermostat A07").id.id)

    latest = conforming(
        tenant.get_latest_timeseries_with_http_info("DEVICE", device_id, keys="noSuchKey"),
        dict[str, list[TsData]],
    )

    assert list(latest) == ["noSuchKey"]
    assert latest["noSuchKey"][0].value is None
    assert latest["noSuchKey"][0].ts > 0


def history(client, device_id, key, start, end, **params):
    return conforming(
        client.get_timeseries_history_with_http_info(
            "DEVICE", device_id, start_ts=start, end_ts=end, keys=key, **params
        ),
        dict[str, list[TsData]],
    )


def test_history_is_newest_first_within_start_inclusive_end_exclusive(tenant):
    device_id = str(device_named(tenant, "Thermostat A07").id.id)
    key = tenant.get_timeseries_keys("DEVICE", device_id)[0]
    latest_ts = tenant.get_latest_timeseries("DEVICE", device_id, keys=key)[key][0].ts
    start, end = latest_ts - HOUR, latest_ts

    series = history(tenant, device_id, key, start, end)[key]
    capped = history(tenant, device_id, key, start - 24 * HOUR, end)[key]
    five = history(tenant, device_id, key, start, end + 1, limit="5", order_by="DESC")[key]
    oldest = history(tenant, device_id, key, start, end, limit="5", order_by="ASC")[key]

    stamps = [p.ts for p in series]
    assert stamps == sorted(stamps, reverse=True)
    assert (stamps[-1], stamps[0]) == (start, end - 60_000)  # one sample a minute
    assert len(capped) == 100  # the default limit
    assert five[0].ts == latest_ts
    assert len(five) == 5
    assert [p.ts for p in oldest] == sorted(stamps)[:5]
    assert all(isinstance(p.value, str) for p in series)


def test_history_aggregates_per_interval(tenant):
    device_id = str(device_named(tenant, "Thermostat A07").id.id)
    key = tenant.get_timeseries_keys("DEVICE", device_id)[0]
    end = tenant.get_latest_timeseries("DEVICE", device_id, keys=key)[key][0].ts + 1
    start = end - 6 * HOUR

    raw = history(tenant, device_id, key, start, end, limit="1000")[key]
    averages = history(tenant, device_id, key, start, end, agg="AVG", interval=HOUR)[key]
    maxima = history(tenant, device_id, key, start, end, agg="MAX", interval=HOUR)[key]

    assert len(averages) == len(maxima) == 6
    assert all(start <= p.ts < end for p in averages)
    assert max(float(p.value) for p in maxima) == max(float(p.value) for p in raw)
    assert (
        min(float(p.value) for p in raw)
        <= float(averages[0].value)
        <= max(float(p.value) for p in raw)
    )


def test_an_aggregation_without_interval_is_a_plain_text_bad_request(tenant):
    device_id = str(device_named(tenant, "Thermostat A07").id.id)

    with pytest.raises(ApiException) as caught:
        history(tenant, device_id, "temperature", 0, 1, agg="AVG", interval=0)

    assert caught.value.status == 400
    assert caught.value.headers["Content-Type"].startswith("text/plain")


def test_attributes_read_by_scope_and_merged(tenant):
    device_id = str(device_named(tenant, "Thermostat A07").id.id)

    keys = conforming(tenant.get_attribute_keys_with_http_info("DEVICE", device_id), list[str])
    merged = conforming(
        tenant.get_attributes_with_http_info("DEVICE", device_id), list[AttributeData]
    )
    by_scope = tenant.get_attributes_by_scope_with_http_info(
        "DEVICE", device_id, "SERVER_SCOPE", keys="active"
    )
    conforming(by_scope, list[AttributeData])
    # The client declares no schema for this answer and parses nothing itself.
    server = [AttributeData.from_dict(a) for a in json.loads(by_scope.raw_data)]
    server_keys = conforming(
        tenant.get_attribute_keys_by_scope_with_http_info("DEVICE", device_id, "SERVER_SCOPE"),
        list[str],
    )

    assert sorted(keys) == sorted(a.key for a in merged)
    assert [a.key for a in server] == ["active"]
    assert isinstance(server[0].value, bool)
    assert server[0].last_update_ts > 0
    assert "active" in server_keys
    assert set(server_keys) < set(keys)


def test_a_customer_reads_the_telemetry_of_its_device_but_not_of_another(customer_a, tenant):
    own = str(device_named(tenant, "Thermostat A07").id.id)
    foreign = str(device_named(tenant, "Thermostat B02").id.id)

    keys = conforming(customer_a.get_timeseries_keys_with_http_info("DEVICE", own), list[str])
    with pytest.raises(ApiException) as caught:
        customer_a.get_timeseries_keys("DEVICE", foreign)

    assert keys
    assert caught.value.status == 403
    assert caught.value.body == "You don't have permission to perform this operation!"
