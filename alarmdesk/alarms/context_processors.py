from datetime import datetime

from django.conf import settings

from .sync import age_seconds, status

# A sync older than this many intervals is worth a warning on every page (and never less
# than STALE_AFTER_SECONDS: a backfill step may take up to 20 s of one run).
STALE_AFTER_INTERVALS = 6
STALE_AFTER_SECONDS = 30


def sync_status(request):
    """What every signed-in page says about the store: history loading, sync failing."""
    if not getattr(request, "tb_user", None):
        return {}
    try:
        current = status() or {}
    except Exception:  # Redis and the database both down: /healthz says which
        current = {}
    last_success = current.get("last_success")
    age = age_seconds(last_success)
    percent = current.get("backfill_percent")
    stale_after = max(STALE_AFTER_INTERVALS * settings.ALARMDESK_SYNC_SECONDS, STALE_AFTER_SECONDS)
    return {
        "sync_state": {
            "as_of": last_success and datetime.fromisoformat(last_success),
            "loading_percent": percent if percent is not None and percent < 100 else None,
            "never": not current,
            "stale_after": stale_after,
            "failing": bool(current.get("last_error")) or age is None or age > stale_after,
        },
        "live_seconds": settings.ALARMDESK_LIVE_SECONDS,
        # The pages the header's "Alarms" stands for (an alarm, a bulk job: still there).
        "alarm_pages": ("alarm_list", "alarm_detail", "bulk", "bulk_job"),
    }
