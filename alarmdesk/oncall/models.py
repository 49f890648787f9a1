import uuid
from datetime import UTC
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import models

from alarmdesk.accounts.tokens import Authority
from alarmdesk.alarms import access
from alarmdesk.alarms.models import SEVERITIES


def default_sounds():
    return ["CRITICAL", "MAJOR"]


class Preference(models.Model):
    """How the on-call page calls for attention, remembered per ThingsBoard user."""

    user_id = models.UUIDField(primary_key=True)
    muted = models.BooleanField(default=False)
    sounds = models.JSONField(default=default_sounds)  # severities that play a sound
    notify = models.BooleanField(default=False)  # browser notifications, once permitted

    def __str__(self):
        return f"on-call preferences of {self.user_id}"

    @classmethod
    def of(cls, user):
        return cls.objects.filter(user_id=user.id).first() or cls(user_id=user.id)

    def sound_choices(self):
        return [(severity, severity in self.sounds) for severity in SEVERITIES]


def default_duty_severities():
    return ["CRITICAL", "MAJOR"]


# Escalation's tiers: the first line is called at once; each next one when the alarm stays
# unacknowledged past its severity's rule (EscalationRule) after the tier before was called.
TIERS = [(1, "First line"), (2, "Second line"), (3, "Third line")]
LAST_TIER = TIERS[-1][0]


class Duty(Authority, models.Model):
    """Who is on call, and for what: one per ThingsBoard user who ever said.

    The person's identity and role as ThingsBoard last told them (refreshed at each visit of
    /oncall/), so that whoever notifies them later applies the one access rule without their
    session: a customer user hears only of their customer's alarms, whatever they chose.
    Types and customers narrow a tenant administrator's duty (empty: all); a customer user
    chooses severities only. Quiet hours are the person's own clock's (`time_zone`), and may
    wrap past midnight (22:00 to 07:00)."""

    user_id = models.UUIDField(primary_key=True)
    tenant_id = models.UUIDField(db_index=True)
    customer_id = models.UUIDField(null=True, blank=True)
    authority = models.CharField(max_length=32)
    email = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    on_call = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True)  # when they last went on call
    severities = models.JSONField(default=default_duty_severities)
    types = models.JSONField(default=list, blank=True)
    customers = models.JSONField(default=list, blank=True)  # customer ids, as strings
    quiet_from = models.TimeField(null=True, blank=True)
    quiet_until = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    by_email = models.BooleanField(default=False)  # besides every browser they subscribed
    tier = models.PositiveSmallIntegerField(choices=TIERS, default=1)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"on-call duty of {self.email}"

    @classmethod
    def of(cls, user):
        """The user's duty (unsaved when they never set one), their identity and role brought
        up to date with the session's, and saved so when they changed: a customer user moved
        to another customer is not told of the first one's alarms any more."""
        duty = cls.objects.filter(user_id=user.id).first() or cls(user_id=user.id)
        now = {
            "tenant_id": uuid.UUID(str(user.tenant_id)),
            # None but for a customer user of a customer, as in access.visible_scope.
            "customer_id": (
                uuid.UUID(str(user.customer_id))
                if user.is_customer_user and user.customer_id
                else None
            ),
            "authority": user.authority,
            "email": user.email,
            "name": user.name,
        }
        changed = [name for name, value in now.items() if getattr(duty, name) != value]
        for name in changed:
            setattr(duty, name, now[name])
        if changed and not duty._state.adding:
            duty.save(update_fields=[*changed, "updated_at"])
        return duty

    @property
    def tz(self):
        try:
            return ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return UTC

    def quiet_at(self, moment):
        """Whether `moment` (aware) falls in the person's quiet hours."""
        if self.quiet_from is None or self.quiet_until is None:
            return False
        now = moment.astimezone(self.tz).time()
        start, end = self.quiet_from, self.quiet_until
        if start <= end:
            return start <= now < end
        return now >= start or now < end  # past midnight

    def covers(self, alarm):
        """Whether the duty is for this alarm (on call aside): the access rule first, then
        the person's choices."""
        if not access.may_see(self, alarm.tenant_id, alarm.customer_id):
            return False
        if alarm.severity not in self.severities:
            return False
        if self.is_tenant_admin:
            if self.types and alarm.type not in self.types:
                return False
            if self.customers and str(alarm.customer_id) not in self.customers:
                return False
        return True

    def wants(self, alarm, moment):
        """Whether to tell them of `alarm` now: on call, the alarm theirs, not quiet."""
        return self.on_call and self.covers(alarm) and not self.quiet_at(moment)

    @classmethod
    def on_call_in(cls, tenant_id):
        """The tenant's people on call now (quiet or not), newest on call first."""
        return cls.objects.filter(tenant_id=tenant_id, on_call=True).order_by("-since", "email")


UNKNOWN_BROWSER = "A browser"


class PushSubscription(models.Model):
    """A browser's Web Push subscription (PushSubscription.toJSON()), for one person: what
    the push service needs to reach that browser, encrypted for it alone."""

    user_id = models.UUIDField(db_index=True)
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=100)  # the browser's public key, base64url
    auth = models.CharField(max_length=50)  # its authentication secret, base64url
    user_agent = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"push subscription of {self.user_id}"

    def info(self):
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    @property
    def device(self):
        """A few words for the person's list: the browser, not the secret endpoint."""
        agent = self.user_agent
        for name in ("Edg", "Firefox", "Chrome", "Safari"):
            if name in agent:
                browser = "Edge" if name == "Edg" else name
                break
        else:
            browser = UNKNOWN_BROWSER
        for system in ("Android", "iPhone", "iPad", "Windows", "Mac OS", "Linux"):
            if system in agent:
                return f"{browser} on {system.replace('Mac OS', 'macOS')}"
        return browser


class Webhook(models.Model):
    """A chat channel's incoming webhook (Slack, Microsoft Teams, or any JSON receiver), set by
    a tenant administrator: for the tenant (its own alarms and every customer's) or for one
    customer (that customer's only), for the severities chosen."""

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Microsoft Teams"
        JSON = "json", "JSON (any receiver)"

    tenant_id = models.UUIDField(db_index=True)
    customer_id = models.UUIDField(null=True, blank=True)  # None: the whole tenant
    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=80)  # "#ops", what people call the channel
    url = models.URLField(max_length=1000)
    severities = models.JSONField(default=default_duty_severities)
    created_by = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.get_kind_display()} webhook {self.name}"

    def covers(self, alarm):
        if str(alarm.tenant_id) != str(self.tenant_id) or alarm.severity not in self.severities:
            return False
        return self.customer_id is None or str(alarm.customer_id) == str(self.customer_id)


class EscalationRule(models.Model):
    """A tenant's rule: an alarm of this severity still unacknowledged this many minutes after
    a tier was called calls the next tier (of the people on call whose duty covers it)."""

    tenant_id = models.UUIDField()
    severity = models.CharField(max_length=16, choices=[(s, s.title()) for s in SEVERITIES])
    minutes = models.PositiveIntegerField()
    updated_by = models.CharField(max_length=255)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "severity"], name="one_rule_per_severity")
        ]

    def __str__(self):
        return f"{self.severity} escalates after {self.minutes} min"

    @property
    def words(self):
        return f"{self.severity.title()}: next line after {self.minutes} min"


class Notice(models.Model):
    """That one person is told of one alarm's transition ("raised", or "rose to CRITICAL"):
    one per person, alarm and transition, whatever retries, sync runs or planners follow (the
    unique constraint decides). Its deliveries are the channels it went out on."""

    alarm = models.ForeignKey("alarms.Alarm", on_delete=models.CASCADE, related_name="notices")
    # Whom: a person on call, or a chat channel (then `name` is the channel's).
    user_id = models.UUIDField(null=True, blank=True)
    webhook = models.ForeignKey(Webhook, on_delete=models.SET_NULL, null=True, blank=True)
    email = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    transition = models.CharField(max_length=32)  # "raised", "rose:CRITICAL", "escalated:2"
    severity = models.CharField(max_length=16)  # the alarm's, when it was planned
    tier = models.PositiveSmallIntegerField(default=1)  # the person's line, when called
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alarm", "user_id", "transition"],
                condition=models.Q(user_id__isnull=False),
                name="one_notice_per_transition",
            ),
            models.UniqueConstraint(
                fields=["alarm", "webhook", "transition"],
                condition=models.Q(webhook__isnull=False),
                name="one_post_per_transition",
            ),
        ]

    def __str__(self):
        return f"{self.email} told of {self.alarm_id} ({self.transition})"

    @property
    def person(self):
        return self.name or self.email


class Delivery(models.Model):
    """One notice sent on one channel: the outbox. Written with its notice, before anything
    is sent, so that a worker killed or a message lost in Redis leaves it pending for the
    sweep to send again (oncall/outbox.py)."""

    class Channel(models.TextChoices):
        PUSH = "push"
        EMAIL = "email"
        WEBHOOK = "webhook"

    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"  # every attempt failed
        GONE = "gone"  # refused for good: a push subscription no more, a webhook's 4xx
        SKIPPED = "skipped"  # acknowledged or cleared before it went out

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    subscription = models.ForeignKey(
        PushSubscription, on_delete=models.SET_NULL, null=True, blank=True
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    due_at = models.DateTimeField()  # pending: when the sweep may send it again
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "due_at"])]

    def __str__(self):
        return f"{self.channel} of notice {self.notice_id}: {self.state}"


class NotifyState(models.Model):
    """How far the planner has read the sync's alarm events (AlarmEvent ids)."""

    last_event_id = models.BigIntegerField()

    def __str__(self):
        return f"notices planned up to event {self.last_event_id}"
