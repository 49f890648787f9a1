"""/history/ in a real Chromium under the strict CSP: on a 1366x768 screen and on a 360-pixel
phone, the table reads in words and the page never scrolls sideways."""

import re
import uuid
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from alarmdesk.alarms.models import Alarm
from alarmdesk.oncall.models import Notice
from tests.conftest import TENANT

# A ThingsBoard enum as it travels (ACTIVE_UNACK, CRITICAL, DEVICE), or any snake_case name.
RAW = re.compile(r"\b[A-Z]{3,}(?:_[A-Z]+)*\b|_")


def sign_in(app, page, path):
    page.goto(f"{app}/login/?next={path}")
    page.get_by_label("Email").fill(TENANT[0])
    page.get_by_label("Password").fill(TENANT[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("History")


def test_the_history_table_reads_in_words_without_sideways_scrolling(app, store, screen):
    since = (timezone.now() - timedelta(days=30)).date().isoformat()
    sign_in(app, screen, f"/history/?since={since}")
    table = screen.locator("table.history-table")
    expect(table.locator("tbody tr").first).to_be_visible()
    text = table.inner_text()
    assert RAW.findall(text) == []
    width = screen.viewport_size["width"]
    assert screen.evaluate("document.documentElement.scrollWidth") <= width
    box, room = table.bounding_box(), screen.locator("main").bounding_box()
    assert box["x"] + box["width"] <= room["x"] + room["width"]  # no column past the edge
    assert screen.console_errors == []  # a CSP violation would be one


def test_my_shift_shows_the_handover_and_round_chart_ticks_on_every_screen(app, store, screen):
    sign_in(app, screen, "/history/?shift=current")
    expect(screen.locator(".presets [aria-current=true]")).to_have_text("My shift (12 hours)")
    expect(screen.locator(".handover")).to_contain_text("raised in this shift")
    chart = screen.locator("svg.chart").first
    assert len(chart.locator("text.tick[text-anchor=end]").all()) >= 3
    width = screen.viewport_size["width"]
    assert screen.evaluate("document.documentElement.scrollWidth") <= width
    assert screen.console_errors == []


def test_the_notification_figures_read_without_sideways_scrolling(app, store, screen):
    alarm = Alarm.objects.filter(acknowledged=True).order_by("-start_ts").first()
    Notice.objects.create(
        alarm=alarm,
        user_id=uuid.uuid4(),
        email="someone.with.a.long.address@thingsboard.org",
        transition="raised",
        severity=alarm.severity,
        created_at=timezone.now() - timedelta(minutes=3),
    )
    sign_in(app, screen, "/history/")
    for table in ("by-person", "by-rule"):
        expect(screen.locator(f"table.{table} tbody tr")).to_have_count(1)
    width = screen.viewport_size["width"]
    assert screen.evaluate("document.documentElement.scrollWidth") <= width
    assert screen.console_errors == []
