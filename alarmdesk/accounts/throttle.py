"""Failed sign-ins counted in Redis, per username and per client address.

When Redis is down the throttle lets people through (and logs it): being unable to sign
in at 3 a.m. because a counter store failed would be worse than a few unthrottled tries.
"""

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


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
