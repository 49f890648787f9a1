"""How fast the people called answered: the time from the first notification to the
acknowledgement (by anyone, in AlarmDesk or in ThingsBoard), per person called and per rule
(the alarm's severity and the tenant's escalation rule for it).

Read from the outbox's notices of the alarms the history selected: only alarms someone was
called for count, an alarm never acknowledged is counted as such (never as zero), and an
acknowledgement that came before the notice (made in ThingsBoard while the planner ran)
counts as zero. A tenant administrator reads every person's row; anyone else their own."""

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Max, Min

from alarmdesk.alarms.models import SEVERITY_RANK
from alarmdesk.oncall.models import EscalationRule, Notice

from .stats import Durations


@dataclass(frozen=True)
class Row:
    label: str
    called: int  # alarms
    ack: Durations


def response_times(alarms, user):
    """(by person, by rule): lists of Row, or ([], []) when no alarm of these was notified."""
    calls = (
        Notice.objects.filter(alarm_id__in=alarms.order_by().values("id"), user_id__isnull=False)
        .values("alarm_id", "user_id", "alarm__ack_ts", "alarm__severity", "alarm__tenant_id")
        .annotate(first=Min("created_at"), email=Max("email"), name=Max("name"))
    )
    people, alarm_first = defaultdict(list), {}
    for call in calls:
        first = int(call["first"].timestamp() * 1000)
        people[call["user_id"]].append((call, first))
        alarm_id = call["alarm_id"]
        if alarm_id not in alarm_first or first < alarm_first[alarm_id][1]:
            alarm_first[alarm_id] = (call, first)
    if not user.is_tenant_admin:
        people = {k: v for k, v in people.items() if str(k) == str(user.id)}
    by_person = sorted(
        (_row(calls[-1][0]["name"] or calls[-1][0]["email"], calls) for calls in people.values()),
        key=lambda row: row.label.lower(),
    )
    by_rule = defaultdict(list)
    for call, first in alarm_first.values():
        by_rule[call["alarm__tenant_id"], call["alarm__severity"]].append((call, first))
    rules = {
        (r.tenant_id, r.severity): r
        for r in EscalationRule.objects.filter(tenant_id__in={t for t, _ in by_rule})
    }
    rows = []
    for key in sorted(by_rule, key=lambda k: (SEVERITY_RANK.get(k[1], 99), str(k[0]))):
        rule = rules.get(key)
        label = rule.words if rule else f"{key[1].title()}: no escalation"
        rows.append(_row(label, by_rule[key]))
    return by_person, rows


def _row(label, calls):
    times, missing = [], 0
    for call, first in calls:
        ack = call["alarm__ack_ts"]
        if ack is None:
            missing += 1
        else:
            times.append(max(0, ack - first))
    return Row(label, len(calls), Durations.of(times, missing))
