"""The alarm detail page in Chromium: every action shows on the whole page without a reload."""

from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Alarm

OLIVIA = ("olivia.ops@thingsboard.org", "tenant")


@pytest.fixture
def synced_app(app, transactional_db, settings, tbsim):
    settings.ALARMDESK_RECONCILE_SECONDS = 10**6
    sync.run_cycle()
    return app


def open_alarm(page, app, alarm):
    path = f"/alarms/{alarm.id}/"
    page.goto(f"{app}/login/?{urlencode({'next': path})}")
    page.get_by_label("Email").fill(OLIVIA[0])
    page.get_by_label("Password").fill(OLIVIA[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{app}{path}")
    # A reload would lose this mark: the page must change in place.
    page.evaluate("window.notReloaded = true")


def fresh_alarm():
    return Alarm.objects.filter(cleared=False, acknowledged=False, assignee_id=None).first()


def timeline(page):
    return page.locator("ol.timeline li")


@pytest.mark.parametrize("width", [1366, 360])
def test_acknowledging_updates_state_buttons_and_timeline_in_place(synced_app, page, width):
    page.set_viewport_size({"width": width, "height": 768 if width > 400 else 740})
    alarm = fresh_alarm()
    open_alarm(page, synced_app, alarm)
    actions = page.locator(".action-buttons")
    expect(actions.get_by_role("button", name="Unassign")).to_have_count(0)
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_have_text("Acknowledged.")
    expect(actions.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator("#alarm-main .facts")).to_contain_text("Active, acknowledged")
    expect(timeline(page).filter(has_text="Acknowledged")).to_have_count(1)
    expect(timeline(page).last).to_contain_text("Acknowledged by Olivia Ops, through AlarmDesk")
    expect(page.get_by_label("Assign to")).to_be_visible()  # the picker stays
    widths = actions.get_by_role("button").evaluate_all(
        "buttons => buttons.map(b => Math.round(b.getBoundingClientRect().width))"
    )
    assert len(set(widths)) == 1, widths
    page.screenshot(path=f"/tmp/detail-{width}.png", full_page=True)
    assert page.evaluate("window.notReloaded") is True
    assert page.console_errors == []


def test_a_comment_posted_shows_in_the_timeline_without_a_reload(synced_app, page):
    alarm = fresh_alarm()
    open_alarm(page, synced_app, alarm)
    page.get_by_label("Comment in ThingsBoard").fill("Seal replaced, watching the pressure")
    page.get_by_role("button", name="Post comment").click()
    line = timeline(page).filter(has_text="Seal replaced, watching the pressure")
    expect(line).to_have_count(1)
    expect(line).to_contain_text("Comment by Olivia Ops, through AlarmDesk")
    expect(page.get_by_label("Comment in ThingsBoard")).to_have_value("")
    assert page.evaluate("window.notReloaded") is True
    assert page.console_errors == []


def test_assigning_to_me_then_unassigning_offers_the_other_each_time(synced_app, page):
    alarm = fresh_alarm()
    open_alarm(page, synced_app, alarm)
    actions = page.locator(".action-buttons")
    actions.get_by_role("button", name="Assign to me").click()
    expect(page.locator("#alarm-main .facts")).to_contain_text(
        "Olivia Ops (olivia.ops@thingsboard.org)"
    )
    expect(actions.get_by_role("button", name="Assign to me")).to_have_count(0)
    actions.get_by_role("button", name="Unassign").click()
    expect(actions.get_by_role("button", name="Unassign")).to_have_count(0)
    expect(actions.get_by_role("button", name="Assign to me")).to_be_visible()
    expect(timeline(page).filter(has_text="Assigned to Olivia Ops by Olivia Ops")).to_have_count(1)
    expect(timeline(page).filter(has_text="Unassigned by Olivia Ops")).to_have_count(1)
    assert page.evaluate("window.notReloaded") is True
