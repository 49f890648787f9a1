"""Reaching the person on call: their browsers' push subscriptions, and the notifications'
one-purpose links (oncall/links.py), from a push's buttons or an e-mail.

A link opened in a browser lands on a confirmation page (GET never acts), behind sign-in;
the confirming tap is a form with its CSRF token. The service worker cannot read a page's
CSRF token, so a notification's button posts to the link's `tap/` instead: the signed link
is that request's proof (a secret only the person's own push subscription received, for one
alarm and one action), the browser must say the request is the site's own, and the session
must be the link's person's. Both act through the actions module, as the pages do."""

import json

from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from alarmdesk.accounts.decorators import tb_login_required
from alarmdesk.accounts.tokens import SignInRequired, confirm_sign_in, session_user
from alarmdesk.alarms import access, actions

from . import links, push
from .models import PushSubscription, Webhook

# The subscription JSON of a browser is about 400 bytes; nothing legitimate is near this.
BODY_LIMIT = 4096


@tb_login_required
@require_POST
def subscription(request):
    """Add (or remove) this browser's push subscription for the signed-in person: JSON
    `{"subscription": PushSubscription.toJSON()}` or `{"remove": endpoint}`."""
    user = request.tb_user
    try:
        if len(request.body) > BODY_LIMIT:
            raise push.Refused("That is too long to be a push subscription.")
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise push.Refused("That is not a browser's push subscription.")
        if "remove" in data:
            removed, _ = PushSubscription.objects.filter(
                user_id=user.id, endpoint=str(data["remove"])
            ).delete()
            message = "This browser will not be notified." if removed else "It was not on."
            return JsonResponse({"ok": True, "message": message, "devices": _devices(user)})
        endpoint, p256dh, auth = push.clean_subscription(data.get("subscription"))
    except (ValueError, push.Refused) as error:
        text = str(error) if isinstance(error, push.Refused) else "That was not JSON."
        return JsonResponse({"ok": False, "message": text}, status=400)
    # One browser, one person: a subscription signed in as someone else before is theirs now.
    PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={
            "user_id": user.id,
            "p256dh": p256dh,
            "auth": auth,
            "user_agent": request.headers.get("User-Agent", "")[:255],
        },
    )
    return JsonResponse(
        {
            "ok": True,
            "message": "This browser will be notified while you are on call.",
            "devices": _devices(user),
        }
    )


def _devices(user):
    return [s.device for s in PushSubscription.objects.filter(user_id=user.id).order_by("id")]


def _link(token):
    """(the link, None) or (None, the page that refuses it and why)."""
    try:
        return links.read(token), None
    except links.Expired:
        hours = settings.ALARMDESK_NOTIFY_LINK_SECONDS / 3600
        return None, (
            f"This link has expired: a notification's links work for {hours:g} hour"
            f"{'s' if hours != 1 else ''}. Open the alarm to act on it."
        )
    except links.Invalid:
        return None, "This link is not one AlarmDesk made, or it was changed on the way."


def _refuse(request, reason, status):
    return render(request, "oncall/notified.html", {"refusal": reason}, status=status)


def _mine(request, link):
    """Why the signed-in person may not use the link, or None. A chat channel's link is its
    team's: anyone who may see the alarm (checked next, by the access rule)."""
    if link.hook_id is not None:
        if not Webhook.objects.filter(id=link.hook_id).exists():
            return "The chat channel this link was posted to was removed. Nothing was done."
        return None
    if str(link.user_id) != str(request.tb_user.id):
        return "This link was sent to someone else. Nothing was done."
    return None


@tb_login_required
@require_http_methods(["GET", "POST"])
def notified(request, token):
    """A notification's link: the confirmation page, and its confirming tap."""
    link, refusal = _link(token)
    if refusal:
        return _refuse(request, refusal, 410 if "expired" in refusal else 400)
    refusal = _mine(request, link)
    if refusal:
        return _refuse(request, refusal, 403)
    user = request.tb_user
    alarm = access.get_alarm_for(user, link.alarm_id)
    if request.method == "GET":
        return render(request, "oncall/notified.html", {"link": link, "alarm": alarm})
    result = actions.perform(request, user, alarm.id, link.action, via=actions.VIA_LINK)
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect("alarm_detail", alarm_id=alarm.id)


@csrf_exempt  # the signed link is the proof; see the module's docstring
@require_POST
def tap(request, token):
    """A push notification's button, from the service worker: JSON for it to show."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
        return JsonResponse({"ok": False, "message": "Not from this site."}, status=403)
    link, refusal = _link(token)
    if refusal:
        return JsonResponse({"ok": False, "message": refusal}, status=400)
    alarm_page = reverse("alarm_detail", args=[link.alarm_id])
    if session_user(request) is None:
        return _sign_in_first(alarm_page)
    try:
        confirm_sign_in(request)
    except SignInRequired:
        return _sign_in_first(alarm_page)
    request.tb_user = user = session_user(request)
    refusal = _mine(request, link)
    if refusal:
        return JsonResponse({"ok": False, "message": refusal}, status=403)
    try:
        alarm = access.get_alarm_for(user, link.alarm_id)
    except Http404:
        message = "That alarm is not one you can see. Nothing was done."
        return JsonResponse({"ok": False, "message": message}, status=404)
    try:
        result = actions.perform(request, user, alarm.id, link.action, via=actions.VIA_PUSH)
    except SignInRequired:
        return _sign_in_first(alarm_page)
    done = {"ack": "Acknowledged", "claim": "Claimed"}[link.action]
    title = f"{done}: {alarm.type} on {alarm.originator_name}" if result.ok else result.message
    return JsonResponse(
        {"ok": result.ok, "title": title, "message": result.message, "url": alarm_page},
        status=200 if result.ok else 409,
    )


def _sign_in_first(alarm_page):
    """The worker opens sign-in, then the alarm: nothing was done."""
    sign_in = f"{reverse('login')}?{urlencode({'next': alarm_page})}"
    return JsonResponse({"ok": False, "login": sign_in, "message": "Sign in"}, status=401)
