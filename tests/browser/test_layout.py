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
    rows = page.locator("#alarm-table tr[id^=row-]")
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


def test_three_alarms_fit_on_the_list_on_a_360_pixel_phone(synced_app, browser):  # noqa: F811
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    sign_in(page, synced_app, TENANT)
    rows = page.locator("#alarm-table tr[id^=row-]")
    expect(rows.nth(2)).to_be_attached()
    page.wait_for_load_state("load")

    bottoms = [box["y"] + box["height"] for box in (rows.nth(i).bounding_box() for i in range(3))]
    assert max(bottoms) <= 740, bottoms  # three whole alarms on the first screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    context.close()


def test_the_filters_take_one_line_at_1366(synced_app, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in(page, synced_app, TENANT)
    page.wait_for_load_state("load")
    tops = {
        name: round(page.locator(selector).bounding_box()["y"])
        for name, selector in (
            ("search", "#id_q"),
            ("status", "#filters select[name=status]"),
            ("sort", "#filters select[name=sort]"),
            ("more", "#filters .more-filters summary"),
        )
    }
    assert max(tops.values()) - min(tops.values()) < 12, tops
    context.close()


def test_bulk_controls_appear_when_something_is_selected(synced_app, page):  # noqa: F811
    sign_in(page, synced_app, TENANT)
    toolbar = page.locator("#bulk-form")
    expect(toolbar).to_be_hidden()
    boxes = page.locator("#alarm-table tr[id^=row-] input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    expect(toolbar).to_be_visible()
    expect(toolbar).to_contain_text("2 selected")
    expect(toolbar.get_by_role("button", name="Apply to all")).to_be_visible()
    boxes.nth(0).uncheck()
    expect(toolbar).to_contain_text("1 selected")
    boxes.nth(1).uncheck()
    expect(toolbar).to_be_hidden()
    # "Select all on this page" shows them too.
    page.get_by_label("Select all on this page").check()
    expect(toolbar).to_contain_text(f"{boxes.count()} selected")
    assert page.console_errors == []


def test_a_compact_density_shows_more_rows_and_is_remembered(synced_app, page):  # noqa: F811
    sign_in(page, synced_app, TENANT)
    rows = page.locator("#alarm-table tr[id^=row-]")
    expect(rows.first).to_be_visible()
    page.wait_for_load_state("load")
    roomy = sum(rows.nth(i).bounding_box()["height"] for i in range(3))
    toggle = page.get_by_role("button", name="Compact rows")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    compact = sum(rows.nth(i).bounding_box()["height"] for i in range(3))
    assert compact < roomy * 0.85, (roomy, compact)
    page.reload()
    expect(page.get_by_role("button", name="Compact rows")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert page.console_errors == []
