"""Live refreshes never destroy the person's state: rows selected, the keyboard cursor and
focus, and the answer to their own action survive refreshes that re-render the table."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from alarmdesk.alarms import sync
from alarmdesk.alarms.models import Alarm
from tests.browser.test_triage import (
    sign_in,
    synced_app,  # noqa: F401 - a fixture
)
from tests.conftest import TENANT, TbSession, raise_alarm

REFRESH = 12_000  # ms: several of the page's refreshes, on a loaded machine


def raise_and_sync(tbsim, n):
    """A change in ThingsBoard that the next refresh re-renders the table for; the row."""
    new = raise_alarm(tbsim, f"Meanwhile {n}", "INDETERMINATE")
    sync.run_cycle()
    return new


def test_selection_cursor_focus_and_answers_survive_three_refreshes(
    synced_app,  # noqa: F811
    page,
    tbsim,
):
    sign_in(page, synced_app, TENANT)
    rows = page.locator("#alarm-table tr[id^=row-]")
    first, second, third = (rows.nth(i).get_attribute("id") for i in range(3))
    for row_id in (second, third):
        page.locator(f"#{row_id} input[type=checkbox]").check()
    answered = page.locator("#alarm-table tr:has(button[data-key=a])").last.get_attribute("id")
    page.locator(f"#{answered} button[data-key=a]").click()  # its answer is in the row
    expect(page.locator(f"#{answered} [role=status]")).to_contain_text("Acknowledged")
    page.keyboard.press("j")  # the cursor, and the focus, on the first row

    for n in range(3):
        new = raise_and_sync(tbsim, n)
        expect(page.locator(f"tr#row-{new}")).to_be_attached(timeout=REFRESH)
        for row_id in (second, third):
            expect(page.locator(f"#{row_id} input[type=checkbox]")).to_be_checked()
        expect(page.locator(f"#{first}")).to_have_class(re.compile(r"\bcurrent\b"))
        expect(page.locator(f"#{answered} [role=status]")).to_contain_text("Acknowledged")
        assert page.evaluate("document.activeElement.closest('tr')?.id") == first
    assert page.console_errors == []


def test_a_refresh_updates_rows_in_place_and_a_row_that_left_fades_out(
    synced_app,  # noqa: F811
    page,
    tbsim,
):
    # A while since the sync last changed anything (rows changed in the last seconds are
    # sent again with every refresh, live.DELTA_MARGIN_SECONDS).
    Alarm.objects.update(changed_at=timezone.now() - timedelta(hours=1))
    sign_in(page, synced_app, TENANT)
    rows = page.locator("#alarm-table tr[id^=row-]")
    kept, leaving = rows.nth(0).get_attribute("id"), rows.nth(1).get_attribute("id")
    # A mark on the elements themselves: a row drawn again would not carry it.
    page.evaluate(
        "ids => ids.forEach(id => { document.getElementById(id).dataset.probe = 'same'; })",
        [kept, leaving],
    )
    page.evaluate("document.getElementById('alarm-table').dataset.probe = 'same'")
    alarm_id = leaving.removeprefix("row-")
    TbSession(tbsim.url, TENANT).post(f"/api/alarm/{alarm_id}/clear").raise_for_status()
    sync.run_cycle()

    # Cleared in ThingsBoard: it leaves the "Active" list, fading (not moved, not jumped).
    expect(page.locator(f"#{leaving}")).to_have_class(re.compile(r"\bleaving\b"), timeout=REFRESH)
    expect(page.locator(f"#{leaving}")).to_have_count(0, timeout=5_000)
    assert page.evaluate(f"document.getElementById('{kept}').dataset.probe") == "same"
    assert page.evaluate("document.getElementById('alarm-table').dataset.probe") == "same"

    new = raise_and_sync(tbsim, "in place")
    expect(page.locator(f"tr#row-{new}")).to_be_attached(timeout=REFRESH)
    expect(page.locator(f"tr#row-{new}")).to_have_class(re.compile(r"\bfresh\b"))
    assert page.evaluate(f"document.getElementById('{kept}').dataset.probe") == "same"
    total = page.locator("#list-summary").inner_text()
    assert re.search(r"\d+ alarms?", total)
    assert page.console_errors == []
