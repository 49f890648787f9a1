"""/oncall/: the waiting alarms of the user's scope, acknowledge and claim, attention."""

import re

import pytest

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import SEVERITY_RANK, Alarm, AuditEntry
from alarmdesk.oncall.models import Preference
from tests.alarms.conftest import sim
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT, TbSession

CARD = re.compile(
    r'<article id="oncall-[^"]+" class="oncall-card sev-(\w+)" data-alarm-id="([^"]+)"'
)


def poll_url(page):
    """What live.js asks: the section's hx-get with `v` and `t` from its data-v and data-t."""
    section = re.search(r'<section id="oncall-list"[^>]*>', page).group(0)
    version = re.search(r'data-v="([^"]*)"', section).group(1)
    drawn = re.search(r'data-t="([^"]*)"', section).group(1)
    return f"/oncall/?v={version}&t={drawn}"


def cards(response):
    assert response.status_code == 200
    return [
        (severity.upper(), alarm_id)
        for severity, alarm_id in CARD.findall(response.content.decode())
    ]


@pytest.mark.parametrize("persona", [TENANT, CUSTOMER_A, CUSTOMER_B])
def test_waiting_alarms_of_the_scope_most_severe_and_oldest_first(as_user, store, persona):
    client = as_user(persona)
    shown = cards(client.get("/oncall/"))
    session = TbSession(store.url, persona)
    waiting = session.get(
        "/api/v2/alarms",
        params={"page": 0, "pageSize": 500, "statusList": ["ACTIVE", "UNACK"]},
    ).json()["data"]
    assert {alarm_id for _, alarm_id in shown} == {a["id"]["id"] for a in waiting}
    order = [(SEVERITY_RANK[s], Alarm.objects.get(id=i).start_ts) for s, i in shown]
    assert order == sorted(order)


def test_the_count_is_in_the_title(as_user):
    client = as_user(TENANT)
    count = Alarm.objects.filter(cleared=False, acknowledged=False).count()
    assert f"<title>({count}) On-call" in client.get("/oncall/").content.decode()


def test_acknowledge_in_one_tap(as_user, store):
    client = as_user(CUSTOMER_A)
    _, alarm_id = cards(client.get("/oncall/"))[0]
    response = client.post(
        "/oncall/", {"alarm": alarm_id, "action": "ack"}, headers={"HX-Request": "true"}
    )
    assert "Acknowledged." in response.content.decode()
    tb = TbSession(store.url, TENANT)
    assert tb.get(f"/api/alarm/info/{alarm_id}").json()["acknowledged"]
    assert alarm_id not in dict(map(reversed, cards(client.get("/oncall/"))))
    assert AuditEntry.objects.get().action == "ack"


def test_claim_acknowledges_assigns_to_me_and_posts_the_note(as_user, store):
    client = as_user(TENANT)
    _, alarm_id = cards(client.get("/oncall/"))[-1]
    response = client.post(
        "/oncall/", {"alarm": alarm_id, "action": "claim", "text": "Driving there"}
    )
    assert response.status_code == 302
    tb = TbSession(store.url, TENANT)
    info = tb.get(f"/api/alarm/info/{alarm_id}").json()
    assert info["acknowledged"]
    assert info["assignee"]["email"] == TENANT[0]
    comments = tb.get(f"/api/alarm/{alarm_id}/comment", params={"page": 0, "pageSize": 50}).json()
    assert any(c["comment"].get("text") == "Driving there" for c in comments["data"])
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "ack",
        "assign",
        "comment",
    ]
    alarm = Alarm.objects.get(id=alarm_id)
    assert alarm.acknowledged_by == TENANT[0]


def test_a_claim_when_thingsboard_is_down_keeps_the_note(as_user, store):
    client = as_user(TENANT)
    _, alarm_id = cards(client.get("/oncall/"))[0]
    sim(store, "/sim/faults", {"outage": True})
    response = client.post(
        "/oncall/",
        {"alarm": alarm_id, "action": "claim", "text": "Driving there"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert "could not be reached" in html
    assert "Driving there</textarea>" in html


def test_another_customers_alarm_cannot_be_claimed(as_user, store):
    client = as_user(CUSTOMER_A)
    _, theirs = cards(as_user(CUSTOMER_B).get("/oncall/"))[0]
    client = as_user(CUSTOMER_A)
    assert client.post("/oncall/", {"alarm": theirs, "action": "claim"}).status_code == 404
    assert not AuditEntry.objects.exists()


def test_an_unchanged_refresh_is_a_204(as_user, store):
    client = as_user(TENANT)
    page = client.get("/oncall/").content.decode()
    poll = poll_url(page)
    assert client.get(poll, headers={"HX-Request": "true"}).status_code == 204
    device = (
        TbSession(store.url, TENANT)
        .get("/api/tenant/deviceInfos", params={"page": 0, "pageSize": 1})
        .json()["data"][0]
    )
    sim(
        store,
        "/sim/alarms",
        {"device": device["name"], "type": "Wakes You", "severity": "CRITICAL"},
    )
    sync.run_cycle()
    refreshed = client.get(poll, headers={"HX-Request": "true"})
    assert refreshed.status_code == 200
    assert "Wakes You" in refreshed.content.decode()


def test_attention_preferences_are_remembered_per_user(as_user):
    client = as_user(TENANT)
    client.post("/oncall/", {"action": "preferences", "muted": "on", "sounds": ["CRITICAL"]})
    page = client.get("/oncall/").content.decode()
    assert 'data-muted="true"' in page
    assert 'data-sounds="CRITICAL"' in page
    other = as_user(CUSTOMER_A).get("/oncall/").content.decode()
    assert 'data-muted="false"' in other
    assert Preference.objects.count() == 1


def test_preferences_not_understood_are_refused_in_words_and_change_nothing(as_user):
    client = as_user(TENANT)
    client.post("/oncall/", {"action": "preferences", "muted": "on", "sounds": ["CRITICAL"]})

    answer = client.post(
        "/oncall/",
        {"action": "preferences", "sounds": ["PURPLE"]},
        headers={"HX-Request": "true"},
    )

    assert "were not understood, so nothing was saved" in answer.content.decode()
    assert 'data-muted="true"' in answer.content.decode()  # what is saved, not what was sent
    assert Preference.objects.get().sounds == ["CRITICAL"]


def test_an_action_not_understood_says_why(as_user):
    client = as_user(TENANT)
    answer = client.post("/oncall/", {"alarm": "not-an-id", "action": "ack"}, follow=True)
    assert "That action was not understood (alarm: Enter a valid UUID.)" in (
        answer.content.decode()
    )


@pytest.mark.parametrize("path", ["/oncall/", "/alarms/{alarm}/"])
def test_deep_links_survive_signing_in(client, store, path):
    alarm = Alarm.objects.filter(cleared=False).first()
    target = path.format(alarm=alarm.id)
    response = client.get(target)
    assert response["Location"].startswith("/login/?next=")
    signed = client.post("/login/", {"username": TENANT[0], "password": TENANT[1], "next": target})
    assert signed["Location"] == target
    assert client.get(target).status_code == 200


# --- the count, new alarms, "Mine" ---------------------------------------------------------


HTMX = {"HX-Request": "true"}
COUNT = re.compile(r'<h1 id="oncall-count" data-count="(\d+)"( hx-swap-oob="true")?>')


def test_acknowledging_updates_the_waiting_count_at_once(as_user):
    client = as_user(CUSTOMER_A)
    page = client.get("/oncall/").content.decode()
    [(before, _)] = COUNT.findall(page)
    _, alarm_id = cards(client.get("/oncall/"))[0]

    answer = client.post("/oncall/", {"alarm": alarm_id, "action": "ack"}, headers=HTMX)

    assert COUNT.findall(answer.content.decode()) == [(str(int(before) - 1), ' hx-swap-oob="true"')]


def test_a_new_alarm_is_marked_new_on_the_refresh_that_brings_it(as_user, store):
    client = as_user(TENANT)
    page = client.get("/oncall/").content.decode()
    refresh = poll_url(page)
    device = Alarm.objects.filter(originator_type="DEVICE").first().originator_name
    new = sim(store, "/sim/alarms", {"device": device, "type": "Brand New", "severity": "MAJOR"})
    sync.run_cycle()

    html = client.get(refresh, headers=HTMX).content.decode()

    card = re.search(rf'<article id="oncall-{new["id"]["id"]}" class="([^"]+)"', html)
    assert "fresh" in card.group(1)
    assert html.count('class="badge">new<') == 1


def test_a_claimed_alarm_stays_in_mine_with_a_note_and_a_clear_that_asks(as_user, store):
    client = as_user(TENANT)
    _, alarm_id = cards(client.get("/oncall/"))[0]
    client.post("/oncall/", {"alarm": alarm_id, "action": "claim"})
    page = client.get("/oncall/").content.decode()
    assert f'id="mine-{alarm_id}"' in page
    assert alarm_id not in dict(map(reversed, cards(client.get("/oncall/"))))

    noted = client.post(
        "/oncall/", {"alarm": alarm_id, "action": "comment", "text": "On site"}, headers=HTMX
    )
    assert "Comment added." in noted.content.decode()
    asked = client.post("/oncall/", {"alarm": alarm_id, "action": "clear"})
    assert "cannot be made active again" in asked.content.decode()
    tb = TbSession(store.url, TENANT)
    assert not tb.get(f"/api/alarm/info/{alarm_id}").json()["cleared"]

    cleared = client.post(
        "/oncall/", {"alarm": alarm_id, "action": "clear", "confirmed": "1"}, headers=HTMX
    )
    assert "Cleared." in cleared.content.decode()
    assert tb.get(f"/api/alarm/info/{alarm_id}").json()["cleared"]
    assert f'id="mine-{alarm_id}"' not in client.get("/oncall/").content.decode()


def test_a_refresh_of_a_page_showing_cards_sends_only_the_cards_that_changed(as_user, store):
    from datetime import timedelta

    from django.utils import timezone

    # Synced a minute ago: past the margin within which a refresh sends a card again anyway.
    Alarm.objects.update(changed_at=timezone.now() - timedelta(minutes=1))
    client = as_user(TENANT)
    page = client.get("/oncall/")
    shown = [alarm_id for _, alarm_id in cards(page)]
    poll = poll_url(page.content.decode())
    device = Alarm.objects.filter(originator_type="DEVICE").first().originator_name
    new = sim(store, "/sim/alarms", {"device": device, "type": "Brand New", "severity": "MAJOR"})
    sync.run_cycle()

    answer = client.get(poll, headers=HTMX | {"X-Alarm-Rows": " ".join(shown)})

    assert answer["X-Live-Delta"] == "1"
    html = answer.content.decode()
    assert re.findall(r'<li id="card-([^"]+)">', html) == [new["id"]["id"]]
    order = re.search(r'data-order="([^"]*)"', html).group(1).split()
    # Every card the page showed by its place, the new one by its id, in the page's order.
    assert sorted(int(entry) for entry in order if entry.isdigit()) == list(range(len(shown)))
    assert new["id"]["id"] in order
    [(count, _)] = COUNT.findall(html)
    assert int(count) == Alarm.objects.filter(cleared=False, acknowledged=False).count()
    assert 'id="oncall-mine"' in html
    assert 'id="oncall-as-of"' in html


def test_watchers_of_one_scope_share_one_read_of_its_cards_per_version(own_client, store):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    polls = []
    for persona in (TENANT, ("olivia.ops@thingsboard.org", "tenant")):
        client = own_client(persona)
        page = client.get("/oncall/")
        shown = [alarm_id for _, alarm_id in cards(page)]
        polls.append((client, poll_url(page.content.decode()), shown))
    device = Alarm.objects.filter(originator_type="DEVICE").first().originator_name
    sim(store, "/sim/alarms", {"device": device, "type": "Brand New", "severity": "MAJOR"})
    sync.run_cycle()
    reads = []
    for client, poll, shown in polls:
        with CaptureQueriesContext(connection) as queries:
            answer = client.get(poll, headers=HTMX | {"X-Alarm-Rows": " ".join(shown)})
        assert answer["X-Live-Delta"] == "1"
        unacked = re.compile(r'"acknowledged" = (0|false)\b', re.I)
        waiting = [q["sql"] for q in queries if unacked.search(q["sql"])]
        reads.append(sum("LIMIT 100" in sql or "COUNT(" in sql for sql in waiting))
    assert reads[0] == 2  # the first read the waiting cards and their count...
    assert reads[1] == 0  # ...the second, another person, neither ("Mine" is their own)


def test_mine_is_sent_again_only_when_it_changed(as_user, store):
    from datetime import timedelta

    from django.utils import timezone

    Alarm.objects.update(changed_at=timezone.now() - timedelta(minutes=1))
    client = as_user(TENANT)
    page = client.get("/oncall/")
    html = page.content.decode()
    mine = re.search(r'<section id="oncall-mine"[^>]*data-m="([^"]*)"', html).group(1)
    shown = " ".join(alarm_id for _, alarm_id in cards(page))
    device = Alarm.objects.filter(originator_type="DEVICE").first().originator_name
    sim(store, "/sim/alarms", {"device": device, "type": "Brand New", "severity": "MAJOR"})
    sync.run_cycle()
    headers = HTMX | {"X-Alarm-Rows": shown}

    unchanged = client.get(f"{poll_url(html)}&m={mine}", headers=headers).content.decode()
    assert 'id="oncall-mine"' not in unchanged
    assert "Brand New" in unchanged

    # Then the person claims one: their "Mine" is no longer what the page shows.
    _, alarm_id = cards(page)[0]
    client.post("/oncall/", {"alarm": alarm_id, "action": "claim", "text": ""})
    changed = client.get(f"{poll_url(html)}&m={mine}", headers=headers).content.decode()
    new_mine = re.search(r'<section id="oncall-mine"[^>]*data-m="([^"]*)"', changed).group(1)
    assert new_mine != mine
    assert f'id="mine-{alarm_id}"' in changed
