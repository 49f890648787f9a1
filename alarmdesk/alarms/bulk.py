"""Bulk jobs: one action over many alarms, run by the worker as the user who asked.

The worker acts with the user's own ThingsBoard session (read from the session store by
its key), so ThingsBoard's permissions and audit trail apply exactly as for a click. The
session is read afresh before each alarm: signing out stops the job, and a token the
browser refreshed meanwhile is used rather than overwritten. Each alarm's outcome is an
audit entry of the job; a job delivered twice skips the alarms it already did; whatever
stops it, the rest are recorded as failed and the job is marked finished.
"""

import logging
from types import SimpleNamespace

from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from alarmdesk.accounts.tokens import SignInRequired, session_user

from .access import visible_alarms
from .actions import perform
from .models import AuditEntry, BulkJob

log = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome
SESSION_ENDED = "Your session ended: sign in and retry."


def run(job_id, session_key):
    job = BulkJob.objects.filter(id=job_id, finished_at=None).first()
    if job is None:
        return
    done = {str(i) for i in job.auditentry_set.values_list("alarm_uuid", flat=True)}
    pending = [alarm_id for alarm_id in job.alarm_ids if alarm_id not in done]
    try:
        for alarm_id in pending:
            request = SimpleNamespace(session=SessionStore(session_key))
            user = session_user(request)
            if user is None or str(user.id) != str(job.user_id):
                raise SignInRequired("the session ended")
            _one(request, user, job, alarm_id)
            if request.session.modified:
                request.session.save()  # a refreshed token pair, for the next request
    except SignInRequired:
        _record_rest(job, pending, SESSION_ENDED)
    except Exception:
        log.exception("bulk job %s stopped", job.id)
        _record_rest(job, pending, "Stopped by an error in AlarmDesk; nothing more.")
    finally:
        job.finished_at = timezone.now()
        job.save(update_fields=["finished_at"])


def _one(request, user, job, alarm_id):
    if not visible_alarms(user).filter(id=alarm_id).exists():
        _record(job, alarm_id, Outcome.DENIED, "Not an alarm you may see.")
        return
    assignee = "me" if job.action == "assign" else None
    perform(request, user, alarm_id, job.action, assignee=assignee, bulk_job=job)


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


def _record_rest(job, alarm_ids, detail):
    """Every alarm of `alarm_ids` without an outcome yet gets this one."""
    done = {str(i) for i in job.auditentry_set.values_list("alarm_uuid", flat=True)}
    for alarm_id in alarm_ids:
        if alarm_id not in done:
            _record(job, alarm_id, Outcome.FAILED, detail)
