"""The tenant AlarmDesk serves: the sync account's. Users of other tenants are refused."""

import logging

from django.conf import settings
from django.core.cache import cache

from alarmdesk.thingsboard.client import ThingsBoardClient

from .tokens import new_client

log = logging.getLogger(__name__)
CACHE_KEY = "served-tenant-id"


def _sync_account_tenant():
    if settings.TB_SYNC_API_KEY:
        client = ThingsBoardClient(
            settings.TB_URL, timeout=settings.TB_TIMEOUT, api_key=settings.TB_SYNC_API_KEY
        )
        return client.current_user().tenant_id
    pair = new_client().login(settings.TB_SYNC_USERNAME, settings.TB_SYNC_PASSWORD)
    signed_in = new_client(pair.token)
    try:
        return signed_in.current_user().tenant_id
    finally:
        signed_in.logout()


def served_tenant_id():
    """Asked of ThingsBoard once an hour at most; raises ThingsBoard's errors if it can't."""
    try:
        tenant = cache.get(CACHE_KEY)
    except Exception:
        log.warning("cache unavailable; asking ThingsBoard for the served tenant", exc_info=True)
        tenant = None
    if tenant is None:
        tenant = _sync_account_tenant()
        try:
            cache.set(CACHE_KEY, tenant, timeout=3600)
        except Exception:
            log.warning("cache unavailable; served tenant not cached", exc_info=True)
    return tenant
