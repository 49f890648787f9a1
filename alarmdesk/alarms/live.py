"""What a live page polls: its scope's change counter and the sync's freshness, in one
Redis round trip, so an unchanged refresh costs almost nothing."""

import json
import logging

from alarmdesk.redis_client import get_redis

from .access import scope_of
from .store import scope_key
from .sync import STATUS_KEY

log = logging.getLogger(__name__)


def scope_version(user):
    """(version, last successful sync as ISO 8601 or None); version "" if Redis is down,
    which makes every refresh a full one rather than a frozen page."""
    try:
        counter, status = get_redis().mget(scope_key(*scope_of(user)), STATUS_KEY)
    except Exception:
        log.warning("Redis unavailable for the live refresh", exc_info=True)
        return "", None
    as_of = json.loads(status).get("last_success") if status else None
    return (counter or b"0").decode(), as_of
