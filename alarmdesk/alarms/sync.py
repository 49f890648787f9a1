"""Mirror the tenant's ThingsBoard alarms into the local store (DESIGN.md, "Sync").

ThingsBoard has no "updated since" for alarms (thingsboard-api.md 7.3), but it sorts alarm
lists by createdTime, endTs, ackTs and clearTs, and every raise, re-trigger,
acknowledgement and clearing moves one of them to "now". So a fast cycle reads each of
those four orderings newest first, down to the highest value it saw last time (less a
safety overlap): one page each when nothing happened, however many alarms exist.

What no ordering reveals (an assignment made elsewhere, a severity changed without a
re-trigger, a deletion) is caught by the reconciliation: every non-cleared alarm read
again, and each stored active alarm ThingsBoard stopped listing looked up by id.

The first cycles backfill ALARMDESK_BACKFILL_DAYS of history, a time-boxed slice at a time.
`run_cycle()` is the whole of it; the Celery task only calls it.
"""

import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import LockError

from alarmdesk.redis_client import get_redis, key
from alarmdesk.thingsboard.errors import NotFound, ThingsBoardError

from . import models
from .account import ServiceAccount
from .counts import count_scopes
from .models import FALSE, Alarm, Customer, SyncState
from .store import Changes, mark_deleted, refresh_statistics, save_alarms

log = logging.getLogger(__name__)

# The four orderings that reveal changes, and the AlarmInfo field each sorts on.
ORDERINGS = {
    "createdTime": "created_time",
    "endTs": "end_ts",
    "ackTs": "ack_ts",
    "clearTs": "clear_ts",
}
PAGE_SIZE = 100
# Re-read this far below the watermark: an alarm stamped just before the newest one seen may
# be committed just after it was read (and a ThingsBoard cluster's clocks differ a little).
OVERLAP_MS = 30_000
RECONCILE_PAGE_SIZE = 1000
# At most this many single-alarm look-ups per reconciliation; the rest wait for the next.
MAX_LOOKUPS = 500
BACKFILL_BUDGET_SECONDS = 20
# Longer than the task's hard time limit (enforced by the prefork pool, which `make run` and
# the README's production commands use), so a killed worker's lock expires on its own and a
# live one never loses it.
LOCK_KEY = key("sync", "lock")
LOCK_TIMEOUT = 75
STATUS_KEY = key("sync", "status")
TENANT_KEY = key("sync", "tenant")


def now_ms():
    return int(time.time() * 1000)


class Cycle:
    """One sync run: the service account, the tenant's state, and what it did."""

    def __init__(self, account=None):
        self.account = account or ServiceAccount()
        self.requests = 0
        self.read = 0
        self.changes = Changes()

    def list_alarms(self, **query):
        self.requests += 1
        page = self.account.call(lambda tb: tb.alarms(**query))
        self.read += len(page.data)
        return page

    def save(self, infos):
        self.changes.add(save_alarms(infos))

    def delete(self, alarm_ids):
        self.changes.add(mark_deleted(alarm_ids))

    def counts(self):
        return {"requests": self.requests, "read": self.read, **self.changes.as_dict()}

    def tenant_id(self):
        redis = get_redis()
        tenant = redis.get(TENANT_KEY)
        if tenant is None:
            self.requests += 1
            tenant = self.account.call(lambda tb: tb.current_user().tenant_id)
            redis.set(TENANT_KEY, tenant, ex=3600)
        return uuid.UUID(tenant.decode() if isinstance(tenant, bytes) else tenant)


# --- the fast cycle ------------------------------------------------------------------------


def fast_cycle(cycle, state):
    """Read each ordering down to its watermark; save what changed; move the watermarks."""
    found = []
    watermarks = dict(state.watermarks)
    for ordering, field in ORDERINGS.items():
        infos = _read_down_to(cycle, ordering, field, watermarks.get(ordering))
        found += infos
        highest = max((getattr(info, field) for info in infos), default=0)
        if highest > watermarks.get(ordering, 0):
            watermarks[ordering] = highest
    cycle.save(found)
    state.watermarks = watermarks


def _read_down_to(cycle, ordering, field, watermark):
    """Newest-first pages until one ends below the watermark (or at "never", 0).

    Without a watermark (the very first cycle) one page sets it; the backfill reads the rest.
    Pages are offsets into a live list: an alarm deleted above the reading point shifts the
    rest up by one and could be skipped, so when the total moved while paging the ordering
    is read once more from the top (inserts only shift rows down: re-read, never skipped).
    """
    # Capped at now: an alarm stamped in the future (endTs comes from the message that
    # raised it, and a device's clock may run fast) must not hide the ones after it.
    floor = min(watermark, now_ms()) - OVERLAP_MS if watermark else None
    for _attempt in range(2):
        infos, page_number, first_total = [], 0, None
        while True:
            page = cycle.list_alarms(
                page=page_number, page_size=PAGE_SIZE, sort_property=ordering, sort_order="DESC"
            )
            first_total = page.total_elements if first_total is None else first_total
            infos += page.data
            last = getattr(page.data[-1], field) if page.data else 0
            if not page.has_next or floor is None or last < floor or last == 0:
                break
            page_number += 1
        if page_number == 0 or page.total_elements >= first_total:
            return infos
    return infos


# --- the reconciliation ---------------------------------------------------------------------


def reconcile(cycle, state, tenant_id):
    """Every non-cleared alarm read again; stored active alarms no longer listed looked up."""
    listed_ids = _read_and_save(cycle, status_list=("ACTIVE",))
    stored_active = set(
        Alarm.objects.filter(tenant_id=tenant_id, cleared=FALSE, deleted=FALSE).values_list(
            "id", flat=True
        )
    )
    _look_up(cycle, stored_active - listed_ids)
    if state.backfill_done:
        until = now_ms()
        since = until - settings.ALARMDESK_BACKFILL_DAYS * 86_400_000
        _compare_history(cycle, tenant_id, since, until, _count(cycle, since, until))
    _save_customers(cycle, tenant_id)
    refresh_statistics()
    state.last_reconcile = timezone.now()


def _read_and_save(cycle, **query):
    """Every page of a list, saved as it comes (memory stays one page); the ids seen."""
    seen, page_number = set(), 0
    while True:
        page = cycle.list_alarms(
            page=page_number,
            page_size=RECONCILE_PAGE_SIZE,
            sort_property="createdTime",
            sort_order="DESC",
            **query,
        )
        cycle.save(page.data)
        seen.update(uuid.UUID(info.id) for info in page.data)
        if not page.has_next:
            return seen
        page_number += 1


def _look_up(cycle, alarm_ids):
    """Each alarm by id: saved if ThingsBoard still has it (cleared, say), else deleted."""
    found, gone = [], []
    for alarm_id in sorted(alarm_ids)[:MAX_LOOKUPS]:
        cycle.requests += 1
        try:
            found.append(cycle.account.call(lambda tb, a=alarm_id: tb.alarm_info(a)))
        except NotFound:
            gone.append(alarm_id)
    cycle.save(found)
    if gone:
        cycle.delete(gone)


def _count(cycle, since, until):
    """How many alarms ThingsBoard has created in [since, until] (inclusive, section 4.3)."""
    return cycle.list_alarms(page=0, page_size=1, start_time=since, end_time=until).total_elements


def _compare_history(cycle, tenant_id, since, until, total):
    """Deleted cleared alarms (retention, a user) leave no trace in any ordering. Counting
    the window in ThingsBoard and in the store finds them: equal counts end the search,
    otherwise the window is halved until a part is small enough to read in full. One
    deletion among 100,000 alarms costs about 15 count requests and one small page."""
    stored = Alarm.objects.filter(
        tenant_id=tenant_id, created_time__gte=since, created_time__lte=until, deleted=FALSE
    )
    if stored.count() == total:
        return
    if total <= RECONCILE_PAGE_SIZE or until - since < 2:
        listed = _read_and_save(cycle, start_time=since, end_time=until)
        _look_up(cycle, set(stored.values_list("id", flat=True)) - listed)
        return
    middle = (since + until) // 2
    left = _count(cycle, since, middle)
    _compare_history(cycle, tenant_id, since, middle, left)
    _compare_history(cycle, tenant_id, middle + 1, until, total - left)


def _save_customers(cycle, tenant_id):
    """The customers' titles, for the tenant administrators' pages (a few requests)."""
    customers, page_number = [], 0
    while True:
        cycle.requests += 1
        page = cycle.account.call(lambda tb, n=page_number: tb.customers(page=n, page_size=1000))
        customers += page.data
        if not page.has_next:
            break
        page_number += 1
    stored = Customer.titles(tenant_id)
    fresh = {uuid.UUID(c.id): c.title for c in customers}
    if fresh != stored:
        Customer.objects.bulk_create(
            [Customer(id=i, tenant_id=tenant_id, title=t) for i, t in fresh.items()],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=["title", "tenant_id"],
        )


# --- the backfill ----------------------------------------------------------------------------


def backfill_step(cycle, state):
    """Read the history window, oldest page last, until done or out of time.

    The window's upper end is fixed when the backfill starts, so alarms raised meanwhile
    (the fast cycles' business) do not shift its pages; progress is committed with each
    page, so a killed worker resumes where it stopped. While a page is saved, the next is
    read on a thread of its own, as the one waits on the database and the other on
    ThingsBoard (measured with 200,000 alarms: 193-219 ms per 1,000 alarms, against
    263-267 read one page after the other); the pages are still saved in order.
    """
    if state.backfill_until is None:
        state.backfill_until = now_ms()
        state.backfill_since = state.backfill_until - settings.ALARMDESK_BACKFILL_DAYS * 86_400_000
        state.backfill_page = 0
    deadline = time.monotonic() + BACKFILL_BUDGET_SECONDS
    with ThreadPoolExecutor(max_workers=1) as reader:
        ahead = reader.submit(_backfill_page, cycle, state, state.backfill_page)
        while True:
            page = ahead.result()
            # Read ahead while time is left; a page read ahead but not saved by the
            # deadline is read again by the next run.
            more = page.has_next and time.monotonic() < deadline
            if more:
                ahead = reader.submit(_backfill_page, cycle, state, state.backfill_page + 1)
            with transaction.atomic():
                cycle.save(page.data)
                state.backfill_total = page.total_elements
                state.backfill_page += 1
                state.backfill_done = not page.has_next
                state.save()
            if state.backfill_done:
                refresh_statistics(thorough=True)
            if not more or time.monotonic() >= deadline:
                return  # at least one page a run; the next run goes on from here


def _backfill_page(cycle, state, page_number):
    return cycle.list_alarms(
        page=page_number,
        page_size=models.BACKFILL_PAGE_SIZE,
        start_time=state.backfill_since,
        end_time=state.backfill_until,
        sort_property="createdTime",
        sort_order="DESC",
    )


# --- one run ----------------------------------------------------------------------------------


def run_cycle(account=None, *, reconcile_now=False):
    """One sync run: the fast cycle; the reconciliation when due (or `reconcile_now`); a
    backfill slice while one is pending. Returns its counts, or None when another run holds
    the lock."""
    redis = get_redis()
    lock = redis.lock(LOCK_KEY, timeout=LOCK_TIMEOUT, blocking=False)
    if not lock.acquire():
        log.info("another sync run is in progress; skipping")
        return None
    try:
        return _run_locked(Cycle(account), reconcile_now)
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("the sync lock expired before the run ended")


def _run_locked(cycle, reconcile_now):
    started = time.monotonic()
    state = None
    try:
        tenant_id = cycle.tenant_id()
        state, _ = SyncState.objects.get_or_create(tenant_id=tenant_id)
        before = _persistent(state)
        fast_cycle(cycle, state)
        if _persistent(state) != before:
            # Keep the watermarks even if a later step of this run fails: otherwise every
            # following fast cycle would read further back.
            state.save(update_fields=["watermarks"])
        if reconcile_now or _reconcile_due(state):
            reconcile(cycle, state, tenant_id)
        if not state.backfill_done:
            backfill_step(cycle, state)
    except (ThingsBoardError, SoftTimeLimitExceeded) as error:
        _record_failure(cycle, state, error, started)
        raise
    if cycle.changes.tenants:
        # The scopes' counters moved: their counts now, once, rather than by the next page.
        count_scopes(tenant_id, cycle.changes.customers)
    duration_ms = int((time.monotonic() - started) * 1000)
    counts = cycle.counts()
    if cycle.changes.any or _persistent(state) != before or state.last_error:
        # Watermarks, backfill or reconciliation moved, or a failure is over: persist.
        # An unchanged cycle writes nothing to the database.
        state.last_success = timezone.now()
        state.last_error = ""
        state.last_duration_ms = duration_ms
        state.last_counts = counts
        state.save()
    _publish(state, ok=True, duration_ms=duration_ms, counts=counts)
    log.info("sync cycle: %s in %d ms", counts, duration_ms)
    return counts


def _persistent(state):
    return (
        state.watermarks,
        state.backfill_page,
        state.backfill_done,
        state.last_reconcile,
    )


def _reconcile_due(state):
    if state.last_reconcile is None:
        return True
    age = timezone.now() - state.last_reconcile
    return age >= timedelta(seconds=settings.ALARMDESK_RECONCILE_SECONDS)


def _record_failure(cycle, state, error, started):
    error = error if str(error) else "the run took longer than its time limit"
    log.warning("sync cycle failed: %s", error)
    duration_ms = int((time.monotonic() - started) * 1000)
    if state is not None:
        state.last_error = str(error)[:1000]
        state.last_error_at = timezone.now()
        state.last_duration_ms = duration_ms
        state.save(update_fields=["last_error", "last_error_at", "last_duration_ms"])
    _publish(state, ok=False, duration_ms=duration_ms, counts=cycle.counts(), error=str(error))


def _publish(state, *, ok, duration_ms, counts, error=None):
    """The latest run, in Redis, for /healthz and the pages; the database keeps the rest."""
    previous = status() or {}
    now = timezone.now().isoformat()
    value = {
        "last_success": now if ok else previous.get("last_success"),
        "last_error": None if ok else error,
        "last_error_at": None if ok else now,
        "duration_ms": duration_ms,
        "counts": counts,
        "backfill_percent": state.backfill_percent if state else None,
    }
    try:
        get_redis().set(STATUS_KEY, json.dumps(value))
    except Exception:
        log.warning("could not publish the sync status", exc_info=True)


def status():
    """The last run as published, else what the database remembers; None before any run."""
    try:
        published = get_redis().get(STATUS_KEY)
    except Exception:
        published = None
    if published:
        return json.loads(published)
    state = SyncState.objects.order_by(F("last_success").desc(nulls_last=True)).first()
    if state is None:
        return None
    return {
        "last_success": state.last_success and state.last_success.isoformat(),
        "last_error": state.last_error or None,
        "last_error_at": state.last_error_at and state.last_error_at.isoformat(),
        "duration_ms": state.last_duration_ms,
        "counts": state.last_counts,
        "backfill_percent": state.backfill_percent,
    }


def age_seconds(last_success):
    if not last_success:
        return None
    return (datetime.now(UTC) - datetime.fromisoformat(last_success)).total_seconds()
