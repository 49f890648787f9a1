"""Who acknowledged and who cleared each alarm, for the history.

ThingsBoard keeps no such field on the alarm: it says so in the SYSTEM comment each action
adds (thingsboard-api.md 4.7; subtype ACKED_BY_USER / CLEARED_BY_USER since 4.3, ACK /
CLEAR before). A Celery task reads the comments of alarms whose actors are not known yet,
newest first, a bounded number a run, so the history fills in without loading ThingsBoard.
An alarm cleared by its rule has no such comment: known, and cleared by nobody.
"""

import logging

from django.db.models import Q

from alarmdesk.redis_client import get_redis, key
from alarmdesk.thingsboard.errors import NotFound

from .account import ServiceAccount
from .models import Alarm

log = logging.getLogger(__name__)

ACKNOWLEDGED = {"ACKED_BY_USER", "ACK"}
CLEARED = {"CLEARED_BY_USER", "CLEAR"}
PER_RUN = 60
LOCK_KEY = key("actors", "lock")


def actor(comment):
    """The person a SYSTEM comment names: the commenting user's e-mail, else its name."""
    return comment.email or str(comment.comment.get("userName") or "")


def actors_from(comments):
    """(acknowledged by, cleared by) from an alarm's comments; "" where none says."""
    acknowledged_by = cleared_by = ""
    for comment in comments:
        if comment.type != "SYSTEM":
            continue
        if comment.subtype in ACKNOWLEDGED:
            acknowledged_by = actor(comment)
        elif comment.subtype in CLEARED:
            cleared_by = actor(comment)
    return acknowledged_by, cleared_by


def identify(account=None, limit=PER_RUN):
    """Read the comments of up to `limit` alarms whose actors are unknown; returns how many
    were settled, or None when another run is in progress."""
    lock = get_redis().lock(LOCK_KEY, timeout=300, blocking=False)
    if not lock.acquire():
        return None
    try:
        account = account or ServiceAccount()
        pending = (
            Alarm.objects.filter(actors_known=False, deleted=False)
            .filter(Q(acknowledged=True) | Q(cleared=True))
            .order_by("-start_ts")
            .values_list("id", "ack_ts", "clear_ts")[:limit]
        )
        settled = 0
        for alarm_id, ack_ts, clear_ts in pending:
            try:
                page = account.call(lambda tb, a=alarm_id: tb.comments(a, page_size=200))
            except NotFound:
                continue  # deleted meanwhile: the reconciliation will say so
            acknowledged_by, cleared_by = actors_from(page.data)
            # Only if the alarm has not been acknowledged or cleared again meanwhile.
            settled += Alarm.objects.filter(
                id=alarm_id, actors_known=False, ack_ts=ack_ts, clear_ts=clear_ts
            ).update(acknowledged_by=acknowledged_by, cleared_by=cleared_by, actors_known=True)
        return settled
    finally:
        lock.release()
