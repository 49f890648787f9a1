// Destructive buttons ask first. A button with data-confirm opens #confirm-dialog with its
// words; only "Yes" submits its form, adding confirmed=1 (without it the server asks on a
// page of its own, or refuses an htmx request). A refresh may replace the button's row
// while the question is open: the button of the same alarm and action is found again.
(() => {
  let asked = null;
  // Where a button sends its form: its own formaction (the list's rows share one form).
  const destination = (button) => button.getAttribute("formaction") || button.form.getAttribute("action");

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-confirm]");
    const dialog = document.getElementById("confirm-dialog");
    if (!button || button.disabled || !dialog) return;
    event.preventDefault();
    asked = { to: destination(button), name: button.name, value: button.value };
    dialog.querySelector("[data-confirm-text]").textContent = button.dataset.confirm;
    dialog.querySelectorAll("[data-confirm-about]").forEach((more) => {
      more.hidden = more.dataset.confirmAbout !== button.dataset.confirmMore;
    });
    dialog.querySelector('button[value="yes"]').textContent = button.dataset.confirmYes || "Yes";
    dialog.showModal();
  });

  function submit(question) {
    const selector = `button[data-confirm][name="${CSS.escape(question.name)}"][value="${CSS.escape(question.value)}"]`;
    const button = Array.from(document.querySelectorAll(selector))
      .find((candidate) => destination(candidate) === question.to);
    if (!button || button.disabled) return;
    const flag = document.createElement("input");
    flag.type = "hidden";
    flag.name = "confirmed";
    flag.value = "1";
    button.form.appendChild(flag);
    button.focus(); // htmx sends the value of the button that has the focus as the submitter's
    try {
      button.form.requestSubmit(button); // read at once (htmx, list.js); a page form leaves
    } finally {
      flag.remove(); // the form may be shared: this yes is for this one press only
    }
  }

  // The answer is taken from the button pressed, not from the dialog's close event: that
  // event comes later, as a task of its own, by which time a new question may be open.
  document.addEventListener("DOMContentLoaded", () => {
    const dialog = document.getElementById("confirm-dialog");
    if (!dialog) return;
    dialog.querySelector('button[value="yes"]').addEventListener("click", (event) => {
      event.preventDefault();
      const question = asked;
      asked = null;
      dialog.close("yes");
      if (question) submit(question);
    });
    dialog.querySelector('button[value="no"]').addEventListener("click", () => {
      asked = null;
    });
    dialog.addEventListener("cancel", () => {
      asked = null; // Esc
    });
  });
})();
