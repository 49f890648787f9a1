// The live list: an unchanged refresh answers 204 with the sync's time in X-Sync-As-Of;
// keep "as of hh:mm:ss" current from it without swapping anything.
document.addEventListener("htmx:afterRequest", (event) => {
  const xhr = event.detail.xhr;
  if (!xhr || xhr.status !== 204) return;
  const asOf = xhr.getResponseHeader("X-Sync-As-Of");
  const label = document.getElementById("as-of");
  if (!asOf || !label || label.dataset.asOf === asOf) return;
  label.dataset.asOf = asOf;
  const time = label.querySelector("time");
  if (time) {
    time.dateTime = asOf;
    time.textContent = asOf.slice(11, 19);
  }
});

// A hidden tab does not poll (htmx's trigger filters would need eval, which the CSP forbids);
// the next tick after it becomes visible again catches up.
document.addEventListener("htmx:beforeRequest", (event) => {
  if (document.hidden && event.detail.elt.id === "alarm-table") event.preventDefault();
});
