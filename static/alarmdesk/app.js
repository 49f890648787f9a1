// The installable app: registers the service worker (templates/webapp/sw.js), whose scope is
// the whole site. Where the browser has none (or refuses it), the pages work as they are.
"use strict";
(() => {
  const script = document.currentScript;
  if (!script || !("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register(script.dataset.worker, { scope: "/" }).catch(() => {});
})();
