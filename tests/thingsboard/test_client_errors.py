"""How the client turns ThingsBoard's answers into typed errors, and when it tries again.

ThingsBoard is faked with `responses` here, for answers the simulator does not give on
demand (proxies' pages, odd statuses, broken bodies); test_client_against_simulator.py
covers the rest over a real socket.
"""

import socket
import threading
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import responses

from alarmdesk.thingsboard.client import ThingsBoardClient
from alarmdesk.thingsboard.errors import (
    AuthenticationFailed,
    BadRequest,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ThingsBoardError,
    TokenExpired,
    Unavailable,
)

BASE = "http://thingsboard.test:8080"
ALARM_ID = "8e0f7d44-1b5a-4c55-9e1e-0d3c6f2a9b10"
DEVICE_ID = "7d8c3142-6a8e-11ef-9c1e-2b1d7c0a4f11"
USER_ID = "9a1b2c3d-6a8e-11ef-9c1e-2b1d7c0a4f11"
TENANT_ID = "5b6a1f20-6a8e-11ef-9c1e-2b1d7c0a4f11"
NULL_UUID = "13814000-1dd2-11b2-8080-808080808080"

ACK_URL = f"{BASE}/api/alarm/{ALARM_ID}/ack"
USER_URL = f"{BASE}/api/auth/user"
ALARMS_URL = f"{BASE}/api/v2/alarms"
TELEMETRY_URL = f"{BASE}/api/plugins/telemetry/DEVICE/{DEVICE_ID}/values/timeseries"

USER = {
    "id": {"entityType": "USER", "id": USER_ID},
    "tenantId": {"entityType": "TENANT", "id": TENANT_ID},
    "customerId": {"entityType": "CUSTOMER", "id": NULL_UUID},
    "email": "tenant@thingsboard.org",
    "authority": "TENANT_ADMIN",
    "firstName": None,
    "lastName": None,
}
EMPTY_PAGE = {"data": [], "totalPages": 0, "totalElements": 0, "hasNext": False}


def tb_error(status, code, message):
    """ThingsBoard's error body (section 3.1)."""
    return {"status": status, "message": message, "errorCode": code, "timestamp": 1700000000000}


RATE_LIMITED = tb_error(429, 33, "Too many requests for current tenant!")


def make_jwt(**claims):
    return jwt.encode(claims, "not-thingsboards-key-" * 4, algorithm="HS512")


@pytest.fixture
def client():
    with ThingsBoardClient(BASE, token="the-access-token") as client:
        yield client


@pytest.fixture
def fake():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.mark.parametrize(
    ("status", "code", "message", "error_class"),
    [
        (401, 10, "Invalid username or password", AuthenticationFailed),
        (401, 10, "User account is not active", AuthenticationFailed),
        (401, 10, "User account is locked due to security policy", AuthenticationFailed),
        (401, 15, "User password expired!", AuthenticationFailed),
        (401, 11, "Token has expired", TokenExpired),
        (403, 20, "You don't have permission to perform this operation!", PermissionDenied),
        (404, 32, f"Alarm with id [{ALARM_ID}] is not found", NotFound),
        (400, 31, "Invalid UUID string: nope", BadRequest),
        (409, 35, "Version conflict", BadRequest),
        (429, 33, "Too many requests for current tenant!", RateLimited),
        (500, 2, "Internal server error", Unavailable),
        (500, 46, "Database error", Unavailable),
    ],
)
def test_each_thingsboard_error_becomes_its_typed_error(
    client, fake, status, code, message, error_class
):
    fake.post(ACK_URL, json=tb_error(status, code, message), status=status)
    with pytest.raises(error_class) as caught:
        client.acknowledge(ALARM_ID)
    assert isinstance(caught.value, ThingsBoardError)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        status,
        code,
        message,
    )


def test_only_unavailability_and_rate_limits_are_worth_trying_again():
    transient = {Unavailable, RateLimited}
    for error_class in (
        AuthenticationFailed,
        TokenExpired,
        PermissionDenied,
        NotFound,
        BadRequest,
        RateLimited,
        Unavailable,
        ProtocolError,
    ):
        assert error_class("x").permanent is (error_class not in transient), error_class


@pytest.mark.parametrize(
    ("message", "already"),
    [
        ("Alarm was already acknowledged!", "acknowledged"),
        ("Alarm was already cleared!", "cleared"),
        ("Alarm was already assigned to this user!", "assigned"),
        ("Alarm was already unassigned!", "unassigned"),
    ],
)
def test_an_action_already_done_is_told_apart_from_other_bad_requests(
    client, fake, message, already
):
    fake.post(ACK_URL, json=tb_error(400, 31, message), status=400)
    with pytest.raises(BadRequest) as caught:
        client.acknowledge(ALARM_ID)
    assert caught.value.already_done is True
    assert caught.value.already == already


def test_an_ordinary_bad_request_is_not_already_done(client, fake):
    fake.post(ACK_URL, json=tb_error(400, 31, "Invalid UUID string: nope"), status=400)
    with pytest.raises(BadRequest) as caught:
        client.acknowledge(ALARM_ID)
    assert caught.value.already_done is False
    assert caught.value.already is None


@pytest.mark.parametrize(
    ("status", "text", "error_class"),
    [
        (404, "Device with requested id wasn't found!", NotFound),
        (403, "You don't have permission to perform this operation!", PermissionDenied),
        (403, "System administrator is not allowed to perform this operation!", PermissionDenied),
        (400, "Incorrect TsKvQuery. Interval can't be less than 1", BadRequest),
    ],
)
def test_plain_text_telemetry_errors_keep_their_message(client, fake, status, text, error_class):
    fake.get(TELEMETRY_URL, body=text, status=status, content_type="text/plain;charset=UTF-8")
    with pytest.raises(error_class) as caught:
        client.latest("DEVICE", DEVICE_ID, ["temperature"])
    assert caught.value.message == text
    assert caught.value.code is None
    assert caught.value.status == status


def test_an_empty_500_from_telemetry_is_unavailable(client, fake):
    fake.get(TELEMETRY_URL, body="", status=500)
    with pytest.raises(Unavailable) as caught:
        client.latest("DEVICE", DEVICE_ID, ["temperature"])
    assert caught.value.message == "HTTP 500 Internal Server Error"
    assert len(fake.calls) == 1


def test_a_proxys_html_page_for_a_dead_thingsboard_is_unavailable_without_the_html(client, fake):
    page = "<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
    fake.get(USER_URL, body=page, status=502, content_type="text/html")
    with pytest.raises(Unavailable) as caught:
        client.current_user()
    assert caught.value.message == "HTTP 502 Bad Gateway"
    assert caught.value.status == 502


def test_an_answer_that_is_not_json_is_a_protocol_error(client, fake):
    fake.get(USER_URL, body="<html>Please sign in</html>", status=200, content_type="text/html")
    with pytest.raises(ProtocolError):
        client.current_user()


def test_json_without_the_fields_thingsboard_sends_is_a_protocol_error(client, fake):
    fake.get(USER_URL, json={"id": {"entityType": "USER", "id": USER_ID}})
    with pytest.raises(ProtocolError, match="email"):
        client.current_user()


def test_a_redirect_is_a_protocol_error_and_is_not_followed(client, fake):
    fake.post(ACK_URL, status=302, headers={"Location": "https://elsewhere.test/login"})
    with pytest.raises(ProtocolError):
        client.acknowledge(ALARM_ID)
    assert len(fake.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("Connection refused"), requests.ConnectTimeout("connect timeout")],
)
def test_a_connection_failure_is_unavailable_after_three_tries_of_a_get(client, fake, failure):
    fake.get(USER_URL, body=failure)
    with pytest.raises(Unavailable) as caught:
        client.current_user()
    assert caught.value.status is None
    assert len(fake.calls) == 3


def test_a_read_timeout_is_unavailable_at_once(client, fake):
    fake.get(USER_URL, body=requests.ReadTimeout("read timeout"))
    with pytest.raises(Unavailable):
        client.current_user()
    assert len(fake.calls) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_get_that_meets_a_passing_outage_succeeds_on_a_later_try(client, fake, status):
    fake.get(USER_URL, body="Service Unavailable", status=status)
    fake.get(USER_URL, body=requests.ConnectionError("Connection reset by peer"))
    fake.get(USER_URL, json=USER)
    assert client.current_user().email == "tenant@thingsboard.org"
    assert len(fake.calls) == 3


def test_a_get_gives_up_after_three_503s(client, fake):
    fake.get(USER_URL, body="Service Unavailable", status=503)
    with pytest.raises(Unavailable) as caught:
        client.current_user()
    assert caught.value.status == 503
    assert len(fake.calls) == 3


def test_a_rate_limited_get_is_tried_again_then_reported(client, fake):
    fake.get(ALARMS_URL, json=RATE_LIMITED, status=429)
    with pytest.raises(RateLimited):
        client.alarms(page=0, page_size=10)
    assert len(fake.calls) == 3


def test_a_rate_limited_get_succeeds_once_the_bucket_refills(client, fake):
    fake.get(ALARMS_URL, json=RATE_LIMITED, status=429)
    fake.get(ALARMS_URL, json=EMPTY_PAGE)
    assert client.alarms(page=0, page_size=10).data == ()
    assert len(fake.calls) == 2


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (400, 31, BadRequest),
        (401, 11, TokenExpired),
        (403, 20, PermissionDenied),
        (404, 32, NotFound),
        (500, 2, Unavailable),
    ],
)
def test_a_get_is_not_tried_again_on_answers_that_would_repeat(
    client, fake, status, code, error_class
):
    fake.get(USER_URL, json=tb_error(status, code, "no"), status=status)
    with pytest.raises(error_class):
        client.current_user()
    assert len(fake.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [
        {"body": "Service Unavailable", "status": 503},
        {"json": RATE_LIMITED, "status": 429},
        {"body": requests.ConnectionError("Connection reset by peer")},
    ],
)
def test_a_post_is_never_sent_twice(client, fake, failure):
    fake.post(ACK_URL, **failure)
    with pytest.raises((Unavailable, RateLimited)):
        client.acknowledge(ALARM_ID)
    assert len(fake.calls) == 1


def test_a_delete_is_never_sent_twice(client, fake):
    fake.delete(f"{BASE}/api/alarm/{ALARM_ID}/assign", body="Bad Gateway", status=502)
    with pytest.raises(Unavailable):
        client.unassign(ALARM_ID)
    assert len(fake.calls) == 1


def test_every_call_carries_the_token_and_a_timeout(client, fake):
    fake.get(USER_URL, json=USER)
    fake.post(ACK_URL, json=tb_error(400, 31, "Alarm was already acknowledged!"), status=400)
    client.current_user()
    with pytest.raises(BadRequest):
        client.acknowledge(ALARM_ID)
    for call in fake.calls:
        assert call.request.headers["X-Authorization"] == "Bearer the-access-token"
        assert call.request.req_kwargs["timeout"] == (3.05, 10)


def test_an_api_key_is_sent_as_thingsboard_expects_it(fake):
    fake.get(USER_URL, json=USER)
    with ThingsBoardClient(BASE, api_key="tb_sync_key", timeout=5) as client:
        client.current_user()
    assert fake.calls[0].request.headers["X-Authorization"] == "ApiKey tb_sync_key"
    assert fake.calls[0].request.req_kwargs["timeout"] == 5


def test_another_users_token_goes_with_their_calls_only(client, fake):
    fake.get(USER_URL, json=USER)
    other = client.with_token("someone-elses-token")
    other.current_user()
    client.current_user()
    sent = [call.request.headers["X-Authorization"] for call in fake.calls]
    assert sent == ["Bearer someone-elses-token", "Bearer the-access-token"]


def test_login_sends_no_token_and_reads_the_access_tokens_expiry(client, fake):
    token = make_jwt(sub="tenant@thingsboard.org", exp=1800000000)
    fake.post(f"{BASE}/api/auth/login", json={"token": token, "refreshToken": "refresh"})
    pair = client.login("tenant@thingsboard.org", "tenant")
    assert pair.token == token
    assert pair.refresh_token == "refresh"
    assert pair.access_expires_at == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
    assert "X-Authorization" not in fake.calls[0].request.headers


def test_an_access_token_without_exp_is_a_protocol_error(client, fake):
    fake.post(
        f"{BASE}/api/auth/login",
        json={"token": make_jwt(sub="tenant@thingsboard.org"), "refreshToken": "refresh"},
    )
    with pytest.raises(ProtocolError):
        client.login("tenant@thingsboard.org", "tenant")


def test_an_account_with_two_factor_authentication_cannot_sign_in(client, fake):
    fake.post(
        f"{BASE}/api/auth/login",
        json={"token": make_jwt(exp=1800000000), "scope": "PRE_VERIFICATION_TOKEN"},
    )
    with pytest.raises(AuthenticationFailed, match="two-factor"):
        client.login("tenant@thingsboard.org", "tenant")


def test_alarm_filters_are_sent_as_repeated_parameters(client, fake):
    fake.get(ALARMS_URL, json=EMPTY_PAGE)
    client.alarms(
        page=2,
        page_size=50,
        status_list=("ACTIVE", "UNACK"),
        severity_list=("CRITICAL", "MAJOR"),
        type_list=("High Temperature",),
        start_time=1700000000000,
    )
    query = parse_qs(urlsplit(fake.calls[0].request.url).query)
    assert query == {
        "page": ["2"],
        "pageSize": ["50"],
        "statusList": ["ACTIVE", "UNACK"],
        "severityList": ["CRITICAL", "MAJOR"],
        "typeList": ["High Temperature"],
        "startTime": ["1700000000000"],
        "sortProperty": ["createdTime"],
        "sortOrder": ["DESC"],
    }


def test_comments_are_asked_for_oldest_first(client, fake):
    fake.get(f"{BASE}/api/alarm/{ALARM_ID}/comment", json=EMPTY_PAGE)
    client.comments(ALARM_ID)
    query = parse_qs(urlsplit(fake.calls[0].request.url).query)
    assert query["sortProperty"] == ["createdTime"]
    assert query["sortOrder"] == ["ASC"]


def test_an_id_cannot_reach_another_endpoint(client, fake):
    fake.get(f"{BASE}/api/alarm/info/..%2Fauth%2Fuser", json=tb_error(400, 31, "bad"), status=400)
    with pytest.raises(BadRequest):
        client.alarm_info("../auth/user")


def test_logout_answers_nothing(client, fake):
    fake.post(f"{BASE}/api/auth/logout", body="")
    assert client.logout() is None


# --- whether a failed write may have been done ------------------------------------------


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_connection_says_the_write_never_arrived():
    client = ThingsBoardClient(f"http://127.0.0.1:{_closed_port()}", token="t")
    with pytest.raises(Unavailable) as caught:
        client.acknowledge(ALARM_ID)
    assert caught.value.delivered is False


def test_a_connection_dropped_after_the_request_was_sent_may_have_done_it():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def drop_after_reading():
            connection, _ = server.accept()
            connection.recv(65536)
            connection.close()

        thread = threading.Thread(target=drop_after_reading)
        thread.start()
        client = ThingsBoardClient(f"http://127.0.0.1:{server.getsockname()[1]}", token="t")
        with pytest.raises(Unavailable) as caught:
            client.acknowledge(ALARM_ID)
        thread.join(timeout=10)
    assert caught.value.delivered is True


def test_a_write_that_timed_out_may_have_been_done(client, fake):
    fake.post(ACK_URL, body=requests.ReadTimeout("read timeout"))
    with pytest.raises(Unavailable) as caught:
        client.acknowledge(ALARM_ID)
    assert caught.value.delivered is True
    assert len(fake.calls) == 1
