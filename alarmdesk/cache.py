"""Django's Redis cache, keeping its redis-py client.

Django's RedisCacheClient makes a new redis.Redis for every cache call, and redis-py fills
some 170 response callbacks in each: 0.15 ms a call, most of what a cache hit costs, and a
live page's refresh makes several (measured with cProfile on the shared refresh: 49 clients
made for 20 refreshes). This one keeps a client per connection pool; redis.Redis is safe to
share, and Django already keeps one cache object per thread.
"""

import logging

from django.core.cache.backends import redis as django_redis

log = logging.getLogger(__name__)


class _Client(django_redis.RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        clients = self.__dict__.setdefault("_clients", {})
        client = clients.get(id(pool))
        if client is None:
            client = clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _Client


def quietly(operation, *args, failed=None, what="a page"):
    """operation(*args), a call to the cache; Redis failing gives `failed` (and a warning that
    names `what` the cache was for), never an error page."""
    try:
        return operation(*args)
    except Exception:
        log.warning("cache unavailable for %s", what, exc_info=True)
        return failed
