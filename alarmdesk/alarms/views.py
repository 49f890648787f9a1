"""The triage pages: the alarm list, the alarm detail, and bulk actions."""

import json
import logging
import time
from functools import partial

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from alarmdesk.accounts.decorators import tb_login_required
from alarmdesk.accounts.middleware import safe_next
from alarmdesk.accounts.tokens import tb_call
from alarmdesk.entities import hierarchy, originator
from alarmdesk.oncall import timeline as reach
from alarmdesk.thingsboard import errors

from . import access, actions, counts, groups, telemetry
from .confirm import perform_or_ask
from .filters import PAGE_SIZE, SORT_LABELS, AlarmFilter, page_and_pages
from .forms import ActionForm
from .live import (
    changed_rows,
    drawn_at,
    issues_ticket,
    rows_shown,
    scope_version,
    shared_refresh,
    unchanged,
)
from .models import SEVERITIES, Alarm, AuditEntry
from .rows import customer_titles, list_rows
from .store import mark_deleted, save_alarms
from .templatetags.alarm_tags import query_with
from .timeline import timeline

log = logging.getLogger(__name__)

SLOW_SECONDS = 2


def _refused(request, form, context):
    """A filter not understood: the form again, its errors in words, and no alarm (a list
    wider than the one asked for would invite acting on alarms the user did not mean). A
    400 page; the live form's fragment is a 200, because htmx swaps no 4xx answer and the
    old rows would stay, silently, under the new filter."""
    chosen = form.cleaned_data.get("severity") or ()
    context = context | {"form": form, "rows": [], "total": 0, "page": 1, "pages": 1}
    context["counts"] = [(s, None, s in chosen) for s in SEVERITIES]
    if request.htmx:
        return render(request, "alarms/list.html#alarm-table", context)
    return render(request, "alarms/list.html", context, status=400)


@tb_login_required
@issues_ticket
@require_GET
@vary_on_headers("HX-Request")
def alarm_list(request):
    user = request.tb_user
    version, as_of, sync_failing = scope_version(user)
    if request.htmx and version and request.GET.get("v") == version:
        # Nothing changed in this user's scope: nothing to swap (htmx ignores a 204).
        return unchanged(as_of, sync_failing)
    live = (version, as_of, sync_failing)
    if drawn_at(request) is not None and rows_shown(request) and not request.GET.get("group"):
        # A refresh of a page showing rows: one answer for every watcher of this view.
        answer = partial(_list_answer, request, user, live)
        return shared_refresh(request, user, version, live[1:], answer)
    return _list_answer(request, user, live)


def _list_answer(request, user, live, drawn=None):
    """The list, its table, or a refresh's delta, as the request asks; `drawn` (from
    live.shared_refresh) overrides the time it is drawn at and the CSRF token."""
    version, as_of, sync_failing = live
    alarms = access.visible_alarms(user)
    contained = partial(hierarchy.contained, request, user)
    form, choices = AlarmFilter.of_user(request.GET, user, version, contained)
    titles = customer_titles(user) if user.is_tenant_admin else {}
    shared = {
        "list_path": f"{request.path}{query_with({'request': request})}",
        "sort_labels": SORT_LABELS,
        "version": version,
        "rendered_at": time.time(),
        "as_of": as_of,
        "sync_failing": sync_failing,
        "customers": titles.items(),
        "assignees": choices["assignees"],
        **(drawn or {}),
    }
    if not form.is_valid():
        return _refused(request, form, shared)
    counted = counts.of_filter(form, alarms, user, version)
    chosen = form.cleaned_data.get("severity") or SEVERITIES
    by_severity = counted.by_severity or {}
    since = drawn_at(request)
    context = shared | {
        "form": form,
        "counts": [(s, by_severity.get(s), s in chosen) for s in SEVERITIES],
        "total": counted.total,
        "counted": counted,
        "originator_name": form.originator_name(alarms),
    }
    if form.cleaned_data["group"]:
        # Grouped: always the whole section (live.js keeps its state across the swap).
        make_rows = partial(list_rows, user=user, since=since, titles=titles)

        def kept(what, queryset, compute):
            return counts.kept(what, user, version, queryset, compute)

        context |= groups.page_of_groups(form, form.apply(alarms, user), make_rows, kept)
    else:
        # Past a bound, the alarms counted and one more: the page after the last counted.
        page, pages = page_and_pages(form.page_number, counted.total + counted.capped)
        selected = form.ordered(form.apply(alarms, user))
        on_page = selected[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        context |= {"page": page, "pages": pages}
        shown = rows_shown(request)
        if since is not None and shown:
            # What the page holds now, read once per version for every watcher of this view.
            delta = changed_rows(counts.page_changes(on_page, user, version), shown, since)
            if delta is not None:
                resend, order = delta
                rows = list_rows(Alarm.objects.filter(id__in=resend), user, since, titles)
                context |= {"rows": rows, "order": " ".join(order)}
                response = render(request, "alarms/list.html#alarm-delta", context)
                response["X-Live-Delta"] = "1"
                return response
        if not counted.by_breakdown:  # a filter no index serves: its page is read once a version
            # In the page's order again: its ORDER BY ends with the id, so it is the same.
            ids = [alarm_id for alarm_id, _ in counts.page_changes(on_page, user, version)]
            on_page = form.ordered(alarms.filter(id__in=ids))
        context["rows"] = list_rows(on_page, user, since, titles)
    template = "alarms/list.html#alarm-table" if request.htmx else "alarms/list.html"
    return render(request, template, context)


@tb_login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def alarm_detail(request, alarm_id):
    user = request.tb_user
    if request.method == "POST":
        return _act(request, user, alarm_id)
    started = time.monotonic()
    source = _read_live(request, user, alarm_id)
    alarm = access.get_alarm_for(user, alarm_id)
    # When ThingsBoard is this slow, four more calls would hold a web thread for tens of
    # seconds: the page shows what it has and says so.
    if source == "live" and time.monotonic() - started > SLOW_SECONDS:
        source = "slow"
    context = _main(request, user, alarm, source, started)
    # ThingsBoard slowed down meanwhile: not the panel's calls, nor two more for the chart.
    late_source = source if time.monotonic() - started <= SLOW_SECONDS else "slow"
    panel = _originator(request, user, alarm, late_source)
    context |= {
        "details_json": json.dumps(alarm.details, indent=2, ensure_ascii=False, sort_keys=True),
        "customer_title": customer_titles(user).get(alarm.customer_id, ""),
        **_telemetry(request, alarm, late_source, panel.series if panel else None),
        "originator": panel,
    }
    return render(request, "alarms/detail.html", context)


def _originator(request, user, alarm, source):
    """The originator in short (entities/originator.py), when it is a device or an asset and
    ThingsBoard answers in time; None: the page links its page only."""
    if alarm.originator_type not in originator.SCOPES or source != "live":
        return None
    try:
        return originator.look(
            request, user, alarm.originator_type, alarm.originator_id, attributes=False
        )
    except (Http404, originator.Unreachable):
        return None


# The detail page's buttons: (action, the reason key that withholds it, label, style).
ACTION_BUTTONS = (
    ("ack", "ack", "Acknowledge", ""),
    ("clear", "clear", "Clear", "secondary"),
    ("assign", "assign_me", "Assign to me", "secondary outline"),
    ("unassign", "unassign", "Unassign", "secondary outline"),
    ("delete", "delete", "Delete", "secondary outline"),
)


def _main(request, user, alarm, source, started, result=None, kept_text=""):
    """What the page's main fragment (#alarm-main) shows: the state, the actions that fit
    it, the assign picker, the comment form and the timeline."""
    comments, candidates = (None, ())
    if source == "live":
        comments, candidates = _comments_and_candidates(request, alarm, started)
    people = {str(c.id): c.display_name for c in candidates}
    if alarm.assignee_id:
        name = " ".join(filter(None, (alarm.assignee_first_name, alarm.assignee_last_name)))
        people.setdefault(str(alarm.assignee_id), name or alarm.assignee_email)
    unavailable = access.unavailable_actions(alarm, user)
    withheld = [unavailable[r] for _, r, _, _ in ACTION_BUTTONS if r in unavailable]
    return {
        "alarm": alarm,
        "source": source,
        "result": result,
        "kept_text": kept_text,
        "unavailable": unavailable,
        "offered": [
            (action, label, style)
            for action, reason, label, style in ACTION_BUTTONS
            if reason not in unavailable
        ],
        "withheld": list(dict.fromkeys(withheld)),
        "candidates": [c for c in candidates if str(c.id) != str(alarm.assignee_id)],
        "comments_read": comments is not None,
        "timeline": timeline(
            alarm.events.all(),
            comments or (),
            alarm.audit.all(),
            people,
            more=reach.lines(alarm, user),
        ),
    }


def _telemetry(request, alarm, source, latest=None):
    """The chart section: absent for originators without telemetry; `chart` None when
    ThingsBoard did not answer (not asked again when it was just found unreachable).
    `latest`: the originator's latest telemetry, when the panel read it already."""
    if alarm.originator_type not in telemetry.CHARTED_ORIGINATORS:
        return {"charted": False}
    asked = source in ("live", "deleted")
    chart = telemetry.around_alarm(request, alarm, latest) if asked else None
    if chart is None:
        return {"charted": True, "chart": None, "chart_asked": asked, "chart_source": source}
    return {
        "charted": True,
        "chart": chart,
        "chart_rows": list(telemetry.table_rows(chart)),
        "chart_interval": telemetry.interval_words(chart["interval"]),
    }


def _read_live(request, user, alarm_id):
    """Refresh the store's copy from ThingsBoard with the user's token; say where the page's
    data comes from. ThingsBoard's 403 and a customer mismatch both become our 404."""
    try:
        info = tb_call(request, lambda tb: tb.alarm_info(alarm_id))
    except errors.NotFound:
        mark_deleted([access.get_alarm_for(user, alarm_id).id])
        return "deleted"
    except errors.PermissionDenied:
        raise Http404("No such alarm") from None
    except errors.ThingsBoardError:
        log.info("ThingsBoard unavailable for alarm %s; showing the store", alarm_id)
        return "store"
    if not access.may_see(user, info.tenant_id, info.customer_id):
        raise Http404("No such alarm")
    save_alarms([info])
    return "live"


def _comments_and_candidates(request, alarm, started):
    """The comments (None when ThingsBoard did not send them), and who may be assigned
    (not asked for once the page is late)."""
    try:
        comments = tb_call(request, lambda tb: tb.comments(alarm.id, page_size=200)).data
    except errors.ThingsBoardError:
        log.info("comments of %s unavailable", alarm.id)
        return None, ()
    if time.monotonic() - started > SLOW_SECONDS:
        return comments, ()
    try:
        candidates = tb_call(request, lambda tb: tb.users_for_assign(alarm.id, page_size=100)).data
    except errors.ThingsBoardError:
        log.info("assignees of %s unavailable", alarm.id)
        return comments, ()
    return comments, candidates


def _act(request, user, alarm_id):
    alarm = access.get_alarm_for(user, alarm_id)
    form = ActionForm(request.POST)
    if not form.is_valid():
        result = actions.Result(AuditEntry.Outcome.FAILED, form.error_text())
    else:
        back = safe_next(request, request.POST.get("next")) or alarm_url(alarm)
        result = perform_or_ask(
            request,
            user,
            alarm,
            unconfirmed=form.unconfirmed,
            back=back,
            **form.action_arguments(),
        )
        if isinstance(result, HttpResponse):
            return result  # the page that asks first
    alarm.refresh_from_db()
    kept_text = "" if result.ok else request.POST.get("text", "")
    if request.htmx:
        if request.headers.get("HX-Target", "").startswith("row-"):
            (row,) = list_rows(Alarm.objects.filter(id=alarm.id), user, result=result)
            return HttpResponse(row["html"])
        # The whole main fragment, comments read again: the new state, the actions that
        # now fit, the picker and the timeline with this very act in it.
        source = "deleted" if alarm.deleted else "live"
        context = _main(request, user, alarm, source, time.monotonic(), result, kept_text)
        return render(request, "alarms/detail.html#alarm-main", context)
    (messages.success if result.ok else messages.error)(request, result.message)
    back = safe_next(request, request.POST.get("next"))
    return redirect(back or alarm_url(alarm))


def alarm_url(alarm):
    return reverse("alarm_detail", args=[alarm.id])
