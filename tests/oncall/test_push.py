"""Web Push to the person on call, end to end without the internet: a browser's subscription
(made by tests/pushservice.py as a browser would), the sync's events planned into the outbox,
each delivery sent with pywebpush to a local push service that checks the VAPID signature and
decrypts the payload with the subscription's own keys (RFC 8291, 8292)."""

import io
import json
import re
import stat

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Customer
from alarmdesk.oncall import outbox, push
from alarmdesk.oncall.models import Delivery, Duty, Notice, PushSubscription
from tests.conftest import CUSTOMER_A, TENANT, raise_alarm
from tests.oncall.conftest import device_of, on_call, send_all, subscribe

State = Delivery.State


def raise_and_sync(tbsim, alarm_type, severity, device=None):
    alarm_id = raise_alarm(tbsim, alarm_type, severity, device)
    sync.run_cycle()
    return alarm_id


# --- the VAPID key ------------------------------------------------------------------------------


def test_the_key_is_generated_once_kept_private_and_read_back(settings, tmp_path):
    settings.ALARMDESK_VAPID_KEY_FILE = tmp_path / "var" / "vapid_private.pem"
    push.vapid.cache_clear()
    first = push.public_key()
    assert stat.S_IMODE(settings.ALARMDESK_VAPID_KEY_FILE.stat().st_mode) == 0o600
    push.vapid.cache_clear()
    assert push.public_key() == first  # read back, not made again
    assert len(push.b64url_decode(first)) == 65  # an uncompressed P-256 point
    push.vapid.cache_clear()


def test_a_configured_key_is_used_and_a_bad_one_refused_at_once(settings, tmp_path):
    from py_vapid import Vapid

    key = Vapid()
    key.generate_keys()
    settings.ALARMDESK_VAPID_KEY_FILE = tmp_path / "unused.pem"
    settings.ALARMDESK_VAPID_PRIVATE_KEY = key.private_pem().decode()
    push.vapid.cache_clear()
    assert push.vapid().public_key.public_numbers() == key.public_key.public_numbers()
    assert not settings.ALARMDESK_VAPID_KEY_FILE.exists()
    settings.ALARMDESK_VAPID_PRIVATE_KEY = "not a key"
    push.vapid.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="ALARMDESK_VAPID_PRIVATE_KEY"):
        push.vapid()
    push.vapid.cache_clear()


def test_the_command_prints_a_key_for_the_environment_file(settings, tmp_path):
    """One NAME=value line, as the environment file takes it, and the key it names works."""
    out = io.StringIO()
    call_command("vapid_key", stdout=out)
    [line] = out.getvalue().splitlines()
    name, _, value = line.partition("=")
    assert name == "ALARMDESK_VAPID_PRIVATE_KEY"
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", value)  # base64url: no quoting needed
    settings.ALARMDESK_VAPID_KEY_FILE = tmp_path / "unused.pem"
    settings.ALARMDESK_VAPID_PRIVATE_KEY = value
    push.vapid.cache_clear()
    key = push.public_key()
    assert len(push.b64url_decode(key)) == 65  # an uncompressed P-256 point
    out2 = io.StringIO()
    call_command("vapid_key", stdout=out2)
    assert out2.getvalue() != out.getvalue()  # a new key each time
    push.vapid.cache_clear()


# --- subscribing a browser ----------------------------------------------------------------------


def test_a_signed_in_person_subscribes_this_browser_and_the_page_says_so(as_user, service):
    client = as_user(TENANT)
    page = client.get("/oncall/").content.decode()
    assert f'data-key="{push.public_key()}"' in page
    assert "No browser of yours is notified yet." in page

    answer = subscribe(client, service.subscribe())
    assert answer.status_code == 200, answer.content
    assert answer.json()["ok"]
    [row] = PushSubscription.objects.all()
    assert row.endpoint.startswith(service.url)
    assert "Notified while you are on call" in client.get("/oncall/").content.decode()

    answer = client.post("/oncall/push/", json.dumps({"remove": row.endpoint}), "application/json")
    assert answer.json()["message"] == "This browser will not be notified."
    assert not PushSubscription.objects.exists()


def test_a_browser_subscribed_by_two_people_is_the_last_one_s(as_user, own_client, service):
    subscription = service.subscribe()
    subscribe(as_user(TENANT), subscription)
    subscribe(own_client(CUSTOMER_A), subscription)
    assert PushSubscription.objects.count() == 1  # one browser, one row
    customer = own_client(CUSTOMER_A).get("/oncall/").content.decode()
    assert "Notified while you are on call" in customer
    tenant = as_user(TENANT).get("/oncall/").content.decode()
    assert "No browser of yours is notified yet." in tenant


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda s: {**s, "endpoint": "https://internal.example.org/admin"}, "not a push service"),
        (lambda s: {**s, "endpoint": "http://127.0.0.1@evil.example/x"}, "not a push service"),
        (lambda s: {**s, "keys": {"p256dh": "AAAA", "auth": s["keys"]["auth"]}}, "not Web Push"),
        (lambda s: {**s, "keys": {"p256dh": s["keys"]["p256dh"], "auth": "!!"}}, "keys"),
        (lambda s: {"keys": s["keys"]}, "no push address"),
        (lambda s: "a string", "not a browser"),
    ],
)
def test_a_subscription_anywhere_but_a_push_service_is_refused_in_words(
    as_user, service, change, words
):
    answer = subscribe(as_user(TENANT), change(service.subscribe()))
    assert answer.status_code == 400
    assert words in answer.json()["message"]
    assert not PushSubscription.objects.exists()


def test_subscribing_needs_the_page_s_csrf_token_and_a_session(store, service):
    browser = Client(enforce_csrf_checks=True)
    browser.post("/login/", {"username": TENANT[0], "password": TENANT[1]})
    assert subscribe(browser, service.subscribe()).status_code == 403
    assert subscribe(Client(), service.subscribe()).status_code == 302  # to sign in
    assert not PushSubscription.objects.exists()


# --- from the sync's event to the push ----------------------------------------------------------


def test_a_raised_alarm_reaches_the_person_on_call_encrypted_and_signed(
    as_user, service, planned, settings
):
    client = as_user(TENANT)
    on_call(client)
    subscription = service.subscribe()
    subscribe(client, subscription)

    alarm_id = raise_and_sync(planned, "Push Test", "CRITICAL")
    outbox.plan()
    [delivery] = Delivery.objects.all()
    assert delivery.state == State.PENDING
    send_all()

    [received] = service.wait(1)
    message = received.json()
    assert message["alarm"] == alarm_id
    assert message["title"] == "Critical: Push Test"
    assert message["url"] == f"/alarms/{alarm_id}/"
    assert message["tag"] == f"alarm-{alarm_id}"
    assert set(message["actions"]) == {"ack", "claim"}
    assert received.endpoint == subscription["endpoint"]
    assert received.claims["sub"] == "mailto:ops@example.org"
    assert received.claims["aud"] == service.url
    assert received.public_key == push.public_key()
    assert received.urgency == "high"
    assert received.ttl == push.TTL_SECONDS
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (State.SENT, 1)
    assert delivery.sent_at is not None


def test_one_notice_per_person_alarm_and_transition(as_user, service, planned):
    client = as_user(TENANT)
    on_call(client)
    subscribe(client, service.subscribe())
    raise_and_sync(planned, "Once Only", "MAJOR")
    outbox.plan()
    outbox.plan()  # the sweep's run after the nudge's: nothing new
    raise_and_sync(planned, "Once Only", "MAJOR")  # raised again at the same severity
    outbox.plan()
    assert list(Notice.objects.values_list("transition", flat=True)) == ["raised"]

    raise_and_sync(planned, "Once Only", "CRITICAL")  # ThingsBoard's dedup: the same alarm
    outbox.plan()
    assert sorted(Notice.objects.values_list("transition", flat=True)) == [
        "raised",
        "rose:CRITICAL",
    ]
    send_all()
    titles = [r.json()["title"] for r in service.wait(2)]
    assert titles == ["Major: Once Only", "Now Critical: Once Only"]


def test_what_the_store_held_before_and_old_alarms_are_not_paged(as_user, service, store):
    client = as_user(TENANT)
    on_call(client, severities=["CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE"])
    subscribe(client, service.subscribe())
    assert outbox.plan() == []  # first run: the demo's alarms are history
    assert outbox.plan() == []
    assert not Notice.objects.exists()


def test_off_call_quiet_or_another_severity_is_not_told(as_user, service, planned):
    client = as_user(TENANT)
    subscribe(client, service.subscribe())
    # Each planned as the sync's nudge would, right after its run.
    raise_and_sync(planned, "Not On Call", "CRITICAL")
    outbox.plan()
    on_call(client, severities=["CRITICAL"], quiet_from="00:00", quiet_until="23:59")
    raise_and_sync(planned, "Quiet Now", "CRITICAL")
    outbox.plan()
    on_call(client, severities=["CRITICAL"], quiet_from="", quiet_until="")
    raise_and_sync(planned, "Only Minor", "MINOR")
    outbox.plan()
    assert not Notice.objects.exists()
    raise_and_sync(planned, "Now Then", "CRITICAL")
    outbox.plan()
    assert list(Notice.objects.values_list("alarm__type", flat=True)) == ["Now Then"]


def test_a_customer_user_is_never_pushed_another_customer_s_alarm(
    as_user, own_client, service, planned
):
    customer = own_client(CUSTOMER_A)
    on_call(customer, severities=["CRITICAL"])
    subscribe(customer, service.subscribe())
    raise_and_sync(planned, "Theirs", "CRITICAL", device_of("Customer B"))
    raise_and_sync(planned, "Tenant's", "CRITICAL", "Pump U01")
    raise_and_sync(planned, "Ours", "CRITICAL", device_of("Customer A"))
    outbox.plan()
    send_all()
    [received] = service.wait(1)
    assert received.json()["title"] == "Critical: Ours"
    assert list(Notice.objects.values_list("alarm__type", flat=True)) == ["Ours"]


def test_moved_to_another_customer_before_the_send_it_is_not_sent(as_user, service, planned):
    client = as_user(CUSTOMER_A)
    on_call(client, severities=["CRITICAL"])
    subscribe(client, service.subscribe())
    raise_and_sync(planned, "Moved", "CRITICAL", device_of("Customer A"))
    outbox.plan()
    other = Customer.objects.get(title="Customer B").id
    Duty.objects.filter(email=CUSTOMER_A[0]).update(customer_id=other)
    send_all()
    assert Delivery.objects.get().state == State.SKIPPED
    assert service.received == []


def test_acknowledged_before_it_went_out_it_is_not_sent(as_user, service, planned):
    client = as_user(TENANT)
    on_call(client)
    subscribe(client, service.subscribe())
    alarm_id = raise_and_sync(planned, "Acked First", "MAJOR")
    outbox.plan()
    client.post(f"/alarms/{alarm_id}/", {"action": "ack"})
    send_all()
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.error) == (State.SKIPPED, "acknowledged before it went out")
    assert service.received == []


def test_a_subscription_the_service_calls_gone_is_removed(as_user, service, planned):
    client = as_user(TENANT)
    on_call(client)
    subscription = service.subscribe()
    subscribe(client, subscription)
    service.gone(subscription["endpoint"])
    raise_and_sync(planned, "Gone Browser", "MAJOR")
    outbox.plan()
    send_all()
    assert Delivery.objects.get().state == State.GONE
    assert not PushSubscription.objects.exists()


def test_a_failing_service_is_tried_again_with_backoff_then_given_up(
    as_user, service, planned, settings
):
    settings.ALARMDESK_NOTIFY_ATTEMPTS = 3
    client = as_user(TENANT)
    on_call(client)
    subscription = service.subscribe()
    subscribe(client, subscription)
    service.fail(subscription["endpoint"], 1)
    raise_and_sync(planned, "Flaky", "MAJOR")
    outbox.plan()
    [delivery_id] = send_all()
    delay = outbox.deliver(delivery_id)  # its time has not come: nothing done
    assert delay is None
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (State.PENDING, 1)
    assert "503" in delivery.error
    Delivery.objects.update(due_at=delivery.created_at)  # the backoff is over
    outbox.deliver(delivery_id)
    assert Delivery.objects.get().state == State.SENT
    assert len(service.wait(1)) == 1

    service.fail(subscription["endpoint"], 5)
    raise_and_sync(planned, "Down", "MAJOR")
    outbox.plan()
    [failing] = Delivery.objects.filter(state=State.PENDING).values_list("id", flat=True)
    delays = []
    for _ in range(3):
        Delivery.objects.filter(id=failing).update(due_at=delivery.created_at)
        delays.append(outbox.deliver(failing))
    assert delays == [5, 10, None]  # doubled, then given up after 3 attempts
    assert Delivery.objects.get(id=failing).state == State.FAILED


def test_the_sweep_sends_what_a_lost_message_left_pending(as_user, service, planned):
    client = as_user(TENANT)
    on_call(client)
    subscribe(client, service.subscribe())
    raise_and_sync(planned, "Lost Message", "MAJOR")
    outbox.plan()
    delivery = Delivery.objects.get()
    assert outbox.sweep() == 0  # within its lease: not yet
    Delivery.objects.update(due_at=delivery.created_at)
    queued = []
    from alarmdesk.oncall import tasks

    original = tasks.deliver.delay
    tasks.deliver.delay = queued.append
    try:
        assert outbox.sweep() == 1
    finally:
        tasks.deliver.delay = original
    assert queued == [delivery.id]
