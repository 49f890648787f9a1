"""A Clear asks first: one rule for every page that acts on one alarm (the list's rows, the
alarm page, on-call). In a browser with script, confirm.js asks in a dialog and sends
`confirmed=1`; without script the server asks on a page of its own."""

from django.shortcuts import render

from . import actions


def perform_or_ask(request, user, alarm, *, unconfirmed, back, **arguments):
    """The act's Result; or, for a Clear not yet confirmed, the page that asks (a response
    to return as it is) without script, and a refusal in words with htmx (the request
    skipped the dialog's question)."""
    if unconfirmed and not request.htmx:
        return render(request, "alarms/confirm_clear.html", {"alarm": alarm, "back": back})
    if unconfirmed:
        return actions.Result(actions.Outcome.FAILED, actions.NOT_CONFIRMED)
    return actions.perform(request, user, alarm.id, **arguments)
