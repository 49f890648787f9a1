// Web Push on the on-call page: subscribes this browser (through the service worker that
// app.js registers) and tells AlarmDesk where to push (oncall/notify_views.subscription).
// The push itself, its buttons and their taps are the service worker's (templates/webapp/sw.js).
// The fieldset is redrawn when the duty is saved (htmx): every look-up is made afresh.
(() => {
  const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  const $ = (id) => document.getElementById(id);

  function say(text) {
    const state = $("push-state");
    if (state) state.textContent = text;
  }

  function show(subscribed) {
    if ($("push-on")) $("push-on").hidden = subscribed;
    if ($("push-off")) $("push-off").hidden = !subscribed;
  }

  function csrf() {
    const input = document.querySelector("#duty input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function key() {
    const text = $("push").dataset.key.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(text + "=".repeat((4 - (text.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  async function tell(body) {
    const answer = await fetch($("push").dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body),
    });
    const data = await answer.json().catch(() => ({ message: "AlarmDesk did not answer." }));
    if (!answer.ok) throw new Error(data.message || "AlarmDesk refused it.");
    return data;
  }

  const current = async () => (await navigator.serviceWorker.ready).pushManager.getSubscription();

  async function subscribe(button) {
    button.disabled = true;
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        say("Notifications are blocked for this site: allow them in the browser's settings, then try again.");
        return;
      }
      const manager = (await navigator.serviceWorker.ready).pushManager;
      const subscription =
        (await manager.getSubscription()) ||
        (await manager.subscribe({ userVisibleOnly: true, applicationServerKey: key() }));
      say((await tell({ subscription: subscription.toJSON() })).message);
      show(true);
    } catch (error) {
      say(`This device could not be subscribed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async function unsubscribe(button) {
    button.disabled = true;
    try {
      const subscription = await current();
      if (subscription) {
        const data = await tell({ remove: subscription.endpoint });
        await subscription.unsubscribe();
        say(data.message);
      }
      show(false);
    } catch (error) {
      say(`That did not work: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async function refresh(resend) {
    if (!$("push")) return;
    if (!supported) {
      say("This browser cannot receive push notifications. On an iPhone or iPad, add AlarmDesk to the home screen first (Share, Add to Home Screen), then open it from there.");
      return;
    }
    const subscription = await current();
    show(Boolean(subscription));
    // Known to AlarmDesk again: it forgets a subscription a push service calls gone, and a
    // browser shared by two people is the last one's.
    if (resend && subscription && Notification.permission === "granted") {
      tell({ subscription: subscription.toJSON() }).catch(() => {});
    }
  }

  document.addEventListener("click", (event) => {
    if (event.target.id === "push-on") subscribe(event.target);
    if (event.target.id === "push-off") unsubscribe(event.target);
  });
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.target.id === "duty" || event.target.querySelector?.("#push")) refresh(false);
  });
  refresh(true);
})();
