// What the live pages (the list and on-call) do between refreshes, in one place.
//
// An unchanged refresh answers 204 with the sync's time in X-Sync-As-Of (and X-Sync-Failing
// when its last run failed); a changed one swaps a fragment whose #as-of carries the same in
// data attributes. From either, the page keeps "as of" and every age current, and says in
// #live-status, without reload, when the sync is failing or late or when AlarmDesk itself
// does not answer; the words go away once things recover.
(() => {
  const POLLING = new Set(["alarm-table", "oncall-list"]);
  const ITEM = "tr[id^=row-], [data-alarm-id]"; // a list's row (its id: row-<alarm>), an on-call card
  // What a refresh's delta (views._delta, oncall's _delta) is applied to in each section:
  // its container of items, and the prefix of an item's id before the alarm's.
  const LISTS = {
    "alarm-table": { body: "table.alarms tbody", prefix: "row-" },
    "oncall-list": { body: "ol[data-live-items]", prefix: "card-" },
  };
  const items = (body, prefix) => Array.from(body.children).filter((item) => item.id.startsWith(prefix));
  // `unreachable`: null when the last refresh was answered, else the failed answer's status
  // (0: no answer at all).
  const state = { asOf: null, syncFailing: false, unreachable: null };

  function age(seconds) {
    // As the server's `age` filter writes it: 45s, 12m, 3h, 2d.
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
      if (seconds >= size) return `${Math.floor(seconds / size)}${unit}`;
    }
    return `${Math.max(0, Math.floor(seconds))}s`;
  }

  function secondsSince(iso) {
    return (Date.now() - Date.parse(iso)) / 1000;
  }

  function showAsOf() {
    const label = document.getElementById("as-of");
    const time = label && label.querySelector("time");
    if (!time || !state.asOf || label.dataset.asOf === state.asOf) return;
    label.dataset.asOf = state.asOf;
    time.dateTime = state.asOf;
    time.textContent = state.asOf.slice(11, 19);
  }

  function showAges() {
    document.querySelectorAll("time[data-age]").forEach((time) => {
      time.textContent = `${age(secondsSince(time.dateTime))} ago`;
      if (!time.title) time.title = new Date(time.dateTime).toLocaleString();
    });
  }

  function showStatus() {
    const banner = document.getElementById("live-status");
    if (!banner) return;
    const staleAfter = Number(banner.dataset.staleAfter || 30);
    const asOf = state.asOf ? `${state.asOf.slice(11, 19)} UTC` : "an unknown time";
    const late = state.asOf && secondsSince(state.asOf) > staleAfter;
    let words = "";
    if (state.unreachable !== null) {
      const what = state.unreachable ? `failed (error ${state.unreachable})` : "is not answering";
      words = `AlarmDesk ${what}: this page shows alarms as of ${asOf} and is not updating. ` +
        "It keeps trying by itself.";
    } else if (state.syncFailing || late) {
      const ago = state.asOf ? ` (${age(secondsSince(state.asOf))} ago)` : "";
      words = `The alarm sync is failing: alarms are as of ${asOf}${ago}. ` +
        "Actions still go to ThingsBoard directly.";
    }
    banner.textContent = words;
    banner.hidden = !words;
    // The server's own notice, drawn with the page, goes once the sync is well again.
    document.querySelectorAll("[data-sync-notice]").forEach((notice) => {
      notice.hidden = !state.syncFailing && !late;
    });
  }

  function readFragment() {
    const label = document.getElementById("as-of");
    if (!label) return;
    state.asOf = label.dataset.asOf || state.asOf;
    state.syncFailing = label.dataset.syncFailing === "1";
  }

  document.addEventListener("htmx:afterRequest", (event) => {
    if (!POLLING.has(event.detail.elt.id)) return;
    const xhr = event.detail.xhr;
    const status = xhr ? xhr.status : 0;
    state.unreachable = status === 0 || status >= 500 ? status : null;
    if (xhr && xhr.status === 204) {
      state.asOf = xhr.getResponseHeader("X-Sync-As-Of") || state.asOf;
      state.syncFailing = xhr.getResponseHeader("X-Sync-Failing") === "1";
      showAsOf();
    }
    showStatus();
  });

  // A refresh that reached no server (network down, AlarmDesk stopped).
  document.addEventListener("htmx:sendError", (event) => {
    if (!POLLING.has(event.detail.elt.id)) return;
    state.unreachable = 0;
    showStatus();
  });

  document.addEventListener("htmx:afterSettle", () => {
    readFragment();
    showAges();
    showStatus();
  });

  // A refresh that re-renders the table or the on-call list keeps what the person was
  // doing: the rows they selected, the control that had the focus, the page's scroll, open
  // menus and the answers to their own actions, shown in the rows those were about.
  let kept = null;
  const acting = new Set(); // the requests of actions taken in the list, until answered
  const ANSWER_MS = 60000; // an action's answer stays in its row this long across refreshes

  function focusKey(element, section) {
    if (!element || !section.contains(element)) return null;
    const row = element.closest(ITEM);
    return { element, row: row && row.id, name: element.name || "", value: element.value || "" };
  }

  function refocus(key, section) {
    if (!key) return;
    // The very element, kept across the swap (hx-preserve, or a row left in place).
    if (key.element.isConnected && section.contains(key.element)) {
      if (document.activeElement !== key.element) key.element.focus({ preventScroll: true });
      return;
    }
    if (!key.row) return;
    const row = section.querySelector(`#${CSS.escape(key.row)}`);
    if (!row) return;
    const control = key.name
      ? row.querySelector(`[name="${CSS.escape(key.name)}"][value="${CSS.escape(key.value)}"]`)
      : null;
    (control || row).focus({ preventScroll: true });
  }

  document.addEventListener("htmx:beforeSwap", (event) => {
    const section = event.detail.target;
    if (!POLLING.has(event.detail.elt.id) || !section || !POLLING.has(section.id)) return;
    if (isDelta(event.detail.xhr)) return; // applied in place, below
    kept = {
      id: section.id,
      checked: Array.from(section.querySelectorAll('input[type="checkbox"]:checked'), (b) => b.value),
      focus: focusKey(document.activeElement, section),
      scroll: window.scrollY,
      open: Array.from(section.querySelectorAll("details[open][id]"), (d) => d.id),
      answers: Array.from(section.querySelectorAll(`:is(${ITEM}) [role=status]`))
        .map((answer) => {
          answer.dataset.since = answer.dataset.since || String(Date.now());
          return [answer.closest(ITEM).id, answer];
        })
        .filter(([, answer]) => Date.now() - Number(answer.dataset.since) < ANSWER_MS)
        .map(([rowId, answer]) => [rowId, answer.outerHTML]),
    };
  });

  // Once settled: htmx gives elements kept by id their new attributes only then.
  document.addEventListener("htmx:afterSettle", () => {
    const section = kept && document.getElementById(kept.id);
    if (!section) return;
    section.querySelectorAll('input[type="checkbox"]').forEach((box) => {
      box.checked = box.checked || kept.checked.includes(box.value);
    });
    kept.open.forEach((id) => section.querySelector(`#${CSS.escape(id)}`)?.setAttribute("open", ""));
    kept.answers.forEach(([rowId, html]) => {
      const row = section.querySelector(`#${CSS.escape(rowId)}`);
      const place = row && (row.querySelector(".row-actions") || row);
      if (place && !place.querySelector("[role=status]")) place.insertAdjacentHTML("beforeend", html);
    });
    refocus(kept.focus, section);
    if (window.scrollY !== kept.scroll) window.scrollTo(0, kept.scroll);
    kept = null;
  });

  // The list's refresh, once it shows rows, is a delta (views._delta): the page's order and
  // only the rows it lacks or that changed. Rows are replaced one by one, the others stay
  // the very same elements (so their selection, focus and cursor stay too), and a row that
  // left the filter fades out rather than vanishing under the pointer.
  const LEAVE_MS = 1000;
  const isDelta = (xhr) => xhr && xhr.getResponseHeader("X-Live-Delta") === "1";

  document.addEventListener("htmx:configRequest", (event) => {
    const section = event.detail.elt;
    const list = LISTS[section.id];
    if (!list) return; // the refresh itself, not a filter or a page
    event.detail.parameters.v = section.dataset.v || "";
    event.detail.parameters.t = section.dataset.t || "";
    // On-call's "Mine" as the page shows it: sent again only when it changed.
    const mine = section.querySelector("#oncall-mine");
    if (mine) event.detail.parameters.m = mine.dataset.m || "";
    const body = section.querySelector(list.body);
    const shown = body ? items(body, list.prefix).filter((item) => !item.classList.contains("leaving")) : [];
    if (shown.length && section.dataset.whole !== "1") {
      event.detail.headers["X-Alarm-Rows"] = shown.map((item) => item.id.slice(list.prefix.length)).join(" ");
    }
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    const section = event.detail.elt;
    if (!LISTS[section.id] || !isDelta(event.detail.xhr)) return;
    event.detail.shouldSwap = false;
    const holder = document.createElement("template");
    holder.innerHTML = event.detail.serverResponse;
    // The rows this very request said the page shows: the delta names them by place.
    const sent = (event.detail.requestConfig?.headers?.["X-Alarm-Rows"] || "").split(" ");
    if (!applyDelta(section, holder.content, sent)) section.dataset.whole = "1"; // next: all
    readFragment();
    showAges();
    showStatus();
  });

  function carryOver(old, row) {
    // What the person is writing in it (a claim's note): the very element, as hx-preserve keeps it.
    old.querySelectorAll("[hx-preserve][id]").forEach((kept) => {
      row.querySelector(`#${CSS.escape(kept.id)}`)?.replaceWith(kept);
    });
    const box = old.querySelector('input[type="checkbox"]');
    const newBox = row.querySelector('input[type="checkbox"]');
    if (box && newBox) newBox.checked = box.checked;
    if (old.classList.contains("current")) row.classList.add("current");
    const answer = old.querySelector("[role=status]");
    const place = row.querySelector(".row-actions");
    if (answer && place && !place.querySelector("[role=status]")) {
      answer.dataset.since = answer.dataset.since || String(Date.now());
      if (Date.now() - Number(answer.dataset.since) < ANSWER_MS) place.append(answer);
    }
  }

  function leave(row) {
    row.classList.add("leaving");
    row.dispatchEvent(new CustomEvent("alarm:leaving", { bubbles: true }));
    setTimeout(() => {
      if (!row.classList.contains("leaving")) return;
      const section = row.closest("#alarm-table, #oncall-list");
      row.remove();
      section?.dispatchEvent(new CustomEvent("alarm:rows", { bubbles: true }));
    }, LEAVE_MS);
  }

  function applyDelta(section, content, sent) {
    const { body: where, prefix } = LISTS[section.id];
    const delta = content.querySelector("template#alarm-delta");
    const body = section.querySelector(where);
    if (!delta || !body) return false;
    const focus = focusKey(document.activeElement, section);
    const fresh = new Map(items(delta.content, prefix).map((r) => [r.id, r]));
    // Each entry: a row the page showed, by its place in the list sent; or a new row's id.
    const order = delta.dataset.order.split(" ").filter(Boolean)
      .map((entry) => `${prefix}${/^\d+$/.test(entry) ? sent[Number(entry)] : entry}`);
    const wanted = new Set(order);
    items(body, prefix).forEach((row) => {
      if (!wanted.has(row.id)) {
        if (!row.classList.contains("leaving")) leave(row);
      } else if (!fresh.has(row.id)) {
        // Unchanged since the last look: no longer "changed".
        row.classList.remove("fresh");
        row.querySelectorAll(".fresh").forEach((item) => item.classList.remove("fresh"));
        row.querySelectorAll(".badge").forEach((badge) => badge.remove());
      }
    });
    const rows = order.map((id) => {
      const old = body.querySelector(`#${CSS.escape(id)}`);
      const row = fresh.get(id);
      if (!row) {
        old?.classList.remove("leaving");
        return old;
      }
      if (old) {
        carryOver(old, row);
        old.replaceWith(row);
      }
      return row;
    });
    if (rows.includes(null)) return false; // the server thought the page had a row it lacks
    let anchor = body.firstElementChild;
    rows.forEach((row) => {
      while (anchor && anchor.classList.contains("leaving")) anchor = anchor.nextElementSibling;
      if (anchor === row) {
        anchor = anchor.nextElementSibling;
      } else {
        body.insertBefore(row, anchor);
      }
    });
    fresh.forEach((row) => htmx.process(row));
    // The figures around the rows: the summary with "as of", the chips, the pager.
    Array.from(content.children).forEach((part) => {
      const place = part.id && part.id !== "alarm-delta" && document.getElementById(part.id);
      if (!place) return;
      part.removeAttribute("hx-swap-oob");
      place.replaceWith(part);
      htmx.process(part);
    });
    section.dataset.v = delta.dataset.v;
    section.dataset.t = delta.dataset.t;
    section.dataset.whole = "";
    refocus(focus, section);
    section.dispatchEvent(new CustomEvent("alarm:rows", { bubbles: true }));
    return true;
  }

  // A hidden tab does not poll the list (htmx's trigger filters would need eval, which the
  // CSP forbids); the next tick after it becomes visible again catches up. On-call polls on:
  // it is what calls for attention from a background tab.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    if (POLLING.has(elt.id)) {
      if (acting.size || (document.hidden && elt.id === "alarm-table")) event.preventDefault();
      return;
    }
    // A filter or a page turn (which draw the table anew) counts as an action here too.
    if (!elt.closest("#alarm-table, #oncall-list, #filters")) return;
    // A person's action in the list: a refresh must not swap the rows while it is on its
    // way (its answer would land in a row already replaced, or an older look overwrite
    // it). One in flight is abandoned; the next tick, after the action, brings the news.
    acting.add(event.detail.xhr);
    POLLING.forEach((id) => {
      const section = document.getElementById(id);
      if (section) htmx.trigger(section, "htmx:abort");
    });
  });

  document.addEventListener("htmx:afterRequest", (event) => acting.delete(event.detail.xhr));

  readFragment();
  showStatus();
  setInterval(() => {
    showAges();
    showStatus();
  }, 10000);
})();
