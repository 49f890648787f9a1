"""Sign-in attempts counted in Redis before ThingsBoard sees them: per username and client
address together, and (a looser limit) per address.

Keyed by username and address together, a stranger who types a known user's e-mail uses up
only their own attempts. Counting comes first (INCR, then compare) so that attempts running
in parallel each get their own number: however many arrive at once, at most the limit reach
ThingsBoard. A window starts at its first attempt (EXPIRE NX) and is never extended.

Why not django-ratelimit: its get_usage(increment=True) counts first, but it has no way to
forget a count when a sign-in succeeds (its cache key is private and includes the window), and
a Redis error escapes it rather than letting people through; the rest is the few lines here.
django-axes needs django.contrib.auth, which AlarmDesk does not use (users are ThingsBoard's).

When Redis is down the throttle lets people through (and logs it): being unable to sign
in at 3 a.m. because a counter store failed would be worse than a few unthrottled tries.
get_redis() gives up within its 2 s socket timeouts.
"""

import hashlib
import logging

import redis
from django.conf import settings

from alarmdesk.redis_client import get_redis, key

log = logging.getLogger(__name__)


def client_address(request):
    """The address to count attempts against. Only the proxies AlarmDesk is told to trust
    (ALARMDESK_TRUSTED_PROXIES) append to X-Forwarded-For honestly; earlier entries are the
    client's to invent. The N-th from the right is the one the outermost proxy saw."""
    proxies = settings.ALARMDESK_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    entries = [entry.strip() for entry in forwarded.split(",")] if forwarded else []
    if proxies and len(entries) >= proxies and entries[-proxies]:
        return entries[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def _keys(username, address):
    pair = f"{username.strip().lower()}\n{address}".encode()
    return (
        key("login-attempts", "user-address", hashlib.sha256(pair).hexdigest()[:32]),
        key("login-attempts", "address", address),
    )


def attempt(username, address):
    """Count this attempt; False when it is over a limit and must not reach ThingsBoard."""
    try:
        with get_redis().pipeline() as pipe:
            for name in _keys(username, address):
                pipe.incr(name)
                pipe.expire(name, settings.LOGIN_THROTTLE_SECONDS, nx=True)
            user_count, _, address_count, _ = pipe.execute()
    except redis.RedisError:
        log.warning("login throttle unavailable (Redis down?); not throttling", exc_info=True)
        return True
    return (
        user_count <= settings.LOGIN_THROTTLE_ATTEMPTS
        and address_count <= settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS
    )


def forget(username, address):
    """ThingsBoard accepted the password: that user's earlier typos from that address no longer
    count. The address's count stays, so a known password cannot buy guesses at others."""
    try:
        get_redis().delete(_keys(username, address)[0])
    except redis.RedisError:
        log.warning("login throttle unavailable (Redis down?)", exc_info=True)
