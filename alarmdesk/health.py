"""GET /healthz: is the database reachable, is Redis, and how old is the last sync."""

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


def _check(probe):
    try:
        probe()
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis():
    cache.get("healthz")


@never_cache
def healthz(request):
    checks = {"database": _check(_database), "redis": _check(_redis)}
    healthy = all(value == "ok" for value in checks.values())
    # The alarm sync does not exist yet: no sync has ever succeeded.
    body = {**checks, "last_sync": None, "last_sync_age_seconds": None}
    return JsonResponse(body, status=200 if healthy else 503)
