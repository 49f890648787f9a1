"""An open page says, without reload, when what it shows is old: the sync failing, AlarmDesk
not answering; and it unsays it once they recover. Ages keep moving."""

import re

import pytest
import requests
from playwright.sync_api import expect

from alarmdesk.alarms import sync
from alarmdesk.thingsboard.errors import ThingsBoardError
from tests.browser.test_triage import (
    sign_in,
    synced_app,  # noqa: F401 - a fixture
)
from tests.conftest import TENANT

REFRESH = 12_000  # ms: two of the page's 5-second refreshes


def faults(tbsim, body=None):
    url = f"{tbsim.url}/sim/faults"
    answer = requests.post(url, json=body, timeout=5) if body else requests.delete(url, timeout=5)
    answer.raise_for_status()


@pytest.mark.parametrize("path", ["/alarms/", "/oncall/"])
def test_a_failing_sync_is_said_without_reload_and_unsaid_when_it_recovers(
    synced_app,  # noqa: F811
    page,
    tbsim,
    path,
):
    sign_in(page, synced_app, TENANT, path)
    status = page.locator("#live-status")
    expect(status).to_be_hidden()

    faults(tbsim, {"outage": True})
    with pytest.raises(ThingsBoardError):
        sync.run_cycle()
    expect(status).to_contain_text("The alarm sync is failing", timeout=REFRESH)

    faults(tbsim)
    sync.run_cycle()
    expect(status).to_be_hidden(timeout=REFRESH)
    assert page.console_errors == []


def test_alarmdesk_not_answering_is_said_and_unsaid(synced_app, page):  # noqa: F811
    sign_in(page, synced_app, TENANT)
    status = page.locator("#live-status")

    def refreshes(url):
        return "v=" in url

    page.route(refreshes, lambda route: route.abort())
    expect(status).to_contain_text("AlarmDesk is not answering", timeout=REFRESH)
    page.unroute(refreshes)
    expect(status).to_be_hidden(timeout=REFRESH)


def test_ages_on_an_open_page_keep_moving(synced_app, page):  # noqa: F811
    page.clock.install()
    sign_in(page, synced_app, TENANT)
    started = page.locator("#alarm-table tr[id^=row-] time[data-age]").first
    before = started.text_content()

    page.clock.fast_forward(3 * 86_400_000)  # ms: three days

    expect(started).not_to_have_text(before)
    expect(started).to_have_text(re.compile(r"^\d+d ago$"))
