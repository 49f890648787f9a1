{% load static %}// AlarmDesk's service worker (alarmdesk/webapp.py): served at the site's root, so its
// scope is the whole site. A push carries {title, body, url, tag}; it is shown as a
// notification, and tapping it opens (or brings forward) that page of this site.
"use strict";

const ICON = "{% static 'icons/alarmdesk-192.png' %}";
const FALLBACK = "{% url 'oncall' %}";

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
  const options = { body: message.body || "", icon: ICON, badge: ICON, data: { url: message.url || FALLBACK } };
  if (message.tag) options.tag = message.tag; // one notification per alarm, replaced in place
  event.waitUntil(self.registration.showNotification(message.title || "AlarmDesk", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || FALLBACK, self.location.origin);
  if (url.origin !== self.location.origin) return; // only this site's own pages
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((client) => client.url === url.href);
      return open ? open.focus() : self.clients.openWindow(url.href);
    }),
  );
});
