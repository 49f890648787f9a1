{% load static %}// AlarmDesk's service worker (alarmdesk/webapp.py): served at the site's root, so its
// scope is the whole site. A push (alarmdesk/oncall/outbox.push_message) carries {title,
// body, url, tag, actions}: it is shown as a notification with Acknowledge, Claim and Open
// buttons (as many as the browser shows: Chromium two); tapping it, or Open, opens (or
// brings forward) that page of this site. A button posts to the
// person's own signed link (oncall/notify_views.tap) with this browser's session: done, a
// second notification says so; signed out, sign-in opens and then the alarm, nothing done.
"use strict";

const ICON = "{% static 'icons/alarmdesk-192.png' %}";
const FALLBACK = "{% url 'oncall' %}";
const LABELS = { ack: "Acknowledge", claim: "Claim" };
const OPEN = { action: "open", title: "Open" };

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let message = {};
  if (event.data) {
    try {
      message = event.data.json();
    } catch (error) {
      message = { body: event.data.text() };
    }
  }
  const links = message.actions && typeof message.actions === "object" ? message.actions : {};
  const options = {
    body: message.body || "",
    icon: ICON,
    badge: ICON,
    data: { url: message.url || FALLBACK, links },
    actions: [...Object.keys(LABELS).filter((name) => links[name]).map((name) => ({ action: name, title: LABELS[name] })), OPEN],
  };
  if (message.tag) {
    options.tag = message.tag; // one notification per alarm, replaced in place
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(message.title || "AlarmDesk", options));
});

function sameSite(path) {
  const url = new URL(path || FALLBACK, self.location.origin);
  return url.origin === self.location.origin ? url : null;
}

function open(url) {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
    const shown = windows.find((client) => client.url === url.href);
    return shown ? shown.focus() : self.clients.openWindow(url.href);
  });
}

async function act(notification, name) {
  const data = notification.data || {};
  const link = sameSite(data.links[name]);
  const page = sameSite(data.url);
  const tell = (title, body) =>
    self.registration.showNotification(title, { body: body || "", icon: ICON, badge: ICON, tag: notification.tag, data: { url: data.url, links: {} } });
  if (!link) return page ? open(page) : null;
  let answer;
  let body = {};
  try {
    answer = await fetch(new URL("tap/", link), { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" } });
    body = await answer.json().catch(() => ({}));
  } catch (error) {
    return tell("AlarmDesk could not be reached", "Nothing was done. Tap to open the alarm.");
  }
  if (answer.status === 401 && body.login) {
    const signIn = sameSite(body.login);
    return signIn ? open(signIn) : null; // sign in first: then the alarm, nothing done for them
  }
  return tell(body.title || body.message || "Nothing was done", body.ok ? "" : "Tap to open the alarm.");
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  if (event.action && data.links && data.links[event.action]) {
    event.waitUntil(act(event.notification, event.action));
    return;
  }
  const url = sameSite(data.url);
  if (url) event.waitUntil(open(url));
});
