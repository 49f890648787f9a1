"""Web Push (RFC 8030): the VAPID key, browsers' subscriptions, and sending one message.

The encryption (RFC 8291) and the VAPID signature (RFC 8292) are pywebpush's and py-vapid's;
nothing here is cryptography of its own. The key is the setting's, or one generated once and
kept in var/ (created with O_EXCL: the web processes and workers starting together agree on
one key, and a browser's subscription made with it keeps working after a restart)."""

import base64
import binascii
import json
import logging
import os
import tempfile
from functools import lru_cache
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from .errors import Failed, Gone

log = logging.getLogger(__name__)

# A push service that does not answer within this is retried later (the outbox's backoff).
TIMEOUT = 10
# How long the push service keeps a message for a phone that is off: an alarm is worth
# waking for within the hour, not the next morning.
TTL_SECONDS = 3600


class Refused(ValueError):
    """A subscription AlarmDesk will not send to, in words for the person."""


def b64url_decode(text):
    text = str(text).strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@lru_cache(maxsize=1)
def vapid():
    """The application server's key: the setting's, else var/'s (made on first use)."""
    configured = settings.ALARMDESK_VAPID_PRIVATE_KEY
    if configured:
        try:
            if "-----BEGIN" in configured:
                return Vapid.from_pem(configured.strip().encode())
            return Vapid.from_string(configured)
        except (ValueError, TypeError, binascii.Error) as error:
            raise ImproperlyConfigured(
                "ALARMDESK_VAPID_PRIVATE_KEY is not a P-256 private key (a PEM, or the "
                f"base64url of the raw key or its DER): {error}"
            ) from None
    path = settings.ALARMDESK_VAPID_KEY_FILE
    if not path.exists():
        _create_key_file(path)
    return Vapid.from_pem(path.read_bytes())


def _create_key_file(path):
    key = Vapid()
    key.generate_keys()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".vapid-")
    try:
        os.fchmod(handle, 0o600)
        os.write(handle, key.private_pem())
        os.close(handle)
        os.link(temporary, path)  # fails if another process made one first: theirs is kept
        log.info("generated the Web Push (VAPID) key in %s", path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def public_key():
    """What a browser's pushManager.subscribe() takes as applicationServerKey."""
    return b64url(vapid().public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


def allowed(endpoint):
    """Whether `endpoint` is on a push service the settings name (ALARMDESK_PUSH_HOSTS)."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        return False
    for entry in settings.ALARMDESK_PUSH_HOSTS:
        entry = entry.lower()
        scheme = "https"
        if entry.startswith("http://"):
            scheme, entry = "http", entry.removeprefix("http://")
        matches = host.endswith(entry) if entry.startswith(".") else host == entry
        if matches and parts.scheme == scheme:
            return True
    return False


def clean_subscription(data):
    """(endpoint, p256dh, auth) from a browser's PushSubscription.toJSON(), or Refused."""
    if not isinstance(data, dict):
        raise Refused("That is not a browser's push subscription.")
    endpoint = data.get("endpoint")
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > 1000:
        raise Refused("The subscription has no push address.")
    if not allowed(endpoint):
        host = urlsplit(endpoint).hostname or endpoint[:60]
        raise Refused(f"{host} is not a push service this AlarmDesk sends to.")
    try:
        p256dh, auth = b64url_decode(keys.get("p256dh", "")), b64url_decode(keys.get("auth", ""))
    except (ValueError, TypeError, binascii.Error):
        raise Refused("The subscription's keys are not readable.") from None
    # An uncompressed P-256 point, and a 16-byte secret (RFC 8291 section 3).
    if len(p256dh) != 65 or p256dh[0] != 4 or len(auth) != 16:
        raise Refused("The subscription's keys are not Web Push keys.")
    return endpoint, b64url(p256dh), b64url(auth)


def send(subscription_info, message):
    """Send `message` (a dict, JSON-encoded and encrypted for the subscription alone).

    Raises Gone when the push service says the subscription is no more, Failed otherwise."""
    if not allowed(subscription_info["endpoint"]):
        raise Gone("its push service is no longer among ALARMDESK_PUSH_HOSTS")
    try:
        webpush(
            subscription_info,
            data=json.dumps(message, separators=(",", ":")),
            vapid_private_key=vapid(),
            vapid_claims={"sub": settings.ALARMDESK_VAPID_SUBJECT},
            ttl=TTL_SECONDS,
            timeout=TIMEOUT,
            headers={"Urgency": "high"},
        )
    except WebPushException as error:
        status = getattr(error.response, "status_code", None)
        if status in (404, 410):
            raise Gone(f"the push service answered {status}") from None
        detail = f"the push service answered {status}" if status else str(error)
        raise Failed(detail[:500]) from None
    except requests.RequestException as error:
        raise Failed(f"the push service could not be reached: {error}"[:500]) from None
