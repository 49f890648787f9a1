"""Celery tasks of the notify queue (`worker-notify`): thin wrappers around outbox.py."""

from celery import shared_task

from . import outbox


@shared_task(soft_time_limit=50, time_limit=60)
def plan_notices():
    """The sync saw alarms raised or rising: who on call is told, on which channels."""
    return len(outbox.plan())


@shared_task(soft_time_limit=40, time_limit=50)
def deliver(delivery_id):
    """Send one delivery; tried again after its backoff while attempts are left."""
    delay = outbox.deliver(delivery_id)
    if delay is not None:
        deliver.apply_async((delivery_id,), countdown=delay)


@shared_task(soft_time_limit=50, time_limit=60)
def sweep():
    return outbox.sweep()
