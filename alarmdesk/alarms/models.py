"""The local alarm store: ThingsBoard's alarms as the sync last saw them, and their history.

Times are ThingsBoard's own, in epoch milliseconds, so the store compares exactly with what
ThingsBoard sends; `None` where ThingsBoard says 0 ("never acknowledged", ...).
"""

import uuid

from django.db import models
from django.db.models import Value
from django.utils import timezone

# ThingsBoard's declaration order, most severe first (thingsboard-api.md 4.1). Sorting on
# this rank, not on the word, puts CRITICAL first (ThingsBoard itself sorts alphabetically).
SEVERITIES = ("CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE")
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
# Compare booleans with these: Django writes `cleared=False` as `NOT "cleared"`, for which
# SQLite never uses an index; `cleared=FALSE` becomes `"cleared" = 0`, for which it does.
FALSE, TRUE = Value(False), Value(True)


# What the history's statistics read of each alarm in a range (history/stats.py).
HISTORY_COLUMNS = [
    "type",
    "severity",
    "originator_name",
    "created_time",
    "ack_ts",
    "clear_ts",
]


class Alarm(models.Model):
    """One ThingsBoard alarm (AlarmInfo, section 4.2), kept after ThingsBoard deletes it."""

    id = models.UUIDField(primary_key=True)  # ThingsBoard's alarm id
    tenant_id = models.UUIDField()
    customer_id = models.UUIDField(null=True)  # the originator's owner at creation; null: none
    type = models.CharField(max_length=255)
    originator_type = models.CharField(max_length=32)
    originator_id = models.UUIDField()
    originator_name = models.CharField(max_length=255)
    # ThingsBoard's null label stays null, so the store compares exactly with what it sends.
    originator_label = models.CharField(max_length=255, null=True)  # noqa: DJ001
    originator_display_name = models.CharField(max_length=255)
    severity = models.CharField(max_length=16)
    severity_rank = models.PositiveSmallIntegerField()  # 0 = CRITICAL ... 4 = INDETERMINATE
    acknowledged = models.BooleanField()
    cleared = models.BooleanField()
    status = models.CharField(max_length=16)  # ACTIVE_UNACK, ACTIVE_ACK, CLEARED_UNACK, ...
    created_time = models.BigIntegerField()
    start_ts = models.BigIntegerField()
    end_ts = models.BigIntegerField()
    ack_ts = models.BigIntegerField(null=True)
    clear_ts = models.BigIntegerField(null=True)
    assign_ts = models.BigIntegerField(null=True)
    assignee_id = models.UUIDField(null=True)
    assignee_email = models.CharField(max_length=255, blank=True)
    assignee_first_name = models.CharField(max_length=255, blank=True)
    assignee_last_name = models.CharField(max_length=255, blank=True)
    details = models.JSONField(null=True)
    propagate = models.BooleanField(default=False)
    propagate_to_owner = models.BooleanField(default=False)
    propagate_to_tenant = models.BooleanField(default=False)
    propagate_relation_types = models.JSONField(default=list)
    # The store's own bookkeeping: when the alarm last changed here, and whether ThingsBoard
    # still has it (deleted alarms stay, so history outlives ThingsBoard's retention).
    changed_at = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    # Who acknowledged and cleared it, for the history: from ThingsBoard's system comments
    # (read by `sync.identify_actors`) or from the action taken through AlarmDesk.
    acknowledged_by = models.CharField(max_length=255, blank=True)
    cleared_by = models.CharField(max_length=255, blank=True)
    deleted_by = models.CharField(max_length=255, blank=True)  # when deleted through AlarmDesk
    actors_known = models.BooleanField(default=False)

    class Meta:
        # The list's default order is severity rank, then newest start: these serve it for
        # each scope without a sort step (check plans with EXPLAIN QUERY PLAN before adding).
        indexes = [
            models.Index(fields=["tenant_id", "cleared", "severity_rank", "-start_ts"]),
            models.Index(fields=["customer_id", "cleared", "severity_rank", "-start_ts"]),
            # Any status, most severe first; the history's ranges.
            models.Index(fields=["tenant_id", "severity_rank", "-start_ts"]),
            models.Index(fields=["customer_id", "severity_rank", "-start_ts"]),
            # A range of start times, and everything the history's statistics read of it
            # (history/stats.py), from the index alone: on PostgreSQL a week of 1,000,000
            # alarms counted in 90 ms, against a scan of the table in 270 ms. Key columns
            # rather than INCLUDE, which SQLite lacks; the range is the key's first part.
            models.Index(
                fields=["tenant_id", "start_ts", *HISTORY_COLUMNS, "customer_id"],
                name="alarm_tenant_started",
            ),
            models.Index(
                fields=["customer_id", "start_ts", *HISTORY_COLUMNS, "tenant_id"],
                name="alarm_customer_started",
            ),
            models.Index(fields=["tenant_id", "ack_ts"]),
            models.Index(fields=["tenant_id", "clear_ts"]),
            models.Index(fields=["type"]),
            models.Index(fields=["created_time"]),
            # One originator's alarms (a few of a million): an open group's rows, the list
            # filtered to it (where a group's "See all" leads), its name over that list.
            models.Index(fields=["originator_id"]),
            # A scope's breakdown by severity and status (alarms/counts.py), read from the index
            # alone: 14 ms for 100,000 alarms on SQLite, against 150 ms through the table. The
            # severity before the status keeps SQLite from preferring these for the list's
            # own queries (tried: with the status first, the grouped list scanned the table).
            models.Index(
                fields=["tenant_id", "deleted", "severity_rank", "cleared", "acknowledged"]
            ),
            models.Index(
                fields=[
                    "customer_id",
                    "tenant_id",
                    "deleted",
                    "severity_rank",
                    "cleared",
                    "acknowledged",
                ]
            ),
        ]

    def __str__(self):
        return f"{self.severity} {self.type} on {self.originator_name}"


# The history's counts by day, kept by the store as it writes each alarm (store.py, with
# tallies.py): a week of 1,000,000 alarms is 232,000 alarms but 1,746 daily counts and
# 31,000 daily pairs. A day is a UTC day of the alarm's startTs, as the history draws it.
# No customer is this id (a unique key never matches two NULLs).
NO_CUSTOMER = uuid.UUID(int=0)
COUNT_KEY = ("tenant_id", "day", "customer_id", "severity", "type", "acknowledged", "cleared")
PAIR_KEY = ("tenant_id", "day", "customer_id", "originator_name", "type")


class DailyCount(models.Model):
    """How many alarms raised on one day share a scope, severity, type and state, and how
    many of them have an ackTs and a clearTs."""

    # The key is the primary key: no id of its own to draw from a sequence on every
    # write, and one index to keep (the sync adds to about one pair per alarm it writes).
    pk = models.CompositePrimaryKey(*COUNT_KEY)
    tenant_id = models.UUIDField()
    day = models.BigIntegerField()  # epoch ms of the day's start, UTC
    customer_id = models.UUIDField()  # NO_CUSTOMER: none
    severity = models.CharField(max_length=16)
    type = models.CharField(max_length=255)
    acknowledged = models.BooleanField()
    cleared = models.BooleanField()
    alarms = models.IntegerField()
    with_ack = models.IntegerField()
    with_clear = models.IntegerField()

    KEY = COUNT_KEY
    COUNTED = ("alarms", "with_ack", "with_clear")

    def __str__(self):
        return f"{self.alarms} {self.severity} {self.type} on day {self.day}"


class DailyPair(models.Model):
    """How many alarms raised on one day share a scope, an originator and a type: the
    history's noisiest originators and flapping pairs."""

    pk = models.CompositePrimaryKey(*PAIR_KEY)
    tenant_id = models.UUIDField()
    day = models.BigIntegerField()
    customer_id = models.UUIDField()
    originator_name = models.CharField(max_length=255)
    type = models.CharField(max_length=255)
    alarms = models.IntegerField()

    KEY = PAIR_KEY
    COUNTED = ("alarms",)

    def __str__(self):
        return f"{self.alarms} {self.type} on {self.originator_name} on day {self.day}"


class Customer(models.Model):
    """A customer's title, for the tenant administrator's customer column and filter."""

    id = models.UUIDField(primary_key=True)  # ThingsBoard's customer id
    tenant_id = models.UUIDField()
    title = models.CharField(max_length=255)

    def __str__(self):
        return self.title

    @classmethod
    def titles(cls, tenant_id):
        """{customer id: title} of a tenant's customers."""
        return dict(cls.objects.filter(tenant_id=tenant_id).values_list("id", "title"))


class AlarmEvent(models.Model):
    """A change the sync (or an action through AlarmDesk) observed on an alarm."""

    class Kind(models.TextChoices):
        CREATED = "created"
        RETRIGGERED = "retriggered"
        SEVERITY_CHANGED = "severity_changed"
        ACKNOWLEDGED = "acknowledged"
        CLEARED = "cleared"
        ASSIGNED = "assigned"
        UNASSIGNED = "unassigned"
        DELETED = "deleted"

    alarm = models.ForeignKey(Alarm, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    ts = models.BigIntegerField(null=True)  # ThingsBoard's time of the change, when it has one
    observed_at = models.DateTimeField()
    # kind-specific facts: {"from": "MAJOR", "to": "CRITICAL"}, {"assignee": "a@b.c"}, ...
    data = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["alarm", "observed_at"])]

    def __str__(self):
        return f"{self.kind} {self.alarm_id}"


class AuditEntry(models.Model):
    """One action a person took through AlarmDesk, and what ThingsBoard made of it."""

    class Outcome(models.TextChoices):
        # Written before ThingsBoard is called, so an action that reached it is never
        # missing from the log; completed with one of the others once its answer is known.
        PENDING = "pending"
        DONE = "done"
        ALREADY_DONE = "already_done"
        DENIED = "denied"
        NOT_FOUND = "not_found"
        FAILED = "failed"
        # ThingsBoard did not answer, and reading the alarm back did not settle it either.
        UNKNOWN = "unknown"

    at = models.DateTimeField(auto_now_add=True)
    user_id = models.UUIDField()  # the ThingsBoard user
    user_email = models.CharField(max_length=255)
    alarm = models.ForeignKey(
        Alarm, on_delete=models.SET_NULL, null=True, db_constraint=False, related_name="audit"
    )
    alarm_uuid = models.UUIDField()  # kept even when the store never had the alarm
    action = models.CharField(max_length=16)  # ack, clear, assign, unassign, comment
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.TextField(blank=True)  # the comment's text, the assignee, the error
    bulk_job = models.ForeignKey("BulkJob", on_delete=models.SET_NULL, null=True, blank=True)
    # Where the person acted from when not a page: "notification" (a push's button), "link"
    # (a notification's link, confirmed on its page).
    via = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["alarm_uuid", "at"]), models.Index(fields=["at"])]

    def __str__(self):
        return f"{self.user_email} {self.action} {self.alarm_uuid}: {self.outcome}"


class BulkJob(models.Model):
    """One bulk action over many alarms, run by the worker with the user's own session.

    The row holds everything a worker needs, so a task carries its id alone: no credential
    passes through Redis, and a message Redis lost is recovered from here (`bulk.stalled`)."""

    created_at = models.DateTimeField(auto_now_add=True)
    user_id = models.UUIDField()
    user_email = models.CharField(max_length=255)
    action = models.CharField(max_length=16)
    alarm_ids = models.JSONField()  # chosen when the job was asked for, by the access rule
    # The session whose tokens the worker acts with (the session itself is in the database).
    session_key = models.CharField(max_length=40)
    # When a message for it was last sent to the queue; null: the queue was unavailable.
    queued_at = models.DateTimeField(null=True, default=timezone.now)
    # Held by the run working on it, renewed as it goes; null: no run has it.
    lease_until = models.DateTimeField(null=True)
    # Null: proposed, shown to the user with its count, never run until they confirm it.
    confirmed_at = models.DateTimeField(null=True)
    # "All matching": the list's filter, and how its set changed before the confirmation.
    filter_query = models.TextField(blank=True)
    note = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        # The unfinished jobs: the recovery's query, and each user's running ones.
        indexes = [models.Index(fields=["finished_at", "user_id"])]

    def __str__(self):
        return f"bulk {self.action} of {len(self.alarm_ids)} by {self.user_email}"


class SyncState(models.Model):
    """The sync's memory for one tenant: how far it has read, and how it went."""

    tenant_id = models.UUIDField(primary_key=True)
    # Highest createdTime, endTs, ackTs and clearTs seen: each fast cycle reads the lists
    # sorted by that property down to it (less a safety overlap).
    watermarks = models.JSONField(default=dict)
    backfill_since = models.BigIntegerField(null=True)  # ms; the oldest createdTime wanted
    backfill_until = models.BigIntegerField(null=True)  # ms; fixed when the backfill began
    backfill_page = models.PositiveIntegerField(default=0)
    backfill_total = models.PositiveIntegerField(default=0)
    backfill_done = models.BooleanField(default=False)
    last_success = models.DateTimeField(null=True)
    last_reconcile = models.DateTimeField(null=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True)
    last_duration_ms = models.PositiveIntegerField(null=True)
    last_counts = models.JSONField(default=dict)

    def __str__(self):
        return f"sync of tenant {self.tenant_id}"

    @property
    def backfill_percent(self):
        if self.backfill_done:
            return 100
        if not self.backfill_total:
            return 0
        return min(99, int(100 * self.backfill_page * BACKFILL_PAGE_SIZE / self.backfill_total))


BACKFILL_PAGE_SIZE = 1000
