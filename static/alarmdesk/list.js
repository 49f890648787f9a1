// The alarm list's own controls: the compact density (remembered in this browser), "select
// all on this page", the count of selected alarms in the bulk toolbar, which shows only
// when something is selected (CSS), and the rows' Ack and Clear. Loaded without defer: the
// density is set before the first paint, so the rows do not jump.
(() => {
  const KEY = "alarmdesk.density";
  const stored = () => {
    try {
      return localStorage.getItem(KEY);
    } catch {
      return null; // storage refused (private mode): roomy, and the toggle still works
    }
  };
  document.documentElement.classList.toggle("compact", stored() === "compact");

  const boxes = () => document.querySelectorAll('#alarm-table tr[id^=row-]:not(.leaving) input[name="ids"]');

  function showSelection() {
    const all = Array.from(boxes());
    const chosen = all.filter((box) => box.checked).length;
    const count = document.getElementById("selected-count");
    if (count) count.textContent = chosen ? `${chosen} selected` : "";
    const page = document.getElementById("select-page");
    if (page) {
      page.checked = chosen > 0 && chosen === all.length;
      page.indeterminate = chosen > 0 && chosen < all.length;
    }
  }

  // The toggle is drawn with the table, so a filter change draws it again: it is found
  // anew each time.
  function showDensity() {
    const toggle = document.getElementById("density");
    if (!toggle) return;
    toggle.hidden = false;
    toggle.setAttribute("aria-pressed", String(document.documentElement.classList.contains("compact")));
  }

  document.addEventListener("click", (event) => {
    if (!event.target.closest("#density")) return;
    const compact = document.documentElement.classList.toggle("compact");
    try {
      localStorage.setItem(KEY, compact ? "compact" : "roomy");
    } catch {
      // not remembered; this page still shows it
    }
    showDensity();
  });

  document.addEventListener("DOMContentLoaded", () => {
    showDensity();
    showSelection();
  });
  document.addEventListener("htmx:afterSettle", showDensity);

  document.addEventListener("change", (event) => {
    if (event.target.id === "select-page") {
      boxes().forEach((box) => {
        box.checked = event.target.checked;
      });
    }
    if (event.target.closest("#alarm-table")) showSelection();
  });
  // A row's Ack or Clear submits the page's one #row-act form to its alarm (formaction),
  // which works without script. With it, each press is a request of its own, from the
  // button, answered by the row again in place of this one: presses on several rows in a
  // row each go (one form sending them all would queue them, and lose all but the last).
  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    if (event.target.id !== "row-act" || !button || !window.htmx) return;
    event.preventDefault();
    const values = Object.fromEntries(new FormData(event.target, button));
    htmx.ajax("POST", button.getAttribute("formaction"), {
      source: button,
      target: button.closest("tr"),
      swap: "outerHTML",
      values,
    });
  });

  // Rows come and go with the live refresh (and a row's answer replaces it).
  document.addEventListener("htmx:afterSettle", showSelection);
  document.addEventListener("alarm:rows", showSelection);
})();
