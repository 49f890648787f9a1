"""Attribute writes and deletes as tb-ce-client sees them (TelemetryController.saveAttributes
and deleteAttributes; thingsboard-api.md sections 5.2 and 6.4).

Refusals on these endpoints come through AccessValidator as plain text, except those Spring
and BaseController answer before it (a scope that is no AttributeScope, a missing body, a
value JsonConverter cannot parse), which are ThingsBoard's JSON error bodies.
"""

import json
import uuid

import pytest
import requests
import test_conformance
from conftest import CUSTOMER_A, OTHER_TENANT, SYSADMIN, TENANT
from tb_ce_client.exceptions import ApiException
from tb_ce_client.models import AttributeData
from test_conformance import conforming, device_named, refusal

from alarmdesk.tbsim.state import now_ms

# The personas of the conformance tests, as fixtures here too.
connect, tenant, customer_a = (
    test_conformance.connect,
    test_conformance.tenant,
    test_conformance.customer_a,
)

NO_PERMISSION = "You don't have permission to perform this operation!"
SYSADMIN_REFUSED = "System administrator is not allowed to perform this operation!"


def entity_named(client, kind, name):
    if kind == "DEVICE":
        return str(device_named(client, name).id.id)
    return str(client.get_tenant_asset_by_name(asset_name=name).id.id)


def attributes(client, entity_type, entity_id, scope=None):
    """{key: (value, lastUpdateTs)} of the raw JSON a scope (or every scope) reads back."""
    if scope is None:
        answer = client.get_attributes_with_http_info(entity_type, entity_id)
    else:
        answer = client.get_attributes_by_scope_with_http_info(entity_type, entity_id, scope)
    conforming(answer, list[AttributeData])
    rows = json.loads(answer.raw_data)
    assert len({row["key"] for row in rows}) == len(rows) or scope is None
    return {row["key"]: (row["value"], row["lastUpdateTs"]) for row in rows}


def values(client, entity_type, entity_id, scope=None):
    return {k: v for k, (v, _) in attributes(client, entity_type, entity_id, scope).items()}


def keys(client, entity_type, entity_id, scope):
    answer = client.get_attribute_keys_by_scope_with_http_info(entity_type, entity_id, scope)
    return conforming(answer, list[str])


def write(client, entity_type, entity_id, scope, body):
    """The answer to saveEntityAttributesV2 with `body`, a JSON text or a value to encode."""
    text = body if isinstance(body, str) else json.dumps(body)
    return client.save_entity_attributes_v2_with_http_info(entity_type, entity_id, scope, text)


def plain_refusal(operation, *args, **kwargs):
    """(HTTP status, plain-text body) of a call refused through AccessValidator."""
    with pytest.raises(ApiException) as caught:
        operation(*args, **kwargs)
    assert caught.value.headers["Content-Type"].startswith("text/plain")
    return caught.value.status, caught.value.body


# --- writes read back with their types --------------------------------------------------------


def test_written_values_read_back_with_their_types_and_the_write_time(tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")
    body = {
        "label": "north wall",
        "threshold": 42,
        "ratio": 1.5,
        "enabled": True,
        "config": {"mode": "eco", "steps": [1, 2, 3], "nested": {"k": "v"}},
        "zones": ["a", 2],
    }

    before = now_ms()
    answer = write(tenant, "DEVICE", device, "SERVER_SCOPE", body)
    after = now_ms()
    read = attributes(tenant, "DEVICE", device, "SERVER_SCOPE")

    assert (answer.status_code, answer.raw_data) == (200, b"")
    assert {key: read[key][0] for key in body} == body
    assert type(read["threshold"][0]) is int
    assert type(read["ratio"][0]) is float
    assert type(read["enabled"][0]) is bool
    assert {read[key][1] for key in body} <= set(range(before, after + 1))
    assert len({read[key][1] for key in body}) == 1


def test_numbers_are_kept_as_long_or_double_the_way_json_converter_parses_them(tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")
    body = (
        '{"whole": 10, "point_zero": 1.0, "exponent": 1e3, "fraction_exponent": 1.5e3,'
        ' "small": 1e-3, "beyond_long": 12345678901234567890,'
        ' "seventeen_places": 0.12345678901234567, "numeric_text": "42",'
        ' "decimal_text": "-2.50", "leading_dot": ".5", "trailing_dot": "5.",'
        ' "spaced": "4 2", "nested": {"n": 1.50, "e": 1e3}}'
    )

    write(tenant, "DEVICE", device, "SHARED_SCOPE", body)
    read = values(tenant, "DEVICE", device, "SHARED_SCOPE")

    expected = {
        "whole": 10,
        "point_zero": 1.0,
        "exponent": 1000,
        "fraction_exponent": 1500,
        "small": 0.001,
        "beyond_long": "12345678901234567890",
        "seventeen_places": "0.12345678901234567",
        "numeric_text": 42,
        "decimal_text": -2.5,
        "leading_dot": 0.5,
        "trailing_dot": "5.",
        "spaced": "4 2",
        "nested": {"n": 1.5, "e": 1000.0},
    }
    assert {key: read[key] for key in expected} == expected
    assert {key: type(read[key]) for key in expected} == {
        key: type(value) for key, value in expected.items()
    }


def test_written_keys_override_the_computed_ones_and_join_the_key_lists(tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")
    computed = attributes(tenant, "DEVICE", device, "SHARED_SCOPE")

    write(tenant, "DEVICE", device, "SHARED_SCOPE", {"samplingPeriodSec": 30, "color": "red"})
    shared = attributes(tenant, "DEVICE", device, "SHARED_SCOPE")

    assert computed["samplingPeriodSec"][0] == 60
    assert shared["samplingPeriodSec"][0] == 30
    assert shared["samplingPeriodSec"][1] > computed["samplingPeriodSec"][1]
    assert shared["color"][0] == "red"
    assert sorted(keys(tenant, "DEVICE", device, "SHARED_SCOPE")) == sorted(shared)
    assert "color" in conforming(
        tenant.get_attribute_keys_with_http_info("DEVICE", device), list[str]
    )
    assert "color" not in values(tenant, "DEVICE", device, "SERVER_SCOPE")


def test_the_legacy_paths_write_too(tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")

    v1 = tenant.save_entity_attributes_v1_with_http_info(
        "DEVICE", device, "SERVER_SCOPE", '{"via": "v1"}'
    )
    by_device = tenant.save_device_attributes_with_http_info(
        device, "SHARED_SCOPE", '{"via": "device path"}'
    )

    assert (v1.status_code, by_device.status_code) == (200, 200)
    assert values(tenant, "DEVICE", device, "SERVER_SCOPE")["via"] == "v1"
    assert values(tenant, "DEVICE", device, "SHARED_SCOPE")["via"] == "device path"


def test_assets_and_customers_keep_written_attributes_in_either_writable_scope(tenant):
    asset = entity_named(tenant, "ASSET", "Building A")
    customer = str(
        tenant.get_customers(page_size=10, page=0, text_search="Customer A").data[0].id.id
    )

    write(tenant, "ASSET", asset, "SHARED_SCOPE", {"floors": 4})
    write(tenant, "CUSTOMER", customer, "SERVER_SCOPE", {"sla": "gold"})

    assert values(tenant, "ASSET", asset) == {"floors": 4}
    assert values(tenant, "CUSTOMER", customer, "SERVER_SCOPE") == {"sla": "gold"}


def test_what_one_user_writes_another_reads(tenant, customer_a):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")

    write(customer_a, "DEVICE", device, "SERVER_SCOPE", {"note": "filter changed"})

    assert values(tenant, "DEVICE", device, "SERVER_SCOPE")["note"] == "filter changed"


# --- deletes ----------------------------------------------------------------------------------


def test_deleted_keys_are_gone_and_unknown_ones_are_ignored(tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")
    write(tenant, "DEVICE", device, "SERVER_SCOPE", {"a": 1, "b": 2, "c": 3})

    answer = tenant.delete_entity_attributes_with_http_info(
        "DEVICE", device, "SERVER_SCOPE", keys="a,b,never-written"
    )
    server = values(tenant, "DEVICE", device, "SERVER_SCOPE")

    assert (answer.status_code, answer.raw_data) == (200, b"")
    assert "a" not in server
    assert "b" not in server
    assert server["c"] == 3
    assert "a" not in keys(tenant, "DEVICE", device, "SERVER_SCOPE")


def test_a_deleted_computed_attribute_is_gone_until_written_again(tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")

    tenant.delete_entity_attributes("DEVICE", device, "CLIENT_SCOPE", keys="firmwareVersion")
    gone = values(tenant, "DEVICE", device)
    tenant.delete_device_attributes(device, "SHARED_SCOPE", key=["samplingPeriodSec"])
    write(tenant, "DEVICE", device, "SERVER_SCOPE", {"firmwareVersion": "v3"})

    assert "firmwareVersion" not in gone
    assert "serialNumber" in gone
    assert "samplingPeriodSec" not in values(tenant, "DEVICE", device, "SHARED_SCOPE")
    assert values(tenant, "DEVICE", device, "SERVER_SCOPE")["firmwareVersion"] == "v3"
    assert "firmwareVersion" not in values(tenant, "DEVICE", device, "CLIENT_SCOPE")


def test_a_delete_without_keys_is_a_plain_text_bad_request(tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")

    refused = plain_refusal(tenant.delete_entity_attributes, "DEVICE", device, "SERVER_SCOPE")
    only_commas = plain_refusal(
        tenant.delete_entity_attributes, "DEVICE", device, "SERVER_SCOPE", keys=",,"
    )

    assert refused == (400, "Empty keys: []")
    assert only_commas == (400, "Empty keys: []")


# --- what ThingsBoard refuses before the entity is looked up ----------------------------------


def test_the_client_scope_is_not_writable_through_rest(connect):
    sysadmin = connect(SYSADMIN)
    missing = str(uuid.uuid4())

    refused = plain_refusal(write, sysadmin, "DEVICE", missing, "CLIENT_SCOPE", {"a": 1})

    assert refused == (400, "Invalid scope: CLIENT_SCOPE")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[1, 2]", "Request is not a JSON object"),
        ('"text"', "Request is not a JSON object"),
        ("{}", "No attributes data found in request body!"),
        ("{not json", "Invalid JSON"),
        ('{" ": 1}', "Key cannot be blank"),
    ],
    ids=["array", "string", "empty object", "not json", "blank key"],
)
def test_a_body_that_is_no_attribute_object_is_a_plain_text_bad_request(tenant, body, message):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")

    assert plain_refusal(write, tenant, "DEVICE", device, "SERVER_SCOPE", body) == (400, message)


def test_a_null_value_is_json_converters_500(tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")

    status, body = refusal(write, tenant, "DEVICE", device, "SERVER_SCOPE", '{"a": 1, "b": null}')

    assert (status, body["errorCode"], body["message"]) == (500, 2, "Can't parse value: null")
    assert "a" not in values(tenant, "DEVICE", device, "SERVER_SCOPE")


def test_a_missing_body_is_springs_500(tbsim, tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")
    token = tenant.api_client.configuration.api_key["ApiKeyForm"]

    answer = requests.post(
        f"{tbsim.url}/api/plugins/telemetry/DEVICE/{device}/attributes/SERVER_SCOPE",
        headers={"X-Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        timeout=10,
    )

    assert (answer.status_code, answer.json()["errorCode"]) == (500, 2)
    assert answer.json()["message"].startswith("Required request body is missing: ")


def test_a_scope_that_is_no_attribute_scope_is_a_json_bad_request(tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")

    written = refusal(write, tenant, "DEVICE", device, "ANY_SCOPE", {"a": 1})
    read = refusal(tenant.get_attributes_by_scope, "DEVICE", device, "ANY_SCOPE")

    assert (written[0], written[1]["errorCode"]) == (400, 31)
    assert (read[0], read[1]["errorCode"]) == (400, 31)


def test_a_key_longer_than_255_is_refused_by_the_dao(tenant):
    device = entity_named(tenant, "DEVICE", "Thermostat A07")

    refused = plain_refusal(write, tenant, "DEVICE", device, "SERVER_SCOPE", {"k" * 256: 1})

    assert refused == (400, "Validation error: key length must be equal or less than 255")


# --- who may write (Operation.WRITE_ATTRIBUTES) -----------------------------------------------

WRITERS = {
    "tenant": TENANT,
    "customer A": CUSTOMER_A,
    "sysadmin": SYSADMIN,
    "other tenant": OTHER_TENANT,
}
MATRIX = [
    ("tenant", "DEVICE", "Thermostat A07", None),
    ("tenant", "DEVICE", "Thermostat B02", None),
    ("tenant", "ASSET", "Plant B", None),
    ("customer A", "DEVICE", "Thermostat A07", None),
    ("customer A", "ASSET", "Building A", None),
    ("customer A", "DEVICE", "Thermostat B02", (403, NO_PERMISSION)),
    ("customer A", "ASSET", "Plant B", (403, NO_PERMISSION)),
    ("sysadmin", "DEVICE", "Thermostat A07", (403, SYSADMIN_REFUSED)),
    ("sysadmin", "ASSET", "Building A", (403, SYSADMIN_REFUSED)),
    # findDeviceById is tenant-scoped, findAssetByIdAsync is not (section 3.3).
    ("other tenant", "DEVICE", "Thermostat A07", (404, "Device with requested id wasn't found!")),
    ("other tenant", "ASSET", "Building A", (403, NO_PERMISSION)),
]
MATRIX_IDS = [f"{who} on {name}" for who, _, name, _ in MATRIX]


@pytest.mark.parametrize(("who", "kind", "name", "refused"), MATRIX, ids=MATRIX_IDS)
def test_who_may_write_attributes(connect, tenant, who, kind, name, refused):
    target = entity_named(tenant, kind, name)
    client = connect(WRITERS[who])

    if refused is None:
        assert write(client, kind, target, "SERVER_SCOPE", {"probe": who}).status_code == 200
        assert values(tenant, kind, target, "SERVER_SCOPE")["probe"] == who
    else:
        assert plain_refusal(write, client, kind, target, "SERVER_SCOPE", {"probe": who}) == refused
        assert "probe" not in values(tenant, kind, target, "SERVER_SCOPE")


@pytest.mark.parametrize(("who", "kind", "name", "refused"), MATRIX, ids=MATRIX_IDS)
def test_who_may_delete_attributes(connect, tenant, who, kind, name, refused):
    target = entity_named(tenant, kind, name)
    write(tenant, kind, target, "SERVER_SCOPE", {"probe": "kept unless deleted"})
    client = connect(WRITERS[who])

    if refused is None:
        answer = client.delete_entity_attributes_with_http_info(
            kind, target, "SERVER_SCOPE", keys="probe"
        )
        assert answer.status_code == 200
        assert "probe" not in values(tenant, kind, target, "SERVER_SCOPE")
    else:
        delete = client.delete_entity_attributes
        assert plain_refusal(delete, kind, target, "SERVER_SCOPE", keys="probe") == refused
        assert "probe" in values(tenant, kind, target, "SERVER_SCOPE")


def test_a_customer_user_may_not_write_its_own_customers_attributes(customer_a):
    customer = str(customer_a.get_user().customer_id.id)

    refused = plain_refusal(write, customer_a, "CUSTOMER", customer, "SERVER_SCOPE", {"a": 1})

    assert refused == (403, NO_PERMISSION)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("DEVICE", "Device with requested id wasn't found!"),
        ("ASSET", "Asset with requested id wasn't found!"),
    ],
)
def test_a_missing_entity_is_a_plain_text_404(tenant, kind, message):
    missing = str(uuid.uuid4())

    written = plain_refusal(write, tenant, kind, missing, "SERVER_SCOPE", {"a": 1})
    deleted = plain_refusal(
        tenant.delete_entity_attributes, kind, missing, "SERVER_SCOPE", keys="a"
    )

    assert written == deleted == (404, message)


def test_an_entity_type_access_validator_does_not_know_is_its_500(tenant):
    status, body = refusal(write, tenant, "ALARM", str(uuid.uuid4()), "SERVER_SCOPE", {"a": 1})

    assert (status, body["errorCode"], body["message"]) == (500, 2, "Not Implemented!")


def test_a_sysadmin_is_refused_before_the_device_is_looked_up(connect):
    sysadmin = connect(SYSADMIN)
    missing = str(uuid.uuid4())

    assert plain_refusal(write, sysadmin, "DEVICE", missing, "SERVER_SCOPE", {"a": 1}) == (
        403,
        SYSADMIN_REFUSED,
    )
