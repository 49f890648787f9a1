// The on-call page's attention: the waiting count in the tab title, a sound per severity
// and an opt-in browser notification when a new alarm arrives, unless muted.
(() => {
  const TONES = { CRITICAL: [880, 660, 880], MAJOR: [660, 660], MINOR: [520], WARNING: [440], INDETERMINATE: [392] };
  const baseTitle = "On-call · AlarmDesk";
  let seen = null;
  let audio = null;

  const settings = () => document.getElementById("attention")?.dataset || {};

  function cards() {
    return Array.from(document.querySelectorAll("#oncall-list [data-alarm-id]"));
  }

  function beep(severity) {
    const tones = TONES[severity] || [];
    if (!tones.length) return;
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    tones.forEach((frequency, index) => {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      const start = audio.currentTime + index * 0.25;
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.2, start);
      gain.gain.exponentialRampToValueAtTime(0.001, start + 0.2);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(start);
      oscillator.stop(start + 0.22);
    });
  }

  function announce(fresh) {
    const prefs = settings();
    if (prefs.muted === "true" || !fresh.length) return;
    const sounds = (prefs.sounds || "").split(",");
    const loudest = fresh.map((card) => card.dataset.severity).find((s) => sounds.includes(s));
    if (loudest) {
      try { beep(loudest); } catch (error) { /* no audio on this device */ }
    }
    if (prefs.notify === "true" && "Notification" in window && Notification.permission === "granted") {
      const first = fresh[0];
      const title = first.querySelector("h2")?.textContent || "New alarm";
      new Notification(`${first.dataset.severity}: ${title}`, {
        body: first.querySelector(".originator")?.textContent || "",
        tag: first.dataset.alarmId,
      });
    }
  }

  // The browser may block sound until the page is tapped: then say so, and let a tap
  // enable it (an AudioContext resumed from a click).
  function offerSound() {
    const button = document.getElementById("sound-blocked");
    if (!button) return;
    const prefs = settings();
    const wanted = prefs.muted !== "true" && (prefs.sounds || "") !== "";
    if (wanted && !audio) {
      try {
        audio = new (window.AudioContext || window.webkitAudioContext)();
        audio.addEventListener("statechange", offerSound);
      } catch (error) {
        return; // no audio on this device
      }
    }
    button.hidden = !(wanted && audio && audio.state === "suspended");
  }

  document.addEventListener("click", (event) => {
    if (event.target.id === "sound-blocked" && audio) audio.resume().then(offerSound);
  });

  function update() {
    const heading = document.getElementById("oncall-count");
    if (!heading) return;
    const count = Number(heading.dataset.count || 0);
    document.title = count ? `(${count}) ${baseTitle}` : baseTitle;
    const ids = cards().map((card) => card.dataset.alarmId);
    if (seen !== null) announce(cards().filter((card) => !seen.has(card.dataset.alarmId)));
    seen = new Set([...(seen || []), ...ids]);
  }

  // Notifications need the person's permission, asked for on their own click.
  document.addEventListener("change", (event) => {
    if (event.target.name === "notify" && event.target.checked && "Notification" in window) {
      Notification.requestPermission();
    }
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "oncall-list" || event.detail.elt.id === "oncall-list") update();
  });
  document.addEventListener("htmx:afterSettle", () => {
    update();
    offerSound();
  });
  document.addEventListener("htmx:oobAfterSwap", update);
  // A refresh that sent only the cards that changed (live.js applies it in place).
  document.addEventListener("alarm:rows", update);
  document.addEventListener("DOMContentLoaded", () => {
    update();
    offerSound();
  });
})();
