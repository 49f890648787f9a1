"""The sync's service account: its tenant-admin tokens are never readable in Redis."""

import requests

from alarmdesk.alarms import sync
from alarmdesk.alarms.account import ServiceAccount

# Every token the simulator signs begins with this: {"alg":"HS512","typ":"JWT"}.
JWT_HEADER = b"eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9"


def every_redis_value(redis_server):
    """Each value of each key, whatever its type, as bytes."""
    readers = {
        b"string": lambda key: [redis_server.get(key)],
        b"hash": lambda key: [b"".join(kv) for kv in redis_server.hgetall(key).items()],
        b"list": lambda key: redis_server.lrange(key, 0, -1),
        b"set": lambda key: list(redis_server.smembers(key)),
        b"zset": lambda key: redis_server.zrange(key, 0, -1),
        b"stream": lambda key: [repr(entry).encode() for entry in redis_server.xrange(key)],
    }
    values = []
    for key in redis_server.scan_iter(count=1000):
        values.extend(readers[redis_server.type(key)](key))
    return values


def logins(tbsim):
    routes = requests.get(f"{tbsim.url}/sim/stats", timeout=5).json()["routes"]
    return routes.get("POST /api/auth/login", {}).get("count", 0)


def test_the_sync_accounts_tokens_are_not_in_redis_in_clear(synced, redis_server):
    sync.run_cycle()
    token = ServiceAccount().call(lambda tb: tb.token).encode()
    values = every_redis_value(redis_server)
    assert values
    for value in values:
        assert token not in value
        assert JWT_HEADER not in value


def test_a_kept_token_that_cannot_be_decrypted_is_as_good_as_none(synced, settings):
    sync.run_cycle()
    requests.post(f"{synced.url}/sim/stats/reset", timeout=5).raise_for_status()
    settings.SECRET_KEY = "a-rotated-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    sync.run_cycle()
    assert logins(synced) == 1
    sync.run_cycle()
    assert logins(synced) == 1, "the new sign-in is kept, under the new key"
