"""The live pages' refreshes, answered before Django where Django's answer is known.

An open list or on-call page asks every ALARMDESK_LIVE_SECONDS whether its scope changed
(GET with HX-Request and the page's `v`), and almost always nothing did. Django's answer to
that, a 204, costs its whole middleware stack and a session read from the database; this
WSGI middleware gives the same 204 for a fraction of it, from what it read of Redis at most
READ_SECONDS ago (the scopes' change counters, the sync's status, the sessions ended), with
no database and, for nearly every refresh, no round trip at all. When the scope did change,
a list's refresh whose answer Django already made for the same view at this version
(alarms/live.shared_refresh) is handed out here too.

It may answer only where Django would give that answer to a session that may read the
page, so it takes the session's word from a ticket that Django issued (`issue`), never from
the request alone: a cookie naming the session's scope (the tenant's or one customer's
change counter) and until when the session counts as confirmed with ThingsBoard (its last
confirmation plus ALARMDESK_SESSION_CHECK_SECONDS), valid for TICKET_SECONDS (never past
the session), signed with a key derived from SECRET_KEY and bound to the session cookie's
value; and only while the session is not among those ended: signing out, a refusal by
ThingsBoard and a new sign-in (`forget`) add it to a set in Redis that every web process
reads, so its ticket stops answering within READ_SECONDS. Anything else (no ticket, a
ticket for another session, expired or altered, a session ended, Redis failing, plain HTTP
where HTTPS is required, a host not allowed, a change whose answer is not kept or whose
session is due for confirmation) goes to Django, which answers and issues a new ticket.

A quiet refresh does not confirm the session with ThingsBoard (accounts/tokens.py): it
carries no alarm. A refresh that shows a change is answered here only while the session
counts as confirmed, else by Django, which confirms it first, so a disabled user's open
page is signed out before it shows anything new after ALARMDESK_SESSION_CHECK_SECONDS, as
on every other page; confirming every open page every two minutes only to say "nothing
changed" was most of the cost of 10,000 of them.

What a ticket lets a copy of both cookies learn, until it expires or the session ends: that
nothing changed in the scope, the sync's time, and, while the session counts as confirmed,
the rows its own list would show.
"""

import functools
import hashlib
import hmac
import json
import logging
import threading
import time
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.crypto import salted_hmac
from django.utils.http import http_date

from alarmdesk.cache import quietly
from alarmdesk.redis_client import get_redis, key

log = logging.getLogger(__name__)

COOKIE = "alarmdesk_live"
PATHS = ("/alarms/", "/oncall/")
SCOPES = ("tenant", "customer")
_SALT = "alarmdesk.livepoll.ticket"
# How old what a web process read of Redis may be when it answers: a change (or a sign-out)
# reaches the quiet refreshes this much later at most, on top of the pages' own interval.
READ_SECONDS = 0.25
# How long a ticket answers; Django gives a new one when half of it is spent.
TICKET_SECONDS = 3600
ENDED = key("live", "ended")  # sorted set: digests of sessions ended, by when
# Rendered in place of the CSRF token in an answer shared between sessions (alarms/live.py);
# each answer gets its own session's token instead (any masking of its secret is valid).
CSRF_PLACEHOLDER = "csrf-token-of-the-session-that-receives-this"


def _signature(kind, scope_id, expires, fresh, session_key):
    message = f"{kind}.{scope_id}.{expires}.{fresh}.{session_key}"
    return salted_hmac(_SALT, message, algorithm="sha256").hexdigest()[:32]


def ticket_for(kind, scope_id, expires, fresh, session_key):
    signature = _signature(kind, scope_id, expires, fresh, session_key)
    return f"{kind}.{scope_id}.{expires}.{fresh}.{signature}"


def read_ticket(value, session_key, now=None):
    """(kind, scope id, until when the session counts as confirmed) of a ticket valid now
    for this session key, else None."""
    if not value or not session_key:
        return None
    parts = value.split(".")
    if len(parts) != 5:
        return None
    kind, scope_id, expires, fresh, signature = parts
    if kind not in SCOPES or not expires.isdigit() or not fresh.isdigit():
        return None
    if int(expires) <= (now or time.time()):
        return None
    if not hmac.compare_digest(signature, _signature(kind, scope_id, expires, fresh, session_key)):
        return None
    return kind, scope_id, int(fresh)


def _digest(session_key):
    # No session key is written to Redis.
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


def forget(session_key):
    """The session ends (signed out, refused by ThingsBoard, replaced by a new sign-in): its
    ticket answers nothing within READ_SECONDS. A session ended longer ago than a ticket can
    last is dropped from the set. With Redis failing (or restarted empty) the ticket lasts
    until it expires (at most TICKET_SECONDS), telling only that nothing changed."""
    if not session_key:
        return
    now = time.time()
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.zadd(ENDED, {_digest(session_key): now})
        pipe.zremrangebyscore(ENDED, "-inf", now - TICKET_SECONDS)
        pipe.expire(ENDED, TICKET_SECONDS + 60)
        pipe.execute()
    except Exception:
        log.warning("Redis unavailable: a live ticket outlives its session", exc_info=True)


def issue(request, response, scope, confirmed_at):
    """Give the answer to a live page's request a ticket for its refreshes, unless the one it
    sent is still good for half its life and says the same. `scope` is access.scope_of(user);
    `confirmed_at`, when the session was last confirmed with ThingsBoard."""
    kind, scope_id = scope
    session_key = request.session.session_key
    now = time.time()
    expires = int(min(now + TICKET_SECONDS, request.session.get_expiry_date().timestamp()))
    fresh = int(confirmed_at + settings.ALARMDESK_SESSION_CHECK_SECONDS)
    if kind not in SCOPES or not scope_id or not session_key or expires <= now:
        return response
    sent = request.COOKIES.get(COOKIE, "")
    if read_ticket(sent, session_key, now=now + TICKET_SECONDS / 2) == (kind, str(scope_id), fresh):
        return response
    response.set_cookie(
        COOKIE,
        ticket_for(kind, scope_id, expires, fresh, session_key),
        max_age=max(1, expires - int(time.time())),
        path="/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def shared_params(pairs, left_out):
    """(the query's (name, value) pairs but those `left_out`, sorted; whether a value means
    the user: "me"), as a changed refresh's answer is kept under them (`shared_key`)."""
    pairs = list(pairs)
    means_me = any(value == "me" for _, value in pairs)
    return sorted((name, value) for name, value in pairs if name not in left_out), means_me


def shared_key(path, params, rows, mine, kind, scope_id, version, live):
    """The cache key of a changed refresh's answer (alarms/live.shared_refresh): `params`,
    the query's (name, value) pairs but `v` and the personal ones, sorted; `rows`, the
    X-Alarm-Rows header; `mine`, the user's id when a parameter means them, else ""; `live`,
    (the sync's last success, whether it is failing)."""
    parts = [path, params, rows, mine, live]
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f"live:answer:{kind}:{scope_id}:{version}:{digest}"


class QuietRefresh:
    """WSGI middleware: a live page's refresh whose scope has not moved gets its 204 here,
    and a list's refresh whose changed answer Django already made for this view gets it.

    The 204 is Django's own: the headers of the first 204 Django gave a refresh in this
    process (no caching, Vary, the security headers and the CSP, as the middleware wrote
    them), less what is per answer (the date, the sync's headers, cookies), are kept and
    sent again; until Django has given one, every refresh goes to Django. So with a changed
    answer: the one Django made for everyone asking the same of the scope at this version
    (alarms/live.shared_refresh), with the headers of Django's first such answer and
    compressed as Django's middleware would, is sent here only while the session counts as
    confirmed with ThingsBoard (the ticket says until when), never when a parameter means
    the user ("me") or the answer holds a CSRF token, and never for on-call (whose "Mine" is
    the person's own): those go to Django."""

    PER_ANSWER = {"expires", "date", "set-cookie", "x-sync-as-of", "x-sync-failing"}
    PER_DELTA = {"content-length", "content-encoding", "content-type", "x-live-delta"}
    SHARED_PATH = "/alarms/"

    def __init__(self, application):
        self.application = application
        self.headers = None
        self.delta_headers = None
        from alarmdesk.alarms.store import scope_key  # Django is set up by now
        from alarmdesk.alarms.sync import STATUS_KEY
        from alarmdesk.compression import CompressionMiddleware

        self.scope_key = scope_key
        self.status_key = STATUS_KEY
        self.compression = CompressionMiddleware(lambda request: None)
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._counters = {}  # a scope's Redis key -> its counter as read, or None: not asked
        self._status = ([], (None, False))
        self._ended = frozenset()

    def __call__(self, environ, start_response):
        if not (
            environ.get("REQUEST_METHOD") == "GET"
            and environ.get("HTTP_HX_REQUEST") == "true"
            and environ.get("PATH_INFO") in PATHS
        ):
            return self.application(environ, start_response)
        answer = self.answer(environ) if self.headers or self.delta_headers else None
        if answer is not None:
            status, headers, body = answer
            start_response(status, headers)
            return [body] if body else []
        return self.application(environ, self._learning(environ, start_response))

    def _learning(self, environ, start_response):
        def learn(status, headers, exc_info=None):
            if status.startswith("204") and self.headers is None:
                self.headers = [(n, v) for n, v in headers if n.lower() not in self.PER_ANSWER]
            if (
                status.startswith("200")
                and self.delta_headers is None
                and environ.get("PATH_INFO") == self.SHARED_PATH
                and ("X-Live-Delta", "1") in headers
            ):
                left_out = self.PER_ANSWER | self.PER_DELTA
                self.delta_headers = [(n, v) for n, v in headers if n.lower() not in left_out]
            return start_response(status, headers, exc_info)

        return learn

    def answer(self, environ):
        """(status, headers, body) if this refresh may be answered here, else None."""
        query = environ.get("QUERY_STRING", "")
        version = _last_value(query, "v")
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        ticket = read_ticket(cookies.get(COOKIE), session_key)
        if not version or ticket is None or not _allowed(environ):
            return None
        kind, scope_id, fresh = ticket
        try:
            counter, (sync_headers, live), ended = self._read(self.scope_key(kind, scope_id))
        except Exception:
            log.warning("Redis unavailable for a live refresh: Django answers", exc_info=True)
            return None
        if _digest(session_key) in ended:
            return None
        if counter == version:
            if self.headers is None:
                return None
            headers = [*self.headers, ("Expires", _expires(int(time.time()))), *sync_headers]
            return "204 No Content", headers, b""
        if fresh <= time.time() or environ.get("PATH_INFO") != self.SHARED_PATH:
            return None
        return self.shared(environ, query, kind, scope_id, counter, live)

    def shared(self, environ, query, kind, scope_id, version, live):
        """The changed answer Django made for this very request at this version, if it did."""
        if self.delta_headers is None:
            return None
        params, means_me = shared_params(parse_qsl(query, keep_blank_values=True), {"v"})
        if means_me:
            return None
        rows = environ.get("HTTP_X_ALARM_ROWS", "")
        cache_key = shared_key(
            environ["PATH_INFO"], params, rows, "", kind, scope_id, version, live
        )
        kept = quietly(cache.get, cache_key, what="a live refresh")
        if kept is None:
            return None
        content, kept_headers = kept
        if CSRF_PLACEHOLDER.encode() in content:
            return None
        response = HttpResponse(content)
        for name, value in [*kept_headers.items(), *self.delta_headers]:
            response[name] = value
        response = self.compression.process_response(_Request(environ), response)
        response["Content-Length"] = str(len(response.content))
        headers = [*response.items(), ("Expires", _expires(int(time.time())))]
        return "200 OK", headers, response.content

    def _read(self, counter_key):
        """(the scope's counter, (the sync's headers, (its last success, whether failing)),
        the sessions ended), as read from Redis at most READ_SECONDS ago: one round trip for
        every scope this process has seen."""
        now = time.monotonic()
        with self._lock:
            if now - self._read_at < READ_SECONDS and counter_key in self._counters:
                return self._counters[counter_key], self._status, self._ended
            keys = [*self._counters.keys() - {counter_key}, counter_key]
        pipe = get_redis().pipeline(transaction=False)
        pipe.mget([*keys, self.status_key])
        pipe.zrange(ENDED, 0, -1)
        values, ended = pipe.execute()
        counters = {k: (v or b"0").decode() for k, v in zip(keys, values, strict=False)}
        with self._lock:
            self._counters, self._status = counters, _sync_status(values[-1])
            self._ended = frozenset(member.decode() for member in ended)
            self._read_at = now
            return counters[counter_key], self._status, self._ended


class _Request:
    """What the compression middleware reads of a request: its META."""

    def __init__(self, environ):
        self.META = environ


@functools.lru_cache(maxsize=2)
def _expires(second):
    """The Expires header Django's add_never_cache_headers writes: now, as an HTTP date."""
    return http_date(second)


def sync_state(status):
    """(the sync's last success as ISO 8601 or None, whether its last run failed) from the
    status it publishes in Redis (sync.STATUS_KEY's value, or None)."""
    published = json.loads(status) if status else {}
    return published.get("last_success"), bool(published.get("last_error"))


def sync_headers(as_of, failing):
    """What a 204 to a refresh says of the sync, for the page's "as of" and banner."""
    headers = [("X-Sync-As-Of", as_of)] if as_of else []
    return [*headers, ("X-Sync-Failing", "1")] if failing else headers


def _sync_status(status):
    """(the sync's headers, its state), as _read keeps them."""
    state = sync_state(status)
    return sync_headers(*state), state


def _last_value(query, name):
    """The last `name=` of a query string, as Django's QueryDict.get gives it (the values
    compared are digits: nothing to unquote)."""
    found = None
    prefix = f"{name}="
    for part in query.split("&"):
        if part.startswith(prefix):
            found = part[len(prefix) :]
    return found


def _allowed(environ):
    """What Django checks before a view: HTTPS where it is required, and the host."""
    if settings.SECURE_SSL_REDIRECT and not _secure(environ):
        return False
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def _secure(environ):
    """HttpRequest.is_secure(), from the environ."""
    header, secure_value = settings.SECURE_PROXY_SSL_HEADER or (None, None)
    value = environ.get(header) if header else None
    if value is not None:
        return value.split(",")[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"
