"""A notification's one-purpose links: opening one never acts; its page's tap does, for the
person it was made for, signed in as themselves; a push's button acts from the service
worker with the person's own session (the `tap/` endpoint), through the same actions module
and audit log as the pages. Links altered, past their hour, or for someone else are refused
with a page that says why, and nothing is done."""

import re
from urllib.parse import quote

import pytest
from django.core import signing
from django.test import Client

from alarmdesk.accounts.tokens import SESSION_KEY
from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Alarm, AuditEntry
from alarmdesk.oncall import links
from tests.conftest import CUSTOMER_A, TENANT, raise_alarm


def user_id(client):
    """The signed-in person's ThingsBoard id, as the session keeps it."""
    return client.session[SESSION_KEY]["user"]["id"]


@pytest.fixture
def alarm(store):
    alarm_id = raise_alarm(store, "Link Test", "CRITICAL", "Pump U01")
    sync.run_cycle()
    return Alarm.objects.get(id=alarm_id)


def tb_state(tbsim, alarm_id):
    from tests.conftest import TbSession

    with TbSession(tbsim.url, TENANT) as session:
        return session.get(f"/api/alarm/info/{alarm_id}").json()


def tap(client, token, **headers):
    return client.post(
        f"/oncall/n/{token}/tap/", headers={"Sec-Fetch-Site": "same-origin"} | headers
    )


# --- a link opened in a browser -----------------------------------------------------------------


def test_opening_a_link_asks_and_only_the_tap_acts(as_user, alarm, store):
    client = as_user(TENANT)
    token = links.make(alarm.id, "ack", user_id(client))
    page = client.get(f"/oncall/n/{token}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Acknowledge Link Test on Pump U01?" in text
    assert not tb_state(store, alarm.id)["acknowledged"]  # a link previewer's GET did nothing
    assert not AuditEntry.objects.exists()

    done = client.post(f"/oncall/n/{token}/")
    assert done.status_code == 302
    assert done.url == f"/alarms/{alarm.id}/"
    assert tb_state(store, alarm.id)["acknowledged"]
    [entry] = AuditEntry.objects.all()
    assert (entry.action, entry.outcome, entry.via) == ("ack", "done", "link")


def test_a_link_signed_out_goes_through_sign_in_and_back_to_its_page(client, alarm):
    token = links.make(alarm.id, "claim", "00000000-0000-0000-0000-000000000001")
    answer = client.get(f"/oncall/n/{token}/")
    assert answer.status_code == 302
    assert answer.url.startswith("/login/?next=")
    assert quote(f"/oncall/n/{token}/", safe="") in answer.url


def test_a_link_made_for_someone_else_is_refused_and_does_nothing(as_user, alarm, store):
    other = user_id(as_user(CUSTOMER_A))
    client = as_user(TENANT)
    token = links.make(alarm.id, "ack", other)
    for answer in (client.get(f"/oncall/n/{token}/"), client.post(f"/oncall/n/{token}/")):
        assert answer.status_code == 403
        assert "This link was sent to someone else. Nothing was done." in answer.content.decode()
    assert not tb_state(store, alarm.id)["acknowledged"]


def test_an_altered_or_expired_link_is_refused_in_words(as_user, alarm, settings, store):
    client = as_user(TENANT)
    token = links.make(alarm.id, "ack", user_id(client))
    altered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    answer = client.get(f"/oncall/n/{altered}/")
    assert answer.status_code == 400
    assert "not one AlarmDesk made, or it was changed" in answer.content.decode()
    # The same payload for another action, signed with another salt: not one of ours.
    forged = signing.dumps([str(alarm.id), "clear", str(user_id(client))], salt="other")
    assert client.get(f"/oncall/n/{forged}/").status_code == 400

    settings.ALARMDESK_NOTIFY_LINK_SECONDS = -1
    answer = client.post(f"/oncall/n/{token}/")
    assert answer.status_code == 410
    assert "This link has expired" in answer.content.decode()
    assert not tb_state(store, alarm.id)["acknowledged"]


def test_no_link_is_made_for_an_action_but_acknowledge_and_claim():
    with pytest.raises(ValueError, match="no link"):
        links.make("00000000-0000-0000-0000-000000000001", "clear", "x")


def test_another_customer_s_alarm_behind_a_link_is_not_found(as_user, store):
    from alarmdesk.alarms.models import Customer

    theirs = Customer.objects.get(title="Customer B").id
    alarm = Alarm.objects.filter(customer_id=theirs).first()
    client = as_user(CUSTOMER_A)
    token = links.make(alarm.id, "ack", user_id(client))
    assert client.get(f"/oncall/n/{token}/").status_code == 404


# --- a push's button, from the service worker ---------------------------------------------------


def test_a_button_acts_with_the_person_s_session_and_says_what_it_did(as_user, alarm, store):
    client = as_user(TENANT)
    token = links.make(alarm.id, "claim", user_id(client))
    answer = tap(client, token)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["ok"]
    assert body["title"] == "Claimed: Link Test on Pump U01"
    state = tb_state(store, alarm.id)
    assert state["acknowledged"]
    assert state["assigneeId"] is not None
    vias = set(AuditEntry.objects.values_list("via", flat=True))
    assert vias == {"notification"}


def test_a_button_signed_out_opens_sign_in_then_the_alarm_and_does_nothing(alarm, store):
    token = links.make(alarm.id, "ack", "00000000-0000-0000-0000-000000000001")
    answer = tap(Client(), token)
    assert answer.status_code == 401
    assert answer.json()["login"] == f"/login/?next=%2Falarms%2F{alarm.id}%2F"
    assert not tb_state(store, alarm.id)["acknowledged"]


def test_a_button_of_someone_else_s_notification_does_nothing(as_user, alarm, store):
    other = user_id(as_user(CUSTOMER_A))
    client = as_user(TENANT)
    answer = tap(client, links.make(alarm.id, "ack", other))
    assert answer.status_code == 403
    assert not tb_state(store, alarm.id)["acknowledged"]


def test_a_tap_from_another_site_is_refused(as_user, alarm, store):
    client = as_user(TENANT)
    token = links.make(alarm.id, "ack", user_id(client))
    assert tap(client, token, **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.get(f"/oncall/n/{token}/tap/").status_code == 405
    assert not tb_state(store, alarm.id)["acknowledged"]


def test_a_button_on_an_alarm_already_acknowledged_says_so(as_user, alarm):
    client = as_user(TENANT)
    client.post(f"/alarms/{alarm.id}/", {"action": "ack"})
    answer = tap(client, links.make(alarm.id, "ack", user_id(client)))
    body = answer.json()
    assert body["ok"]  # already done is done
    assert re.search("already", body["message"], re.I)
