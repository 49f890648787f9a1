"""/oncall/: the phone page. Active unacknowledged alarms, most severe and oldest first,
each a tap from acknowledged or claimed, and the user's own ("Mine") with a note and Clear;
it polls like the list, marks and calls for attention when a new alarm arrives."""

import hashlib
import time

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from alarmdesk.accounts.decorators import tb_login_required
from alarmdesk.alarms import access, counts
from alarmdesk.alarms.confirm import perform_or_ask
from alarmdesk.alarms.live import (
    changed_rows,
    drawn_at,
    issues_ticket,
    rows_shown,
    scope_version,
    shared_refresh,
    unchanged,
)
from alarmdesk.alarms.models import FALSE, SEVERITIES, TRUE, Alarm

from .models import Preference

SHOWN = 100
NOT_SAVED = "Those choices were not understood, so nothing was saved."


class OncallActionForm(forms.Form):
    alarm = forms.UUIDField()
    action = forms.ChoiceField(
        choices=[
            ("ack", "Acknowledge"),
            ("claim", "Claim"),
            ("clear", "Clear"),
            ("comment", "Note"),
        ]
    )
    text = forms.CharField(max_length=4000, required=False, strip=True)
    confirmed = forms.BooleanField(required=False)  # a clear asks first (confirm.js)

    def clean(self):
        data = super().clean()
        if data.get("action") == "comment" and not data.get("text"):
            raise forms.ValidationError("Write the note first.")
        return data


class PreferenceForm(forms.ModelForm):
    sounds = forms.MultipleChoiceField(choices=[(s, s) for s in SEVERITIES], required=False)

    class Meta:
        model = Preference
        fields = ["muted", "sounds", "notify"]


def _alarms(user):
    waiting = access.visible_alarms(user).filter(cleared=FALSE, acknowledged=FALSE)
    return waiting.order_by("severity_rank", "start_ts", "id")


def _mine(user):
    """Active alarms assigned to the user and acknowledged: what they took on."""
    mine = access.visible_alarms(user).filter(cleared=FALSE, acknowledged=TRUE)
    return mine.filter(assignee_id=user.id).order_by("severity_rank", "start_ts", "id")


def _digest(pairs):
    """What "Mine" shows, in a few characters: its alarms and when each last changed."""
    return hashlib.sha256(repr([(str(i), c.isoformat()) for i, c in pairs]).encode()).hexdigest()[
        :16
    ]


def _lists(user, since=None):
    waiting = _alarms(user)
    shown = list(waiting[:SHOWN])
    mine = list(_mine(user)[:SHOWN])
    return {
        "alarms": shown,
        "count": waiting.count(),
        "mine": mine,
        "mine_digest": _digest((a.id, a.changed_at) for a in mine),
        "fresh": {a.id for a in shown if since is not None and a.changed_at.timestamp() > since},
        "rendered_at": time.time(),
    }


@tb_login_required
@issues_ticket
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def oncall(request):
    user = request.tb_user
    if request.method == "POST":
        if request.POST.get("action") == "preferences":
            return _save_preferences(request, user)
        return _act(request, user)
    version, as_of, sync_failing = scope_version(user)
    if request.htmx and version and request.GET.get("v") == version:
        return unchanged(as_of, sync_failing)
    since = drawn_at(request)
    live = {"version": version, "as_of": as_of, "sync_failing": sync_failing}
    if since is not None and rows_shown(request):
        response = _delta(request, user, since, live)
        if response is not None:
            return response
    context = {**_lists(user, since), **live, "preference": Preference.of(user)}
    template = "oncall/page.html#oncall-list" if request.htmx else "oncall/page.html"
    return render(request, template, context)


def _delta(request, user, since, live):
    """A refresh of a page that shows cards: the cards it lacks or that changed, the order,
    the count, "as of" (as the list's refresh, alarms/live.changed_rows), made once for all
    who watch the scope and ask the same (live.shared_refresh); then the person's "Mine",
    only when it is not what the page shows (its `m`). None when nothing waits any more:
    the whole section says so."""
    version = live["version"]

    def answer(drawn):
        waiting = _alarms(user)
        current = counts.page_changes(waiting[:SHOWN], user, version)
        delta = changed_rows(current, rows_shown(request), since)
        if delta is None:
            return None
        resend, order = delta
        alarms = list(Alarm.objects.filter(id__in=resend))
        context = live | drawn
        context |= {
            "alarms": alarms,
            "order": " ".join(order),
            "count": counts.kept("oncall-count", user, version, waiting, waiting.count),
            "fresh": {a.id for a in alarms if a.changed_at.timestamp() > since},
            "oob": True,
        }
        response = render(request, "oncall/page.html#oncall-delta", context)
        response["X-Live-Delta"] = "1"
        return response

    sync = (live["as_of"], live["sync_failing"])
    response = shared_refresh(request, user, version, sync, answer, personal=("m",))
    if response is None:
        return None
    mine = _mine(user)[:SHOWN]
    # Named by its user: the query is theirs alone, and compiling it for a key costs more.
    pairs = counts.kept(
        "mine", user, version, f"user {user.id}", lambda: list(mine.values_list("id", "changed_at"))
    )
    digest = _digest(pairs)
    if request.GET.get("m") != digest:
        context = {"mine": list(mine), "mine_digest": digest, "oob": True}
        page = render_to_string("oncall/page.html#oncall-mine", context, request)
        response.content += page.encode()
    return response


def _act(request, user):
    form = OncallActionForm(request.POST)
    if not form.is_valid():
        reasons = " ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items())
        messages.error(request, f"That action was not understood ({reasons}).")
        return redirect("oncall")
    alarm = access.get_alarm_for(user, form.cleaned_data["alarm"])
    action, text = form.cleaned_data["action"], form.cleaned_data["text"]
    unconfirmed = action == "clear" and not form.cleaned_data["confirmed"]
    result = perform_or_ask(
        request,
        user,
        alarm,
        unconfirmed=unconfirmed,
        back=reverse("oncall"),
        action=action,
        text=text,
    )
    if isinstance(result, HttpResponse):
        return result  # the page that asks first
    if request.htmx:
        alarm.refresh_from_db()
        # The card, and out of band the count and "Mine", which the act may have changed.
        context = {
            **_lists(user),
            "alarm": alarm,
            "result": result,
            "kept_text": "" if result.ok else text,
            "card": "mine-card" if action in ("clear", "comment") else "oncall-card",
        }
        return render(request, "oncall/acted.html", context)
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect("oncall")


def _save_preferences(request, user):
    form = PreferenceForm(request.POST, instance=Preference.of(user))
    saved = form.is_valid()
    if saved:
        form.save()
    if request.htmx:
        context = {"preference": Preference.of(user), "error": None if saved else NOT_SAVED}
        return render(request, "oncall/page.html#attention", context)
    if not saved:
        messages.error(request, NOT_SAVED)
    return redirect("oncall")
