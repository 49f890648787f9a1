"""From the sync's alarm events to the person on call's pocket, through an outbox.

plan() reads the events the sync wrote since it last looked (an alarm raised; its severity
rose), and for each person on call whose duty covers the alarm writes a Notice (one per
person, alarm and transition: the unique constraint makes a second planner, a re-read or a
re-trigger at the same severity a no-op) with one pending Delivery per channel, in one
transaction. Only then are the deliveries queued, each sent by deliver() on the notify
queue; the sweep queues again any that stayed pending past their due time (a message Redis
lost, a worker killed mid-send), so nothing planned is lost. A delivery may go out twice
when a worker dies between the push service's answer and the database's write: a page
twice rather than never."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Min, Q
from django.urls import reverse
from django.utils import timezone

from alarmdesk.alarms import access
from alarmdesk.alarms.models import SEVERITY_RANK, Alarm, AlarmEvent

from . import chat, links, mail, push
from .errors import Failed, Gone
from .models import (
    LAST_TIER,
    Delivery,
    Duty,
    EscalationRule,
    Notice,
    NotifyState,
    PushSubscription,
    Webhook,
)

log = logging.getLogger(__name__)

Kind = AlarmEvent.Kind
State = Delivery.State
# Events are read by id from the watermark on. Raised and severity events are written by
# the sync alone, one run at a time (its Redis lock), each batch committed before the next:
# their ids commit in order, and none appears later behind the watermark. (An action's
# answer writes acknowledged, cleared or assigned events, which are no page.)
# A delivery being sent is not queued again by the sweep for this long (push.TIMEOUT and
# the database's write after it, with room).
LEASE = timedelta(seconds=60)
# An alarm nobody acknowledged within a day of its first call is escalated no further: every
# line has had it by then, and the sweep's read stays bounded by a day's notices.
HORIZON = timedelta(days=1)


def transition(event):
    """What the event is worth a page for: "raised", "rose:<SEVERITY>", or None."""
    if event.kind == Kind.CREATED:
        return "raised"
    if event.kind == Kind.SEVERITY_CHANGED:
        old, new = event.data.get("from"), event.data.get("to")
        if SEVERITY_RANK.get(new, 99) < SEVERITY_RANK.get(old, 99):
            return f"rose:{new}"
    return None


def plan():
    """Notices and deliveries for the events since the last run; returns the deliveries'
    ids, queued once the transaction commits."""
    queued = []
    with transaction.atomic():
        state = NotifyState.objects.select_for_update().first()
        newest = AlarmEvent.objects.aggregate(newest=Max("id"))["newest"] or 0
        if state is None:
            # First run: what the store holds is history, not news.
            NotifyState.objects.create(last_event_id=newest)
            return queued
        if newest <= state.last_event_id:
            return queued
        now = timezone.now()
        duties, hooks = {}, {}
        for event in _news(state.last_event_id, newest, now):
            what = transition(event)
            if what is None:
                continue
            alarm, tenant = event.alarm, event.alarm.tenant_id
            if tenant not in duties:
                duties[tenant] = list(Duty.on_call_in(tenant))
                hooks[tenant] = list(Webhook.objects.filter(tenant_id=tenant).order_by("id"))
            queued += _call(alarm, duties[tenant], what, now)
            for hook in hooks[tenant]:
                if hook.covers(alarm):
                    queued += _post(alarm, hook, what, now)
        state.last_event_id = newest
        state.save(update_fields=["last_event_id"])
        transaction.on_commit(lambda: _queue(queued))
    return queued


def _news(after, upto, now):
    """The events in (after, upto] worth a page: an alarm raised recently, or its severity
    changed recently, that still waits for someone. Filtered by the database: a backfill's
    events (a million of them) are history, and none is read into Python."""
    oldest = now - timedelta(seconds=settings.ALARMDESK_NOTIFY_MAX_AGE_SECONDS)
    raised = Q(kind=Kind.CREATED, alarm__start_ts__gte=int(oldest.timestamp() * 1000))
    return (
        AlarmEvent.objects.filter(id__gt=after, id__lte=upto)
        .filter(raised | Q(kind=Kind.SEVERITY_CHANGED, observed_at__gte=oldest))
        .filter(alarm__deleted=False, alarm__cleared=False, alarm__acknowledged=False)
        .select_related("alarm")
        .order_by("id")
        .iterator(chunk_size=500)
    )


def _call(alarm, duties, what, now, above=0):
    """Notices to the lowest tier above `above` with someone on call for the alarm now
    (nobody on the first line: the second is called at once); the deliveries' ids."""
    wanting = [d for d in duties if d.tier > above and d.wants(alarm, now)]
    if not wanting:
        return []
    tier = min(d.tier for d in wanting)
    queued = []
    for duty in wanting:
        if duty.tier == tier:
            queued += _notice(alarm, duty, what, now, tier)
    return queued


def _notice(alarm, duty, what, now, tier):
    notice = _once(
        alarm, what, now, user_id=duty.user_id, email=duty.email, name=duty.name, tier=tier
    )
    if notice is None:
        return []  # told already
    rows = [
        Delivery(notice=notice, channel=Delivery.Channel.PUSH, subscription=s)
        for s in PushSubscription.objects.filter(user_id=duty.user_id).order_by("id")
    ]
    if duty.by_email and duty.email:
        rows.append(Delivery(notice=notice, channel=Delivery.Channel.EMAIL))
    return _outbox(rows, now)


def _post(alarm, hook, what, now):
    notice = _once(alarm, what, now, webhook=hook, name=hook.name)
    if notice is None:
        return []  # posted already
    return _outbox([Delivery(notice=notice, channel=Delivery.Channel.WEBHOOK)], now)


def _once(alarm, what, now, **whom):
    """The notice of this transition to this person or channel, or None when it exists
    already (the unique constraints decide, in a savepoint of the planner's transaction)."""
    try:
        with transaction.atomic():
            return Notice.objects.create(
                alarm=alarm, transition=what, severity=alarm.severity, created_at=now, **whom
            )
    except IntegrityError:
        return None


def _outbox(rows, now):
    for row in rows:
        row.created_at, row.due_at = now, now + LEASE
        row.save()
    return [row.id for row in rows]


def _queue(ids):
    from .tasks import deliver  # the tasks module imports this one

    for delivery_id in ids:
        try:
            deliver.delay(delivery_id)
        except Exception:
            log.warning("could not queue delivery %s; the sweep will", delivery_id)
            break


def deliver(delivery_id):
    """Send one pending delivery. Returns the seconds until it should be tried again, or
    None when it is done (sent, refused for good, or no longer needed)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("notice__alarm", "subscription")
            # Not before its time (due_at less the lease): a retry's message that came early
            # waits for its own.
            .filter(id=delivery_id, state=State.PENDING, due_at__lte=now + LEASE)
            .first()
        )
        if delivery is None:
            return None
        reason = _not_needed(delivery)
        if reason:
            _finish(delivery, State.SKIPPED, reason)
            return None
        delivery.attempts += 1
        delivery.due_at = now + LEASE
        delivery.save(update_fields=["attempts", "due_at"])
    try:
        _send(delivery)
    except Gone as error:
        if delivery.subscription_id is not None:
            PushSubscription.objects.filter(id=delivery.subscription_id).delete()
        _finish(delivery, State.GONE, str(error))
        return None
    except Failed as error:
        if delivery.attempts >= settings.ALARMDESK_NOTIFY_ATTEMPTS:
            _finish(delivery, State.FAILED, str(error))
            return None
        delay = settings.ALARMDESK_NOTIFY_RETRY_SECONDS * 2 ** (delivery.attempts - 1)
        Delivery.objects.filter(id=delivery.id).update(
            error=str(error), due_at=timezone.now() + timedelta(seconds=delay) + LEASE
        )
        log.warning("delivery %s failed (%s); trying again in %s s", delivery.id, error, delay)
        return delay
    _finish(delivery, State.SENT, "")
    return None


def _not_needed(delivery):
    alarm = delivery.notice.alarm
    if alarm.acknowledged:
        return "acknowledged before it went out"
    if alarm.cleared or alarm.deleted:
        return "cleared before it went out"
    if delivery.channel == Delivery.Channel.WEBHOOK:
        hook = delivery.notice.webhook
        return "" if hook is not None and hook.covers(alarm) else "the chat channel was removed"
    duty = Duty.objects.filter(user_id=delivery.notice.user_id).first()
    # The access rule again, as the person is now: moved to another customer meanwhile,
    # they are not told of the first one's alarm.
    if duty is None or not access.may_see(duty, alarm.tenant_id, alarm.customer_id):
        return "no longer theirs to see"
    if delivery.channel == Delivery.Channel.PUSH and delivery.subscription is None:
        return "the browser's subscription was removed"
    return ""


def _finish(delivery, state, error):
    Delivery.objects.filter(id=delivery.id).update(
        state=state, error=error, sent_at=timezone.now() if state == State.SENT else None
    )


def _send(delivery):
    notice = delivery.notice
    if delivery.channel == Delivery.Channel.PUSH:
        push.send(delivery.subscription.info(), push_message(notice))
    elif delivery.channel == Delivery.Channel.EMAIL:
        mail.send(notice, links_of(notice), words(notice))
    else:
        absolute = {action: mail.absolute(path) for action, path in links_of(notice).items()}
        page = mail.absolute(reverse("alarm_detail", args=[notice.alarm_id]))
        chat.send(notice, words(notice), absolute, page)


def words(notice):
    """(title, body) of a notification: what fired, on what, and since when."""
    alarm, severity = notice.alarm, notice.severity.title()
    title = f"{severity}: {alarm.type}"
    if notice.transition.startswith("rose:"):
        title = f"Now {severity}: {alarm.type}"
    elif notice.transition.startswith("escalated:"):
        title = f"Not acknowledged: {severity}: {alarm.type}"
    raised = time.strftime("%H:%M:%S", time.gmtime(alarm.start_ts / 1000))
    body = f"{alarm.originator_name} · raised {raised} UTC"
    return title, body


def push_message(notice):
    """The push's JSON (under 4 KB, the push services' limit): what the service worker
    shows, where a tap leads, and the person's own signed links for its two buttons."""
    alarm = notice.alarm
    title, body = words(notice)
    return {
        "title": title,
        "body": body,
        "url": reverse("alarm_detail", args=[alarm.id]),
        "tag": f"alarm-{alarm.id}",
        "alarm": str(alarm.id),
        "actions": links_of(notice),
    }


def links_of(notice):
    """{action: path} of the signed links for the notice's alarm: the person's own, or the
    chat channel's."""
    alarm_id, user_id, hook_id = notice.alarm_id, notice.user_id, notice.webhook_id
    return {
        action: reverse("notified", args=[links.make(alarm_id, action, user_id, hook_id=hook_id)])
        for action in links.ACTIONS
    }


def escalate():
    """Call the next line for each alarm still waiting past its severity's rule since the
    line before was first called; returns the deliveries' ids, queued once committed.

    "Waiting" is the store's: acknowledged or cleared anywhere, in AlarmDesk or in
    ThingsBoard (the sync sees it), and it stops. Lines only go up, one at a time."""
    rules = {(r.tenant_id, r.severity): r.minutes for r in EscalationRule.objects.all()}
    if not rules:
        return []
    now = timezone.now()
    lines = (
        Notice.objects.filter(
            user_id__isnull=False,
            created_at__gte=now - HORIZON,
            alarm__acknowledged=False,
            alarm__cleared=False,
            alarm__deleted=False,
        )
        .values("alarm_id")
        .annotate(tier=Max("tier"))
        .filter(tier__lt=LAST_TIER)
    )
    current = {row["alarm_id"]: row["tier"] for row in lines}
    if not current:
        return []
    called = {
        (row["alarm_id"], row["tier"]): row["first"]
        for row in Notice.objects.filter(alarm_id__in=current, user_id__isnull=False)
        .values("alarm_id", "tier")
        .annotate(first=Min("created_at"))
    }
    queued, duties = [], {}
    with transaction.atomic():
        for alarm in Alarm.objects.filter(id__in=current).order_by("start_ts", "id"):
            tier = current[alarm.id]
            minutes = rules.get((alarm.tenant_id, alarm.severity))
            if minutes is None or called[alarm.id, tier] + timedelta(minutes=minutes) > now:
                continue
            if alarm.tenant_id not in duties:
                duties[alarm.tenant_id] = list(Duty.on_call_in(alarm.tenant_id))
            queued += _call(alarm, duties[alarm.tenant_id], f"escalated:{tier + 1}", now, tier)
        transaction.on_commit(lambda: _queue(queued))
    return queued


def sweep():
    """Plan what the sync's nudge did not, call the next lines that are due, and queue again
    the deliveries past due. Returns how many were queued again."""
    plan()
    escalate()
    now = timezone.now()
    due = list(
        Delivery.objects.filter(state=State.PENDING, due_at__lt=now)
        .order_by("due_at")
        .values_list("id", flat=True)[:500]
    )
    if due:
        Delivery.objects.filter(id__in=due).update(due_at=now + LEASE)
        _queue(due)
    return len(due)
