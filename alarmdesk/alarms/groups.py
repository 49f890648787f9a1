"""The alarm list grouped by originator or by type (the filter's `group`).

One heading per group over the whole filtered set, not only a page of it: its name and its
count split by severity, from one GROUP BY query. A page holds at most PAGE_SIZE groups, the
most severe first, then the largest. A group drawn open (its key among the filter's `open`)
shows its first PAGE_SIZE alarms as the list's own rows; the list filtered to the group has
the rest.
"""

import hashlib

from django.db.models import Count, Max, Min, Q

from .filters import PAGE_SIZE, page_and_pages
from .models import SEVERITIES

# The store's column each grouping collects alarms by, and what a page counts its groups in.
KEYS = {"originator": "originator_id", "type": "type"}
NOUNS = {"originator": "originator", "type": "type"}


def page_of_groups(form, alarms, make_rows):
    """What the list shows grouped: `groups` (one page of them), `group_total`, `page`, `pages`.

    `alarms` is the filtered set; `make_rows(queryset)` gives the list's rows of some alarms
    (they are made once, for the groups drawn open)."""
    grouping = form.cleaned_data["group"]
    headings = list(_headings(alarms, KEYS[grouping]))
    page, pages = page_and_pages(form.page_number, len(headings))
    first = (page - 1) * PAGE_SIZE
    opened = set(form.cleaned_data.get("open") or ())
    groups = [
        _group(grouping, heading, alarms, form, make_rows, opened)
        for heading in headings[first : first + PAGE_SIZE]
    ]
    return {
        "groups": groups,
        "group_total": len(headings),
        "group_noun": NOUNS[grouping],
        "groups_from": first + 1,
        "groups_to": first + len(groups),
        "page": page,
        "pages": pages,
    }


def _headings(alarms, key):
    """Each group's count, its count per severity rank (`rank0` CRITICAL ...) and its most
    severe rank, in the order the page shows them."""
    by_rank = {
        f"rank{rank}": Count("id", filter=Q(severity_rank=rank)) for rank in range(len(SEVERITIES))
    }
    grouped = alarms.order_by().values(key)
    if key == "originator_id":
        # One name per originator, should its alarms disagree (a device renamed meanwhile).
        grouped = grouped.annotate(name=Max("originator_name"))
    grouped = grouped.annotate(n=Count("id"), worst=Min("severity_rank"), **by_rank)
    tie = ("name", key) if key == "originator_id" else (key,)
    return grouped.order_by("worst", "-n", *tie)


def _group(grouping, heading, alarms, form, make_rows, opened):
    value = heading[KEYS[grouping]]
    key = str(value)
    group = {
        "key": key,
        "id": dom_id(grouping, key),
        "name": heading.get("name", key),
        "count": heading["n"],
        # A severity ThingsBoard may add later is ranked after INDETERMINATE by the store.
        "worst": SEVERITIES[min(heading["worst"], len(SEVERITIES) - 1)],
        "split": [
            (severity, heading[f"rank{rank}"])
            for rank, severity in enumerate(SEVERITIES)
            if heading[f"rank{rank}"]
        ],
        "rows": None,
    }
    if key in opened:
        members = form.ordered(alarms.filter(**{KEYS[grouping]: value}))
        group["rows"] = make_rows(members[:PAGE_SIZE])
    return group


def dom_id(grouping, key):
    """The group's element id: the same at every render, so that the page's live refresh
    finds the groups that were open (a key may hold any character; an id may not)."""
    digest = hashlib.sha256(f"{grouping}:{key}".encode()).hexdigest()
    return f"group-{digest[:16]}"
