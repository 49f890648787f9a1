"""Token refresh: before `exp`, after a 401 code 11, and back to sign-in when it fails."""

import time

import pytest
from django.test import RequestFactory

from alarmdesk.accounts import tokens
from alarmdesk.accounts.middleware import ThingsBoardSessionMiddleware
from alarmdesk.tbsim.app import Options
from alarmdesk.tbsim.server import RunningSimulator
from tests.conftest import TENANT


@pytest.fixture
def short_lived_tb(settings, db):
    """A simulator whose access tokens live 2 s and refresh tokens 4 s."""
    with RunningSimulator(Options(scenario="empty", token_ttl=2, refresh_ttl=4)) as running:
        settings.TB_URL = running.url
        yield running


def signed_in_request(client):
    client.post("/login/", {"username": TENANT[0], "password": TENANT[1]})
    request = RequestFactory().get("/somewhere?x=1")
    request.session = client.session
    return request


def test_an_expiring_token_is_refreshed_without_the_user_noticing(client, short_lived_tb):
    request = signed_in_request(client)
    first = request.session[tokens.SESSION_KEY]["token"]
    time.sleep(2.5)
    user = tokens.tb_call(request, lambda tb: tb.current_user())
    assert user.email == TENANT[0]
    assert request.session[tokens.SESSION_KEY]["token"] != first


def test_a_token_expired_at_thingsboard_is_refreshed_once_and_retried(client, short_lived_tb):
    request = signed_in_request(client)
    # Pretend the token is good for an hour: only ThingsBoard's 401 code 11 reveals it.
    request.session[tokens.SESSION_KEY]["expires_at"] = time.time() + 3600
    time.sleep(2.5)
    assert tokens.tb_call(request, lambda tb: tb.current_user()).email == TENANT[0]


def test_an_expired_refresh_token_sends_the_user_back_to_sign_in(client, short_lived_tb):
    request = signed_in_request(client)
    time.sleep(4.5)
    with pytest.raises(tokens.SignInRequired):
        tokens.tb_call(request, lambda tb: tb.current_user())
    assert tokens.SESSION_KEY not in request.session


def test_sign_in_required_becomes_a_redirect_back_to_the_page(rf):
    request = rf.get("/somewhere?x=1")
    middleware = ThingsBoardSessionMiddleware(lambda r: None)
    request._messages = type("M", (), {"add": lambda *a, **k: None})()
    response = middleware.process_exception(request, tokens.SignInRequired("gone"))
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Fsomewhere%3Fx%3D1"
