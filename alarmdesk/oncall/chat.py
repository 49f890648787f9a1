"""Chat channels' incoming webhooks: Slack's Block Kit message, Microsoft Teams' Adaptive
Card (what its Workflows webhooks take), and a plain JSON body for anything else.

A channel is read by a team, not one person: its Acknowledge and Claim links name the
channel's webhook instead of a person (links.py), and whoever opens one confirms, signed
in as themselves, for an alarm the access rule lets them see. They only ever ask first."""

from urllib.parse import urlsplit

import requests
from django.conf import settings

from .errors import Failed, Gone
from .models import Webhook

TIMEOUT = 10
# Answers that a retry will not change (the webhook was removed, or its body is refused).
FOR_GOOD = {400, 401, 403, 404, 410}


class Refused(ValueError):
    """A webhook address AlarmDesk will not post to, in words."""


def clean_url(url):
    """https anywhere; plain http only to the hosts ALARMDESK_WEBHOOK_HTTP_HOSTS names."""
    parts = urlsplit(url)
    if parts.username or parts.password or not parts.hostname:
        raise Refused("Give the webhook's address as its service shows it (https://...).")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and parts.hostname in settings.ALARMDESK_WEBHOOK_HTTP_HOSTS:
        return url
    raise Refused("A webhook's address must start with https://.")


def _slack_text(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(title, body, links, page):
    buttons = [("Acknowledge", links["ack"]), ("Claim", links["claim"]), ("Open", page)]
    return {
        "text": f"{title}: {body}",  # the notification's own text, and clients without blocks
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{_slack_text(title)}*\n{_slack_text(body)}"},
            },
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
                    for label, url in buttons
                ],
            },
        ],
    }


def teams(title, body, links, page):
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": title,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {"type": "TextBlock", "text": body, "wrap": True},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Acknowledge", "url": links["ack"]},
            {"type": "Action.OpenUrl", "title": "Claim", "url": links["claim"]},
            {"type": "Action.OpenUrl", "title": "Open", "url": page},
        ],
    }
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card,
    }
    return {"type": "message", "attachments": [attachment]}


def generic(notice, title, body, links, page):
    alarm = notice.alarm
    return {
        "event": "alarm.severity_rose" if notice.transition.startswith("rose:") else "alarm.raised",
        "title": title,
        "text": body,
        "alarm": {
            "id": str(alarm.id),
            "type": alarm.type,
            "severity": notice.severity,
            "originator": alarm.originator_name,
            "originator_type": alarm.originator_type,
            "customer_id": str(alarm.customer_id) if alarm.customer_id else None,
            "start_ts": alarm.start_ts,
            "url": page,
        },
        "links": links,
    }


def body_for(notice, words, links, page):
    title, body = words
    kind = notice.webhook.kind
    if kind == Webhook.Kind.SLACK:
        return slack(title, body, links, page)
    if kind == Webhook.Kind.TEAMS:
        return teams(title, body, links, page)
    return generic(notice, title, body, links, page)


def send(notice, words, links, page):
    """Post the notice to its webhook; Gone when the service refuses it for good."""
    hook = notice.webhook
    try:
        answer = requests.post(
            clean_url(hook.url), json=body_for(notice, words, links, page), timeout=TIMEOUT
        )
    except Refused as error:
        raise Gone(str(error)) from None
    except requests.RequestException as error:
        raise Failed(f"{hook.name} could not be reached: {error}"[:500]) from None
    if answer.status_code in FOR_GOOD:
        raise Gone(f"{hook.name} answered {answer.status_code}: {answer.text[:200]}")
    if not answer.ok:
        raise Failed(f"{hook.name} answered {answer.status_code}")
