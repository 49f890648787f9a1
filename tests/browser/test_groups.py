"""The list grouped, in Chromium: a group opens on its rows, the rows work as the list's do,
and the page's live refresh keeps the group open with the person's selection in it."""

import re

from playwright.sync_api import expect

from alarmdesk.alarms import sync
from tests.browser.test_triage import (
    sign_in,
    synced_app,  # noqa: F401 - a fixture
)
from tests.conftest import TENANT, raise_alarm

REFRESH = 12_000  # ms: two of the page's 5-second refreshes


def group_named(page, name):
    """The group whose heading names exactly `name`."""
    exact = page.locator(".group-name", has_text=re.compile(rf"^{re.escape(name)}$"))
    return page.locator("#alarm-table details.group").filter(has=exact)


def grouped_by_originator(page):
    page.get_by_label("Group by").select_option("originator")
    expect(page).to_have_url(re.compile(r"group=originator"))
    groups = page.locator("#alarm-table details.group")
    expect(groups.first).to_be_visible()
    return groups


def test_a_group_opens_on_its_rows_and_a_refresh_keeps_it_open_and_selected(
    synced_app,  # noqa: F811
    page,
    tbsim,
):
    sign_in(page, synced_app, TENANT)
    groups = grouped_by_originator(page)
    expect(page.locator("#alarm-table tr[id^=row-]")).to_have_count(0)  # headings only
    name = groups.first.locator(".group-name").inner_text()
    group = group_named(page, name)

    group.locator("summary").click()
    rows = group.locator("tr[id^=row-]")
    expect(rows.first).to_be_visible()
    chosen = rows.first.get_attribute("id").removeprefix("row-")
    group.locator(f"tr#row-{chosen} input[type=checkbox]").check()

    # A new alarm on that originator: the next refresh re-renders the grouped table.
    new = raise_alarm(tbsim, "Meanwhile", "INDETERMINATE", device=name)
    sync.run_cycle()
    expect(group.locator(f"tr#row-{new}")).to_be_visible(timeout=REFRESH)

    expect(group).to_have_attribute("open", "")
    expect(group.locator(f"tr#row-{chosen} input[type=checkbox]")).to_be_checked()
    expect(group.locator("summary")).to_contain_text(f"{rows.count()} alarms")
    assert page.console_errors == []


def test_keys_move_through_the_open_groups_rows_only(synced_app, page):  # noqa: F811
    sign_in(page, synced_app, TENANT)
    groups = grouped_by_originator(page)
    first, second = groups.nth(0), groups.nth(1)
    first.locator("summary").click()
    expect(first.locator("tr[id^=row-]").first).to_be_visible()
    first.locator("summary").click()  # closed again: its rows stay, hidden
    second.locator("summary").click()
    expect(second.locator("tr[id^=row-]").first).to_be_visible()

    page.keyboard.press("j")

    expect(second.locator("tr[id^=row-]").first).to_have_class(re.compile(r"\bcurrent\b"))
    expect(first.locator("tr.current")).to_have_count(0)
    assert page.console_errors == []


def test_a_row_acted_on_in_a_group_answers_in_its_row(synced_app, page):  # noqa: F811
    sign_in(page, synced_app, TENANT, "/alarms/?status=UNACK&group=type")
    group = page.locator("#alarm-table details.group").first
    group.locator("summary").click()
    expect(group.locator("tr[id^=row-]").first).to_be_visible()
    row = page.locator(f"#{group.locator('tr[id^=row-]').first.get_attribute('id')}")
    row.get_by_role("button", name="Ack").click()
    expect(row.get_by_role("status")).to_have_text("Acknowledged.")
    assert page.console_errors == []


def test_grouped_with_a_group_open_fits_a_360_pixel_phone(synced_app, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    sign_in(page, synced_app, TENANT, "/alarms/?group=type&status=ANY")
    group = page.locator("#alarm-table details.group").first
    group.locator("summary").click()
    expect(group.locator("tr[id^=row-]").first).to_be_visible()
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    context.close()


def test_a_group_opened_from_the_keyboard_keeps_the_focus_on_its_heading(
    synced_app,  # noqa: F811
    page,
):
    sign_in(page, synced_app, TENANT)
    group = grouped_by_originator(page).first
    group.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(group.locator("tr[id^=row-]").first).to_be_visible()
    expect(group.locator("summary")).to_be_focused()
    page.keyboard.press("Enter")  # and closes it again
    expect(group).not_to_have_attribute("open", "")
    assert page.console_errors == []
