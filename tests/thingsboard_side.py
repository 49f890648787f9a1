"""ThingsBoard's side of the tests, without Django: the demo personas, a session signed in
to the simulator, alarms raised in it. tests/conftest.py re-exports them; the benches and
tests/topology.py use them without a configured Django."""

import socket

import requests

TENANT = ("tenant@thingsboard.org", "tenant")
CUSTOMER_A = ("customerA@thingsboard.org", "customer")
CUSTOMER_B = ("customerB@thingsboard.org", "customer")
CUSTOMER_C = ("customerC@thingsboard.org", "customer")
SYSADMIN = ("sysadmin@thingsboard.org", "sysadmin")
OTHER_TENANT = ("tenant2@thingsboard.org", "tenant")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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

    def alarms(self, **params):
        """{id: AlarmInfo JSON} of every alarm ThingsBoard lists to this persona (all pages)."""
        found, page = {}, 0
        while True:
            query = {"page": page, "pageSize": 1000, "sortProperty": "createdTime", **params}
            answer = self.get("/api/v2/alarms", params=query).json()
            found.update((row["id"]["id"], row) for row in answer["data"])
            if not answer["hasNext"]:
                return found
            page += 1

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", 10)
        return super().request(method, url, *args, **kwargs)


def raise_alarm(tbsim, alarm_type, severity, device=None):
    """An alarm raised in the simulator (through its /sim/ control) on `device`, by default
    the tenant's first device; its id. The store learns of it at the next sync."""
    if device is None:
        infos = TbSession(tbsim.url, TENANT).get(
            "/api/tenant/deviceInfos", params={"page": 0, "pageSize": 1}
        )
        device = infos.json()["data"][0]["name"]
    body = {"device": device, "type": alarm_type, "severity": severity}
    answer = requests.post(f"{tbsim.url}/sim/alarms", json=body, timeout=5)
    answer.raise_for_status()
    return answer.json()["id"]["id"]


def thingsboard_alarm_ids(tbsim, persona, **params):
    """The ids of the alarms ThingsBoard itself lists to that persona."""
    with TbSession(tbsim.url, persona) as session:
        return set(session.alarms(**params))
