"""The installable app in Chromium: the service worker registers for the whole site, and a
push delivered to it (through the DevTools protocol, as a push service would) shows a
notification that names the alarm and leads to its page."""

import json
import time

NOTIFICATIONS = """
navigator.serviceWorker.ready
  .then((registration) => registration.getNotifications())
  .then((shown) => shown.map((n) => ({title: n.title, body: n.body, tag: n.tag, url: n.data.url})))
"""


def registration_of(cdp, scope=None, timeout=10):
    """{scope: registration id} of the service workers, once Chromium reports one (the one
    for `scope`, when given)."""
    found = {}
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: found.update(
            {r["scopeURL"]: r["registrationId"] for r in event["registrations"]}
        ),
    )
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + timeout
    while (scope not in found if scope else not found) and time.monotonic() < deadline:
        cdp.send("Runtime.evaluate", {"expression": "1"})  # lets events arrive
        time.sleep(0.1)
    return found


def test_the_worker_registers_and_a_push_shows_a_notification(app, page):
    page.context.grant_permissions(["notifications"], origin=app)
    page.goto(f"{app}/login/")
    scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == f"{app}/"
    cdp = page.context.new_cdp_session(page)
    registrations = registration_of(cdp)
    assert f"{app}/" in registrations, registrations

    message = {
        "title": "CRITICAL: High Temperature",
        "body": "on Boiler A01",
        "url": "/alarms/00000000-0000-0000-0000-000000000001/",
        "tag": "alarm-1",
    }
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": app, "registrationId": registrations[f"{app}/"], "data": json.dumps(message)},
    )
    shown = []
    deadline = time.monotonic() + 10
    while not shown and time.monotonic() < deadline:
        shown = page.evaluate(NOTIFICATIONS)
        time.sleep(0.1)
    assert shown == [message]
    assert page.console_errors == []
