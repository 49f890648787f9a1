"""Triage in Chromium: scope, clicks, bulk, live refresh, keyboard, a phone's width."""

from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Alarm
from tests.conftest import (
    CUSTOMER_A,
    TENANT,
    TbSession,
    raise_alarm,
    thingsboard_alarm_ids,
    worker_thread,
)


@pytest.fixture
def synced_app(app, transactional_db, settings, tbsim):
    settings.ALARMDESK_RECONCILE_SECONDS = 10**6
    sync.run_cycle()
    return app


def sign_in(page, app, persona, next_path="/alarms/"):
    page.goto(f"{app}/login/?{urlencode({'next': next_path})}")
    page.get_by_label("Email").fill(persona[0])
    page.get_by_label("Password").fill(persona[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{app}{next_path}")
    page.wait_for_load_state("load")  # its scripts have run: keys pressed now are heard


def listed_ids(page):
    return set(
        page.locator("#alarm-table tr[id^=row-]").evaluate_all(
            "rows => rows.map(row => row.id.slice(4))"
        )
    )


def test_a_customer_user_sees_exactly_their_customers_alarms(synced_app, page, tbsim):
    sign_in(page, synced_app, CUSTOMER_A)
    page.goto(f"{synced_app}/alarms/?status=ANY&sort=-created")
    shown = listed_ids(page)
    mine = thingsboard_alarm_ids(tbsim, CUSTOMER_A)
    assert shown
    assert shown <= mine
    assert not shown & (thingsboard_alarm_ids(tbsim, TENANT) - mine)
    assert page.console_errors == []


def test_acknowledging_by_click_updates_the_row_and_thingsboard(synced_app, page, tbsim):
    sign_in(page, synced_app, TENANT)
    alarm = (
        Alarm.objects.filter(cleared=False, acknowledged=False)
        .order_by("severity_rank", "-start_ts")
        .first()
    )
    row = page.locator(f"tr#row-{alarm.id}")
    row.get_by_role("button", name="Ack").click()
    expect(row.get_by_role("status")).to_have_text("Acknowledged.")
    expect(row.get_by_role("button", name="Ack")).to_be_disabled()
    info = TbSession(tbsim.url, TENANT).get(f"/api/alarm/info/{alarm.id}").json()
    assert info["acknowledged"] is True
    assert page.console_errors == []


def test_acks_pressed_on_several_rows_one_after_another_all_land(synced_app, page, tbsim):
    """The rows share one form (list.html): each press must still be a request of its own,
    not one queued behind another and dropped."""
    sign_in(page, synced_app, TENANT, next_path="/alarms/?status=UNACK")
    rows = page.locator("#alarm-table tr[id^=row-]")
    chosen = [rows.nth(n).get_attribute("id").removeprefix("row-") for n in range(4)]
    for alarm_id in chosen:  # no wait between the presses
        page.locator(f"tr#row-{alarm_id}").get_by_role("button", name="Ack").click()
    for alarm_id in chosen:
        expect(page.locator(f"tr#row-{alarm_id}").get_by_role("status")).to_have_text(
            "Acknowledged."
        )
    session = TbSession(tbsim.url, TENANT)
    assert all(session.get(f"/api/alarm/info/{a}").json()["acknowledged"] for a in chosen)
    assert page.console_errors == []


def test_a_rows_buttons_work_without_script(synced_app, browser, tbsim):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, synced_app, TENANT, next_path="/alarms/?status=UNACK")
    row = page.locator("#alarm-table tr[id^=row-]").first
    alarm_id = row.get_attribute("id").removeprefix("row-")
    row.get_by_role("button", name="Ack").click()
    expect(page).to_have_url(f"{synced_app}/alarms/?status=UNACK")  # back where it was
    expect(page.get_by_role("status").filter(has_text="Acknowledged.")).to_be_visible()
    assert TbSession(tbsim.url, TENANT).get(f"/api/alarm/info/{alarm_id}").json()["acknowledged"]
    # Clear, without script, asks on a page of its own first.
    page.goto(f"{synced_app}/alarms/?status=ACTIVE")
    row = page.locator("#alarm-table tr[id^=row-]").first
    alarm_id = row.get_attribute("id").removeprefix("row-")
    row.get_by_role("button", name="Clear").click()
    expect(page).to_have_url(f"{synced_app}/alarms/{alarm_id}/")
    assert not TbSession(tbsim.url, TENANT).get(f"/api/alarm/info/{alarm_id}").json()["cleared"]
    context.close()


def test_a_bulk_clear_over_a_filter_reports_per_alarm(synced_app, page, tbsim, celery_app):
    sign_in(page, synced_app, CUSTOMER_A)
    page.goto(f"{synced_app}/alarms/?status=ACTIVE")
    expected = listed_ids(page)
    assert expected
    with worker_thread(celery_app, pool="solo"):
        page.get_by_label("Select all on this page").check()  # the bulk toolbar shows
        page.get_by_label("With the selected alarms").select_option("clear")
        page.get_by_role("button", name="Apply to all").click()
        # Asked first, with the number: nothing is cleared until it is confirmed.
        count = len(expected)
        title = f"Clear {count} alarm{'s' if count > 1 else ''}?"
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        assert not expected - thingsboard_alarm_ids(tbsim, CUSTOMER_A, statusList="ACTIVE")
        page.get_by_role("button", name=title.rstrip("?")).click()
        expect(page.get_by_text("Finished.")).to_be_visible(timeout=20_000)
    assert page.locator("#bulk-progress tbody tr").count() == len(expected)
    expect(page.locator("#bulk-progress")).to_contain_text(f"Done: {len(expected)}")
    assert not expected & thingsboard_alarm_ids(tbsim, CUSTOMER_A, statusList="ACTIVE")
    assert page.console_errors == []


def test_a_new_alarm_appears_without_reloading(synced_app, page, tbsim):
    sign_in(page, synced_app, TENANT)
    new = raise_alarm(tbsim, "Appears Live", "CRITICAL")
    sync.run_cycle()  # what beat does every few seconds
    row = page.locator(f"tr#row-{new}")
    expect(row).to_be_visible(timeout=12_000)  # within one refresh interval (5 s)
    assert "fresh" in row.get_attribute("class")
    assert page.console_errors == []


def test_keyboard_triage(synced_app, page, tbsim):
    sign_in(page, synced_app, TENANT, next_path="/alarms/?status=UNACK")
    first = page.locator("#alarm-table tr[id^=row-]").first
    alarm_id = first.get_attribute("id").removeprefix("row-")
    page.keyboard.press("j")
    assert "current" in first.get_attribute("class")
    page.keyboard.press("x")
    expect(first.locator('input[type="checkbox"]')).to_be_checked()
    page.keyboard.press("a")
    row = page.locator(f"tr#row-{alarm_id}")
    expect(row.get_by_role("status")).to_contain_text("cknowledged")
    page.keyboard.press("/")
    expect(page.locator("#id_q")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.locator("#key-help")).to_be_visible()
    assert page.console_errors == []


def test_the_list_fits_a_360_pixel_phone(synced_app, browser, tbsim):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    sign_in(page, synced_app, TENANT)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    ack = page.locator("#alarm-table tr[id^=row-]").first.get_by_role("button", name="Ack")
    box = ack.bounding_box()
    assert box["height"] >= 36  # a target a thumb can hit
    assert errors == []
    context.close()
