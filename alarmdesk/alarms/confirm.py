"""A Clear or a Delete asks first: one rule for every page that acts on one alarm (the list's
rows, the alarm page, on-call). In a browser with script, confirm.js asks in a dialog and
sends `confirmed=1`; without script the server asks on a page of its own."""

from django.shortcuts import render

from . import actions

# What each act that asks first says on its page: the verb, the yes, what it means.
ASKED = {
    "clear": ("Clear", "Yes, clear it", "alarms/clear_words.html"),
    "delete": ("Delete", "Yes, delete it", "alarms/delete_words.html"),
}


def perform_or_ask(request, user, alarm, *, unconfirmed, back, **arguments):
    """The act's Result; or, for a Clear or a Delete not yet confirmed, the page that asks (a
    response to return as it is) without script, and a refusal in words with htmx (the
    request skipped the dialog's question)."""
    action = arguments["action"]
    if unconfirmed and not request.htmx:
        verb, yes, words = ASKED[action]
        context = {"alarm": alarm, "back": back, "action": action, "verb": verb, "yes": yes}
        return render(request, "alarms/confirm.html", context | {"words": words})
    if unconfirmed:
        return actions.Result(actions.Outcome.FAILED, actions.NOT_CONFIRMED[action])
    return actions.perform(request, user, alarm.id, **arguments)
