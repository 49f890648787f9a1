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

# More than a page of rows is not believed (a page has 50; on-call shows 100).
MAX_ROWS_SHOWN = 200
# A live refresh sends again the rows changed this long before the page was drawn.
DELTA_MARGIN_SECONDS = 10


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


def changed_rows(current, shown, since):
    """What a live refresh sends when the page already shows rows (the list's rows,
    on-call's cards): (the alarms to send again, the page's order), from `current`, the
    page's [(id, changed_at)] now. Only rows the page lacks or that changed since it was
    drawn (a margin earlier: a write committed after that drawing may carry an earlier time)
    are sent; live.js orders, replaces, and fades out the rows that left. The order names a
    row the page shows by its place in the page's list (a few bytes, not a 36-character id).
    None when the page is now empty: the whole section says why."""
    if not current:
        return None
    place = {alarm_id: index for index, alarm_id in enumerate(shown)}
    resend = [
        alarm_id
        for alarm_id, changed_at in current
        if str(alarm_id) not in place or changed_at.timestamp() > since - DELTA_MARGIN_SECONDS
    ]
    return resend, [str(place.get(str(alarm_id), alarm_id)) for alarm_id, _ in current]


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
