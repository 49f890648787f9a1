"""What a live page polls: its scope's change counter and the sync's freshness, in one
Redis round trip, so an unchanged refresh costs almost nothing."""

import json
import logging
from functools import wraps

from django.http import HttpResponse

from alarmdesk.accounts.tokens import SESSION_KEY
from alarmdesk.livepoll import issue
from alarmdesk.redis_client import get_redis

from .access import scope_of
from .store import scope_key
from .sync import STATUS_KEY

log = logging.getLogger(__name__)

# More than a page of rows is not believed (a page has 50).
MAX_ROWS_SHOWN = 200


def scope_version(user):
    """(version, last successful sync as ISO 8601 or None, whether the last sync run failed);
    version "" if Redis is down, which makes every refresh a full one rather than a frozen
    page."""
    try:
        counter, status = get_redis().mget(scope_key(*scope_of(user)), STATUS_KEY)
    except Exception:
        log.warning("Redis unavailable for the live refresh", exc_info=True)
        return "", None, False
    published = json.loads(status) if status else {}
    failing = bool(published.get("last_error"))
    return (counter or b"0").decode(), published.get("last_success"), failing


def drawn_at(request):
    """When the page being refreshed was drawn (its `t`, epoch seconds), to mark what changed
    since; None for a full page or a `t` that is not a number."""
    if not request.htmx:
        return None
    try:
        return float(request.GET.get("t"))
    except (TypeError, ValueError):
        return None


def rows_shown(request):
    """The alarm ids a live page says it shows, in its order (live.js sends them in
    X-Alarm-Rows), as strings; empty for a full refresh."""
    if not request.htmx:
        return []
    return request.headers.get("X-Alarm-Rows", "").split()[:MAX_ROWS_SHOWN]


def unchanged(as_of, sync_failing):
    """The answer to a refresh whose scope has not moved: nothing to swap (htmx ignores a
    204), and the sync's time and health for the page's "as of" and its banner (live.js)."""
    response = HttpResponse(status=204)
    if as_of:
        response["X-Sync-As-Of"] = as_of
    if sync_failing:
        response["X-Sync-Failing"] = "1"
    return response


def issues_ticket(view):
    """A live page's view (under tb_login_required): its answers to GET carry the ticket that
    lets its quiet refreshes be answered before Django (alarmdesk/livepoll.py)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        signed_in = SESSION_KEY in request.session
        if request.method == "GET" and response.status_code in (200, 204) and signed_in:
            issue(request, response, scope_of(request.tb_user))
        return response

    return wrapper
