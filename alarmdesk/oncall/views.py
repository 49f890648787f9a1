"""/oncall/: the phone page. Active unacknowledged alarms, most severe and oldest first,
each a tap from acknowledged or claimed, and the user's own ("Mine") with a note and Clear;
it polls like the list, marks and calls for attention when a new alarm arrives."""

import hashlib
import time
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from alarmdesk.accounts.decorators import tb_login_required
from alarmdesk.alarms import access, counts
from alarmdesk.alarms.confirm import perform_or_ask
from alarmdesk.alarms.filters import filter_choices
from alarmdesk.alarms.live import (
    changed_rows,
    drawn_at,
    issues_ticket,
    rows_shown,
    scope_version,
    shared_refresh,
    unchanged,
)
from alarmdesk.alarms.models import FALSE, SEVERITIES, TRUE, Alarm, Customer

from . import chat, push
from .models import TIERS, Duty, EscalationRule, Preference, PushSubscription, Webhook

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


class DutyForm(forms.Form):
    """What a person is on call for. Types and customers are a tenant administrator's
    only: a customer user's duty is their customer's alarms, of the severities chosen."""

    severities = forms.MultipleChoiceField(
        choices=[(s, s.title()) for s in SEVERITIES],
        error_messages={"required": "Choose at least one severity to be called for."},
    )
    types = forms.MultipleChoiceField(required=False)
    customers = forms.MultipleChoiceField(required=False)
    quiet_from = forms.TimeField(required=False)
    quiet_until = forms.TimeField(required=False)
    time_zone = forms.CharField(max_length=64, required=False)
    by_email = forms.BooleanField(required=False)
    # Which line of escalation they are; absent (the one-tap on/off of an old page): kept.
    tier = forms.TypedChoiceField(choices=TIERS, coerce=int, required=False, empty_value=None)
    on_call = forms.ChoiceField(choices=[("", ""), ("1", "on"), ("0", "off")], required=False)

    def __init__(self, *args, user, duty, **kwargs):
        super().__init__(*args, **kwargs)
        # The tenant's customers by id, read once: the choices, and who is on call for what.
        self.titles = Customer.titles(user.tenant_id) if user.is_tenant_admin else {}
        if user.is_tenant_admin:
            # A type chosen before may have no alarm in the store now: still offered.
            types = sorted(set(_types(user)) | set(duty.types))
            self.fields["types"].choices = [(t, t) for t in types]
            self.fields["customers"].choices = sorted(
                ((str(i), title) for i, title in self.titles.items()), key=lambda c: c[1]
            )
        else:
            del self.fields["types"], self.fields["customers"]

    def clean_time_zone(self):
        name = self.cleaned_data["time_zone"] or "UTC"
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(
                f"{name} is not a time zone this server knows (try Europe/Berlin or UTC)."
            ) from None
        return name

    def clean(self):
        data = super().clean()
        start, end = data.get("quiet_from"), data.get("quiet_until")
        if (start is None) != (end is None):
            raise forms.ValidationError("Quiet hours need both a start and an end, or neither.")
        if start is not None and start == end:
            raise forms.ValidationError("Quiet hours cannot start and end at the same time.")
        return data

    def save(self, duty):
        data = self.cleaned_data
        duty.severities = data["severities"]
        duty.types = data.get("types") or []
        duty.customers = data.get("customers") or []
        duty.quiet_from, duty.quiet_until = data["quiet_from"], data["quiet_until"]
        duty.time_zone = data["time_zone"]
        duty.by_email = data["by_email"]
        if data["tier"] is not None:
            duty.tier = data["tier"]
        if data["on_call"] == "1" and not duty.on_call:
            duty.on_call, duty.since = True, timezone.now()
        elif data["on_call"] == "0":
            duty.on_call = False
        duty.save()
        return duty


def _types(user):
    """The alarm types of the user's scope, as the list's filter offers them."""
    return filter_choices(user, scope_version(user)[0])["types"]


def _duty_context(user, duty=None, form=None, error=None):
    duty = duty or Duty.of(user)
    if form is None:
        initial = {
            "severities": duty.severities,
            "types": duty.types,
            "customers": duty.customers,
            "quiet_from": duty.quiet_from,
            "quiet_until": duty.quiet_until,
            "time_zone": duty.time_zone,
            "by_email": duty.by_email,
            "tier": duty.tier,
        }
        form = DutyForm(initial=initial, user=user, duty=duty)
    context = {
        "duty": duty,
        "duty_form": form,
        "duty_error": error,
        "on_call_now": None,
        "push_key": push.public_key(),
        "devices": [s.device for s in PushSubscription.objects.filter(user_id=user.id)],
    }
    if user.is_tenant_admin:
        now, titles = timezone.now(), form.titles
        context["on_call_now"] = [
            {
                "duty": other,
                "quiet": other.quiet_at(now),
                "customers": [titles.get(uuid.UUID(c), c) for c in other.customers],
            }
            for other in Duty.on_call_in(user.tenant_id)
        ]
    return context


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
        if request.POST.get("action") == "duty":
            return _save_duty(request, user)
        if request.POST.get("action") in ("webhook", "webhook-remove"):
            return _change_webhook(request, user)
        if request.POST.get("action") == "escalation":
            return _save_escalation(request, user)
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
    if not request.htmx:  # a refresh redraws the cards only
        context |= _duty_context(user) | _chat_context(user) | _escalation_context(user)
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


def _save_duty(request, user):
    duty = Duty.of(user)
    form = DutyForm(request.POST, user=user, duty=duty)
    saved = form.is_valid()
    if saved:
        form.save(duty)
    error = None if saved else " ".join(" ".join(e) for e in form.errors.values())
    if request.htmx:
        context = _duty_context(user, duty, None if saved else form, error)
        return render(request, "oncall/page.html#duty", context)
    if saved:
        messages.success(request, _duty_words(duty))
    else:
        messages.error(request, f"Nothing was saved: {error}")
    return redirect("oncall")


def _duty_words(duty):
    if not duty.on_call:
        return "You are not on call."
    return f"You are on call for {', '.join(s.title() for s in duty.severities)} alarms."


class WebhookForm(forms.Form):
    """A chat channel's incoming webhook, for the tenant or one of its customers."""

    kind = forms.ChoiceField(choices=Webhook.Kind.choices)
    name = forms.CharField(max_length=80, strip=True)
    url = forms.URLField(max_length=1000, assume_scheme="https")
    customer = forms.ChoiceField(required=False)
    severities = forms.MultipleChoiceField(
        choices=[(s, s.title()) for s in SEVERITIES],
        error_messages={"required": "Choose at least one severity to post."},
    )

    def __init__(self, *args, titles, **kwargs):
        super().__init__(*args, **kwargs)
        customers = sorted(((str(i), t) for i, t in titles.items()), key=lambda c: c[1])
        self.fields["customer"].choices = [("", "The whole tenant"), *customers]

    def clean_url(self):
        try:
            return chat.clean_url(self.cleaned_data["url"])
        except chat.Refused as error:
            raise forms.ValidationError(str(error)) from None


def _chat_context(user, form=None, error=None):
    """Tenant administrators only: the tenant's chat webhooks, and the form to add one."""
    if not user.is_tenant_admin:
        return {"webhooks": None}
    titles = Customer.titles(user.tenant_id)
    hooks = Webhook.objects.filter(tenant_id=user.tenant_id).order_by("name", "id")
    return {
        "webhooks": [
            {"hook": h, "customer": titles.get(h.customer_id, "") if h.customer_id else ""}
            for h in hooks
        ],
        "webhook_form": form
        or WebhookForm(initial={"severities": ["CRITICAL", "MAJOR"]}, titles=titles),
        "webhook_error": error,
    }


def _change_webhook(request, user):
    if not user.is_tenant_admin:
        messages.error(request, "Only a tenant administrator sets the chat channels.")
        return redirect("oncall")
    form, error = None, None
    if request.POST.get("action") == "webhook-remove":
        Webhook.objects.filter(tenant_id=user.tenant_id, id=request.POST.get("id") or 0).delete()
    else:
        form = WebhookForm(request.POST, titles=Customer.titles(user.tenant_id))
        if form.is_valid():
            data = form.cleaned_data
            Webhook.objects.create(
                tenant_id=user.tenant_id,
                customer_id=data["customer"] or None,
                kind=data["kind"],
                name=data["name"],
                url=data["url"],
                severities=data["severities"],
                created_by=user.email,
            )
            form = None
        else:
            error = " ".join(" ".join(e) for e in form.errors.values())
    if request.htmx:
        return render(request, "oncall/page.html#chat", _chat_context(user, form, error))
    if error:
        messages.error(request, f"Nothing was saved: {error}")
    return redirect("oncall")


class EscalationForm(forms.Form):
    """A tenant's escalation rules: per severity, the minutes an alarm may stay unacknowledged
    after a line was called before the next line is (empty: that severity never escalates)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for severity in SEVERITIES:
            self.fields[f"minutes_{severity}"] = forms.IntegerField(
                label=severity.title(),
                required=False,
                min_value=1,
                max_value=24 * 60,
                error_messages={
                    "invalid": f"{severity.title()}: write the minutes as a whole number.",
                    "min_value": f"{severity.title()}: at least 1 minute.",
                    "max_value": f"{severity.title()}: at most 1,440 minutes (a day).",
                },
            )

    def save(self, user):
        for severity in SEVERITIES:
            minutes = self.cleaned_data[f"minutes_{severity}"]
            rules = EscalationRule.objects.filter(tenant_id=user.tenant_id, severity=severity)
            if minutes is None:
                rules.delete()
            else:
                EscalationRule.objects.update_or_create(
                    tenant_id=user.tenant_id,
                    severity=severity,
                    defaults={"minutes": minutes, "updated_by": user.email},
                )


def _escalation_context(user, form=None, error=None):
    """Tenant administrators only: the tenant's escalation rules, and the form to set them."""
    if not user.is_tenant_admin:
        return {"escalation_rules": None}
    rules = list(EscalationRule.objects.filter(tenant_id=user.tenant_id))
    rules.sort(key=lambda r: SEVERITIES.index(r.severity))
    initial = {f"minutes_{r.severity}": r.minutes for r in rules}
    return {
        "escalation_rules": rules,
        "escalation_form": form or EscalationForm(initial=initial),
        "escalation_error": error,
    }


def _save_escalation(request, user):
    if not user.is_tenant_admin:
        messages.error(request, "Only a tenant administrator sets the escalation rules.")
        return redirect("oncall")
    form = EscalationForm(request.POST)
    error = None
    if form.is_valid():
        form.save(user)
        form = None
    else:
        error = "Nothing was saved: " + " ".join(" ".join(e) for e in form.errors.values())
    if request.htmx:
        context = _escalation_context(user, form, error)
        return render(request, "oncall/page.html#escalation", context)
    if error:
        messages.error(request, error)
    return redirect("oncall")
