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
        counts = sync.run_cycle()
    except (ThingsBoardError, SoftTimeLimitExceeded) as error:
        # Recorded by the sync (status, /healthz); the next beat tick tries again.
        log.warning("alarm sync failed: %s", error)
        return {"error": str(error)}
    if counts and counts.get("events"):
        _nudge_notices()
    return counts


def _nudge_notices():
    """Alarms changed: the notify queue plans who on call hears of them, now rather than
    at the sweep's next tick (which plans them too, should this message be lost)."""
    from alarmdesk.oncall.tasks import plan_notices

    try:
        plan_notices.delay()
    except Exception:
        log.warning("could not queue the notices' planning; the sweep will", exc_info=True)


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
