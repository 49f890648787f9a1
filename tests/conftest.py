"""Shared fixtures: a ThingsBoard simulator on a real socket, and its demo personas."""

import pytest
import requests

from alarmdesk.tbsim.app import Options
from alarmdesk.tbsim.server import RunningSimulator

TENANT = ("tenant@thingsboard.org", "tenant")
CUSTOMER_A = ("customerA@thingsboard.org", "customer")
CUSTOMER_B = ("customerB@thingsboard.org", "customer")
CUSTOMER_C = ("customerC@thingsboard.org", "customer")
SYSADMIN = ("sysadmin@thingsboard.org", "sysadmin")
OTHER_TENANT = ("tenant2@thingsboard.org", "tenant")


@pytest.fixture(scope="session")
def tbsim_server():
    """One demo simulator for the session, without its live generator (tests drive it)."""
    with RunningSimulator(Options(scenario="demo")) as running:
        yield running


@pytest.fixture
def tbsim(tbsim_server):
    """The session simulator, reset to its demo state before the test."""
    requests.post(f"{tbsim_server.url}/sim/reset", timeout=10).raise_for_status()
    return tbsim_server


class TbSession(requests.Session):
    """A requests session signed in to the simulator as one persona."""

    def __init__(self, base_url, credentials):
        super().__init__()
        self.base_url = base_url
        answer = self.post(
            f"{base_url}/api/auth/login",
            json={"username": credentials[0], "password": credentials[1]},
            timeout=10,
        )
        answer.raise_for_status()
        self.tokens = answer.json()
        self.headers["X-Authorization"] = f"Bearer {self.tokens['token']}"
        self.me = self.get(f"{base_url}/api/auth/user", timeout=10).json()

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", 10)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def sign_in(tbsim):
    """sign_in(TENANT) -> a requests session with that persona's token."""
    sessions = []

    def make(credentials):
        session = TbSession(tbsim.url, credentials)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()
