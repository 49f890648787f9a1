"""The list's counts per severity, without counting the store on every request.

A scope's breakdown (its alarms by severity, cleared and acknowledged: twenty numbers)
answers every filter of status and severity alone. It is counted once per version of the
scope's change counter and kept in the cache: by the sync, right after a run changed the
scope (`count_scopes`), else by the first page that needs it.

Other filters (a search, a type, an assignee, a customer, dates, an originator) are counted
by the page that shows them, up to BOUND alarms ("10,000+" past it, and the page says so),
and kept per version too, with the ids of the page's rows: a second render of the same view
at the same version reads its 50 rows by id and counts nothing.

An answer kept under version V is what the store held at V or later, never earlier: a
counter moves only once its change is committed (store.bump_scopes), and every answer is
counted after its version was read. A key names the scope and, for a filter, the very SQL it
ran (the access rule and the user's own "me" included), so no answer passes to another
scope or another user. Without Redis, everything is counted directly.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Q

from alarmdesk.cache import quietly
from alarmdesk.redis_client import get_redis

from .access import scope_alarms, scope_of
from .filters import PAGE_SIZE, STATUS_FIELDS, STATUS_FILTERS, refresh_choices
from .models import SEVERITIES
from .store import scope_key

log = logging.getLogger(__name__)

# A filter matching more alarms than this (beyond the page's own offset) is counted only so
# far: counting a search over 100,000 alarms costs tens of milliseconds, whatever its use.
BOUND = 10_000
# Kept answers die with their version; this only frees the cache, and bounds how long a change
# whose counter Redis did not take (store._increment failing) goes unseen in the counts.
KEEP_SECONDS = 60
RANKS = range(len(SEVERITIES))


@dataclass(frozen=True)
class Counts:
    """What the list says about how many alarms its filter selects."""

    by_severity: dict | None  # over the filter but its severities; None: not known
    total: int  # of the chosen severities; when `capped`, the bound, which more alarms pass
    capped: bool
    by_breakdown: bool  # answered by the scope's breakdown: a filter of status and severity alone

    @property
    def words(self):
        """The total as the page writes it: "37", or "10,000+"."""
        return f"{self.total:,}+" if self.capped else str(self.total)


def of_filter(form, alarms, user, version):
    """The Counts of a valid AlarmFilter over `alarms`, the user's visible alarms."""
    chosen = form.cleaned_data.get("severity") or SEVERITIES
    unranked = form.apply(alarms, user, with_severity=False)
    unranked_sql = _sql(unranked)
    if unranked_sql == _sql(alarms.filter(STATUS_FILTERS[form.status_key])):
        fixed = STATUS_FIELDS[form.status_key].items()
        by_rank = [0] * len(SEVERITIES)
        for rank, cleared, acknowledged, n in breakdown(user, alarms, version):
            row = {"cleared": cleared, "acknowledged": acknowledged}
            if rank in RANKS and all(row[name] == value for name, value in fixed):
                by_rank[rank] += n
        by_severity = dict(zip(SEVERITIES, by_rank, strict=True))
        total = sum(by_severity[s] for s in chosen)
        return Counts(by_severity, total, capped=False, by_breakdown=True)
    bound = BOUND + (form.page_number - 1) * PAGE_SIZE  # at least up to the page shown
    selected = form.apply(alarms, user)
    key = _key("filtered", user.tenant_id, scope_of(user), version, unranked_sql, chosen, bound)
    by_severity, total, capped = _remembered(
        key, lambda: _count_up_to(bound, unranked, selected, chosen)
    )
    return Counts(by_severity, total, capped, by_breakdown=False)


def breakdown(user, alarms, version):
    """[(severity rank, cleared, acknowledged, alarms)] of the user's scope (`alarms`)."""
    key = _key("breakdown", user.tenant_id, scope_of(user), version)
    return _remembered(key, lambda: _count_breakdown(alarms))


def count_scopes(tenant_id, customer_ids):
    """Count the breakdown of the tenant and of these customers at their current versions,
    and read their filters' choices when due: the sync calls this after a run that changed
    them, so that no page has to."""
    scopes = [("tenant", tenant_id), *(("customer", c) for c in customer_ids)]
    try:
        versions = get_redis().mget([scope_key(*scope) for scope in scopes])
    except Exception:
        log.warning("Redis unavailable: the pages will count for themselves", exc_info=True)
        return
    for (kind, scope_id), counter in zip(scopes, versions, strict=True):
        alarms = scope_alarms(tenant_id, scope_id if kind == "customer" else None)
        version = (counter or b"0").decode()
        key = _key("breakdown", tenant_id, (kind, scope_id), version)
        if _cache(cache.set, key, _count_breakdown(alarms), KEEP_SECONDS) is _FAILED:
            return
        refresh_choices(tenant_id, kind, scope_id, alarms, version)


def page_changes(on_page, user, version):
    """[(id, changed_at)] of the alarms of `on_page` (a slice of a list, in its order), read
    once per version: what a live refresh compares the page it shows with (live.changed_rows),
    and the page's ids when no index serves its filter. Kept under the very SQL it ran, so
    the watchers of one view share it, and nobody else."""
    return kept(
        "page", user, version, on_page, lambda: list(on_page.values_list("id", "changed_at"))
    )


def kept(what, user, version, queryset, compute):
    """compute(), an answer about `queryset` (its SQL names it; or a string that names it
    as surely), once per version of the user's scope."""
    return _remembered(_key(what, user.tenant_id, scope_of(user), version, queryset), compute)


def _count_breakdown(alarms):
    # COUNT(*), not of a column, grouped in the order of the scope's breakdown index: the
    # index answers alone, without a sort.
    grouped = alarms.order_by().values_list("severity_rank", "cleared", "acknowledged")
    return [tuple(row) for row in grouped.annotate(n=Count("*"))]


def _count_up_to(bound, unranked, selected, chosen):
    """(by severity or None, total, capped), counting at most bound + 1 alarms at a time."""
    ranks = {f"rank{r}": Count("severity_rank", filter=Q(severity_rank=r)) for r in RANKS}
    sample = unranked.order_by().values("severity_rank")[: bound + 1]
    found = sample.aggregate(n=Count("severity_rank"), **ranks)
    if found["n"] <= bound:
        by_severity = {s: found[f"rank{r}"] for r, s in zip(RANKS, SEVERITIES, strict=True)}
        return by_severity, sum(by_severity[s] for s in chosen), False
    if set(chosen) == set(SEVERITIES):
        return None, bound, True
    total = selected.order_by().values("id")[: bound + 1].count()
    return None, min(total, bound), total > bound


def _sql(queryset):
    return queryset.query.sql_with_params()


def _key(what, tenant_id, scope, version, *query):
    """The cache key of an answer for a scope at a version; None without a version (Redis
    down: nothing is kept). A queryset among `query` stands for its SQL and parameters."""
    if not version:
        return None
    parts = ["counts", what, tenant_id, *scope, version]
    if query:
        shown = [_sql(part) if hasattr(part, "query") else part for part in query]
        parts.append(hashlib.sha256(repr(shown).encode()).hexdigest()[:32])
    return ":".join(map(str, parts))


def _remembered(key, compute):
    """compute(), kept under `key` (None: not kept); Redis failing makes it a plain compute."""
    kept = _cache(cache.get, key) if key else None
    if kept is not None and kept is not _FAILED:
        return kept
    value = compute()
    if key and kept is not _FAILED:  # a Redis that just failed is not waited for twice
        _cache(cache.set, key, value, KEEP_SECONDS)
    return value


_FAILED = object()


def _cache(operation, *args):
    """A cache call that Redis failing turns into _FAILED (logged), never an error page."""
    return quietly(operation, *args, failed=_FAILED, what="the list's counts")
