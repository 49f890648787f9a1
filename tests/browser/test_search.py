"""The list's search answers what was typed however it got there: typed, pasted, cleared."""

import re

from playwright.sync_api import expect

from tests.browser.test_triage import (
    listed_ids,
    sign_in,
    synced_app,  # noqa: F401 - a fixture
)
from tests.conftest import TENANT

PASTE = """box => {
    box.value = "Door Open";  // what a paste leaves: an input event, no key pressed
    box.dispatchEvent(new InputEvent("input", {bubbles: true, inputType: "insertFromPaste"}));
}"""
CLEAR = """box => {
    box.value = "";  // the field's own clear button: input and search events, no key
    box.dispatchEvent(new InputEvent("input", {bubbles: true, inputType: "deleteContent"}));
    box.dispatchEvent(new Event("search", {bubbles: true}));
}"""


def test_search_fires_on_paste_and_on_clear(synced_app, page):  # noqa: F811
    sign_in(page, synced_app, TENANT, "/alarms/?status=ANY")
    everything = listed_ids(page)

    page.locator("#id_q").evaluate(PASTE)
    expect(page).to_have_url(re.compile(r"[?&]q=Door(%20|\+)Open(&|$)"))
    rows = page.locator("#alarm-table tr[id^=row-]")
    expect(rows.first).to_contain_text("Door Open")
    assert listed_ids(page) != everything

    page.locator("#id_q").evaluate(CLEAR)
    expect(page).to_have_url(re.compile(r"[?&]q=(&|$)"))
    expect(page.locator("#alarm-table tr[id^=row-]")).to_have_count(len(everything))
    assert page.console_errors == []
