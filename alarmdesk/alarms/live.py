"""What a live page polls: its scope's change counter and the sync's freshness, in one
Redis round trip, so an unchanged refresh costs almost nothing."""

import logging
import time
from functools import wraps

from django.core.cache import cache
from django.http import HttpResponse
from django.middleware.csrf import get_token

from alarmdesk.accounts.tokens import SESSION_KEY
from alarmdesk.cache import quietly
from alarmdesk.livepoll import (
    CSRF_PLACEHOLDER,
    issue,
    shared_key,
    shared_params,
    sync_headers,
    sync_state,
)
from alarmdesk.redis_client import get_redis

from .access import scope_of
from .store import scope_key
from .sync import STATUS_KEY

log = logging.getLogger(__name__)

# More than a page of rows is not believed (a page has 50; on-call shows 100).
MAX_ROWS_SHOWN = 200
# A live refresh sends again the rows changed this long before the page was drawn.
DELTA_MARGIN_SECONDS = 10
# How long a shared answer to a refresh is kept: it dies with its version anyway.
SHARED_SECONDS = 60


def scope_version(user):
    """(version, last successful sync as ISO 8601 or None, whether the last sync run failed);
    version "" if Redis is down, which makes every refresh a full one rather than a frozen
    page."""
    try:
        counter, status = get_redis().mget(scope_key(*scope_of(user)), STATUS_KEY)
    except Exception:
        log.warning("Redis unavailable for the live refresh", exc_info=True)
        return "", None, False
    return ((counter or b"0").decode(), *sync_state(status))


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
    for name, value in sync_headers(as_of, sync_failing):
        response[name] = value
    return response


def issues_ticket(view):
    """A live page's view (under tb_login_required): its answers to GET carry the ticket that
    lets its refreshes be answered before Django when they may be (alarmdesk/livepoll.py)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        data = request.session.get(SESSION_KEY)
        if request.method == "GET" and response.status_code in (200, 204) and data:
            issue(request, response, scope_of(request.tb_user), data["confirmed_at"])
        return response

    return wrapper


def shared_refresh(request, user, version, live, render_answer, personal=()):
    """The answer to a live refresh that re-renders (a delta), made once for everyone whose
    refresh asks the same thing at the same version of the same scope.

    Watchers of one view (a NOC's screens, the on-call phones of a team) all ask, after a
    change, for the same rows against the same page: rendering it for each of them was most
    of what a changed refresh cost. The answer is kept under everything it is made of: the
    scope and its version, the sync's time and health (`live`, as scope_version gave them),
    the path and every parameter (`t` included) but `v` and those render_answer does not
    read (`personal`: for what the caller adds after it), the rows the page shows, and the
    user's own id when a parameter means them ("me"). Within a scope every user sees the
    same alarms; what is a session's own is never kept: the CSRF token (a placeholder,
    replaced per answer) and whatever the caller adds after (on-call's "Mine").

    `render_answer(context)` renders the answer; `context` gives "rendered_at": one time per
    version of the scope (when it was first drawn), so that the watchers' next refreshes,
    whose `t` it becomes, ask the same again; it may return None (then so does this), for
    an answer that is not to be shared. Without Redis, each refresh is rendered."""
    kind, scope_id = scope_of(user)
    key = _shared_key(request, user, kind, scope_id, version, live, {"v", *personal})
    kept = _quietly(cache.get, key) if version else None
    if kept is None:
        context = {
            "rendered_at": _drawn_at(kind, scope_id, version),
            "csrf_token": CSRF_PLACEHOLDER,
        }
        response = render_answer(context)
        if response is None:  # not an answer to share: the caller makes its own
            return None
        if version and response.status_code == 200:
            _quietly(cache.set, key, (response.content, dict(response.items())), SHARED_SECONDS)
    else:
        content, headers = kept
        response = HttpResponse(content)
        for name, value in headers.items():
            response[name] = value
    if CSRF_PLACEHOLDER.encode() in response.content:
        response.content = response.content.replace(
            CSRF_PLACEHOLDER.encode(), get_token(request).encode()
        )
    return response


def _shared_key(request, user, kind, scope_id, version, live, left_out):
    pairs = ((name, value) for name, values in request.GET.lists() for value in values)
    params, means_me = shared_params(pairs, left_out)
    rows = request.headers.get("X-Alarm-Rows", "")
    mine = user.id if means_me else ""
    return shared_key(request.path, params, rows, mine, kind, scope_id, version, live)


def _drawn_at(kind, scope_id, version):
    """When the scope at `version` was first drawn (now, without Redis)."""
    now = time.time()
    if not version:
        return now
    drawn = _quietly(
        cache.get_or_set, f"live:drawn:{kind}:{scope_id}:{version}", now, SHARED_SECONDS
    )
    return now if drawn is None else drawn


def _quietly(operation, *args):
    return quietly(operation, *args, what="a live refresh")
