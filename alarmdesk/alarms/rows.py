"""The list's rows: read as plain dicts and written as markup here, once per row.

A page shows fifty of them and a refresh after a change re-renders them; through the
template language each row cost about 25 variable look-ups and 60 nodes (half of a page's
CPU on a 100,000-alarm store). Written here, as Django's admin writes its change list's
cells (admin_list.items_for_result), a row costs a few microseconds. Every value that came
from ThingsBoard or a user is escaped, as the template escaped it; list.html places the rows.
"""

import uuid
from datetime import UTC
from html import escape

from django.db.models import Count
from django.urls import reverse
from django.utils.safestring import mark_safe

from alarmdesk.entities.originator import PAGES as ORIGINATOR_PAGES

from . import access
from .models import AlarmEvent, Customer
from .templatetags.alarm_tags import age, ms_datetime, severity_icon, status_words

# What a list row shows, read as plain dicts: cheaper than model instances.
FIELDS = (
    "id",
    "type",
    "originator_type",
    "originator_id",
    "originator_name",
    "originator_label",
    "customer_id",
    "severity",
    "acknowledged",
    "cleared",
    "status",
    "start_ts",
    "end_ts",
    "assignee_id",
    "assignee_email",
    "assignee_first_name",
    "assignee_last_name",
    "changed_at",
    "deleted",
)

_PLACEHOLDER = uuid.UUID(int=0)


def list_rows(alarms, user, since=None, titles=None, result=None):
    """The rows of these alarms as the list shows them to `user`, each with its markup in
    row["html"]: "changed" where it changed after `since` (a live refresh's time), the
    outcome of an act in `result` (the answer to a row's Ack or Clear)."""
    rows = list(alarms.values(*FIELDS))
    if titles is None:
        titles = customer_titles(user) if user.is_tenant_admin else {}
    detail = reverse("alarm_detail", args=[_PLACEHOLDER])
    pages = {kind: reverse(name, args=[_PLACEHOLDER]) for kind, name in ORIGINATOR_PAGES.items()}
    raised_again = _raised_again([row["id"] for row in rows])
    for row in rows:
        row["url"] = detail.replace(str(_PLACEHOLDER), str(row["id"]))
        page = pages.get(row["originator_type"])
        row["originator_url"] = (
            page.replace(str(_PLACEHOLDER), str(row["originator_id"])) if page else ""
        )
        row["raised_again"] = raised_again.get(row["id"], 0)
        row["customer"] = titles.get(row["customer_id"], "") if row["customer_id"] else ""
        reasons = access.unavailable_actions(_Facts(row))
        row["ack_reason"], row["clear_reason"] = reasons.get("ack", ""), reasons.get("clear", "")
        row["withheld"] = " · ".join(filter(None, (row["ack_reason"], row["clear_reason"])))
        row["fresh"] = since is not None and row["changed_at"].timestamp() > since
        for name, ms in (("started", row["start_ts"]), ("updated", row["end_ts"])):
            # To the second, in UTC: the page's ages move from it, and live.js gives it a
            # tooltip in the reader's own time.
            moment = ms_datetime(ms).astimezone(UTC).replace(microsecond=0, tzinfo=None)
            row[f"{name}_iso"] = f"{moment.isoformat()}Z"
            row[f"{name}_age"] = age(ms)
        row["html"] = markup(row, show_customer=user.is_tenant_admin, result=result)
    return rows


def customer_titles(user):
    return Customer.titles(user.tenant_id)


def _raised_again(alarm_ids):
    """{alarm id: how often the sync saw it raised again (endTs moved)}, for these rows."""
    again = AlarmEvent.objects.filter(alarm_id__in=alarm_ids, kind=AlarmEvent.Kind.RETRIGGERED)
    return dict(again.order_by().values_list("alarm_id").annotate(n=Count("id")))


class _Facts:
    """A row dict seen as the alarm the access rule reasons about."""

    def __init__(self, row):
        self.__dict__.update(row)


def _times(n):
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def markup(row, show_customer, result=None):
    """One <tr>, without indentation: the rows are most of a page's bytes. Its Ack and Clear
    submit the page's one #row-act form to their alarm (formaction); the answer to either
    is this row again, with the act's outcome (views._act)."""
    e = escape  # quotes too: values go in attributes
    rid, url, kind = str(row["id"]), e(row["url"]), e(row["type"])
    origin = e(row["originator_name"] or "")
    label = row["originator_label"]
    severity = row["severity"]
    classes = f"sev-{severity.lower()}"
    if row["fresh"]:
        classes += " fresh"
    if row["cleared"]:
        classes += " cleared"
    out = [
        f'<tr id="row-{rid}" class="{e(classes)}" tabindex="-1" data-alarm-id="{rid}">\n',
        f'<td><input type="checkbox" name="ids" value="{rid}" form="bulk-form" '
        f'aria-label="Select {kind} on {origin}"></td>\n',
        f'<td class="severity" data-label="Severity"><span aria-hidden="true">'
        f"{severity_icon(severity)}</span> {e(severity.title())}</td>\n",
        f'<td data-label="Type"><a href="{url}">{kind}</a>',
    ]
    if row["fresh"]:
        out.append(' <small class="badge">changed</small>')
    if row["raised_again"]:
        again = _times(row["raised_again"])
        out.append(f'<br><small class="raised-again">raised again {again}</small>')
    if row["originator_url"]:
        origin_cell = f'<a href="{e(row["originator_url"])}">{origin}</a>'
    else:
        origin_cell = origin
    out.append(f'</td>\n<td data-label="Originator">{origin_cell}')
    if label and label != row["originator_name"]:
        out.append(f"<br><small>{e(label)}</small>")
    out.append("</td>\n")
    if show_customer:
        out.append(f'<td data-label="Customer">{e(row["customer"]) or "—"}</td>\n')
    out.append(f'<td data-label="Status">{e(status_words(row["status"]))}</td>\n')
    for name, label_text in (("started", "Started"), ("updated", "Updated")):
        out.append(
            f'<td data-label="{label_text}"><time datetime="{row[f"{name}_iso"]}" data-age>'
            f"{e(row[f'{name}_age'])} ago</time></td>\n"
        )
    assignee = row["assignee_email"]
    nobody = "" if assignee else ' class="nobody"'
    out.append(f'<td data-label="Assignee"{nobody}>{e(assignee) if assignee else "—"}</td>\n')
    out.append('<td class="row-actions">\n')
    out.append(_action("Ack", row["ack_reason"], url, 'value="ack" data-key="a"'))
    confirm = (
        f'value="clear" class="secondary" data-key="c" data-confirm="Clear {kind} on {origin}?" '
        'data-confirm-more="clear" data-confirm-yes="Yes, clear it"'
    )
    out.append(_action("Clear", row["clear_reason"], url, confirm))
    if row["withheld"]:
        out.append(f'<small class="withheld">{e(row["withheld"])}</small>')
    if result:
        out.append(
            f'<small class="outcome outcome-{e(str(result.outcome))}" role="status">'
            f"{e(str(result.message))}</small>"
        )
    out.append("</td>\n</tr>\n")
    return mark_safe("".join(out))  # every value from ThingsBoard or a user escaped above


def _action(word, unavailable, url, attributes):
    """A row's Ack or Clear, and a line break: a submit of #row-act to the alarm, or a
    disabled button saying why not."""
    if unavailable:
        why = escape(unavailable)
        return f'<button type="button" disabled title="{why}" class="outline">{word}</button>\n'
    return (
        f'<button type="submit" form="row-act" formaction="{url}" name="action" {attributes}>'
        f"{word}</button>\n"
    )
