"""Small server-drawn SVG charts: no script, so nothing for the Content-Security-Policy to
block; colours come from the stylesheet (classes), and each page also gives the figures as a
table for screen readers."""

import math
from datetime import UTC, datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from alarmdesk.alarms.models import SEVERITIES

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 40, 24, 10


def _day_label(day_ms):
    return datetime.fromtimestamp(day_ms / 1000, tz=UTC).strftime("%b %-d")


def nice_axis(most, *, least_step=1):
    """Round y ticks for values up to `most`: a step of 1, 2 or 5 times a power of ten (at
    least `least_step`), at most 5 steps and at least 2, from 0. Returns (step, top)."""
    magnitude = 10 ** math.floor(math.log10(max(most, least_step) / 5))
    step = next(
        s
        for s in (m * magnitude * 10**k for k in (0, 1) for m in (1, 2, 5))
        if s >= least_step and math.ceil(most / s) <= 5
    )
    return step, step * max(2, math.ceil(most / step))


def _frame(content, label, step, top, unit=""):
    """The SVG with its y axis (a line and a label at every step) and an accessible name."""
    ticks = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="{}"/>'
        '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>',
        (
            (
                LEFT,
                f"{y:.1f}",
                WIDTH,
                f"{y:.1f}",
                "axis" if i == 0 else "grid",
                LEFT - 4,
                f"{y + 4:.1f}",
                "0" if not i else f"{i * step:g}{unit}" if unit else _count(i * step),
            )
            for i in range(round(top / step) + 1)
            if (y := _y(i * step, top)) is not None
        ),
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" class="chart">{}{}</svg>',
        WIDTH,
        HEIGHT,
        label,
        ticks,
        content,
    )


def _count(value):
    """A count as a tick says it in at most four characters, which the axis's margin holds
    on a phone: 30000 is "30k" (a week of 1,000,000 alarms is 33,000 a day)."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _y(value, top):
    """The height in the SVG of `value` on an axis from 0 to `top`."""
    return HEIGHT - BOTTOM - value * (HEIGHT - BOTTOM - TOP) / top


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
    step, top = nice_axis(max(sum(counts.values()) for _, counts in per_day))
    slot = (WIDTH - LEFT) / len(days)
    bars = []
    for i, (day, counts) in enumerate(per_day):
        below = 0
        for severity in SEVERITIES:
            count = counts.get(severity, 0)
            if not count:
                continue
            y, height = _y(below + count, top), _y(below, top) - _y(below + count, top)
            below += count
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
    return _frame(content, "Alarms per day, stacked by severity", step, top)


def trend(points):
    """Median time to acknowledge and to clear per day, as two lines: in minutes when every
    median is under an hour, else in hours."""
    days = [day for day, _, _ in points]
    values = [v for _, ack, clear in points for v in (ack, clear) if v is not None]
    if not values:
        return ""
    unit, size, words = (
        ("m", 60_000, "minutes") if max(values) < 3_600_000 else ("h", 3_600_000, "hours")
    )
    step, top = nice_axis(max(values) / size)
    slot = (WIDTH - LEFT) / len(days)

    def line(index, css):
        coordinates = [
            f"{LEFT + slot * (i + 0.5):.1f},{_y(point[index] / size, top):.1f}"
            for i, point in enumerate(points)
            if point[index] is not None
        ]
        return format_html('<polyline points="{}" class="{}"/>', " ".join(coordinates), css)

    content = mark_safe(line(1, "line-ack") + line(2, "line-clear") + _x_labels(days, slot))
    label = f"Median time to acknowledge and to clear per day, in {words}"
    return _frame(content, label, step, top, unit)
