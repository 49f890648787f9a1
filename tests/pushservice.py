"""A Web Push service on loopback, so the app's pushes can be proved end to end offline.

It checks what FCM or Mozilla's autopush would check of pywebpush's POST, and decrypts the
payload with the subscription's own keys, so a test sees exactly what the browser would.
"""

import base64
import binascii
import contextlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# RFC 8030 section 7.2: a service must take 4096 octets of body; FCM and autopush stop there.
MAX_BODY = 4096
# pywebpush itself signs for 12 h; RFC 8292 section 2 caps `exp` at 24 h ahead.
MAX_EXP_AHEAD = 24 * 60 * 60
URGENCIES = {"very-low", "low", "normal", "high"}
TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 section 5.4


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    """An accepted push, as the browser's service worker would get it."""

    endpoint: str
    payload: bytes
    headers: dict[str, str]  # names lower-cased
    ttl: int
    urgency: str | None
    topic: str | None
    claims: dict[str, Any]
    public_key: str
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Rejected:
    endpoint: str
    status: int
    reason: str


class Refusal(Exception):
    """A request the service answers with an error status, the reason in the body."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class _Subscription:
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    gone: int | None = None
    failures: list[int] = field(default_factory=list)
    held: threading.Event | None = None  # set: the next request waits for release()


class PushService:
    """A push service on loopback (RFC 8030), as FCM/Mozilla's would receive pywebpush's POST:
    checks the VAPID authorization (RFC 8292) and decrypts the payload (RFC 8291, aes128gcm)
    with the subscription's own keys."""

    def __init__(self):
        self.received: list[Received] = []
        self.rejected: list[Rejected] = []
        self._subscriptions: dict[str, _Subscription] = {}  # by path
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.push_service = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        """The origin, which is also what a VAPID `aud` must be."""
        if self._server is None:
            raise RuntimeError("the push service is not started: use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def subscribe(self) -> dict:
        """A new subscription, as `PushSubscription.toJSON()` gives it to the app."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        auth_secret = secrets.token_bytes(16)
        path = f"/push/{secrets.token_urlsafe(16)}"
        with self._changed:
            self._subscriptions[path] = _Subscription(private_key, auth_secret)
        public = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.url + path,
            "keys": {"p256dh": b64url(public), "auth": b64url(auth_secret)},
        }

    def gone(self, endpoint: str, status: int = 410):
        """From now on the endpoint answers as an expired or unsubscribed one does."""
        if status not in (404, 410):
            raise ValueError("a push service says 404 or 410 for a dead subscription")
        with self._changed:
            self._subscription(endpoint).gone = status

    def fail(self, endpoint: str, times: int, status: int = 503):
        """The next `times` requests to the endpoint answer `status`, to exercise retries."""
        with self._changed:
            self._subscription(endpoint).failures.extend([status] * times)

    def hold(self, endpoint: str) -> threading.Event:
        """The next request to the endpoint is kept waiting, unanswered, until release() (a
        push service that hangs, to kill its sender mid-send); the event returned is set
        when that request has arrived."""
        arrived = threading.Event()
        with self._changed:
            self._subscription(endpoint).held = arrived
        return arrived

    def release(self, endpoint: str):
        """The held request is answered 503 (its sender may be dead by now); later ones as
        usual."""
        with self._changed:
            subscription = self._subscription(endpoint)
            subscription.held, released = None, subscription.held
            if released is not None:
                released.released = True
            self._changed.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The pushes received once there are `count`; pushes are sent from other threads."""
        with self._changed:
            if self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                return list(self.received)
            received = "".join(f"\n  {r.endpoint} {r.payload[:200]!r}" for r in self.received)
            rejected = "".join(f"\n  {r.endpoint} {r.status} {r.reason}" for r in self.rejected)
            raise AssertionError(
                f"expected {count} push(es) within {timeout}s, got {len(self.received)}:"
                f"{received or ' none'}\nrejected:{rejected or ' none'}"
            )

    def _subscription(self, endpoint: str) -> _Subscription:
        path = endpoint.removeprefix(self.url)
        try:
            return self._subscriptions[path]
        except KeyError:
            raise ValueError(f"not a subscription of this service: {endpoint}") from None

    def _record(self, item: Received | Rejected):
        with self._changed:
            (self.received if isinstance(item, Received) else self.rejected).append(item)
            self._changed.notify_all()

    def _accept(self, path: str, headers: dict[str, str], body: bytes) -> Received:
        """Checks one POST as a real service does, in its order; raises Refusal."""
        with self._changed:
            subscription = self._subscriptions.get(path)
            if subscription is None:
                raise Refusal(404, "no such subscription")
            if subscription.gone is not None:
                raise Refusal(subscription.gone, "subscription expired or unsubscribed")
            if subscription.held is not None and not subscription.held.is_set():
                held = subscription.held
                held.set()
                self._changed.notify_all()
                if not self._changed.wait_for(lambda: getattr(held, "released", False), 60):
                    raise Refusal(504, "held by the test, never released")
                raise Refusal(503, "held by the test, then released")
            if subscription.failures:
                raise Refusal(subscription.failures.pop(0), "failure injected by the test")
        public_key, claims = self._verify_vapid(headers)
        ttl = headers.get("ttl")
        if ttl is None or not re.fullmatch(r"[0-9]+", ttl):
            raise Refusal(400, f"TTL header missing or not a non-negative integer: {ttl!r}")
        urgency = headers.get("urgency")
        if urgency is not None and urgency not in URGENCIES:
            raise Refusal(400, f"unknown Urgency {urgency!r}")
        topic = headers.get("topic")
        if topic is not None and not TOPIC.fullmatch(topic):
            raise Refusal(400, f"Topic must be up to 32 base64url characters: {topic!r}")
        if len(body) > MAX_BODY:
            raise Refusal(413, f"body of {len(body)} bytes is over {MAX_BODY}")
        encoding = headers.get("content-encoding")
        if encoding != "aes128gcm":
            raise Refusal(400, f"Content-Encoding must be aes128gcm, not {encoding!r}")
        try:
            payload = http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth_secret,
                version="aes128gcm",
            )
        except (http_ece.ECEException, ValueError) as error:
            reason = f"payload does not decrypt with the subscription keys: {error}"
            raise Refusal(400, reason) from error
        return Received(
            endpoint=self.url + path,
            payload=payload,
            headers=headers,
            ttl=int(ttl),
            urgency=urgency,
            topic=topic,
            claims=claims,
            public_key=public_key,
        )

    def _verify_vapid(self, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
        """The `k` sent and the verified claims; 401 if absent or unreadable, 403 if invalid."""
        token, key = _vapid_credentials(headers)
        try:
            point = unb64url(key)
            if len(point) != 65 or point[0] != 4:
                raise ValueError("not an uncompressed P-256 point")
            verifier = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except (ValueError, binascii.Error) as error:
            raise Refusal(401, f"VAPID key k is not a P-256 public key: {error}") from None
        try:
            claims = jwt.decode(
                token,
                verifier,
                algorithms=["ES256"],
                audience=self.url,
                options={"require": ["aud", "exp", "sub"], "strict_aud": True},
            )
        except jwt.InvalidTokenError as error:
            raise Refusal(403, f"VAPID JWT refused: {error!r}") from None
        if claims["exp"] > time.time() + MAX_EXP_AHEAD:
            raise Refusal(403, "VAPID JWT exp is more than 24 h ahead")
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
            raise Refusal(403, f"VAPID sub must be a mailto: or https: URI, not {sub!r}")
        return key, claims


def _vapid_credentials(headers: dict[str, str]) -> tuple[str, str]:
    """(JWT, key) from `vapid t=, k=` (RFC 8292), or from `WebPush <jwt>` with
    `Crypto-Key: p256ecdsa=` (draft-01), which pywebpush 2.5.0 still sends for a Vapid01 key."""
    authorization = headers.get("authorization", "").strip()
    if not authorization:
        raise Refusal(401, "no Authorization header")
    scheme, _, rest = authorization.partition(" ")
    if scheme.lower() == "vapid":
        params = _params(rest, r",")
        token, key = params.get("t"), params.get("k")
    elif scheme.lower() == "webpush":
        token, key = rest.strip(), _params(headers.get("crypto-key", ""), r"[;,]").get("p256ecdsa")
    else:
        raise Refusal(401, f"Authorization scheme {scheme!r} is not vapid")
    if not token or not key:
        raise Refusal(401, "Authorization lacks the VAPID token or key")
    return token, key


def _params(text: str, separator: str) -> dict[str, str]:
    """auth-params, tolerating the spaces and quotes RFC 7235 allows around them."""
    params = {}
    for part in re.split(separator, text):
        name, sep, value = part.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"')
    return params


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects of a real service
    timeout = 5  # an idle kept-alive connection does not hold a thread forever

    def do_POST(self):
        service: PushService = self.server.push_service
        body = self._body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            received = service._accept(self.path, headers, body)
        except Refusal as refusal:
            service._record(Rejected(service.url + self.path, refusal.status, refusal.reason))
            self._answer(refusal.status, refusal.reason)
            return
        service._record(received)
        self._answer(201, location=f"{service.url}/message/{secrets.token_urlsafe(12)}")

    def _refuse_method(self):
        service: PushService = self.server.push_service
        self._body()  # read, so a kept-alive connection stays in step
        reason = f"{self.command} is not how a message is sent: POST it"
        service._record(Rejected(service.url + self.path, 405, reason))
        self._answer(405, reason)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _refuse_method

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, reason: str = "", location: str | None = None):
        body = reason.encode()
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        if status == 405:
            self.send_header("Allow", "POST")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    def log_message(self, format, *args):
        """Quiet: the test reads `rejected` instead."""
