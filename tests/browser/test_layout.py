"""The list is dense enough for a laptop: the first alarms are above the fold at 1366x768
and no page scrolls sideways from 1280 px on (a tenant administrator's widest table)."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_triage import (
    sign_in,
    synced_app,  # noqa: F401 - a fixture
)
from tests.conftest import TENANT


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1280, 800), (1440, 900)])
def test_the_first_alarms_are_above_the_fold_and_nothing_scrolls_sideways(
    synced_app,  # noqa: F811
    browser,
    width,
    height,
):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    sign_in(page, synced_app, TENANT)
    rows = page.locator("#alarm-table tr[data-alarm-id]")
    expect(rows.first).to_be_visible()
    page.wait_for_load_state("load")  # styles applied

    first = rows.first.bounding_box()
    assert first["y"] + first["height"] <= height  # the first row whole, without scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    context.close()


def test_three_waiting_alarms_fit_on_call_on_a_360_pixel_phone(app, store, browser):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    sign_in(page, app, TENANT, "/oncall/")
    cards = page.locator("#oncall-list article[data-alarm-id]")
    expect(cards.nth(2)).to_be_visible()
    page.wait_for_load_state("load")

    whole = [
        box["y"] + box["height"] <= 740 for box in map(lambda c: c.bounding_box(), cards.all())
    ]
    assert whole[:3] == [True, True, True]
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    context.close()


def test_on_a_touch_screen_a_disabled_buttons_reason_is_words_not_a_tooltip(
    synced_app,  # noqa: F811
    browser,
):
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    sign_in(page, synced_app, TENANT)
    acknowledged = page.locator("#alarm-table tr:has(.withheld)").first

    expect(acknowledged.locator(".withheld")).to_be_visible()
    expect(acknowledged.locator(".withheld")).to_contain_text("Already acknowledged")
    context.close()


def test_with_a_mouse_the_reason_stays_a_tooltip(synced_app, page):  # noqa: F811
    sign_in(page, synced_app, TENANT)
    acknowledged = page.locator("#alarm-table tr:has(.withheld)").first
    expect(acknowledged.locator(".withheld")).to_be_hidden()
    assert acknowledged.get_by_role("button", name="Ack").get_attribute("title")
