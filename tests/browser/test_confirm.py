"""Clear asks first in Chromium: from a row's button, the `c` key and the detail page, a
dialog says what clearing does; only its "Yes" clears (checked in the simulator)."""

from playwright.sync_api import expect

from alarmdesk.alarms.models import Alarm
from tests.browser.test_triage import (
    sign_in,
    synced_app,  # noqa: F401 - a fixture
)
from tests.conftest import TENANT, TbSession

ACTED = 15_000  # ms: generous on a loaded machine; an action answers in well under a second


def cleared(tbsim, alarm_id):
    return TbSession(tbsim.url, TENANT).get(f"/api/alarm/info/{alarm_id}").json()["cleared"]


def test_a_rows_clear_asks_and_only_yes_clears(synced_app, page, tbsim):  # noqa: F811
    sign_in(page, synced_app, TENANT)
    row = page.locator("#alarm-table tr[id^=row-]").first
    alarm_id = row.get_attribute("id").removeprefix("row-")
    alarm = Alarm.objects.get(id=alarm_id)
    dialog = page.locator("#confirm-dialog")

    row.get_by_role("button", name="Clear").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Clear {alarm.type} on {alarm.originator_name}?")
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    assert not cleared(tbsim, alarm_id)

    page.keyboard.press("j")  # the keyboard's cursor on the first row
    page.keyboard.press("c")  # and its Clear asks too
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Yes, clear it").click()
    # The session is confirmed with ThingsBoard first, then the clear: two calls and more.
    expect(page.locator(f"#row-{alarm_id}")).to_contain_text("Cleared.", timeout=ACTED)
    assert cleared(tbsim, alarm_id)
    assert page.console_errors == []


def test_the_detail_pages_clear_asks_first(synced_app, page, tbsim):  # noqa: F811
    alarm = Alarm.objects.filter(cleared=False).order_by("id").first()
    sign_in(page, synced_app, TENANT, f"/alarms/{alarm.id}/")
    dialog = page.locator("#confirm-dialog")

    page.locator("#alarm-main").get_by_role("button", name="Clear").click()
    expect(dialog).to_contain_text("cannot be made active again")
    assert not cleared(tbsim, alarm.id)
    dialog.get_by_role("button", name="Yes, clear it").click()

    expect(page.locator("#alarm-main")).to_contain_text("Cleared.", timeout=ACTED)
    assert cleared(tbsim, alarm.id)
    assert page.console_errors == []
