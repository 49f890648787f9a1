"""GET /healthz: is the database reachable, is Redis, and how old is the last sync."""

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from alarmdesk.alarms import sync


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


def _sync():
    try:
        status = sync.status() or {}
    except Exception:  # the database is down: already reported above
        status = {}
    age = sync.age_seconds(status.get("last_success"))
    return {
        "last_sync": status.get("last_success"),
        "last_sync_age_seconds": None if age is None else round(age, 1),
        "last_sync_error": status.get("last_error"),
        "backfill_percent": status.get("backfill_percent"),
    }


@never_cache
def healthz(request):
    checks = {"database": _check(_database), "redis": _check(_redis)}
    healthy = all(value == "ok" for value in checks.values())
    body = {**checks, **_sync()}
    return JsonResponse(body, status=200 if healthy else 503)
