"""E-mail to the person on call, through Django's own settings (EMAIL_HOST, ...): plain text
and HTML, with the person's own one-purpose links (links.py), absolute on
ALARMDESK_PUBLIC_URL. A link only asks; the page it opens acts on a tap."""

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from .errors import Failed


def absolute(path):
    return f"{settings.ALARMDESK_PUBLIC_URL}{path}"


def send(notice, links, words):
    alarm = notice.alarm
    title, body = words
    context = {
        "notice": notice,
        "alarm": alarm,
        "title": title,
        "body": body,
        "links": {action: absolute(path) for action, path in links.items()},
        "alarm_url": absolute(reverse("alarm_detail", args=[alarm.id])),
        "oncall_url": absolute(reverse("oncall")),
        "hours": settings.ALARMDESK_NOTIFY_LINK_SECONDS / 3600,
    }
    message = EmailMultiAlternatives(
        subject=f"[AlarmDesk] {title} on {alarm.originator_name}",
        body=render_to_string("oncall/email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notice.email],
        headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
    )
    message.attach_alternative(render_to_string("oncall/email.html", context), "text/html")
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise Failed(f"the mail server refused {notice.email}: {codes}") from None
    except (smtplib.SMTPException, OSError) as error:
        raise Failed(f"the mail server: {error}"[:500]) from None
