"""The sync's service account: a tenant administrator whose token is kept in Redis.

Signs in with TB_SYNC_USERNAME/TB_SYNC_PASSWORD (or uses TB_SYNC_API_KEY), refreshes the
token before it expires, and signs in again once when ThingsBoard rejects it. Every worker
shares the one token, so scaling out workers does not multiply sign-ins.
"""

import functools
import json
import logging
import time

from django.conf import settings

from alarmdesk.redis_client import get_redis, key
from alarmdesk.thingsboard.client import ThingsBoardClient
from alarmdesk.thingsboard.errors import AuthenticationFailed, ThingsBoardError, TokenExpired

log = logging.getLogger(__name__)

TOKEN_KEY = key("sync", "token")
REFRESH_MARGIN = 60  # seconds before `exp`


@functools.cache
def _base_client(url, timeout, api_key):
    return ThingsBoardClient(url, timeout=timeout, api_key=api_key)


def _client():
    return _base_client(settings.TB_URL, settings.TB_TIMEOUT, settings.TB_SYNC_API_KEY)


class ServiceAccount:
    """Calls ThingsBoard as the sync account: `account.call(lambda tb: tb.alarms(...))`."""

    def __init__(self, client=None):
        self.base = client or _client()
        self.redis = get_redis()

    def call(self, fn):
        if settings.TB_SYNC_API_KEY:
            return fn(self.base)
        try:
            return fn(self.base.with_token(self._token()))
        except (TokenExpired, AuthenticationFailed):
            # Logged out, revoked, or ThingsBoard's signing key changed: sign in once more.
            log.info("the sync account's token was refused; signing in again")
            self.redis.delete(TOKEN_KEY)
            return fn(self.base.with_token(self._token()))

    def _token(self):
        stored = self.redis.get(TOKEN_KEY)
        pair = json.loads(stored) if stored else None
        if pair and pair["expires_at"] - REFRESH_MARGIN > time.time():
            return pair["token"]
        if pair:
            try:
                return self._keep(self.base.refresh(pair["refresh_token"]))
            except ThingsBoardError as error:
                if not error.permanent:
                    raise
                log.info("the sync account's refresh token was refused (%s)", error)
        return self._keep(self.base.login(settings.TB_SYNC_USERNAME, settings.TB_SYNC_PASSWORD))

    def _keep(self, pair):
        expires_at = pair.access_expires_at.timestamp()
        value = {"token": pair.token, "refresh_token": pair.refresh_token, "expires_at": expires_at}
        # Kept no longer than the refresh token can live (ThingsBoard's default: a week).
        self.redis.set(TOKEN_KEY, json.dumps(value), ex=7 * 24 * 3600)
        return pair.token
