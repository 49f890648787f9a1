// Keyboard triage on the alarm list: j/k move, x select, a acknowledge, c clear,
// Enter open, / search, ? help. Never while typing in a field.
(() => {
  // Not a row fading out (live.js), nor the rows of a group closed again: they stay in the
  // page, hidden (groups.html).
  const rows = () => Array.from(document.querySelectorAll("#alarm-table tr[id^=row-]:not(.leaving)"))
    .filter((row) => !row.closest("details:not([open])"));
  let currentId = null;

  const current = () => rows().find((row) => row.id === currentId) || null;

  function focusRow(row) {
    if (!row) return;
    rows().forEach((r) => r.classList.remove("current"));
    row.classList.add("current");
    currentId = row.id;
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.indexOf(current());
    focusRow(all[Math.max(0, Math.min(all.length - 1, index < 0 ? 0 : index + step))]);
  }

  function press(key) {
    const row = current();
    const button = row && row.querySelector(`button[data-key="${key}"]`);
    if (button && !button.disabled) button.click();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = 'input:not([type="checkbox"]):not([type="radio"]), textarea, select, [contenteditable]';
    if (target.closest(typing)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    // Enter on a link, a button or a group's heading is theirs: it follows, presses, opens.
    if (event.key === "Enter" && target.closest("a[href], button, summary")) return;
    const actions = {
      j: () => move(1),
      k: () => move(-1),
      x: () => {
        const box = current() && current().querySelector('input[type="checkbox"]');
        if (!box) return;
        box.checked = !box.checked; // the row keeps the keyboard focus
        box.dispatchEvent(new Event("change", { bubbles: true }));
      },
      a: () => press("a"),
      c: () => press("c"),
      Enter: () => {
        const link = current() && current().querySelector("a[href]");
        if (link) link.click();
      },
      "/": () => document.getElementById("id_q")?.focus(),
      "?": () => document.getElementById("key-help")?.showModal(),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  // The alarm under the cursor left the filter (live.js fades it out): the cursor goes to
  // the next one, or the last.
  document.addEventListener("alarm:leaving", (event) => {
    const row = event.target;
    if (row.id !== currentId) return;
    row.classList.remove("current");
    let next = row.nextElementSibling;
    while (next && next.classList.contains("leaving")) next = next.nextElementSibling;
    const all = rows();
    const target = next || all[all.length - 1];
    if (!target) return;
    if (row.contains(document.activeElement)) {
      focusRow(target);
    } else {
      target.classList.add("current"); // the focus stays where the person put it
      currentId = target.id;
    }
  });

  // A live refresh replaces the rows: keep the cursor on the same alarm (once settled:
  // htmx then gives rows with the same id their new attributes, class included).
  document.addEventListener("htmx:afterSettle", () => {
    const row = current();
    if (row) row.classList.add("current");
  });
})();
