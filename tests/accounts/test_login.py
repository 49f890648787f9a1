"""Signing in to AlarmDesk with a ThingsBoard account, against the simulator."""

import pytest
import requests
from django.contrib.sessions.models import Session

from tests.conftest import CUSTOMER_A, CUSTOMER_B, CUSTOMER_C, OTHER_TENANT, SYSADMIN, TENANT


def sign_in(client, credentials, next_url=None):
    data = {"username": credentials[0], "password": credentials[1]}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login/", data)


def stored_tokens(client):
    session = Session.objects.get(session_key=client.session.session_key)
    return session.get_decoded()["thingsboard"]


@pytest.mark.parametrize("persona", [TENANT, CUSTOMER_A, CUSTOMER_B, CUSTOMER_C])
def test_each_demo_persona_signs_in_and_sees_who_they_are(client, dashboard, persona):
    response = sign_in(client, persona)
    assert response.status_code == 302
    assert response["Location"] == "/alarms/"
    page = client.get("/alarms/")
    assert persona[0] in page.content.decode()


def test_the_session_holds_the_token_pair_expiry_and_the_users_scope(client, dashboard):
    sign_in(client, CUSTOMER_A)
    stored = stored_tokens(client)
    assert stored["token"]
    assert stored["refresh_token"]
    assert stored["expires_at"] > 0
    assert stored["user"]["authority"] == "CUSTOMER_USER"
    assert stored["user"]["customer_id"]
    assert stored["user"]["tenant_id"]


def test_signing_in_cycles_the_session_key(client, dashboard):
    client.get("/login/")
    client.session.save()
    before = client.session.session_key
    sign_in(client, TENANT)
    assert client.session.session_key != before


def test_the_token_never_reaches_the_browser(client, dashboard):
    response = sign_in(client, TENANT)
    token = stored_tokens(client)["token"]
    refresh = stored_tokens(client)["refresh_token"]
    page = client.get("/alarms/")
    for cookie in list(response.cookies.values()) + list(client.cookies.values()):
        assert token not in cookie.value
        assert refresh not in cookie.value
    assert token not in page.content.decode()
    assert refresh not in page.content.decode()


def test_wrong_password_gets_a_clear_message_and_no_session(client, dashboard):
    response = sign_in(client, (TENANT[0], "wrong"))
    assert response.status_code == 200
    assert "Wrong email or password" in response.content.decode()
    assert "thingsboard" not in client.session


def test_blank_fields_are_asked_for_again_without_calling_thingsboard(client, dashboard):
    requests.post(f"{dashboard.url}/sim/stats/reset", timeout=5)
    response = client.post("/login/", {"username": "", "password": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert requests.get(f"{dashboard.url}/sim/stats", timeout=5).json()["total"] == 0


def test_a_system_administrator_learns_why_there_is_nothing_to_see(client, dashboard):
    response = sign_in(client, SYSADMIN)
    assert response.status_code == 200
    assert "No alarms for system administrators" in response.content.decode()
    assert "thingsboard" not in client.session


def test_a_user_of_another_tenant_is_refused(client, dashboard):
    response = sign_in(client, OTHER_TENANT)
    assert response.status_code == 403
    assert "another ThingsBoard tenant" in response.content.decode()
    assert "thingsboard" not in client.session


def test_a_disabled_account_is_told_so(client, dashboard):
    requests.post(f"{dashboard.url}/sim/users/{CUSTOMER_B[0]}/disable", timeout=5)
    response = sign_in(client, CUSTOMER_B)
    assert "disabled or locked" in response.content.decode()


def test_an_account_locked_by_thingsboards_security_policy_is_told_so(client, dashboard, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 10  # ThingsBoard's lockout comes first here
    requests.post(f"{dashboard.url}/sim/security", json={"maxFailedLoginAttempts": 2}, timeout=5)
    for _ in range(3):
        sign_in(client, (CUSTOMER_C[0], "wrong"))
    response = sign_in(client, CUSTOMER_C)  # the right password, too late
    assert "disabled or locked" in response.content.decode()
    assert "thingsboard" not in client.session


def test_thingsboard_down_is_a_clear_message_not_a_500(client, dashboard):
    requests.post(f"{dashboard.url}/sim/faults", json={"outage": True}, timeout=5)
    response = sign_in(client, TENANT)
    assert response.status_code == 503
    assert "ThingsBoard cannot be reached" in response.content.decode()


def test_thingsboard_too_slow_is_a_clear_message(client, dashboard, settings):
    settings.TB_TIMEOUT = (1, 0.5)
    requests.post(f"{dashboard.url}/sim/faults", json={"latency_ms": 1500}, timeout=5)
    response = sign_in(client, TENANT)
    assert response.status_code == 503
    assert "ThingsBoard cannot be reached" in response.content.decode()


def test_next_is_honoured_after_signing_in(client, dashboard):
    response = sign_in(client, TENANT, next_url="/healthz")
    assert response["Location"] == "/healthz"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x"])
def test_next_pointing_off_site_is_ignored(client, dashboard, target):
    response = sign_in(client, TENANT, next_url=target)
    assert response["Location"] == "/alarms/"


def test_a_page_asks_for_sign_in_and_remembers_where_the_user_was(client, dashboard):
    response = client.get("/alarms/?status=ANY")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Falarms%2F%3Fstatus%3DANY"


def test_htmx_requests_get_hx_redirect_instead_of_a_login_page(client, dashboard):
    response = client.get(
        "/alarms/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/alarms/"}
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/login/?next=")


def test_signing_out_makes_the_old_token_useless_at_thingsboard(client, dashboard):
    sign_in(client, TENANT)
    token = stored_tokens(client)["token"]
    response = client.post("/logout/")
    assert response["Location"] == "/login/"
    answer = requests.get(
        f"{dashboard.url}/api/auth/user", headers={"X-Authorization": f"Bearer {token}"}, timeout=5
    )
    assert answer.status_code == 401
    assert answer.json()["errorCode"] == 11
    assert client.get("/alarms/").status_code == 302


def test_sign_out_requires_post(client, dashboard):
    sign_in(client, TENANT)
    assert client.get("/logout/").status_code == 405


def test_a_refused_sync_account_is_said_to_be_a_configuration_problem(client, dashboard, settings):
    settings.TB_SYNC_PASSWORD = "not-the-password"
    response = sign_in(client, CUSTOMER_A)
    assert response.status_code == 503
    assert "TB_SYNC_USERNAME" in response.content.decode()
    assert "thingsboard" not in client.session


def test_signing_in_rotates_the_csrf_token(client, dashboard):
    client.get("/login/")
    before = client.cookies["csrftoken"].value
    sign_in(client, TENANT)
    assert client.cookies["csrftoken"].value != before


def test_a_session_whose_refresh_is_refused_cannot_read_the_store(client, dashboard):
    sign_in(client, TENANT)
    session = client.session
    session["thingsboard"]["expires_at"] = 0  # expired
    session["thingsboard"]["refresh_token"] = "revoked"
    session.save()
    for page in ("/alarms/", "/oncall/", "/history/?format=csv"):
        assert client.get(page)["Location"].startswith("/login/?next=")
        sign_in(client, TENANT)
        session = client.session
        session["thingsboard"]["expires_at"] = 0
        session["thingsboard"]["refresh_token"] = "revoked"
        session.save()
