"""POST /alarms/bulk/ and /alarms/bulk/<job>/: one action over many alarms, asked first.

Asking for a bulk action writes a proposal (a BulkJob not yet confirmed) and shows what it
will do, to how many alarms; only its confirmation starts it, on exactly the alarms shown.
"""

import logging
from functools import partial

from django.contrib import messages
from django.db.models import Count
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError

from alarmdesk.accounts.decorators import tb_login_required
from alarmdesk.accounts.middleware import safe_next
from alarmdesk.entities import hierarchy

from . import access, tasks
from .bulk import TOO_MANY, admitted
from .filters import AlarmFilter
from .forms import BULK_CHOICES, BulkForm
from .live import scope_version
from .models import Alarm, AuditEntry, BulkJob

log = logging.getLogger(__name__)

# What each action will do, said before it is confirmed.
CONSEQUENCES = {
    "ack": "Each is acknowledged in ThingsBoard as you.",
    "clear": "Each is cleared in ThingsBoard, for everyone: a cleared alarm cannot be made "
    "active again.",
    "assign": "Each is assigned to you in ThingsBoard, taking it from whoever has it.",
    "unassign": "Each is left with nobody assigned in ThingsBoard.",
}
SHOWN = 10  # alarms listed by name on the confirmation


@tb_login_required
@require_POST
def bulk(request):
    user = request.tb_user
    if "job" in request.POST:
        return _confirm(request, user)
    form = BulkForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.error_text())
        return redirect(_back_to_list(request))
    ids, error = _chosen(request, request.POST, user, form.cleaned_data)
    if error:
        messages.error(request, error)
        return redirect(_back_to_list(request))
    if not ids:
        messages.info(request, "No alarm was selected.")
        return redirect(_back_to_list(request))
    job = BulkJob.objects.create(
        user_id=user.id,
        user_email=user.email,
        action=form.cleaned_data["action"],
        alarm_ids=ids,
        filter_query=_filter_query(request.POST) if form.cleaned_data["all"] else "",
        queued_at=None,
    )
    return _proposal(request, job)


def _chosen(request, data, user, cleaned):
    """(the ids of the alarms chosen, most severe first; or an error in words)."""
    alarms = access.visible_alarms(user)
    if cleaned["all"]:
        contained = partial(hierarchy.contained, request, user)
        filters, _ = AlarmFilter.of_user(data, user, scope_version(user)[0], contained)
        if not filters.is_valid():  # never act on a wider set than the list showed
            return [], f"Nothing was done: the filter was not understood. {filters.error_text()}"
        alarms = filters.apply(alarms, user)
    else:
        alarms = alarms.filter(id__in=cleaned["ids"])
    ordered = alarms.order_by("severity_rank", "-start_ts").values_list("id", flat=True)
    return [str(i) for i in ordered], None


def _filter_query(data):
    """The list's filter of a bulk request, to compare the set at confirmation with."""
    kept = data.copy()
    for name in ("csrfmiddlewaretoken", "action", "all", "ids", "next", "job"):
        kept.pop(name, None)
    return kept.urlencode()


def _proposal(request, job, status=200):
    sample = Alarm.objects.filter(id__in=job.alarm_ids[:SHOWN]).order_by("severity_rank")
    context = {
        "job": job,
        "verb": dict(BULK_CHOICES)[job.action],
        "consequence": CONSEQUENCES[job.action],
        "sample": sample,
        "more": max(0, len(job.alarm_ids) - SHOWN),
        "back": _back_to_list(request),
    }
    return render(request, "alarms/bulk_confirm.html", context, status=status)


def _confirm(request, user):
    job = get_object_or_404(BulkJob, id=_int(request.POST["job"]), user_id=user.id)
    now = timezone.now()
    request.session.save()  # the worker acts with this session's tokens, read from the database
    note = _changed_since_shown(request, job, user)
    confirming = BulkJob.objects.filter(id=job.id, confirmed_at=None)
    if not confirming.update(
        confirmed_at=now, queued_at=now, session_key=request.session.session_key, note=note
    ):
        return redirect("bulk_job", job_id=job.id)  # confirmed already (a second click)
    job.refresh_from_db()
    if not admitted(job):
        messages.error(request, TOO_MANY)
        return redirect(_back_to_list(request))
    try:
        tasks.run_bulk_job.delay(job.id)
    except OperationalError:
        log.warning("could not queue bulk job %s", job.id, exc_info=True)
        job.queued_at = None  # for the recovery (bulk.stalled) once the queue is back
        job.save(update_fields=["queued_at"])  # the job page says it waits for the queue
    return redirect("bulk_job", job_id=job.id)


def _changed_since_shown(request, job, user):
    """For "all matching": how the filter's alarms changed between the count shown and the
    confirmation. The job acts on those shown, whatever changed."""
    if not job.filter_query:
        return ""
    data = QueryDict(job.filter_query)
    now, _ = _chosen(request, data, user, {"all": True})
    shown, now = set(job.alarm_ids), set(now)
    parts = []
    if now - shown:
        parts.append(f"{len(now - shown)} more matched the filter when you confirmed (left alone)")
    if shown - now:
        parts.append(f"{len(shown - now)} shown no longer matched it (acted on as confirmed)")
    return "; ".join(parts)


def _int(value):
    try:
        return int(value)
    except ValueError:
        return 0


def _back_to_list(request):
    return safe_next(request, request.POST.get("next")) or reverse("alarm_list")


@tb_login_required
@require_GET
def bulk_job(request, job_id):
    job = get_object_or_404(BulkJob, id=job_id, user_id=request.tb_user.id)
    if job.confirmed_at is None:
        return _proposal(request, job)
    results = job.auditentry_set.select_related("alarm").order_by("id")
    done = job.finished_at is not None
    counts = dict(results.order_by().values_list("outcome").annotate(n=Count("id")))
    context = {
        "job": job,
        "verb": dict(BULK_CHOICES)[job.action],
        "results": results,
        "tally": [(o, label, counts.get(o, 0)) for o, label in AuditEntry.Outcome.choices],
        "remaining": len(job.alarm_ids) - sum(counts.values()),
        "done": done,
        "queue_down": job.queued_at is None,
    }
    template = "alarms/bulk_job.html#bulk-progress" if request.htmx else "alarms/bulk_job.html"
    response = render(request, template, context)
    if request.htmx and done:
        response.status_code = 286  # htmx: stop polling
    return response
