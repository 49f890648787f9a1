"""Failed sign-ins counted in Redis, per username and per client address.

When Redis is down the throttle lets people through (and logs it): being unable to sign
in at 3 a.m. because a counter store failed would be worse than a few unthrottled tries.
"""

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


def client_address(request):
    """The address to count failures against. Behind the HTTPS proxy the README describes
    (ALARMDESK_HTTPS), REMOTE_ADDR is the proxy's own: the client is the last address the
    proxy appended to X-Forwarded-For (earlier ones are the client's to invent)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.ALARMDESK_HTTPS and forwarded:
        return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def _keys(username, address):
    user_key = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return (f"login-failures:user:{user_key}", f"login-failures:addr:{address}")


def is_throttled(username, address):
    try:
        counts = cache.get_many(_keys(username, address))
    except Exception:
        log.warning("login throttle unavailable (Redis down?); not throttling", exc_info=True)
        return False
    return any(count >= settings.LOGIN_THROTTLE_ATTEMPTS for count in counts.values())


def record_failure(username, address):
    for key in _keys(username, address):
        try:
            # add() starts the window; incr() never extends it.
            if not cache.add(key, 1, timeout=settings.LOGIN_THROTTLE_SECONDS):
                cache.incr(key)
        except ValueError:
            cache.add(key, 1, timeout=settings.LOGIN_THROTTLE_SECONDS)
        except Exception:
            log.warning("login throttle unavailable (Redis down?)", exc_info=True)
            return
