"""One redis-py client per process for what Django's cache does not offer: locks, counters."""

import functools

import redis
from django.conf import settings


@functools.cache
def _client(url):
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def get_redis():
    return _client(settings.REDIS_URL)


def key(*parts):
    """Every key AlarmDesk writes starts with `alarmdesk:`, like the cache's."""
    return ":".join(("alarmdesk", *map(str, parts)))
