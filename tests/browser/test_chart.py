"""The telemetry chart on the alarm detail page, drawn by uPlot in a real Chromium under the
strict CSP."""

import pytest
from playwright.sync_api import expect

from alarmdesk.alarms.models import Alarm
from tests.conftest import TENANT

# Whether any pixel of the chart's canvas was painted.
CANVAS_PAINTED = """canvas => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  return pixels.some((value, i) => i % 4 === 3 && value > 0);
}"""


def sign_in(app, page, path):
    page.goto(f"{app}/login/?next={path}")
    page.get_by_label("Email").fill(TENANT[0])
    page.get_by_label("Password").fill(TENANT[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{app}{path}")


@pytest.mark.parametrize("width", [1280, 360])
def test_the_detail_page_draws_the_originators_telemetry(app, page, store, width):
    page.set_viewport_size({"width": width, "height": 800})
    alarm = (
        Alarm.objects.filter(originator_type="DEVICE", type="High Temperature", cleared=True)
        .order_by("-start_ts")
        .first()
    )
    sign_in(app, page, f"/alarms/{alarm.id}/")

    chart = page.locator("#telemetry-chart")
    canvas = chart.locator("canvas")
    expect(canvas).to_be_visible()
    assert canvas.evaluate(CANVAS_PAINTED)
    expect(chart.locator(".u-legend")).to_contain_text("temperature")
    box = chart.bounding_box()
    assert canvas.bounding_box()["width"] <= box["width"] <= width  # fits a phone
    page.get_by_text("Show as a table").click()
    expect(page.locator(".telemetry-table tbody tr").first).to_be_visible()
    assert page.console_errors == []  # a CSP violation would be one
