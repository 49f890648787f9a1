"""ThingsBoard's JSON as AlarmDesk's dataclasses, quirks included (thingsboard-api.md 4.2, 9)."""

import copy
from datetime import UTC, datetime

import jwt
import pytest

from alarmdesk.thingsboard.errors import ProtocolError
from alarmdesk.thingsboard.types import (
    AlarmComment,
    AlarmInfo,
    Entity,
    Page,
    TimeSeries,
    TokenPair,
    User,
    UserEmailInfo,
)

NULL_UUID = "13814000-1dd2-11b2-8080-808080808080"
TENANT_ID = "5b6a1f20-6a8e-11ef-9c1e-2b1d7c0a4f11"
CUSTOMER_ID = "6c7b2031-6a8e-11ef-9c1e-2b1d7c0a4f11"
ALARM_ID = "8e0f7d44-1b5a-4c55-9e1e-0d3c6f2a9b10"
DEVICE_ID = "7d8c3142-6a8e-11ef-9c1e-2b1d7c0a4f11"
USER_ID = "9a1b2c3d-6a8e-11ef-9c1e-2b1d7c0a4f11"

# The example of section 4.2, as ThingsBoard 4.4 sends it.
ALARM = {
    "id": {"entityType": "ALARM", "id": ALARM_ID},
    "createdTime": 1700000000123,
    "tenantId": {"entityType": "TENANT", "id": TENANT_ID},
    "customerId": None,
    "type": "High Temperature",
    "originator": {"entityType": "DEVICE", "id": DEVICE_ID},
    "severity": "CRITICAL",
    "acknowledged": False,
    "cleared": False,
    "assigneeId": None,
    "startTs": 1700000000100,
    "endTs": 1700000300100,
    "ackTs": 0,
    "clearTs": 0,
    "assignTs": 0,
    "details": {"data": "temperature 31.5"},
    "propagate": False,
    "propagateToOwner": False,
    "propagateToTenant": False,
    "propagateRelationTypes": [],
    "originatorName": "Thermostat A",
    "originatorLabel": "Thermostat A",
    "originatorDisplayName": "Thermostat A",
    "assignee": None,
    "name": "High Temperature",
    "status": "ACTIVE_UNACK",
}


def alarm(**changes):
    data = copy.deepcopy(ALARM)
    data.update(changes)
    return data


def test_an_alarm_reads_every_field_as_snake_case():
    info = AlarmInfo.from_json(ALARM)
    assert info.id == ALARM_ID
    assert info.created_time == 1700000000123
    assert info.tenant_id == TENANT_ID
    assert info.type == "High Temperature"
    assert (info.originator_type, info.originator_id) == ("DEVICE", DEVICE_ID)
    assert info.severity == "CRITICAL"
    assert (info.acknowledged, info.cleared) == (False, False)
    assert (info.start_ts, info.end_ts) == (1700000000100, 1700000300100)
    assert (info.ack_ts, info.clear_ts, info.assign_ts) == (0, 0, 0)
    assert info.details == {"data": "temperature 31.5"}
    assert info.propagate_relation_types == ()
    assert info.originator_name == info.originator_label == "Thermostat A"
    assert info.originator_display_name == "Thermostat A"
    assert info.status == "ACTIVE_UNACK"
    assert info.name == "High Temperature"


def test_an_alarm_of_an_unowned_originator_has_no_customer():
    assert AlarmInfo.from_json(alarm(customerId=None)).customer_id is None


def test_the_null_uuid_as_customer_also_means_no_customer():
    null_customer = {"entityType": "CUSTOMER", "id": NULL_UUID}
    assert AlarmInfo.from_json(alarm(customerId=null_customer)).customer_id is None


def test_an_alarm_of_a_customer_keeps_its_customer_id():
    owner = {"entityType": "CUSTOMER", "id": CUSTOMER_ID}
    assert AlarmInfo.from_json(alarm(customerId=owner)).customer_id == CUSTOMER_ID


def test_an_assigned_alarm_names_its_assignee():
    assigned = alarm(
        assigneeId={"entityType": "USER", "id": USER_ID},
        assignTs=1700000400000,
        assignee={
            "id": {"entityType": "USER", "id": USER_ID},
            "firstName": "Olivia",
            "lastName": "Ops",
            "email": "olivia.ops@thingsboard.org",
        },
    )
    info = AlarmInfo.from_json(assigned)
    assert info.assignee_id == USER_ID
    assert info.assignee == UserEmailInfo(USER_ID, "olivia.ops@thingsboard.org", "Olivia", "Ops")
    assert info.assignee.display_name == "Olivia Ops"


def test_an_unassigned_alarm_has_no_assignee():
    info = AlarmInfo.from_json(ALARM)
    assert info.assignee_id is None
    assert info.assignee is None


def test_an_assignee_without_a_name_is_shown_by_email():
    assignee = {
        "id": {"entityType": "USER", "id": USER_ID},
        "firstName": None,
        "lastName": None,
        "email": "customerA@thingsboard.org",
    }
    assert UserEmailInfo.from_json(assignee).display_name == "customerA@thingsboard.org"


def test_an_alarm_from_before_4_3_falls_back_to_label_then_name_for_display():
    older = alarm(originatorLabel="Boiler room")
    del older["originatorDisplayName"]
    assert AlarmInfo.from_json(older).originator_display_name == "Boiler room"
    older["originatorLabel"] = None
    assert AlarmInfo.from_json(older).originator_display_name == "Thermostat A"


def test_fields_it_does_not_know_are_ignored():
    info = AlarmInfo.from_json(alarm(externalId=None, somethingNew={"x": 1}))
    assert info.id == ALARM_ID


@pytest.mark.parametrize(
    "field", ["id", "createdTime", "type", "originator", "severity", "status", "originatorName"]
)
def test_an_alarm_missing_a_field_it_needs_is_a_protocol_error(field):
    broken = alarm()
    del broken[field]
    with pytest.raises(ProtocolError, match=field):
        AlarmInfo.from_json(broken)


def test_an_alarm_with_a_field_of_the_wrong_kind_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        AlarmInfo.from_json(alarm(createdTime="yesterday"))
    with pytest.raises(ProtocolError):
        AlarmInfo.from_json(alarm(acknowledged="false"))


def test_an_alarm_that_is_not_an_object_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        AlarmInfo.from_json(["not", "an", "alarm"])


def test_a_tenant_admin_belongs_to_no_customer():
    user = User.from_json(
        {
            "id": {"entityType": "USER", "id": USER_ID},
            "createdTime": 1690000000000,
            "additionalInfo": {},
            "tenantId": {"entityType": "TENANT", "id": TENANT_ID},
            "customerId": {"entityType": "CUSTOMER", "id": NULL_UUID},
            "email": "tenant@thingsboard.org",
            "authority": "TENANT_ADMIN",
            "firstName": None,
            "lastName": None,
            "phone": None,
            "version": 1,
            "name": "tenant@thingsboard.org",
        }
    )
    assert user.customer_id is None
    assert user.tenant_id == TENANT_ID
    assert user.authority == "TENANT_ADMIN"
    assert user.display_name == "tenant@thingsboard.org"


def test_a_customer_user_belongs_to_its_customer_and_is_named():
    user = User.from_json(
        {
            "id": {"entityType": "USER", "id": USER_ID},
            "tenantId": {"entityType": "TENANT", "id": TENANT_ID},
            "customerId": {"entityType": "CUSTOMER", "id": CUSTOMER_ID},
            "email": "arthur.field@thingsboard.org",
            "authority": "CUSTOMER_USER",
            "firstName": "Arthur",
            "lastName": "Field",
        }
    )
    assert user.customer_id == CUSTOMER_ID
    assert user.display_name == "Arthur Field"


def test_a_user_without_authority_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="authority"):
        User.from_json(
            {
                "id": {"entityType": "USER", "id": USER_ID},
                "tenantId": {"entityType": "TENANT", "id": TENANT_ID},
                "email": "tenant@thingsboard.org",
            }
        )


def make_jwt(**claims):
    return jwt.encode(claims, "not-thingsboards-key-" * 4, algorithm="HS512")


def test_a_token_pair_knows_when_its_access_token_expires():
    pair = TokenPair.from_json(
        {"token": make_jwt(sub="tenant@thingsboard.org", exp=1800000000), "refreshToken": "r"}
    )
    assert pair.access_expires_at == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
    assert pair.refresh_token == "r"


def test_an_already_expired_access_token_still_tells_its_expiry():
    pair = TokenPair.from_json({"token": make_jwt(exp=1000), "refreshToken": "r"})
    assert pair.access_expires_at == datetime.fromtimestamp(1000, tz=UTC)


@pytest.mark.parametrize("token", ["not-a-jwt", make_jwt(sub="no expiry")])
def test_an_access_token_without_a_readable_exp_is_a_protocol_error(token):
    with pytest.raises(ProtocolError):
        TokenPair.from_json({"token": token, "refreshToken": "r"})


def test_a_token_pair_without_refresh_token_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="refreshToken"):
        TokenPair.from_json({"token": make_jwt(exp=1800000000)})


def test_a_page_holds_its_rows_and_whether_more_follow():
    page = Page.from_json(
        {"data": [ALARM, ALARM], "totalPages": 3, "totalElements": 5, "hasNext": True},
        AlarmInfo.from_json,
    )
    assert [a.id for a in page.data] == [ALARM_ID, ALARM_ID]
    assert (page.total_pages, page.total_elements, page.has_next) == (3, 5, True)


def test_a_page_with_a_broken_row_is_a_protocol_error():
    broken = alarm()
    del broken["severity"]
    with pytest.raises(ProtocolError, match="severity"):
        Page.from_json(
            {"data": [ALARM, broken], "totalPages": 1, "totalElements": 2, "hasNext": False},
            AlarmInfo.from_json,
        )


def test_a_system_comment_tells_its_subtype_and_text():
    comment = AlarmComment.from_json(
        {
            "id": {"id": "1f2e3d4c-0000-4000-8000-000000000001"},
            "createdTime": 1700000500000,
            "alarmId": {"entityType": "ALARM", "id": ALARM_ID},
            "userId": {"entityType": "USER", "id": USER_ID},
            "type": "SYSTEM",
            "comment": {
                "text": "Alarm was acknowledged by user Olivia Ops",
                "subtype": "ACKED_BY_USER",
                "userName": "Olivia Ops",
            },
            "name": "{...}",
            "firstName": "Olivia",
            "lastName": "Ops",
            "email": "olivia.ops@thingsboard.org",
        }
    )
    assert comment.id == "1f2e3d4c-0000-4000-8000-000000000001"
    assert comment.alarm_id == ALARM_ID
    assert comment.user_id == USER_ID
    assert comment.type == "SYSTEM"
    assert comment.subtype == "ACKED_BY_USER"
    assert comment.text == "Alarm was acknowledged by user Olivia Ops"
    assert comment.comment["userName"] == "Olivia Ops"
    assert (comment.first_name, comment.last_name) == ("Olivia", "Ops")


def test_a_freshly_posted_comment_has_no_author_names_and_no_subtype():
    comment = AlarmComment.from_json(
        {
            "id": {"id": "1f2e3d4c-0000-4000-8000-000000000002"},
            "createdTime": 1700000600000,
            "alarmId": {"entityType": "ALARM", "id": ALARM_ID},
            "userId": {"entityType": "USER", "id": USER_ID},
            "type": "OTHER",
            "comment": {"text": "On my way."},
            "name": '{"text":"On my way."}',
        }
    )
    assert comment.text == "On my way."
    assert comment.subtype is None
    assert comment.email is None


def test_a_comment_deleted_by_a_user_has_no_author():
    comment = AlarmComment.from_json(
        {
            "id": {"id": "1f2e3d4c-0000-4000-8000-000000000003"},
            "createdTime": 1700000700000,
            "alarmId": {"entityType": "ALARM", "id": ALARM_ID},
            "userId": None,
            "type": "SYSTEM",
            "comment": {"text": "Comment was deleted by user Olivia Ops"},
        }
    )
    assert comment.user_id is None


def test_an_unassigned_device_has_no_customer():
    device = Entity.from_json(
        {
            "id": {"entityType": "DEVICE", "id": DEVICE_ID},
            "createdTime": 1690000000000,
            "tenantId": {"entityType": "TENANT", "id": TENANT_ID},
            "customerId": {"entityType": "CUSTOMER", "id": NULL_UUID},
            "name": "Thermostat U01",
            "type": "thermostat",
            "label": "Boiler room, HQ Office",
            "deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": TENANT_ID},
        }
    )
    assert device == Entity(
        "DEVICE", DEVICE_ID, "Thermostat U01", "Boiler room, HQ Office", "thermostat", None
    )


def test_telemetry_strings_become_numbers_and_booleans():
    series = TimeSeries.from_json(
        {
            "temperature": [{"ts": 2000, "value": "21.5"}, {"ts": 1000, "value": "19.0"}],
            "count": [{"ts": 1000, "value": "42"}],
            "negative": [{"ts": 1000, "value": "-3"}],
            "big": [{"ts": 1000, "value": "1.0E10"}],
            "open": [{"ts": 1000, "value": "true"}, {"ts": 2000, "value": "false"}],
            "state": [{"ts": 1000, "value": "on"}],
            "config": [{"ts": 1000, "value": '{"mode":"eco"}'}],
            "code": [{"ts": 1000, "value": "1_000"}],
        }
    )
    assert series["temperature"] == ((1000, 19.0), (2000, 21.5))
    assert series["count"][0].value == 42
    assert isinstance(series["count"][0].value, int)
    assert series["negative"][0].value == -3
    assert series["big"][0].value == 1e10
    assert [p.value for p in series["open"]] == [True, False]
    assert series["state"][0].value == "on"
    assert series["config"][0].value == '{"mode":"eco"}'
    assert series["code"][0].value == "1_000"


def test_strict_telemetry_values_are_kept_as_they_are():
    series = TimeSeries.from_json({"t": [{"ts": 1, "value": 21.5}, {"ts": 2, "value": True}]})
    assert [p.value for p in series["t"]] == [21.5, True]


def test_a_latest_key_never_written_keeps_its_none():
    series = TimeSeries.from_json({"humidity": [{"ts": 1700000000000, "value": None}]})
    assert series["humidity"] == ((1700000000000, None),)


def test_keys_without_data_are_absent():
    series = TimeSeries.from_json({})
    assert "temperature" not in series
    assert len(series) == 0


def test_a_reading_without_a_timestamp_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="ts"):
        TimeSeries.from_json({"temperature": [{"value": "21.5"}]})
