"""Writing ThingsBoard's alarms into the store: only real changes, each with its events.

Used by the sync and by the actions, which write ThingsBoard's answer at once.
"""

import logging
import uuid
from typing import NamedTuple

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from alarmdesk.redis_client import get_redis, key

from .models import SEVERITY_RANK, Alarm, AlarmEvent
from .tallies import Tallies

log = logging.getLogger(__name__)

Kind = AlarmEvent.Kind
# The fields ThingsBoard owns; everything the sync compares and writes.
TB_FIELDS = (
    "tenant_id",
    "customer_id",
    "type",
    "originator_type",
    "originator_id",
    "originator_name",
    "originator_label",
    "originator_display_name",
    "severity",
    "severity_rank",
    "acknowledged",
    "cleared",
    "status",
    "created_time",
    "start_ts",
    "end_ts",
    "ack_ts",
    "clear_ts",
    "assign_ts",
    "assignee_id",
    "assignee_email",
    "assignee_first_name",
    "assignee_last_name",
    "details",
    "propagate",
    "propagate_to_owner",
    "propagate_to_tenant",
    "propagate_relation_types",
)


def _uuid(value):
    return None if value is None else uuid.UUID(value)


def row_from(info):
    """The store's fields for one ThingsBoard AlarmInfo (ThingsBoard's 0 = never is None)."""
    assignee = info.assignee
    return {
        "tenant_id": _uuid(info.tenant_id),
        "customer_id": _uuid(info.customer_id),
        "type": info.type,
        "originator_type": info.originator_type,
        "originator_id": _uuid(info.originator_id),
        "originator_name": info.originator_name,
        "originator_label": info.originator_label,
        "originator_display_name": info.originator_display_name,
        "severity": info.severity,
        "severity_rank": SEVERITY_RANK.get(info.severity, len(SEVERITY_RANK)),
        "acknowledged": info.acknowledged,
        "cleared": info.cleared,
        "status": info.status,
        "created_time": info.created_time,
        "start_ts": info.start_ts,
        "end_ts": info.end_ts,
        "ack_ts": info.ack_ts or None,
        "clear_ts": info.clear_ts or None,
        "assign_ts": info.assign_ts or None,
        "assignee_id": _uuid(info.assignee_id),
        "assignee_email": assignee.email if assignee else "",
        "assignee_first_name": (assignee.first_name or "") if assignee else "",
        "assignee_last_name": (assignee.last_name or "") if assignee else "",
        "details": info.details,
        "propagate": info.propagate,
        "propagate_to_owner": info.propagate_to_owner,
        "propagate_to_tenant": info.propagate_to_tenant,
        "propagate_relation_types": list(info.propagate_relation_types),
    }


def _assignee(row):
    return {"assignee_id": str(row["assignee_id"]), "assignee": row["assignee_email"]}


def events_between(old, new):
    """(kind, ThingsBoard's timestamp or None, data) for each change from `old` to `new`.

    `old` is None for an alarm the store has never seen; an alarm raised and then
    acknowledged, assigned or cleared between two looks gets each of those events too.
    """
    events = []
    if old is None:
        events.append((Kind.CREATED, new["start_ts"], {"severity": new["severity"]}))
        old = {**new, "acknowledged": False, "cleared": False, "assignee_id": None}
    else:
        if new["end_ts"] > old["end_ts"] or new["start_ts"] != old["start_ts"]:
            events.append((Kind.RETRIGGERED, new["end_ts"], {}))
        if new["severity"] != old["severity"]:
            retriggered = bool(events)
            data = {"from": old["severity"], "to": new["severity"]}
            events.append((Kind.SEVERITY_CHANGED, new["end_ts"] if retriggered else None, data))
    if new["acknowledged"] and not old["acknowledged"]:
        events.append((Kind.ACKNOWLEDGED, new["ack_ts"], {}))
    if new["cleared"] and not old["cleared"]:
        events.append((Kind.CLEARED, new["clear_ts"], {}))
    if new["assignee_id"] != old["assignee_id"]:
        if new["assignee_id"] is None:
            events.append((Kind.UNASSIGNED, new["assign_ts"], {}))
        else:
            events.append((Kind.ASSIGNED, new["assign_ts"], _assignee(new)))
    return events


def _older(new, old):
    """Whether `new` is an older look at the alarm than the stored one.

    The sync reads a page, then saves it; meanwhile a person's action may have saved
    ThingsBoard's newer answer. An alarm is never un-acknowledged or un-cleared, and the
    times ThingsBoard stamps itself (ackTs, clearTs, assignTs) only move forward (section
    4.5): a look that goes back on any of them is stale, and the next one brings what is
    new. endTs and startTs are not among them: an update may set them back (section 4.6)."""
    return (
        (old["acknowledged"] and not new["acknowledged"])
        or (old["cleared"] and not new["cleared"])
        or any((old[f] or 0) > (new[f] or 0) for f in ("ack_ts", "clear_ts", "assign_ts"))
    )


class Changes:
    """What one write changed: counts, and the scopes whose pages must re-render."""

    def __init__(self):
        self.created = self.updated = self.events = 0
        self.tenants = set()
        self.customers = set()

    @property
    def any(self):
        return bool(self.created or self.updated)

    def touch(self, row):
        self.tenants.add(row["tenant_id"])
        if row["customer_id"] is not None:
            self.customers.add(row["customer_id"])

    def add(self, other):
        self.created += other.created
        self.updated += other.updated
        self.events += other.events
        self.tenants |= other.tenants
        self.customers |= other.customers

    def as_dict(self):
        return {"created": self.created, "updated": self.updated, "events": self.events}


# Alarms compared and written per batch: keeps the `id IN (...)` under every database's
# parameter limit and the memory flat, however long the list.
BATCH = 500


def save_alarms(infos):
    """Upsert ThingsBoard AlarmInfos by id, writing only what changed; returns Changes.

    A batch with nothing new writes nothing: one SELECT, no INSERT or UPDATE.
    """
    changes = Changes()
    latest = {info.id: row_from(info) for info in infos}  # the last look at each alarm wins
    items = list(latest.items())
    for start in range(0, len(items), BATCH):
        _save_batch(dict(items[start : start + BATCH]), changes)
    if changes.any:
        bump_scopes(changes)
    return changes


def _save_batch(latest, changes):
    """Compare outside any transaction (an unchanged batch takes no lock and writes
    nothing). When only alarms the store has never seen are to be written (a backfill's
    pages), insert them: should another writer store one meanwhile, its id makes the
    insert fail, and the batch goes the other way. Otherwise compare again under the
    write lock, so an action's answer saved in between is not overwritten."""
    ids = [uuid.UUID(alarm_id) for alarm_id in latest]
    plan = _plan(latest, _stored(Alarm.objects.filter(id__in=ids)))
    if not plan.rows:
        return
    if not plan.changes.updated:
        try:
            with transaction.atomic():
                plan.tallies.save()
                _insert_new(plan)
        except IntegrityError:
            log.info("alarms of a batch were stored meanwhile; comparing under the lock")
        else:
            changes.add(plan.changes)
            return
    with transaction.atomic():
        plan = _plan(latest, _stored(Alarm.objects.select_for_update().filter(id__in=ids)))
        plan.tallies.save()
        Alarm.objects.bulk_create(
            [Alarm(**row) for row in plan.rows],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=[*TB_FIELDS, "changed_at", "deleted", "actors_known"],
        )
        AlarmEvent.objects.bulk_create([AlarmEvent(**event) for event in plan.events])
    changes.add(plan.changes)


def _insert_new(plan):
    """Alarms no row of which exists yet, with their events.

    On PostgreSQL through COPY: the ORM's INSERT of a backfill's page (1,000 alarms and
    their 2,500 events) took 230 ms, most of it in Python building instances, preparing
    45,000 values and quoting them into arrays; COPY takes about 70 ms (measured in the
    backfill of 200,000). Elsewhere, and for every update, the ORM's own INSERT."""
    if connection.vendor == "postgresql":
        _copy(Alarm, plan.rows)
        _copy(AlarmEvent, plan.events)
    else:
        Alarm.objects.bulk_create([Alarm(**row) for row in plan.rows])
        AlarmEvent.objects.bulk_create([AlarmEvent(**event) for event in plan.events])


def _copy(model, rows):
    """COPY `rows` (field values by attname) into the model's table, the fields a row lacks
    at their defaults and an automatic id left to the database, as bulk_create does.

    Values go to psycopg as bulk_create hands them over, since for these fields Django
    passes them through unchanged (uuid.UUID, int, bool, str, aware datetime); JSON fields
    are adapted by the field itself, None staying SQL NULL."""
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    defaults = {f.attname: f.get_default() for f in fields}
    json_fields = [f for f in fields if isinstance(f, models.JSONField)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,  # a duplicate id: IntegrityError, as from the ORM
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            row = {**defaults, **row}
            for field in json_fields:
                row[field.attname] = field.get_db_prep_save(row[field.attname], connection)
            copy.write_row([row[f.attname] for f in fields])


def _stored(alarms):
    fields = ("id", "deleted", "actors_known", *TB_FIELDS)
    return {row["id"]: row for row in alarms.values(*fields)}


class Plan(NamedTuple):
    """What to write for a batch: the alarms' rows and their events, as field values, and
    what they change of the history's daily counts."""

    rows: list
    events: list
    changes: Changes
    tallies: Tallies


def _plan(latest, stored):
    """The Plan for ThingsBoard's looks `latest`, given the `stored` rows."""
    changes, now, tallies = Changes(), timezone.now(), Tallies()
    rows, events = [], []
    for alarm_id, new in latest.items():
        alarm_id = uuid.UUID(alarm_id)
        old = stored.get(alarm_id)
        actors_known = False
        if old is not None:
            old = dict(old)
            del old["id"]
            actors_known = old.pop("actors_known")
            deleted = old.pop("deleted")
            if _older(new, old) or (old == new and not deleted):
                continue
        if old is None:
            changes.created += 1
        else:
            changes.updated += 1
            changes.touch(old)
        changes.touch(new)
        tallies.change(old, new)
        happened = events_between(old, new)
        # A new acknowledgement or clearing: who did it is to be read again.
        if any(kind in (Kind.ACKNOWLEDGED, Kind.CLEARED) for kind, _, _ in happened):
            actors_known = False
        own = {"changed_at": now, "deleted": False, "actors_known": actors_known}
        rows.append({"id": alarm_id, **new, **own})
        events += [
            {"alarm_id": alarm_id, "kind": kind, "ts": ts, "observed_at": now, "data": data}
            for kind, ts, data in happened
        ]
    changes.events = len(events)
    return Plan(rows, events, changes, tallies)


def mark_deleted(alarm_ids):
    """ThingsBoard no longer has these alarms: keep them, marked deleted, with an event."""
    changes = Changes()
    now = timezone.now()
    with transaction.atomic():
        alarms = list(
            Alarm.objects.select_for_update()
            .filter(id__in=alarm_ids, deleted=False)
            .values("id", "tenant_id", "customer_id")
        )
        Alarm.objects.filter(id__in=[a["id"] for a in alarms]).update(deleted=True, changed_at=now)
        AlarmEvent.objects.bulk_create(
            AlarmEvent(alarm_id=a["id"], kind=Kind.DELETED, observed_at=now) for a in alarms
        )
    for alarm in alarms:
        changes.touch(alarm)
    changes.updated = changes.events = len(alarms)
    bump_scopes(changes)
    return changes


def refresh_statistics(thorough=False):
    """Keep the query planner's statistics current. SQLite gathers none by itself, and
    without them it picks poor indexes for the list (measured: 189 ms against 89 ms for
    the default page with 100,000 alarms); PostgreSQL's autovacuum does this on its own,
    but only some time after a bulk load."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("ANALYZE" if thorough else "PRAGMA optimize")
        elif connection.vendor == "postgresql" and thorough:
            # VACUUM also marks the loaded pages all-visible, without which the history's
            # index-only reads visit the table anyway (a week of 1,000,000 alarms: 362 ms
            # instead of 224 right after a backfill). It cannot run inside a transaction.
            verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            cursor.execute(f"{verb} {Alarm._meta.db_table}")


# --- change counters: what the live pages poll ---------------------------------------------


def scope_key(kind, scope_id):
    return key("scope", kind, scope_id)


def bump_scopes(changes):
    """Move the counter of every scope that changed, once the data is committed."""
    keys = [scope_key("tenant", t) for t in changes.tenants]
    keys += [scope_key("customer", c) for c in changes.customers]
    if keys:
        transaction.on_commit(lambda: _increment(keys))


def _increment(keys):
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for name in keys:
                pipe.incr(name)
            pipe.execute()
    except Exception:
        # Pages whose counter did not move refresh at the next change or reload.
        log.warning("could not move the scope counters %s", keys, exc_info=True)
