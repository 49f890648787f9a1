"""The list's counts: right for the store at each scope version, counted once per version
(the sync counts each scope it changed, so pages do not), never shared between scopes,
still right with Redis down."""

import re
import socket
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import SEVERITIES, Alarm
from tests.alarms.test_views import tb_as
from tests.conftest import CUSTOMER_A, TENANT

OLIVIA = ("olivia.ops@thingsboard.org", "tenant")
CHIP = re.compile(r'<span class="chip-word">(\w+)</span>(?: <strong>(\d+)</strong>)?')
SUMMARY = re.compile(r'<p class="as-of" id="list-summary">.*?</p>', re.S)
STATUS_KEEPS = {
    "ACTIVE": lambda a: not a.cleared,
    "ANY": lambda a: True,
    "CLEARED": lambda a: a.cleared,
    "ACK": lambda a: a.acknowledged,
    "UNACK": lambda a: not a.acknowledged,
}


def chips(response):
    """{severity: the count its chip shows, or None when it shows none}."""
    assert response.status_code == 200, response.content.decode()[:2000]
    found = CHIP.findall(response.content.decode())
    return {word.upper(): None if n == "" else int(n) for word, n in found}


def stored_counts(status="ANY", customer_id=None, keep=lambda a: True):
    """{severity: alarms} of the store, stated without the code under test."""
    alarms = Alarm.objects.filter(deleted=False)
    if customer_id:
        alarms = alarms.filter(customer_id=customer_id)
    found = Counter(a.severity for a in alarms if STATUS_KEEPS[status](a) and keep(a))
    return {severity: found.get(severity, 0) for severity in SEVERITIES}


def alarm_scans(queries):
    """The statements that read many alarms: a count over them, or a text search."""
    return [
        q["sql"]
        for q in queries
        if 'FROM "alarms_alarm"' in q["sql"] and ("COUNT(" in q["sql"] or " LIKE " in q["sql"])
    ]


def rendered(client, url, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    return response, alarm_scans(queries.captured_queries)


@pytest.mark.parametrize("status", ["ACTIVE", "ANY", "CLEARED", "ACK", "UNACK"])
def test_each_status_shows_the_stores_counts_per_severity(as_user, status):
    client = as_user(TENANT)
    assert chips(client.get("/alarms/", {"status": status})) == stored_counts(status)


def test_the_sync_has_counted_the_scope_so_no_page_counts(as_user, store):
    client = as_user(TENANT)
    response, scans = rendered(client, "/alarms/", status="ANY")
    assert chips(response) == stored_counts("ANY")
    assert scans == []  # counted by the sync run that filled the store


def test_a_second_render_of_the_same_scope_version_counts_nothing(as_user, redis_server):
    client = as_user(TENANT)
    redis_server.flushall()  # nothing counted yet: the first page counts
    first, scans = rendered(client, "/alarms/", status="ANY")
    assert scans
    second, scans = rendered(client, "/alarms/", status="ANY")
    assert scans == []
    assert chips(second) == chips(first) == stored_counts("ANY")


def test_counts_follow_each_change_the_sync_brings(as_user, store):
    client = as_user(TENANT)
    before = chips(client.get("/alarms/", {"status": "UNACK"}))
    alarm = Alarm.objects.filter(cleared=False, acknowledged=False, deleted=False).first()
    tb_as(store, TENANT).post(f"/api/alarm/{alarm.id}/ack").raise_for_status()
    sync.run_cycle()

    response, scans = rendered(client, "/alarms/", status="UNACK")
    after = chips(response)
    assert after == stored_counts("UNACK")
    assert after[alarm.severity] == before[alarm.severity] - 1
    assert scans == []  # the sync counted the new version too


def test_a_customer_is_counted_over_their_own_alarms_only(as_user, store):
    as_user(TENANT).get("/alarms/", {"status": "ANY"})  # the tenant's counts, in the cache
    client = as_user(CUSTOMER_A)
    mine = tb_as(store, CUSTOMER_A).me["customerId"]["id"]
    response, scans = rendered(client, "/alarms/", status="ANY")
    assert chips(response) == stored_counts("ANY", mine)
    assert stored_counts("ANY", mine) != stored_counts("ANY")
    assert scans == []  # counted for customer A by the sync run that brought their alarms


def test_with_redis_down_the_counts_are_still_right(as_user, settings):
    client = as_user(TENANT)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
    settings.REDIS_URL = url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    for status in ("ACTIVE", "ANY"):
        assert chips(client.get("/alarms/", {"status": status})) == stored_counts(status)
    searched = client.get("/alarms/", {"status": "ANY", "q": "temperature"})
    assert chips(searched) == stored_counts("ANY", keep=matches("temperature"))


def matches(text):
    def keep(alarm):
        words = " ".join([alarm.type, alarm.originator_name, alarm.originator_label or ""])
        return text.lower() in words.lower()

    return keep
