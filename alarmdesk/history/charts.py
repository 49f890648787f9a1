"""Small server-drawn SVG charts: no script, so nothing for the Content-Security-Policy to
block; colours come from the stylesheet (classes), and each page also gives the figures as a
table for screen readers."""

from datetime import UTC, datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from alarmdesk.alarms.models import SEVERITIES

WIDTH, HEIGHT, LEFT, BOTTOM = 720, 220, 40, 24


def _day_label(day_ms):
    return datetime.fromtimestamp(day_ms / 1000, tz=UTC).strftime("%b %-d")


def _frame(content, label, maximum, unit=""):
    """The SVG with its y axis (0 and the maximum) and an accessible name."""
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" class="chart">'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/>'
        '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>'
        '<text x="{}" y="{}" class="tick" text-anchor="end">0</text>{}</svg>',
        WIDTH,
        HEIGHT,
        label,
        LEFT,
        HEIGHT - BOTTOM,
        WIDTH,
        HEIGHT - BOTTOM,
        LEFT - 4,
        12,
        f"{maximum:g}{unit}",
        LEFT - 4,
        HEIGHT - BOTTOM,
        content,
    )


def _x_labels(days, slot):
    step = max(1, len(days) // 8)
    return format_html_join(
        "",
        '<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>',
        (
            (f"{LEFT + slot * (i + 0.5):.1f}", HEIGHT - 6, _day_label(day))
            for i, day in enumerate(days)
            if i % step == 0
        ),
    )


def alarms_per_day(per_day):
    """Bars per day, stacked by severity (most severe at the bottom)."""
    days = [day for day, _ in per_day]
    if not days:
        return ""
    most = max((sum(counts.values()) for _, counts in per_day), default=0) or 1
    slot = (WIDTH - LEFT) / len(days)
    scale = (HEIGHT - BOTTOM - 16) / most
    bars = []
    for i, (day, counts) in enumerate(per_day):
        y = HEIGHT - BOTTOM
        for severity in SEVERITIES:
            count = counts.get(severity, 0)
            if not count:
                continue
            height = count * scale
            y -= height
            bars.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" class="bar-{}">'
                    "<title>{}: {} {}</title></rect>",
                    f"{LEFT + slot * i + slot * 0.1:.1f}",
                    f"{y:.1f}",
                    f"{slot * 0.8:.1f}",
                    f"{height:.1f}",
                    severity.lower(),
                    _day_label(day),
                    count,
                    severity.lower(),
                )
            )
    content = mark_safe("".join(bars) + _x_labels(days, slot))
    return _frame(content, "Alarms per day, stacked by severity", most)


def trend(points):
    """Median time to acknowledge and to clear per day, in hours, as two lines."""
    days = [day for day, _, _ in points]
    values = [v for _, ack, clear in points for v in (ack, clear) if v is not None]
    if not values:
        return ""
    most = max(values) / 3_600_000 or 1
    slot = (WIDTH - LEFT) / len(days)
    scale = (HEIGHT - BOTTOM - 16) / most

    def line(index, css):
        coordinates = [
            f"{LEFT + slot * (i + 0.5):.1f},{HEIGHT - BOTTOM - hours * scale:.1f}"
            for i, point in enumerate(points)
            if (hours := None if point[index] is None else point[index] / 3_600_000) is not None
        ]
        return format_html('<polyline points="{}" class="{}"/>', " ".join(coordinates), css)

    content = mark_safe(line(1, "line-ack") + line(2, "line-clear") + _x_labels(days, slot))
    return _frame(
        content, "Median time to acknowledge and to clear per day, in hours", round(most, 1), " h"
    )
