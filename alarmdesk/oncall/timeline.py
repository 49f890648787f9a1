"""The outbox on an alarm's timeline: one line per delivery and its outcome ("Pushed to
Olivia (Chrome on Android), first line", "E-mail to Olivia not sent: acknowledged before it
went out"). A tenant administrator reads everyone's; anyone else only their own, never whom
else the tenant called nor its chat channels."""

from alarmdesk.alarms.timeline import Entry

from .models import TIERS, UNKNOWN_BROWSER, Delivery

State, Channel = Delivery.State, Delivery.Channel
LINES = dict(TIERS)
DONE = {Channel.PUSH: "Pushed to", Channel.EMAIL: "E-mailed", Channel.WEBHOOK: "Posted to"}
NOUN = {Channel.PUSH: "Push to", Channel.EMAIL: "E-mail to", Channel.WEBHOOK: "Post to"}


def lines(alarm, user):
    deliveries = Delivery.objects.filter(notice__alarm=alarm).select_related(
        "notice__webhook", "subscription"
    )
    if not user.is_tenant_admin:
        deliveries = deliveries.filter(notice__user_id=user.id)
    return [_line(d) for d in deliveries.order_by("created_at", "id")]


def _line(delivery):
    notice, channel = delivery.notice, delivery.channel
    whom = notice.person
    device = delivery.subscription.device if delivery.subscription is not None else ""
    if channel == Channel.PUSH and device not in ("", UNKNOWN_BROWSER):
        whom += f" ({device})"
    elif channel == Channel.WEBHOOK and notice.webhook is not None:
        whom += f" ({notice.webhook.get_kind_display()})"
    why = ""
    if notice.user_id is not None:
        why = f", {LINES.get(notice.tier, f'line {notice.tier}').lower()}"
        if notice.transition.startswith("escalated:"):
            why += ", not acknowledged in time"
    if notice.transition.startswith("rose:"):
        why += f", severity rose to {notice.transition.partition(':')[2]}"
    attempts = f"{delivery.attempts} attempt{'s' if delivery.attempts != 1 else ''}"
    if delivery.state == State.SENT:
        return Entry(delivery.sent_at, "notice", f"{DONE[channel]} {whom}{why}")
    at = notice.created_at
    if delivery.state == State.SKIPPED:
        return Entry(at, "notice", f"{NOUN[channel]} {whom} not sent: {delivery.error}")
    if delivery.state == State.GONE:
        title = f"{NOUN[channel]} {whom} refused for good"
        return Entry(at, "attempt", title, delivery.error)
    if delivery.state == State.FAILED:
        title = f"{NOUN[channel]} {whom} failed after {attempts}"
        return Entry(at, "attempt", title, delivery.error)
    title = f"{NOUN[channel]} {whom} being sent"
    if delivery.attempts:
        title += f", tried again ({attempts} so far)"
    return Entry(at, "notice", title, delivery.error)
