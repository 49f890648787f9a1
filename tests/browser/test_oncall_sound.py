"""On-call's sound, when the browser blocks it until the page is tapped (phones' autoplay
policy): the page says so, and a tap enables it. Headless Chromium never blocks sound, so
its AudioContext starts suspended here as a phone's does, until resumed from a tap."""

from playwright.sync_api import expect

from tests.browser.test_oncall import phone, sign_in_from  # noqa: F401 - a fixture

BLOCKED_UNTIL_TAPPED = """
(() => {
  const Real = window.AudioContext;
  window.AudioContext = class extends Real {
    constructor(...args) {
      super(...args);
      this.blocked = true;
      super.suspend();
    }
    get state() { return this.blocked ? "suspended" : super.state; }
    resume() {
      this.blocked = false;
      return super.resume().then(() => this.dispatchEvent(new Event("statechange")));
    }
  };
})();
"""


def test_blocked_sound_is_said_and_a_tap_enables_it(app, store, phone):  # noqa: F811
    phone.add_init_script(BLOCKED_UNTIL_TAPPED)
    sign_in_from(phone, f"{app}/oncall/")
    blocked = phone.get_by_role("button", name="tap to enable it")
    expect(blocked).to_be_visible()

    blocked.click()

    expect(blocked).to_be_hidden()
    assert phone.console_errors == []


def test_no_word_about_sound_when_it_is_not_blocked(app, store, phone):  # noqa: F811
    sign_in_from(phone, f"{app}/oncall/")
    expect(phone.get_by_role("heading", level=1)).to_be_visible()
    expect(phone.get_by_role("button", name="tap to enable it")).to_be_hidden()
