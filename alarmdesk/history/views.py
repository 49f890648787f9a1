"""/history/: how alarms were handled, for a time range, within the user's scope."""

import csv
import io
from datetime import UTC, datetime, time, timedelta
from functools import partial
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from alarmdesk.accounts.decorators import tb_login_required
from alarmdesk.alarms import access
from alarmdesk.alarms.counts import breakdown
from alarmdesk.alarms.filters import STATUS_FIELDS, AlarmFilter, page_and_pages, to_ms
from alarmdesk.alarms.live import scope_version
from alarmdesk.alarms.models import FALSE, NO_CUSTOMER, TRUE, Customer, DailyCount, DailyPair
from alarmdesk.alarms.templatetags.alarm_tags import ms_datetime
from alarmdesk.entities import hierarchy

from . import charts, stats
from .response import response_times
from .shifts import shift_start
from .stats import FLAPPING_AT, summarize

PAGE_SIZE = 50
DEFAULT_DAYS = 7
MAX_DAYS = 366  # a leap year, so "the last year" always fits
COLUMNS = [
    "id",
    "severity",
    "type",
    "originator",
    "originator_label",
    "customer",
    "status",
    "started",
    "acknowledged",
    "acknowledged_by",
    "time_to_acknowledge_s",
    "cleared",
    "cleared_by",
    "time_to_clear_s",
    "assignee",
]
FIELDS = (
    "id",
    "severity",
    "type",
    "originator_name",
    "originator_label",
    "customer_id",
    "status",
    "start_ts",
    "ack_ts",
    "acknowledged_by",
    "clear_ts",
    "cleared_by",
    "actors_known",
    "assignee_email",
    "deleted",
)


# The list's statuses in words, and the two states of ThingsBoard's AlarmStatus an open
# alarm can be in (ACTIVE_UNACK, ACTIVE_ACK): the handover's figures link to each.
STATUS_CHOICES = [
    ("ANY", "Any"),
    ("ACTIVE", "Active"),
    ("ACTIVE_UNACK", "Active, unacknowledged"),
    ("ACTIVE_ACK", "Active, acknowledged"),
    ("CLEARED", "Cleared"),
    ("ACK", "Acknowledged"),
    ("UNACK", "Unacknowledged"),
]
OPEN_STATES = {"ACTIVE_UNACK": "UNACK", "ACTIVE_ACK": "ACK"}
# `handled`: alarms raised before the range and acknowledged (or cleared) in it.
HANDLED_AT = {"acknowledged": "ack_ts", "cleared": "clear_ts"}


class HistoryFilter(AlarmFilter):
    """The list's filters, for alarms raised in a time range (any status by default).

    The page's statistics walk every row and every day of the range, so a range is at most
    MAX_DAYS long (two thousand years of them took 48 s and 108 MiB to draw)."""

    default_status = "ANY"
    open_only = False
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, label="Status")
    hours = forms.IntegerField(min_value=1, max_value=24 * 90, required=False, label="Hours")
    shift = forms.ChoiceField(
        choices=[("", "No"), ("current", "My shift")], required=False, label="Shift"
    )
    handled = forms.ChoiceField(
        choices=[("", "Raised in the range"), *((h, h) for h in HANDLED_AT)],
        required=False,
        label="Handled",
    )
    format = forms.ChoiceField(
        choices=[("", "Page"), ("csv", "CSV")], required=False, label="Format"
    )

    def clean_status(self):
        status = self.cleaned_data["status"]
        self.open_only = status in OPEN_STATES
        return OPEN_STATES.get(status, status)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        ranges = [data.get("shift"), data.get("hours"), data.get("since") or data.get("until")]
        if sum(1 for given in ranges if given) > 1:
            self.add_error(
                "shift" if data.get("shift") else "hours", "Choose one of my shift, hours or dates."
            )
            return data
        since, until = self.range_ms()
        first, last = ms_datetime(since).date(), ms_datetime(until - 1).date()
        if since >= until:
            self.add_error("since", f"From ({data['since']}) is after today, the end of the range.")
        elif (last - first).days + 1 > MAX_DAYS:
            days = (last - first).days + 1
            self.add_error(
                "since", f"Choose at most {MAX_DAYS} days: from {first} to {last} is {days} days."
            )
        return data

    def range_ms(self):
        """[since, until) in epoch ms: the current shift, `hours` back from now, the days
        given (a week up to `until` when only it is given), or the last week."""
        data, now = self.cleaned_data, timezone.now()
        if data.get("shift"):
            start = shift_start(now, settings.ALARMDESK_SHIFTS, timezone.get_default_timezone())
            return to_ms(start), to_ms(now)
        if data.get("hours"):
            return to_ms(now - timedelta(hours=data["hours"])), to_ms(now)
        until = now
        if data.get("until"):
            until = datetime.combine(data["until"] + timedelta(days=1), time(), tzinfo=UTC)
        since = until - timedelta(days=DEFAULT_DAYS)
        if data.get("since"):
            since = datetime.combine(data["since"], time(), tzinfo=UTC)
        return to_ms(since), to_ms(until)

    @property
    def preset(self):
        """Which of the page's preset ranges this is, if any."""
        data = self.cleaned_data
        if data.get("shift"):
            return "shift"
        if data.get("until") or data.get("hours") not in (None, 24):
            return None
        if data.get("hours"):
            return "24 hours"
        if data.get("since") is None:
            return "7 days"
        return "30 days" if data["since"] == _month_ago().date() else None

    def apply(self, alarms, user, **kwargs):
        if self.open_only:
            alarms = alarms.filter(cleared=FALSE)
        return super().apply(alarms, user, **kwargs)

    def daily(self, user):
        """The daily counts (stats.Daily) that stand for what this filter selects, or None
        where it asks what they do not keep: a search, an assignee, an originator, alarms
        handled in the range. The scope is access.visible_scope's, as for the alarms."""
        data = self.cleaned_data
        if any(data.get(name) for name in ("q", "assignee", "originator", "asset", "handled")):
            return None
        scope = access.visible_scope(user)
        if scope is None:
            return None
        tenant_id, customer_id = scope
        where = {"tenant_id": tenant_id}
        if customer_id is not None:
            where["customer_id"] = customer_id
        elif data.get("customer"):  # a tenant administrator's filter (apply's rule)
            where["customer_id"] = NO_CUSTOMER if data["customer"] == "none" else data["customer"]
        states = dict(STATUS_FIELDS[self.status_key])
        if self.open_only:
            states["cleared"] = False
        if data.get("type"):
            where["type__in"] = data["type"]
        pairs = None if states or data.get("severity") else DailyPair.objects.filter(**where)
        if data.get("severity"):
            where["severity__in"] = data["severity"]
        return stats.Daily(DailyCount.objects.filter(**where, **states), pairs)

    def within_window(self, alarms):
        since, until = self.range_ms()
        handled = self.cleaned_data.get("handled")
        if handled:
            at = HANDLED_AT[handled]
            window = {f"{at}__gte": since, f"{at}__lt": until}
            return alarms.filter(start_ts__lt=since, **window)
        return alarms.filter(start_ts__gte=since, start_ts__lt=until)


def _iso(ms):
    return "" if ms is None else ms_datetime(ms).isoformat()


def _seconds(start_ts, end_ts):
    return "" if end_ts is None else max(0, end_ts - start_ts) // 1000


def _by(name, known, happened):
    if not happened:
        return ""
    if name:
        return name
    return "automatically (no person)" if known else "not known yet"


def table_row(row, titles):
    """One alarm as the table and the CSV show it, in COLUMNS order."""
    return [
        str(row["id"]),
        row["severity"],
        row["type"],
        row["originator_name"],
        row["originator_label"] or "",
        titles.get(row["customer_id"], "") if row["customer_id"] else "",
        row["status"],
        _iso(row["start_ts"]),
        _iso(row["ack_ts"]),
        _by(row["acknowledged_by"], row["actors_known"], row["ack_ts"]),
        _seconds(row["start_ts"], row["ack_ts"]),
        _iso(row["clear_ts"]),
        _by(row["cleared_by"], row["actors_known"], row["clear_ts"]),
        _seconds(row["start_ts"], row["clear_ts"]),
        row["assignee_email"],
    ]


def page_row(row, titles):
    """One alarm as the page's table shows it: the template writes it in words."""
    return {
        **row,
        "customer": titles.get(row["customer_id"], "") if row["customer_id"] else "",
        "acknowledged_by": _by(row["acknowledged_by"], row["actors_known"], row["ack_ts"]),
        "cleared_by": _by(row["cleared_by"], row["actors_known"], row["clear_ts"]),
    }


def spreadsheet_safe(value):
    """A cell a spreadsheet will not run: one that starts with =, +, -, @, a tab, CR or LF,
    also after leading whitespace (Excel and LibreOffice skip it), gets a leading ' (OWASP,
    "CSV Injection"). Quoting every cell (QUOTE_ALL) keeps a ";" from splitting one."""
    text = str(value)
    if text[:1] in FORMULA_LEADS or text.lstrip()[:1] in FORMULA_LEADS:
        return "'" + text
    return text


FORMULA_LEADS = tuple("=+-@\t\r\n")


# Rows read from the database at a time, and sent as one piece of the stream: a piece a
# row cost a tenth of the export's time in its handling, and a write to the socket each.
CSV_CHUNK = 2000


def _csv(selected, titles):
    def pieces():
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
        writer.writerow(COLUMNS)
        rows = selected.values(*FIELDS).iterator(chunk_size=CSV_CHUNK)
        for number, row in enumerate(rows, start=1):
            writer.writerow([spreadsheet_safe(v) for v in table_row(row, titles)])
            if number % CSV_CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = StreamingHttpResponse(pieces(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="alarmdesk-history-{stamp}.csv"'
    return response


@tb_login_required
@require_GET
def history(request):
    user = request.tb_user
    alarms = access.visible_alarms(user, include_deleted=True)  # history outlives ThingsBoard
    version = scope_version(user)[0]
    contained = partial(hierarchy.contained, request, user)
    form, _ = HistoryFilter.of_user(request.GET, user, version, contained)
    if not form.is_valid():
        return _refused(request, form)
    since, until = form.range_ms()
    selected = form.apply(alarms, user).order_by("-start_ts", "id")
    titles = Customer.titles(user.tenant_id)
    if form.cleaned_data["format"] == "csv":
        return _csv(selected, titles)
    summary = summarize(
        selected, since, until, by_customer=user.is_tenant_admin, daily=form.daily(user)
    )
    page, pages = page_and_pages(form.page_number, summary.total, PAGE_SIZE)
    rows = selected.values(*FIELDS)[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    shift = {k: v for k in ("shift", "hours") if (v := form.cleaned_data.get(k))}
    context = {
        "form": form,
        "presets": _presets(request, form.preset),
        "since": since,
        "until": until,
        "summary": summary,
        **_summary_tables(summary, titles),
        "rows": [page_row(row, titles) for row in rows],
        "page": page,
        "pages": pages,
        "customers": titles,
        "handover": _handover(user, version, alarms, since, until, shift) if shift else None,
    }
    context["by_person"], context["by_rule"] = response_times(selected, user)
    return render(request, "history/page.html", context)


def _summary_tables(summary, titles):
    """The summary's charts and the tables beside them."""
    return {
        "by_customer": [
            (titles.get(c, "No customer") if c else "No customer", n)
            for c, n in summary.by_customer
        ],
        "per_day_chart": charts.alarms_per_day(summary.per_day),
        "trend_chart": charts.trend(summary.trend),
        "per_day_rows": [
            (day, [counts.get(severity, 0) for severity, _ in summary.by_severity])
            for day, counts in summary.per_day
        ],
        "by_type_rows": [
            {"type": t, "count": n, "ack": ack, "clear": clear}
            for (t, n), (_, ack), (_, clear) in zip(
                summary.by_type, summary.ack_by_type, summary.clear_by_type, strict=True
            )
        ],
        "flapping_at": FLAPPING_AT,
        "sample_note": _sample_note(summary.sample),
    }


def _sample_note(sample):
    if sample is None:
        return None
    few = ""
    if sample.whole_types:
        kinds = "type" if sample.whole_types == 1 else f"{sample.whole_types} types"
        few = f", and every alarm of the {kinds} with at most {stats.WHOLE_TYPE:,}"
    return (
        f"Times to acknowledge and to clear are estimated from a sample of about "
        f"{sample.read:,} of the {sample.total:,} alarms{few}; every count is exact."
    )


def _refused(request, form):
    """A filter not understood: said in words, and nothing else (a wider history than the
    one asked for would be read as the answer). The CSV says it as plain text."""
    if request.GET.get("format") == "csv":
        text = f"Not exported: the filter was not understood. {form.error_text()}\n"
        return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")
    context = {
        "form": form,
        "presets": _presets(request, None),
        "customers": Customer.titles(request.tb_user.tenant_id),
    }
    return render(request, "history/page.html", context, status=400)


def _month_ago():
    return timezone.now() - timedelta(days=30)


def _presets(request, chosen):
    """The preset ranges as (label, link, whether it is the range shown); a link keeps the
    other filters."""
    if settings.ALARMDESK_SHIFTS:
        start = shift_start(
            timezone.now(), settings.ALARMDESK_SHIFTS, timezone.get_default_timezone()
        )
        my_shift = f"My shift (since {start:%H:%M})"
    else:
        my_shift = "My shift (12 hours)"
    presets = [
        ("shift", my_shift, {"shift": "current"}),
        ("24 hours", "24 hours", {"hours": "24"}),
        ("7 days", "7 days", {}),
        ("30 days", "30 days", {"since": _month_ago().date().isoformat()}),
    ]
    links = []
    for key, label, params in presets:
        query = request.GET.copy()
        for name in ("shift", "hours", "since", "until", "handled", "page", "format"):
            query.pop(name, None)
        query.update(params)
        links.append((label, f"{reverse('history')}?{query.urlencode()}", key == chosen))
    return links


def _handover(user, version, alarms, since, until, shift):
    """A shift as a handover, over the whole scope. The alarms raised in it, each counted
    once: still open and unacknowledged, acknowledged and open, cleared. Apart: the older
    alarms acknowledged or cleared in it, who acknowledged, and what is open now (from the
    scope's breakdown, counted once per version of the scope: 14 ms at 1,000,000). Each
    figure links to its rows."""
    counts = alarms.filter(start_ts__gte=since, start_ts__lt=until).aggregate(
        raised=Count("id"),
        open=Count("id", filter=Q(cleared=FALSE, acknowledged=FALSE)),
        acknowledged_only=Count("id", filter=Q(cleared=FALSE, acknowledged=TRUE)),
        cleared=Count("id", filter=Q(cleared=TRUE)),
    )
    # Each by its own index on the time it happened: one pass over every older alarm
    # took 300 ms at 1,000,000.
    older = {
        done: alarms.filter(start_ts__lt=since, **{f"{at}__gte": since, f"{at}__lt": until})
        .order_by()
        .count()
        for done, at in HANDLED_AT.items()
    }
    acknowledged = alarms.filter(ack_ts__gte=since, ack_ts__lt=until)
    listed = access.visible_alarms(user)  # the list's: not deleted
    open_now = listed.filter(cleared=FALSE)

    def rows(**params):
        return f"{reverse('history')}?{urlencode({**shift, **params})}"

    return {
        "range": "this shift" if "shift" in shift else f"these {shift['hours']} hours",
        "raised": (counts["raised"], rows()),
        "open": (counts["open"], rows(status="ACTIVE_UNACK")),
        "acknowledged_only": (counts["acknowledged_only"], rows(status="ACTIVE_ACK")),
        "cleared": (counts["cleared"], rows(status="CLEARED")),
        "older_acknowledged": (older["acknowledged"], rows(handled="acknowledged")),
        "older_cleared": (older["cleared"], rows(handled="cleared")),
        "acknowledged_by": list(
            acknowledged.order_by().values_list("acknowledged_by").annotate(n=Count("id"))
        ),
        "open_now": (
            sum(n for _, cleared, _, n in breakdown(user, listed, version) if not cleared),
            reverse("alarm_list"),
        ),
        "open_now_shown": open_now.order_by("severity_rank", "start_ts")[:50],
    }
