"""Django's Redis cache, keeping its redis-py client.

Django's RedisCacheClient makes a new redis.Redis for every cache call, and redis-py fills
some 170 response callbacks in each: 0.15 ms a call, most of what a cache hit costs, and a
live page's refresh makes several (measured with cProfile on the shared refresh: 49 clients
made for 20 refreshes). This one keeps a client per connection pool; redis.Redis is safe to
share, and Django already keeps one cache object per thread.
"""

from django.core.cache.backends import redis as django_redis


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
