"""An operator's path through an alarm's originator in Chromium, on a 1366x768 screen and a
360-pixel phone: from the alarm to its device, its latest values, a shared attribute set,
an alarm raised by hand on the same device and seen in the list, then deleted after the
dialog's question. Checked in the simulator; no console error (a CSP violation is one), no
sideways scroll."""

from playwright.sync_api import expect

from alarmdesk.alarms.models import Alarm, Customer
from tests.browser.test_triage import (
    sign_in,
    synced_app,  # noqa: F401 - a fixture
)
from tests.conftest import TENANT, TbSession

ACTED = 15_000  # ms: generous on a loaded machine


def no_sideways_scroll(page):
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def test_from_an_alarm_to_its_device_and_back_with_an_alarm_raised_and_deleted(
    synced_app,  # noqa: F811 - the fixture
    screen,
    tbsim,
):
    page = screen
    customer = Customer.objects.get(title="Customer A")
    alarm = Alarm.objects.filter(customer_id=customer.id, originator_type="DEVICE").first()
    sign_in(page, synced_app, TENANT, f"/alarms/{alarm.id}/")
    no_sideways_scroll(page)
    page.locator("header").get_by_role("link", name=alarm.originator_name).click()
    expect(page).to_have_url(f"{synced_app}/devices/{alarm.originator_id}/")
    expect(page.locator("h1")).to_have_text(alarm.originator_name)
    with TbSession(tbsim.url, TENANT) as tb:
        latest = tb.get(
            f"/api/plugins/telemetry/DEVICE/{alarm.originator_id}/values/timeseries"
        ).json()
    for key in latest:
        expect(page.locator("table.latest")).to_contain_text(key)
    no_sideways_scroll(page)

    # A shared attribute, kept as a number.
    page.get_by_text("Add or change a shared attribute").click()
    form = page.locator("details.attribute-form[open] form")
    form.get_by_label("Key").fill("maintenance_window_h")
    form.get_by_label("Type").select_option("number")
    form.get_by_label("Value").fill("4")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("Saved maintenance_window_h = 4.")
    with TbSession(tbsim.url, TENANT) as tb:
        shared = tb.get(
            f"/api/plugins/telemetry/DEVICE/{alarm.originator_id}/values/attributes/SHARED_SCOPE"
        ).json()
    assert {a["key"]: a["value"] for a in shared}["maintenance_window_h"] == 4

    # An alarm raised by hand, then seen in the list.
    page.get_by_text("Raise an alarm on this device").click()
    raising = page.locator("details.raise-alarm form")
    raising.get_by_label("Type").fill("Inspection Due")
    raising.get_by_label("Severity").select_option("MINOR")
    raising.get_by_label("Note").fill("Seen leaking on the morning round")
    raising.get_by_role("button", name="Raise").click()
    expect(page.locator("main")).to_contain_text("Raised: Minor Inspection Due.")
    raised_id = page.locator("article.alarm-detail").get_attribute("data-alarm-id")
    page.goto(f"{synced_app}/alarms/?severity=MINOR")
    expect(page.locator(f"#row-{raised_id}")).to_contain_text("Inspection Due")
    no_sideways_scroll(page)

    # Deleted from its page, after the dialog's question.
    page.locator(f"#row-{raised_id}").get_by_role("link", name="Inspection Due").click()
    page.locator("#alarm-main").get_by_role("button", name="Delete").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Deleting removes the alarm from ThingsBoard")
    dialog.get_by_role("button", name="Yes, delete it").click()
    expect(page.locator("#alarm-main")).to_contain_text("Deleted in ThingsBoard", timeout=ACTED)
    with TbSession(tbsim.url, TENANT) as tb:
        assert tb.get(f"/api/alarm/info/{raised_id}").status_code == 404
    assert Alarm.objects.get(id=raised_id).deleted_by == TENANT[0]
    assert page.console_errors == []
