"""An alarm's story in one list, one line per event.

Three records describe the same act: the sync's event (ThingsBoard's time, no person),
ThingsBoard's system comment (the person, by name) and AlarmDesk's audit entry (the person,
and that it went through AlarmDesk). Lines of the same act, close in time and by the same
person, are merged into one that names the person.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .models import AlarmEvent, AuditEntry

Kind = AlarmEvent.Kind
Outcome = AuditEntry.Outcome
# The records of one act are written within a second of each other; a few seconds leave
# room for clocks. The sync stamps a change without ThingsBoard's time when it sees it.
CLOSE = timedelta(seconds=10)
SEEN_LATE = timedelta(minutes=10)

EVENT_ACTS = {
    Kind.CREATED: "raised",
    Kind.RETRIGGERED: "retriggered",
    Kind.SEVERITY_CHANGED: "severity",
    Kind.ACKNOWLEDGED: "ack",
    Kind.CLEARED: "clear",
    Kind.ASSIGNED: "assign",
    Kind.UNASSIGNED: "unassign",
    Kind.DELETED: "deleted",
}
# ThingsBoard 4.3+ subtypes, and 3.6-4.2's ACK, CLEAR and ASSIGN (also for unassign).
SUBTYPE_ACTS = {
    "ACKED_BY_USER": "ack",
    "ACK": "ack",
    "CLEARED_BY_USER": "clear",
    "CLEAR": "clear",
    "ASSIGNED_TO_USER": "assign",
    "UNASSIGNED_BY_USER": "unassign",
    "UNASSIGNED_FROM_DELETED_USER": "unassign",
    "SEVERITY_CHANGED": "severity",
}
WORDS = {
    "raised": "Raised",
    "retriggered": "Raised again",
    "severity": "Severity changed",
    "ack": "Acknowledged",
    "clear": "Cleared",
    "unassign": "Unassigned",
    "deleted": "Deleted in ThingsBoard",
}
VERBS = {
    "ack": "acknowledge",
    "clear": "clear",
    "assign": "assign",
    "unassign": "unassign",
    "comment": "comment on",
    "claim": "claim",
    "delete": "delete",
    "raise": "raise",
}
# An audit entry's action named as the event of the same act is (a delete is seen deleted).
AUDIT_ACTS = {"delete": "deleted", "raise": "raised"}
VIA_WORDS = {"notification": ", from the notification", "link": ", from a notification's link"}
OUTCOME_WORDS = {
    Outcome.PENDING: "no answer yet",
    Outcome.ALREADY_DONE: "it was already done",
    Outcome.DENIED: "denied",
    Outcome.NOT_FOUND: "the alarm no longer existed",
    Outcome.FAILED: "failed",
    Outcome.UNKNOWN: "ThingsBoard did not answer",
}


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # "change", "comment" or "attempt": how the line looks
    title: str
    text: str = ""


@dataclass
class _Act:
    at: datetime
    act: str
    exact: bool = True  # `at` is ThingsBoard's (or AlarmDesk's) time, not when the sync saw it
    who: str = ""
    email: str = ""
    assignee: str = ""
    text: str = ""
    through_alarmdesk: bool = False
    via: str = ""  # AuditEntry.via: where in AlarmDesk the person acted from
    sources: set = field(default_factory=set)


def timeline(events, comments, audit, people, more=()):
    """The lines, oldest first, from the sync's events, ThingsBoard's comments and the
    audit entries, and `more` lines made elsewhere (the outbox's deliveries); `people` maps
    user ids to names (never shown: the ids themselves)."""
    acts = [_from_event(e) for e in events]
    attempts = []
    for comment in comments:
        _merge(acts, _from_comment(comment, people))
    for entry in audit:
        if entry.outcome == Outcome.DONE and entry.action in VERBS and entry.action != "claim":
            _merge(acts, _from_audit(entry, people))
        elif entry.outcome != Outcome.DONE:
            attempts.append(_attempt(entry, people))
    lines = [_line(act) for act in acts] + attempts + list(more)
    return sorted(lines, key=lambda line: line.at)


def _at(ms):
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _from_event(event):
    act = _Act(
        _at(event.ts) if event.ts else event.observed_at,
        EVENT_ACTS.get(event.kind, event.kind),
        exact=bool(event.ts),
        sources={"event"},
    )
    if event.kind == Kind.SEVERITY_CHANGED:
        act.text = f"{event.data.get('from')} to {event.data.get('to')}"
    elif event.kind == Kind.ASSIGNED:
        act.assignee = event.data.get("assignee", "")
    return act


def _from_comment(comment, people):
    who = " ".join(filter(None, (comment.first_name, comment.last_name))) or comment.email or ""
    who = who or comment.comment.get("userName") or people.get(comment.user_id or "", "")
    if comment.type != "SYSTEM":
        return _Act(
            _at(comment.created_time),
            "comment",
            who=who,
            email=comment.email or "",
            text=comment.text,
            sources={"comment"},
        )
    act = SUBTYPE_ACTS.get(comment.subtype or "")
    params = comment.comment
    if act == "assign" and comment.subtype == "ASSIGN" and not params.get("assigneeId"):
        act = "unassign"
    if act is None or comment.subtype == "UNASSIGNED_FROM_DELETED_USER":
        # A deleted comment, a deleted user: ThingsBoard's own words say it best.
        return _Act(_at(comment.created_time), "system", text=comment.text, sources={"system"})
    assignee = params.get("assigneeName") or people.get(str(params.get("assigneeId", "")), "")
    text = ""
    if act == "severity":
        text = f"{params.get('oldSeverity')} to {params.get('newSeverity')}"
    return _Act(
        _at(comment.created_time),
        act,
        who=who if comment.user_id else "",
        email=comment.email or "",
        assignee=assignee,
        text=text,
        sources={"system"},
    )


def _from_audit(entry, people):
    who = people.get(str(entry.user_id), "") or entry.user_email
    name = AUDIT_ACTS.get(entry.action, entry.action)
    if entry.action == "raise" and entry.detail.startswith("updated"):
        name = "retriggered"  # ThingsBoard's dedup updated the active alarm
    act = _Act(
        entry.at,
        name,
        who=who,
        email=entry.user_email,
        through_alarmdesk=True,
        via=entry.via,
        sources={"audit"},
    )
    if entry.action == "comment":
        act.text = entry.detail
    elif entry.action == "assign":
        act.assignee = people.get(entry.detail.removeprefix("assignee ").partition(":")[0], "")
    return act


def _merge(acts, new):
    """Fold `new` into the line of the same act, if there is one; else add it."""
    for act in acts:
        if _same(act, new):
            act.sources |= new.sources
            act.who = act.who or new.who
            act.email = act.email or new.email
            act.assignee = new.assignee or act.assignee
            act.text = act.text or new.text
            act.through_alarmdesk |= new.through_alarmdesk
            act.via = act.via or new.via
            if new.exact and not act.exact:
                act.at, act.exact = new.at, True
            return
    acts.append(new)


def _same(act, new):
    if act.act != new.act or act.sources & new.sources:
        return False
    if act.email and new.email and act.email.lower() != new.email.lower():
        return False
    if act.act == "comment" and act.text != new.text:
        return False
    if act.exact:
        return abs(act.at - new.at) <= CLOSE
    return timedelta(0) <= act.at - new.at <= SEEN_LATE  # the sync saw it afterwards


def _line(act):
    by = f" by {act.who}" if act.who else ""
    via = VIA_WORDS.get(act.via, ", through AlarmDesk") if act.through_alarmdesk else ""
    if act.act == "comment":
        return Entry(act.at, "comment", f"Comment{by}{via}", act.text)
    if act.act == "system":
        return Entry(act.at, "change", act.text)
    if act.act == "assign":
        title = f"Assigned to {act.assignee or 'someone'}{by}{via}"
        return Entry(act.at, "change", title)
    if act.act == "raised":
        return Entry(act.at, "change", f"Raised{by}{via}")
    return Entry(act.at, "change", f"{WORDS.get(act.act, act.act)}{by}{via}", act.text)


def _attempt(entry, people):
    who = people.get(str(entry.user_id), "") or entry.user_email
    verb = VERBS.get(entry.action, entry.action)
    title = f"{who} tried to {verb} through AlarmDesk: {OUTCOME_WORDS[entry.outcome]}"
    text = entry.detail
    if entry.action == "assign":
        text = text.removeprefix("assignee ").partition(": ")[2]
    return Entry(entry.at, "attempt", title, text)
