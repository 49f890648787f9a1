"""Celery tasks: thin wrappers; the work is in sync.py, bulk.py and actors.py."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from alarmdesk.thingsboard.errors import ThingsBoardError

from . import actors, bulk, sync

log = logging.getLogger(__name__)


# The hard limit stays below sync.LOCK_TIMEOUT, so the lock outlives any run it guards.
@shared_task(soft_time_limit=50, time_limit=60)
def sync_alarms():
    """One sync run (fast cycle; reconciliation when due; a backfill slice while pending)."""
    try:
        return sync.run_cycle()
    except (ThingsBoardError, SoftTimeLimitExceeded) as error:
        # Recorded by the sync (status, /healthz); the next beat tick tries again.
        log.warning("alarm sync failed: %s", error)
        return {"error": str(error)}


# The limits leave room for one slice of a job (bulk.SLICE_SECONDS) and its last alarm.
@shared_task(soft_time_limit=200, time_limit=230)
def run_bulk_job(job_id):
    """A slice of a bulk job, as the user who asked; queued again while alarms are left."""
    if bulk.run(job_id):
        run_bulk_job.delay(job_id)


@shared_task(soft_time_limit=30, time_limit=40)
def recover_bulk_jobs():
    """Queue again the jobs whose worker died or whose message Redis lost."""
    for job_id in bulk.stalled():
        run_bulk_job.delay(job_id)


@shared_task(soft_time_limit=240, time_limit=270)
def identify_alarm_actors():
    """Who acknowledged and cleared recent alarms, from ThingsBoard's system comments."""
    try:
        return actors.identify()
    except ThingsBoardError as error:
        log.warning("identifying who acknowledged and cleared alarms failed: %s", error)
        return None
