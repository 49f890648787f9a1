"""The quiet refresh, answered before Django.

An open list or on-call page asks every ALARMDESK_LIVE_SECONDS whether its scope changed
(GET with HX-Request and the page's `v`), and almost always nothing did. Django's answer to
that, a 204, costs its whole middleware stack and a session read from the database; this
WSGI middleware gives the same 204 for a fraction of it, from what it read of Redis at most
READ_SECONDS ago (the scopes' change counters, the sync's status, the sessions ended), with
no database and, for nearly every refresh, no round trip at all.

It may answer only where Django would answer 204 to a session that may read the page, so it
takes the session's word from a ticket that Django issued (`issue`), never from the request
alone: a cookie naming the session's scope (the tenant's or one customer's change counter),
valid for TICKET_SECONDS (and never past the session), signed with a key derived from
SECRET_KEY and bound to the session cookie's value; and only while the session is not among
those ended: signing out, a refusal by ThingsBoard and a new sign-in (`forget`) add it to a
set in Redis that every web process reads, so its ticket stops answering within
READ_SECONDS. Anything else (no ticket, a ticket for another session, expired or altered, a
changed scope, a session ended, Redis failing, plain HTTP where HTTPS is required, a host not
allowed) goes to Django, which answers and issues a new ticket.

A quiet refresh does not confirm the session with ThingsBoard (accounts/tokens.py): it
carries no alarm. The first refresh that does, any change in the scope, goes to Django,
which confirms the session first when ALARMDESK_SESSION_CHECK_SECONDS have passed, so a
disabled user's open page is signed out before it shows anything new; confirming every open
page every two minutes only to say "nothing changed" was most of the cost of 10,000 of them.

What a ticket lets a copy of both cookies learn, until it expires: that nothing changed in
the scope, and the sync's time. Every alarm, count and change goes through Django.
"""

import functools
import hashlib
import hmac
import json
import logging
import threading
import time

from django.conf import settings
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.crypto import salted_hmac
from django.utils.http import http_date

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


def _signature(kind, scope_id, expires, session_key):
    message = f"{kind}.{scope_id}.{expires}.{session_key}"
    return salted_hmac(_SALT, message, algorithm="sha256").hexdigest()[:32]


def ticket_for(kind, scope_id, expires, session_key):
    return f"{kind}.{scope_id}.{expires}.{_signature(kind, scope_id, expires, session_key)}"


def read_ticket(value, session_key, now=None):
    """(kind, scope id) of a ticket valid now for this session key, else None."""
    if not value or not session_key:
        return None
    parts = value.split(".")
    if len(parts) != 4:
        return None
    kind, scope_id, expires, signature = parts
    if kind not in SCOPES or not expires.isdigit() or int(expires) <= (now or time.time()):
        return None
    if not hmac.compare_digest(signature, _signature(kind, scope_id, expires, session_key)):
        return None
    return kind, scope_id


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


def issue(request, response, scope):
    """Give the answer to a live page's request a ticket for its quiet refreshes, unless the
    one it sent is still good for half its life. `scope` is access.scope_of(user)."""
    kind, scope_id = scope
    session_key = request.session.session_key
    now = time.time()
    expires = int(min(now + TICKET_SECONDS, request.session.get_expiry_date().timestamp()))
    if kind not in SCOPES or not scope_id or not session_key or expires <= now:
        return response
    sent = request.COOKIES.get(COOKIE, "")
    if read_ticket(sent, session_key, now=now + TICKET_SECONDS / 2) == (kind, str(scope_id)):
        return response
    response.set_cookie(
        COOKIE,
        ticket_for(kind, scope_id, expires, session_key),
        max_age=max(1, expires - int(time.time())),
        path="/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


class QuietRefresh:
    """WSGI middleware: a live page's refresh whose scope has not moved gets its 204 here.

    The 204 is Django's own: the headers of the first 204 Django gave a refresh in this
    process (no caching, Vary, the security headers and the CSP, as the middleware wrote
    them), less what is per answer (the date, the sync's headers, cookies), are kept and
    sent again; until Django has given one, every refresh goes to Django."""

    PER_ANSWER = {"expires", "date", "set-cookie", "x-sync-as-of", "x-sync-failing"}

    def __init__(self, application):
        self.application = application
        self.headers = None
        from alarmdesk.alarms.sync import STATUS_KEY  # Django is set up by now

        self.status_key = STATUS_KEY
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._counters = {}  # a scope's Redis key -> its counter as read, or None: not asked
        self._status = []
        self._ended = frozenset()

    def __call__(self, environ, start_response):
        if not (
            environ.get("REQUEST_METHOD") == "GET"
            and environ.get("HTTP_HX_REQUEST") == "true"
            and environ.get("PATH_INFO") in PATHS
        ):
            return self.application(environ, start_response)
        headers = self.quiet(environ) if self.headers is not None else None
        if headers is not None:
            start_response("204 No Content", headers)
            return []
        return self.application(environ, self._learning(start_response))

    def _learning(self, start_response):
        def learn(status, headers, exc_info=None):
            if status.startswith("204") and self.headers is None:
                self.headers = [(n, v) for n, v in headers if n.lower() not in self.PER_ANSWER]
            return start_response(status, headers, exc_info)

        return learn

    def quiet(self, environ):
        """The 204's headers if this refresh may be answered here, else None."""
        version = _last_value(environ.get("QUERY_STRING", ""), "v")
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        scope = read_ticket(cookies.get(COOKIE), session_key)
        if not version or scope is None or not _allowed(environ):
            return None
        counter_key = key("scope", *scope)
        try:
            counter, status, ended = self._read(counter_key)
        except Exception:
            log.warning("Redis unavailable for a quiet refresh: Django answers", exc_info=True)
            return None
        if _digest(session_key) in ended or counter != version:
            return None
        return [*self.headers, ("Expires", _expires(int(time.time()))), *status]

    def _read(self, counter_key):
        """(the scope's counter, the sync's headers, the sessions ended), as read from Redis
        at most READ_SECONDS ago: one round trip for every scope this process has seen."""
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
            self._counters, self._status = counters, _sync_headers(values[-1])
            self._ended = frozenset(member.decode() for member in ended)
            self._read_at = now
            return counters[counter_key], self._status, self._ended


@functools.lru_cache(maxsize=2)
def _expires(second):
    """The Expires header Django's add_never_cache_headers writes: now, as an HTTP date."""
    return http_date(second)


def _sync_headers(status):
    """What live.unchanged says of the sync: its last success, and whether it is failing."""
    published = json.loads(status) if status else {}
    headers = []
    if published.get("last_success"):
        headers.append(("X-Sync-As-Of", published["last_success"]))
    if published.get("last_error"):
        headers.append(("X-Sync-Failing", "1"))
    return headers


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
