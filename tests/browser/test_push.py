"""Web Push in Chromium, on a 360-pixel phone, end to end: the on-call page subscribes the
browser, an alarm raised in the simulator is planned and pushed (pywebpush) to the local
push service, which decrypts it; that payload is delivered to the service worker through the
DevTools protocol, as a push service would; the notification shows Acknowledge and Claim,
and its Acknowledge acknowledges the alarm in the simulator with the person's own session,
confirmed by a second notification.

Headless Chromium has no push service of its own, so the page's PushManager is given the
local service's subscription (an init script): everything after it is the real thing."""

import json
import time

import pytest
from playwright.sync_api import expect

from alarmdesk.alarms import sync
from alarmdesk.oncall import outbox, push
from alarmdesk.oncall.models import Delivery, PushSubscription
from tests.browser.test_webapp import registration_of
from tests.conftest import TENANT, TbSession, raise_alarm
from tests.pushservice import PushService

FAKE_PUSH_MANAGER = """
(() => {
  const subscription = %s;
  let current = null;
  const made = {
    endpoint: subscription.endpoint,
    toJSON: () => subscription,
    unsubscribe: async () => { current = null; return true; },
  };
  PushManager.prototype.getSubscription = async function () { return current; };
  PushManager.prototype.subscribe = async function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    window.pushKey = btoa(String.fromCharCode(...key))
      .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    current = made;
    return made;
  };
})();
"""

NOTIFICATIONS = """
navigator.serviceWorker.ready
  .then((registration) => registration.getNotifications())
  .then((shown) => shown.map((n) => ({
    title: n.title, tag: n.tag, actions: n.actions.map((a) => a.action),
  })))
"""

# A tap on the notification's button, as Chromium would dispatch it (in the worker itself).
TAP = """
(action) => self.registration.getNotifications().then(([notification]) => {
  self.dispatchEvent(new NotificationEvent("notificationclick", { notification, action }));
  return notification.title;
})
"""


@pytest.fixture
def service(settings, tmp_path):
    settings.ALARMDESK_VAPID_KEY_FILE = tmp_path / "vapid_private.pem"
    settings.ALARMDESK_PUSH_HOSTS = ["http://127.0.0.1"]
    push.vapid.cache_clear()
    with PushService() as running:
        yield running
    push.vapid.cache_clear()


@pytest.fixture
def phone(browser, app):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    context.grant_permissions(["notifications"], origin=app)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    yield page
    context.close()


def shown(page, count, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        notifications = page.evaluate(NOTIFICATIONS)
        if len(notifications) >= count or time.monotonic() > deadline:
            return notifications
        time.sleep(0.1)


def acknowledged(tbsim, alarm_id):
    with TbSession(tbsim.url, TENANT) as session:
        return session.get(f"/api/alarm/info/{alarm_id}").json()["acknowledged"]


def test_subscribe_push_and_acknowledge_from_the_notification(app, store, phone, service):
    subscription = service.subscribe()
    phone.add_init_script(FAKE_PUSH_MANAGER % json.dumps(subscription))
    phone.goto(f"{app}/oncall/")
    phone.get_by_label("Email").fill(TENANT[0])
    phone.get_by_label("Password").fill(TENANT[1])
    phone.get_by_role("button", name="Sign in").click()
    expect(phone).to_have_url(f"{app}/oncall/")
    phone.get_by_role("button", name="Go on call").click()
    expect(phone.locator("#duty-state")).to_contain_text("You are on call")
    phone.get_by_role("button", name="Notify this device").click()
    expect(phone.locator("#push-state")).to_have_text(
        "This browser will be notified while you are on call."
    )
    expect(phone.get_by_role("button", name="Stop notifying this device")).to_be_visible()
    assert phone.evaluate("window.pushKey") == push.public_key()
    assert PushSubscription.objects.get().endpoint == subscription["endpoint"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360

    outbox.plan()  # the planner's first run: the demo's alarms are history
    alarm_id = raise_alarm(store, "Browser Push", "CRITICAL", "Pump U01")
    sync.run_cycle()
    outbox.plan()
    for delivery in Delivery.objects.all():
        outbox.deliver(delivery.id)
    [received] = service.wait(1)
    assert received.json()["alarm"] == alarm_id

    cdp = phone.context.new_cdp_session(phone)
    deliver(cdp, app, received)
    [notification] = shown(phone, 1)
    assert notification == {
        "title": "Critical: Browser Push",
        "tag": f"alarm-{alarm_id}",
        "actions": ["ack", "claim"],
    }

    [worker] = phone.context.service_workers
    worker.evaluate(TAP, "ack")
    deadline = time.monotonic() + 10
    while not acknowledged(store, alarm_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert acknowledged(store, alarm_id)
    confirmed = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        confirmed = [n["title"] for n in phone.evaluate(NOTIFICATIONS)]
        if confirmed and confirmed[0].startswith("Acknowledged"):
            break
        time.sleep(0.1)
    assert confirmed == ["Acknowledged: Browser Push on Pump U01"]

    # Signed out (the session ended): the button opens sign-in, then the alarm; nothing done.
    phone.context.clear_cookies()
    # What the worker asks the browser to show (Chromium shows two buttons of the three).
    worker.evaluate(
        "() => { const show = self.registration.showNotification.bind(self.registration);"
        " self.registration.showNotification = (title, options) => {"
        " self.asked = (options.actions || []).map((a) => a.action);"
        " return show(title, options); }; }"
    )
    deliver(cdp, app, received)
    deadline = time.monotonic() + 10
    while phone.evaluate(NOTIFICATIONS)[0]["actions"] != ["ack", "claim"]:
        assert time.monotonic() < deadline, "the second push was not shown"
        time.sleep(0.1)
    # Chromium lets a worker open a window only from a tap it dispatched itself: the window
    # the worker asks for is recorded instead.
    worker.evaluate(
        "() => { self.clients.openWindow = (url) => {"
        " self.opened = url; return Promise.resolve(null); }; }"
    )
    worker.evaluate(TAP, "claim")
    deadline = time.monotonic() + 10
    while not worker.evaluate("() => self.opened || null"):
        assert time.monotonic() < deadline, "the worker opened no window"
        time.sleep(0.1)
    assert worker.evaluate("() => self.opened") == f"{app}/login/?next=%2Falarms%2F{alarm_id}%2F"
    assert worker.evaluate("() => self.asked") == ["ack", "claim", "open"]
    with TbSession(store.url, TENANT) as session:
        assert session.get(f"/api/alarm/info/{alarm_id}").json()["assigneeId"] is None

    # Open (where the browser shows it) opens the alarm's page, as a tap on the body does.
    deliver(cdp, app, received)
    shown(phone, 1)
    worker.evaluate("() => { self.opened = null; }")
    worker.evaluate(TAP, "open")
    deadline = time.monotonic() + 10
    while not worker.evaluate("() => self.opened || null"):
        assert time.monotonic() < deadline, "Open opened no window"
        time.sleep(0.1)
    assert worker.evaluate("() => self.opened") == f"{app}/alarms/{alarm_id}/"


def deliver(cdp, app, received):
    """The push, through the DevTools protocol, to the site's worker (its registration found
    once per DevTools session: Chromium reports it when asked the first time)."""
    if not hasattr(cdp, "registration"):
        cdp.registration = registration_of(cdp, f"{app}/")[f"{app}/"]
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": app, "registrationId": cdp.registration, "data": received.payload.decode()},
    )
