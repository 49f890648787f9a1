"""The list's counts: right for the store at each scope version, counted once per version
(the sync counts each scope it changed, so pages do not), never shared between scopes or
users, still right with Redis down, and bounded, in words, where a filter matches many."""

import re
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alarmdesk.alarms import counts, sync
from alarmdesk.alarms.models import SEVERITIES, Alarm
from tests.alarms.conftest import PROPOSED_JOB
from tests.alarms.test_views import ROW_ID, listed, live_poll, tb_as
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


def test_with_redis_down_the_counts_are_still_right(as_user, redis_down):
    client = as_user(TENANT)
    for status in ("ACTIVE", "ANY"):
        assert chips(client.get("/alarms/", {"status": status})) == stored_counts(status)
    searched = client.get("/alarms/", {"status": "ANY", "q": "temperature"})
    assert chips(searched) == stored_counts("ANY", keep=matches("temperature"))


def matches(text):
    def keep(alarm):
        words = " ".join([alarm.type, alarm.originator_name, alarm.originator_label or ""])
        return text.lower() in words.lower()

    return keep


def test_a_search_is_counted_and_listed_once_per_scope_version(as_user, store):
    client = as_user(TENANT)
    first, scans = rendered(client, "/alarms/", status="ANY", q="temperature")
    assert scans
    second, scans = rendered(client, "/alarms/", status="ANY", q="temperature")
    assert scans == []
    assert listed(second) == listed(first)
    assert chips(second) == chips(first) == stored_counts("ANY", keep=matches("temperature"))


def an_active_unacknowledged_alarm():
    return Alarm.objects.filter(cleared=False, acknowledged=False, deleted=False).first()


def test_a_search_follows_a_change_that_takes_an_alarm_out_of_it(as_user, store):
    client = as_user(TENANT)
    alarm = an_active_unacknowledged_alarm()
    text = alarm.type[:6].lower()
    query = {"status": "UNACK", "q": text, "sort": "-created"}
    assert str(alarm.id) in listed(client.get("/alarms/", query))
    tb_as(store, TENANT).post(f"/api/alarm/{alarm.id}/ack").raise_for_status()
    sync.run_cycle()

    response = client.get("/alarms/", query)
    assert str(alarm.id) not in listed(response)
    assert chips(response) == stored_counts("UNACK", keep=matches(text))


def test_a_live_refresh_of_a_search_sends_the_rows_that_changed(as_user, store):
    client = as_user(TENANT)
    Alarm.objects.update(changed_at=timezone.now() - timedelta(hours=1))  # a quiet while
    alarm = an_active_unacknowledged_alarm()
    page = client.get("/alarms/", {"q": alarm.type[:6].lower()}).content.decode()
    shown = ROW_ID.findall(page)
    assert str(alarm.id) in shown
    tb_as(store, TENANT).post(f"/api/alarm/{alarm.id}/ack").raise_for_status()
    sync.run_cycle()

    headers = {"HX-Request": "true", "X-Alarm-Rows": " ".join(shown)}
    answer = client.get(live_poll(page), headers=headers)
    assert answer["X-Live-Delta"] == "1"
    assert ROW_ID.findall(answer.content.decode()) == [str(alarm.id)]


def test_assigned_to_me_is_counted_for_each_user_not_shared(as_user, store):
    tenant = tb_as(store, TENANT)
    alarm = Alarm.objects.filter(cleared=False, assignee_id=None).first()
    tenant.post(f"/api/alarm/{alarm.id}/assign/{tenant.me['id']['id']}").raise_for_status()
    sync.run_cycle()
    query = {"status": "ANY", "assignee": "me"}

    mine = listed(as_user(TENANT).get("/alarms/", query))
    theirs = as_user(OLIVIA).get("/alarms/", query)

    assert str(alarm.id) in mine
    assert str(alarm.id) not in listed(theirs)
    olivia = tb_as(store, OLIVIA).me["id"]["id"]
    assert (
        sum(chips(theirs).values())
        == Alarm.objects.filter(assignee_id=olivia, deleted=False).count()
    )


def test_a_count_past_the_bound_says_so_and_the_bulk_action_states_the_exact_number(
    as_user, monkeypatch
):
    monkeypatch.setattr(counts, "BOUND", 3)
    client = as_user(TENANT)
    query = {"status": "ANY", "q": "temperature"}
    exact = sum(stored_counts("ANY", keep=matches("temperature")).values())
    assert exact > 3

    response = client.get("/alarms/", query)

    page = response.content.decode()
    assert "3+ alarms (counting stops there)" in SUMMARY.search(page).group(0)
    assert set(chips(response).values()) == {None}  # no count it does not know
    assert "Apply to all 3+ matching" in page
    proposal = client.post("/alarms/bulk/", {"action": "ack", "all": "1", **query})
    assert f"Acknowledge {exact} alarms?" in proposal.content.decode()
    assert PROPOSED_JOB.findall(proposal.content.decode())


def test_a_bound_count_under_the_bound_is_exact(as_user, monkeypatch):
    client = as_user(TENANT)
    query = {"status": "ANY", "q": "temperature"}
    exact = stored_counts("ANY", keep=matches("temperature"))
    monkeypatch.setattr(counts, "BOUND", sum(exact.values()))

    response = client.get("/alarms/", query)

    assert chips(response) == exact
    assert f"{sum(exact.values())} alarms" in SUMMARY.search(response.content.decode()).group(0)


def test_a_page_past_the_bound_is_still_listed(as_user, monkeypatch):
    monkeypatch.setattr(counts, "BOUND", 3)
    client = as_user(TENANT)
    query = {"status": "ANY", "q": "e", "sort": "-created"}
    everything = Alarm.objects.filter(deleted=False).order_by("-start_ts", "id")
    expected = [str(a.id) for a in everything if matches("e")(a)]
    assert len(expected) > 50

    second = client.get("/alarms/", {**query, "page": 2})

    assert listed(second) == expected[50:100]
    assert 'rel="prev"' in second.content.decode()


def test_a_capped_count_still_offers_the_next_page(as_user, monkeypatch):
    monkeypatch.setattr(counts, "BOUND", 50)
    client = as_user(TENANT)
    assert sum(map(matches("e"), Alarm.objects.filter(deleted=False))) > 50

    page = client.get("/alarms/", {"status": "ANY", "q": "e"}).content.decode()

    summary = " ".join(SUMMARY.search(page).group(0).split())
    assert "50+ alarms (counting stops there), page 1 of 2+" in summary
    assert 'rel="next"' in page


def test_watchers_of_one_view_share_one_read_of_its_page_per_version(own_client, store):
    """A refresh that re-renders reads what the page holds now once per version of the
    scope, for everyone watching the same view: the first watcher's refresh reads it, the
    second's (another person of the scope) does not."""
    watchers = []
    for persona in (TENANT, OLIVIA):
        client = own_client(persona)
        page = client.get("/alarms/").content.decode()
        watchers.append((client, page))
    alarm = an_active_unacknowledged_alarm()
    tb_as(store, TENANT).post(f"/api/alarm/{alarm.id}/ack").raise_for_status()
    sync.run_cycle()
    reads = []
    for client, page in watchers:
        headers = {"HX-Request": "true", "X-Alarm-Rows": " ".join(ROW_ID.findall(page))}
        with CaptureQueriesContext(connection) as queries:
            answer = client.get(live_poll(page), headers=headers)
        assert answer["X-Live-Delta"] == "1"
        reads.append(sum("LIMIT 50" in q["sql"] for q in queries))
    assert reads == [1, 0]
