"""The history's SVG charts: y axes a reader can read at a glance."""

import re

import pytest

from alarmdesk.history import charts

DAY = 86_400_000
HOUR = 3_600_000
TICK = re.compile(r'<text x="36" y="[\d.]+" class="tick" text-anchor="end">([^<]+)</text>')


def y_ticks(svg):
    return TICK.findall(str(svg))


@pytest.mark.parametrize(
    ("most", "ticks"),
    [
        (1, ["0", "1", "2"]),
        (2, ["0", "1", "2"]),
        (7, ["0", "2", "4", "6", "8"]),
        (72, ["0", "20", "40", "60", "80"]),
        (100, ["0", "20", "40", "60", "80", "100"]),
        (1234, ["0", "500", "1000", "1500"]),
        # Short enough for the axis's margin on a phone.
        (33_500, ["0", "10k", "20k", "30k", "40k"]),
        (2_400_000, ["0", "500k", "1M", "1.5M", "2M", "2.5M"]),
    ],
)
def test_alarms_per_day_has_round_y_ticks(most, ticks):
    svg = charts.alarms_per_day([(0, {"CRITICAL": most}), (DAY, {"MAJOR": 1})])
    assert y_ticks(svg) == ticks


@pytest.mark.parametrize(
    ("longest", "ticks"),
    [
        (0.3 * HOUR, ["0", "5m", "10m", "15m", "20m"]),
        (5.5 * HOUR, ["0", "2h", "4h", "6h"]),
        (26 * HOUR, ["0", "10h", "20h", "30h"]),
    ],
)
def test_the_trend_has_round_y_ticks_in_minutes_or_hours(longest, ticks):
    svg = charts.trend([(0, longest, None), (DAY, None, longest / 2)])
    assert y_ticks(svg) == ticks


def test_bars_reach_the_line_of_their_count():
    svg = str(charts.alarms_per_day([(0, {"CRITICAL": 20}), (DAY, {"MAJOR": 80})]))
    lines = re.findall(r'<line x1="40" y1="([\d.]+)"[^>]*/><text [^>]*>(\d+)</text>', svg)
    line_at = {label: float(y) for y, label in lines}
    tops = [float(y) for y in re.findall(r'<rect x="[\d.]+" y="([\d.]+)"', svg)]
    assert tops == [line_at["20"], line_at["80"]]
