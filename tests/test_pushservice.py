"""The loopback push service itself: it must take what pywebpush sends and refuse what a real
service refuses, or the app's push tests prove nothing."""

import json
import threading
import time

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid01, Vapid02
from pywebpush import WebPusher, WebPushException, webpush

from tests.pushservice import PushService, b64url

SUB = {"sub": "mailto:ops@example.org"}
ALARM = {"alarm": 42, "severity": "CRITICAL", "text": "Überhitzung im Kühlraum"}


@pytest.fixture
def push():
    with PushService() as service:
        yield service


def fresh_key(cls=Vapid01, **conf):
    vapid = cls(conf=conf)
    vapid.generate_keys()
    return vapid


def public_key(vapid) -> str:
    return b64url(
        vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def send(subscription, vapid=None, claims=SUB, **kwargs):
    """webpush as the app calls it; claims copied, since pywebpush writes aud/exp into them."""
    return webpush(
        subscription,
        kwargs.pop("data", '{"alarm": 1}'),
        vapid_private_key=vapid or fresh_key(),
        vapid_claims=dict(claims) if claims is not None else None,
        timeout=5,
        **kwargs,
    )


def refused(subscription, **kwargs) -> int:
    with pytest.raises(WebPushException) as raised:
        send(subscription, **kwargs)
    return raised.value.response.status_code


@pytest.mark.parametrize(
    ("cls", "scheme"),
    [(Vapid01, "WebPush "), (Vapid02, "vapid t=")],
    ids=["draft-webpush-crypto-key", "rfc8292-vapid"],
)
def test_a_pywebpush_push_arrives_decrypted_with_its_verified_claims(push, cls, scheme):
    subscription = push.subscribe()
    vapid = fresh_key(cls)

    response = send(subscription, vapid, data=json.dumps(ALARM), ttl=60)

    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{push.url}/message/")
    [received] = push.wait(1)
    assert received.json() == ALARM
    assert received.endpoint == subscription["endpoint"]
    assert received.headers["authorization"].startswith(scheme)
    assert received.headers["content-encoding"] == "aes128gcm"
    assert received.public_key == public_key(vapid)
    assert received.claims["aud"] == push.url
    assert received.claims["sub"] == "mailto:ops@example.org"
    assert time.time() < received.claims["exp"] <= time.time() + 24 * 3600
    assert (received.ttl, received.urgency, received.topic) == (60, None, None)
    assert received.at == pytest.approx(time.time(), abs=5)
    assert push.rejected == []


def test_urgency_and_topic_are_kept_and_checked(push):
    subscription = push.subscribe()

    send(subscription, headers={"Urgency": "high", "Topic": "alarm-42"})
    assert refused(subscription, headers={"Urgency": "urgent"}) == 400
    assert refused(subscription, headers={"Topic": "not a topic!"}) == 400

    [received] = push.received
    assert (received.urgency, received.topic) == ("high", "alarm-42")


def test_vapid_parameters_may_carry_spaces(push):
    subscription = push.subscribe()
    vapid = fresh_key(Vapid02)
    signed = vapid.sign({**SUB, "aud": push.url})["Authorization"]
    token, key = signed.removeprefix("vapid t=").split(",k=")

    send(subscription, claims=None, headers={"Authorization": f"vapid  t = {token} ,  k={key}"})

    assert push.wait(1)[0].public_key == key


def test_a_token_signed_by_another_key_than_k_is_refused(push):
    subscription = push.subscribe()
    signed = fresh_key(Vapid02).sign({**SUB, "aud": push.url})["Authorization"]
    token = signed.removeprefix("vapid t=").split(",k=")[0]
    forged = f"vapid t={token},k={public_key(fresh_key())}"

    assert refused(subscription, claims=None, headers={"Authorization": forged}) == 403
    assert "InvalidSignature" in push.rejected[0].reason
    assert push.received == []


def test_a_push_without_vapid_is_unauthorized(push):
    assert refused(push.subscribe(), claims=None) == 401
    assert push.rejected[0].reason == "no Authorization header"


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({**SUB, "aud": "https://fcm.googleapis.com"}, "InvalidAudience"),
        ({**SUB, "exp": int(time.time()) + 2 * 24 * 3600}, "24 h"),
        ({"sub": "ops@example.org"}, "sub must be"),
    ],
    ids=["aud-of-another-service", "exp-beyond-24h", "sub-not-a-uri"],
)
def test_bad_claims_are_forbidden(push, claims, why):
    lax = fresh_key(**{"no-strict": True})  # py_vapid itself refuses a bare sub otherwise

    assert refused(push.subscribe(), vapid=lax, claims=claims) == 403
    assert why in push.rejected[0].reason


def test_a_payload_encrypted_for_another_subscription_is_refused(push):
    mine, theirs = push.subscribe(), push.subscribe()

    status = refused({"endpoint": mine["endpoint"], "keys": theirs["keys"]})

    assert status == 400
    assert "does not decrypt" in push.rejected[0].reason
    assert push.received == []


def test_only_aes128gcm_is_taken(push):
    assert refused(push.subscribe(), content_encoding="aesgcm") == 400
    assert "aes128gcm" in push.rejected[0].reason


@pytest.mark.parametrize("ttl", [None, "soon", "-1"])
def test_ttl_must_be_a_non_negative_integer(push, ttl):
    subscription = push.subscribe()
    headers = fresh_key(Vapid02).sign({**SUB, "aud": push.url, "exp": int(time.time()) + 60})
    headers["Content-Encoding"] = "aes128gcm"
    if ttl is not None:
        headers["TTL"] = ttl
    body = WebPusher(subscription).encode(b'{"alarm": 1}')["body"]

    response = requests.post(subscription["endpoint"], data=body, headers=headers, timeout=5)

    assert response.status_code == 400
    assert "TTL" in push.rejected[0].reason


def test_a_body_over_4096_bytes_is_too_large(push):
    subscription = push.subscribe()

    assert refused(subscription, data="x" * 4096) == 413
    send(subscription, data="x" * 3900)
    assert len(push.received) == 1


def test_unknown_endpoints_and_other_methods_are_refused(push):
    subscription = push.subscribe()
    stranger = {**subscription, "endpoint": f"{push.url}/push/never-issued"}

    assert refused(stranger) == 404
    assert requests.get(subscription["endpoint"], timeout=5).status_code == 405
    assert [r.status for r in push.rejected] == [404, 405]


@pytest.mark.parametrize("status", [410, 404])
def test_a_gone_subscription_answers_so_and_others_still_work(push, status):
    dead, alive = push.subscribe(), push.subscribe()
    push.gone(dead["endpoint"], status)

    assert refused(dead) == status
    send(alive)

    assert [r.endpoint for r in push.received] == [alive["endpoint"]]


def test_injected_failures_come_first_then_the_push_is_taken(push):
    subscription = push.subscribe()
    push.fail(subscription["endpoint"], 2)

    assert [refused(subscription), refused(subscription)] == [503, 503]
    assert send(subscription).status_code == 201
    assert len(push.received) == 1


def test_wait_returns_a_push_from_another_thread(push):
    subscription = push.subscribe()
    sender = threading.Thread(target=send, args=(subscription,))
    sender.start()

    assert push.wait(1, timeout=5)[0].json() == {"alarm": 1}
    sender.join()


def test_wait_names_what_was_refused_when_nothing_arrives(push):
    subscription = push.subscribe()
    push.gone(subscription["endpoint"])
    refused(subscription)

    with pytest.raises(AssertionError, match=r"got 0(.|\n)*410 subscription expired"):
        push.wait(1, timeout=0.05)


def test_a_held_request_waits_unanswered_until_released(push):
    subscription = push.subscribe()
    arrived = push.hold(subscription["endpoint"])
    answers = []
    sender = threading.Thread(target=lambda: answers.append(refused(subscription)))
    sender.start()

    assert arrived.wait(5)
    time.sleep(0.2)
    assert answers == []  # still waiting
    assert push.received == []
    push.release(subscription["endpoint"])
    sender.join(5)
    assert answers == [503]
    assert send(subscription).status_code == 201  # the next one as usual
