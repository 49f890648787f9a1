"""Display helpers for ThingsBoard's epoch-millisecond times and severities."""

from datetime import UTC, datetime

from django import template
from django.utils import timezone

register = template.Library()

# Word and symbol: severity is never told by colour alone.
SEVERITY_ICONS = {
    "CRITICAL": "\u25c6",  # ◆
    "MAJOR": "\u25b2",  # ▲
    "MINOR": "\u25cf",  # ●
    "WARNING": "\u25a0",  # ■
    "INDETERMINATE": "\u25cb",  # ○
}


@register.filter
def count(value):
    """A count with its thousands apart, as the list writes "10,000+": 19157 is "19,157"."""
    return f"{value:,}" if isinstance(value, int) else value


@register.filter
def ms_datetime(value):
    """Epoch milliseconds as an aware datetime (None stays None)."""
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


@register.filter
def age(value, now_ms=None):
    """Epoch milliseconds as a short age: 45s, 12m, 3h, 2d."""
    if value is None:
        return ""
    now = now_ms or timezone.now().timestamp() * 1000
    seconds = max(0, int((now - value) / 1000))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@register.filter
def duration_ms(value):
    """A duration in milliseconds, as "4m 10s", "2h 5m", "3d 4h"."""
    if value is None:
        return ""
    seconds = int(value / 1000)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


@register.filter
def duration_ms_since(end_ms, start_ms):
    """The time from `start_ms` to `end_ms`, as duration_ms writes it."""
    if end_ms is None or start_ms is None:
        return ""
    return duration_ms(end_ms - start_ms)


@register.filter
def severity_icon(severity):
    return SEVERITY_ICONS.get(severity, "?")


@register.filter
def status_words(status):
    """ACTIVE_UNACK -> "Active, unacknowledged"."""
    state, _, ack = (status or "").partition("_")
    return f"{state.title()}, {'acknowledged' if ack == 'ACK' else 'unacknowledged'}"


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current URL's query string with some parameters replaced (None removes one).

    The live refresh's own parameters (`v`, `t`) are dropped unless given."""
    query = context["request"].GET.copy()
    for name in ("v", "t", *changes):
        query.pop(name, None)
    for name, value in changes.items():
        if value is not None:
            query[name] = value
    return "?" + query.urlencode() if query else "?"
