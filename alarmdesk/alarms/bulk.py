"""Bulk jobs: one action over many alarms, run by the worker as the user who asked.

The worker acts with the user's own ThingsBoard session (the job row names it; sessions
live in the database), so ThingsBoard's permissions and audit trail apply exactly as for
a click, and the task carries the job's id alone: no credential passes through Redis. The
session is read afresh before each alarm: signing out stops the job, and a token the
browser refreshed meanwhile is used rather than overwritten.

A run holds a lease on the job's row, taken and renewed by compare-and-swap, so one run at a
time works on a job however often it is delivered. A worker that dies leaves its lease to
expire, and a message Redis lost leaves the job unstarted: either way `stalled()` (beat,
every few seconds) finds the job in the database and queues it again. Each alarm's outcome
is an audit entry of the job, written before ThingsBoard is called: an alarm with an entry
is never acted on again, and an entry a dead run left pending is settled by reading the
alarm back. Whatever stops a job for good, the rest are recorded as failed and the job is
marked finished.
"""

import logging
import time
from datetime import timedelta
from types import SimpleNamespace

from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import F, Q
from django.utils import timezone

from alarmdesk.accounts.tokens import SignInRequired, session_user

from . import actions
from .access import visible_alarms
from .models import AuditEntry, BulkJob

log = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome
SESSION_ENDED = "Your session ended: sign in and retry."
STOPPED = "Stopped by an error in AlarmDesk; nothing more."

MAX_UNFINISHED_PER_USER = 2
TOO_MANY = (
    f"You already have {MAX_UNFINISHED_PER_USER} bulk jobs running: "
    "wait for one to finish, then try again."
)
# ThingsBoard's REST limits are per tenant (thingsboard-api.md 7.1): a job paces its calls so
# that a few of them leave room for everyone else's clicks and for the sync.
MAX_ALARMS_PER_SECOND = 10
# Longer than one alarm can take (an action, a token refresh and a retry, a read-back, each
# within the client's timeouts), so a live run never loses its lease mid-alarm.
LEASE_SECONDS = 60
# A queued job not started by then is queued again: its message may be lost.
START_WITHIN_SECONDS = 60
# A run stops after this long and queues the job again, behind the others (and well within
# the task's time limit, however many alarms the job has).
SLICE_SECONDS = 120


class _LeaseLost(Exception):
    """This run stalled past its lease and another took the job: it stops at once."""


def admitted(job):
    """Whether the job just written is among its user's MAX_UNFINISHED_PER_USER oldest
    unfinished ones; if not, it is deleted. Counted after writing it, so two requests at
    once cannot both slip under the limit (the later job is the one refused)."""
    oldest = BulkJob.objects.filter(user_id=job.user_id, finished_at=None).exclude(
        confirmed_at=None
    )
    oldest = oldest.order_by("id")
    if job.id in oldest.values_list("id", flat=True)[:MAX_UNFINISHED_PER_USER]:
        return True
    job.delete()
    return False


def run(job_id):
    """Work on the job while this run holds its lease. True when its time slice ran out with
    alarms left: the caller queues the job again."""
    job = _take(job_id)
    if job is None:
        return False  # finished, or a live run has it
    try:
        finished = _work(job)
    except _LeaseLost:
        return False
    except SoftTimeLimitExceeded:
        finished = False  # its pending entry, if any, is settled by the next run
    except SignInRequired:
        _record_rest(job, SESSION_ENDED)
        finished = True
    except Exception:
        log.exception("bulk job %s stopped", job.id)
        _record_rest(job, STOPPED)
        finished = True
    mine = BulkJob.objects.filter(id=job.id, lease_until=job.lease_until)
    if finished:
        mine.update(finished_at=timezone.now(), lease_until=None)
    else:
        mine.update(lease_until=None, queued_at=timezone.now())
    return not finished


def stalled():
    """The ids of the unfinished jobs nobody is working on and no message will start; each
    is marked as queued now (the caller queues them)."""
    now = timezone.now()
    free = Q(lease_until=None) | Q(lease_until__lt=now)
    lost = (
        Q(queued_at=None)  # the queue was unavailable when it was asked for
        | Q(queued_at__lt=F("lease_until"))  # a run took it and died (or stalled)
        | Q(queued_at__lt=now - timedelta(seconds=START_WITHIN_SECONDS))  # never started
    )
    jobs = BulkJob.objects.filter(free, lost, finished_at=None).exclude(confirmed_at=None)
    ids = list(jobs.values_list("id", flat=True))
    BulkJob.objects.filter(id__in=ids).update(queued_at=now)
    return ids


def _take(job_id):
    now = timezone.now()
    until = now + timedelta(seconds=LEASE_SECONDS)
    free = Q(lease_until=None) | Q(lease_until__lt=now)
    mine = BulkJob.objects.filter(free, id=job_id, finished_at=None).exclude(confirmed_at=None)
    if not mine.update(lease_until=until):
        return None
    return BulkJob.objects.get(id=job_id)


def _keep_lease(job):
    """Renew the lease once a third of it is used; the compare-and-swap on its old value
    fails only if another run took the job over."""
    now = timezone.now()
    if job.lease_until - now > timedelta(seconds=LEASE_SECONDS * 2 / 3):
        return
    until = now + timedelta(seconds=LEASE_SECONDS)
    if not BulkJob.objects.filter(id=job.id, lease_until=job.lease_until).update(lease_until=until):
        raise _LeaseLost
    job.lease_until = until


def _work(job):
    """Settle what a dead run left pending, then act on each alarm without an outcome.
    False when the time slice ran out first."""
    started = time.monotonic()
    for entry in job.auditentry_set.filter(outcome=Outcome.PENDING):
        _keep_lease(job)
        request, user = _session(job)
        actions.settle(request, user, entry)
        _save_session(request)
    done = {str(i) for i in job.auditentry_set.values_list("alarm_uuid", flat=True)}
    for alarm_id in (i for i in job.alarm_ids if i not in done):
        if time.monotonic() - started > SLICE_SECONDS:
            return False
        _keep_lease(job)
        begun = time.monotonic()
        request, user = _session(job)
        _one(request, user, job, alarm_id)
        _save_session(request)
        time.sleep(max(0, begun + 1 / MAX_ALARMS_PER_SECOND - time.monotonic()))
    return True


def _session(job):
    request = SimpleNamespace(session=SessionStore(job.session_key))
    user = session_user(request)
    if user is None or str(user.id) != str(job.user_id):
        raise SignInRequired("the session ended")
    return request, user


def _save_session(request):
    if request.session.modified:
        request.session.save()  # a refreshed token pair, for the next request


def _one(request, user, job, alarm_id):
    if not visible_alarms(user).filter(id=alarm_id).exists():
        _record(job, alarm_id, Outcome.DENIED, "Not an alarm you may see.")
        return
    assignee = "me" if job.action == "assign" else None
    actions.perform(request, user, alarm_id, job.action, assignee=assignee, bulk_job=job)


def _record(job, alarm_id, outcome, detail):
    AuditEntry.objects.create(
        user_id=job.user_id,
        user_email=job.user_email,
        alarm_id=alarm_id,
        alarm_uuid=alarm_id,
        action=job.action,
        outcome=outcome,
        detail=detail,
        bulk_job=job,
    )


def _record_rest(job, detail):
    """Every alarm of the job without an outcome yet gets this one."""
    done = {str(i) for i in job.auditentry_set.values_list("alarm_uuid", flat=True)}
    for alarm_id in job.alarm_ids:
        if alarm_id not in done:
            _record(job, alarm_id, Outcome.FAILED, detail)
