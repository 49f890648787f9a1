"""A changed refresh made once for everyone watching the same view (live.shared_refresh):
what is shared, and what never is (another scope, "me", a session's CSRF token)."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Alarm
from tests.alarms.test_views import ROW_ID, live_poll, tb_as
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT
from tests.oncall.test_oncall import cards, poll_url

pytestmark = pytest.mark.django_db(transaction=True)

OLIVIA = ("olivia.ops@thingsboard.org", "tenant")
HTMX = {"HX-Request": "true"}
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def alarm_scans(queries):
    return [q["sql"] for q in queries if 'FROM "alarms_alarm"' in q["sql"]]


def watch(client, path="/alarms/", query=None):
    """(refresh URL, headers) of the page `client` opens, as live.js would ask them."""
    page = client.get(path, query or {}).content.decode()
    if path == "/oncall/":
        shown = [alarm_id for _, alarm_id in cards(client.get(path))]
        return poll_url(page), HTMX | {"X-Alarm-Rows": " ".join(shown)}
    return live_poll(page), HTMX | {"X-Alarm-Rows": " ".join(ROW_ID.findall(page))}


def change(store, customer=None):
    """Acknowledge an active alarm (of `customer`, if given) in ThingsBoard and sync it."""
    alarms = Alarm.objects.filter(cleared=False, acknowledged=False)
    if customer:
        alarms = alarms.filter(customer_id=customer)
    alarm = alarms.order_by("severity_rank").first()
    tb_as(store, TENANT).post(f"/api/alarm/{alarm.id}/ack").raise_for_status()
    sync.run_cycle()
    return alarm


@pytest.fixture(autouse=True)
def _a_quiet_while(store):
    # Synced a minute ago: only what changes in the test is sent again.
    Alarm.objects.update(changed_at=timezone.now() - timedelta(minutes=1))


def followed(url, answer):
    """The next refresh URL after a delta: its `v` and `t`, as live.js takes them."""
    delta = re.search(r'<template id="alarm-delta"[^>]*>', answer.content.decode()).group(0)
    version = re.search(r'data-v="([^"]*)"', delta).group(1)
    drawn = re.search(r'data-t="([^"]*)"', delta).group(1)
    url = re.sub(r"([?&])v=[^&]*", rf"\g<1>v={version}", url)
    return re.sub(r"([?&])t=[^&]*", rf"\g<1>t={drawn}", url), drawn


@pytest.mark.parametrize("path", ["/alarms/", "/oncall/"])
def test_the_second_watcher_of_a_view_gets_the_answer_without_reading_the_store(
    own_client, store, path
):
    watchers = [
        (client, *watch(client, path)) for client in (own_client(TENANT), own_client(OLIVIA))
    ]
    change(store)
    # Their pages were drawn at different times: each refresh is its own, and tells both
    # the same time for the version, the first drawing of it.
    drawn, next_urls = set(), []
    for client, url, headers in watchers:
        url, t = followed(url, client.get(url, headers=headers))
        drawn.add(t)
        next_urls.append(url)
    assert len(drawn) == 1
    alarm = change(store)
    answers = []
    for (client, _, headers), url in zip(watchers, next_urls, strict=True):
        with CaptureQueriesContext(connection) as queries:
            answer = client.get(url, headers=headers)
        answer.scans = alarm_scans(queries)
        answers.append(answer)
    assert all(answer["X-Live-Delta"] == "1" for answer in answers)
    assert answers[0].scans
    if path == "/oncall/":
        assert str(alarm.id) not in answers[0].content.decode()  # acknowledged: it left
        # Only "Mine", each person's own, is read for each: not the waiting cards.
        waiting = re.compile(r'"acknowledged" = (0|false)\b', re.I)
        assert answers[1].scans
        assert not [sql for sql in answers[1].scans if waiting.search(sql)]
    else:
        assert str(alarm.id) in answers[0].content.decode()
        assert answers[1].scans == []
    shared = [CSRF.sub("", a.content.decode()).split('id="oncall-mine"')[0] for a in answers]
    assert shared[0] == shared[1]


def test_each_session_gets_its_own_csrf_token_in_a_shared_answer(own_client, store):
    first, second = own_client(TENANT), own_client(OLIVIA)
    asks = [watch(first, "/oncall/"), watch(second, "/oncall/")]
    new = Alarm.objects.filter(cleared=False, acknowledged=False).order_by("severity_rank")[1]
    Alarm.objects.filter(id=new.id).update(changed_at=timezone.now())
    store_version_moves(store)
    tokens = []
    for client, (url, headers) in zip((first, second), asks, strict=True):
        answer = client.get(url, headers=headers).content.decode()
        assert "csrf-token-of-the-session" not in answer
        tokens.append(CSRF.findall(answer)[0])
    # Each token is its own session's: the second session acts with it, through the CSRF check.
    second.handler.enforce_csrf_checks = True
    acted = second.post(
        "/oncall/", {"alarm": new.id, "action": "ack", "csrfmiddlewaretoken": tokens[1]}
    )
    assert acted.status_code == 302
    first.handler.enforce_csrf_checks = True
    other = Alarm.objects.filter(cleared=False, acknowledged=False).exclude(id=new.id).first()
    refused = first.post(
        "/oncall/", {"alarm": other.id, "action": "ack", "csrfmiddlewaretoken": "x" * 64}
    )
    assert refused.status_code == 403


def store_version_moves(store):
    """The tenant's change counter moves, as after a sync run that changed something."""
    from alarmdesk.alarms.store import scope_key
    from alarmdesk.redis_client import get_redis

    tenant_id = Alarm.objects.values_list("tenant_id", flat=True).first()
    get_redis().incr(scope_key("tenant", tenant_id))


def test_assigned_to_me_is_never_shared_between_people(own_client, store):
    tenant = tb_as(store, TENANT)
    alarm = Alarm.objects.filter(cleared=False, assignee_id=None).first()
    tenant.post(f"/api/alarm/{alarm.id}/assign/{tenant.me['id']['id']}").raise_for_status()
    sync.run_cycle()
    query = {"status": "ANY", "assignee": "me"}
    mine, theirs = own_client(TENANT), own_client(OLIVIA)
    asks = [watch(mine, query=query), watch(theirs, query=query)]
    change(store)
    mine_answer = mine.get(asks[0][0], headers=asks[0][1]).content.decode()
    theirs_answer = theirs.get(asks[1][0], headers=asks[1][1]).content.decode()
    assert mine_answer != theirs_answer
    assert str(alarm.id) not in theirs_answer


def test_customers_never_share_an_answer(own_client, store):
    a, b = own_client(CUSTOMER_A), own_client(CUSTOMER_B)
    asks = [watch(a), watch(b)]
    for client in (a, b):  # a change in each customer's scope
        change(store, customer=_customer_of(client))
    for client, (url, headers) in zip((a, b), asks, strict=True):
        answer = client.get(url, headers=headers)
        assert answer["X-Live-Delta"] == "1"
        own = Alarm.objects.filter(customer_id=_customer_of(client)).values_list("id", flat=True)
        assert set(ROW_ID.findall(answer.content.decode())) <= {str(i) for i in own}


def _customer_of(client):
    from django.contrib.sessions.backends.db import SessionStore

    from alarmdesk.accounts.tokens import SESSION_KEY

    data = SessionStore(session_key=client.cookies["sessionid"].value).load()
    return data[SESSION_KEY]["user"]["customer_id"]
