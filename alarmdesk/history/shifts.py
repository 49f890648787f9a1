"""My shift: from the last shift boundary (settings.ALARMDESK_SHIFTS) to now."""

from datetime import datetime, time, timedelta

WITHOUT_BOUNDARIES = timedelta(hours=12)


def shift_start(now, boundaries, zone):
    """When the current shift started: the last boundary (hour, minute) in `zone` at or
    before `now`, or 12 hours ago when no boundary is configured."""
    if not boundaries:
        return now - WITHOUT_BOUNDARIES
    today = now.astimezone(zone).date()
    starts = (
        datetime.combine(today - timedelta(days=back), time(hour, minute), tzinfo=zone)
        for back in (0, 1)  # every day has a boundary, so yesterday's last one is before now
        for hour, minute in boundaries
    )
    return max(start for start in starts if start <= now)
