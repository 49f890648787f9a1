"""The sync's service account: a tenant administrator whose token is kept in Redis.

Signs in with TB_SYNC_USERNAME/TB_SYNC_PASSWORD (or uses TB_SYNC_API_KEY), refreshes the
token before it expires, and signs in again once when ThingsBoard rejects it. Every worker
shares the one token, so scaling out workers does not multiply sign-ins.

The token pair is a tenant administrator's for a week: Redis holds it encrypted (Fernet,
with a key derived from SECRET_KEY), so neither a Redis snapshot nor anyone who can read
Redis learns it. One that cannot be decrypted (SECRET_KEY changed) counts as none.
"""

import base64
import functools
import json
import logging
import time

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
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


@functools.cache
def _fernet(secret_key):
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"alarmdesk sync account token"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


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

    def _stored_pair(self):
        stored = self.redis.get(TOKEN_KEY)
        if not stored:
            return None
        try:
            return json.loads(_fernet(settings.SECRET_KEY).decrypt(stored))
        except InvalidToken:
            log.info("the sync account's kept token was sealed with another SECRET_KEY")
            return None

    def _token(self):
        pair = self._stored_pair()
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
        sealed = _fernet(settings.SECRET_KEY).encrypt(json.dumps(value).encode())
        self.redis.set(TOKEN_KEY, sealed, ex=7 * 24 * 3600)
        return pair.token
