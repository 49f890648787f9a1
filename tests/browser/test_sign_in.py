"""Signing in and out in a real Chromium."""

from playwright.sync_api import expect

from tests.conftest import TENANT


def test_signing_in_and_out_in_chromium(app, page, tbsim):
    page.goto(f"{app}/alarms/")
    expect(page).to_have_url(f"{app}/login/?next=%2Falarms%2F")

    page.get_by_label("Email").fill(TENANT[0])
    page.get_by_label("Password").fill(TENANT[1])
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{app}/alarms/")
    expect(page.locator(".who")).to_contain_text("Tenant administrator")
    cookies = page.context.cookies()
    # The session's key, the CSRF token and the quiet refreshes' ticket (livepoll.py).
    assert {cookie["name"] for cookie in cookies} <= {"sessionid", "csrftoken", "alarmdesk_live"}
    assert not any(cookie["value"].startswith("eyJ") for cookie in cookies)  # no JWT
    assert all(c["httpOnly"] for c in cookies if c["name"] in ("sessionid", "alarmdesk_live"))

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{app}/login/")
    assert "alarmdesk_live" not in {cookie["name"] for cookie in page.context.cookies()}
    page.goto(f"{app}/alarms/")
    expect(page).to_have_url(f"{app}/login/?next=%2Falarms%2F")
    assert page.console_errors == []


def test_a_wrong_password_is_explained_in_chromium(app, page, tbsim):
    page.goto(f"{app}/login/")
    page.get_by_label("Email").fill(TENANT[0])
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("password")
    assert page.console_errors == []
