"""An alarm's story in one list: what the sync saw, ThingsBoard's comments (people's and
its own system entries), and what was done through AlarmDesk."""

from dataclasses import dataclass
from datetime import UTC, datetime

from .models import AlarmEvent

EVENT_WORDS = {
    AlarmEvent.Kind.CREATED: "Raised",
    AlarmEvent.Kind.RETRIGGERED: "Raised again",
    AlarmEvent.Kind.SEVERITY_CHANGED: "Severity changed",
    AlarmEvent.Kind.ACKNOWLEDGED: "Acknowledged",
    AlarmEvent.Kind.CLEARED: "Cleared",
    AlarmEvent.Kind.ASSIGNED: "Assigned",
    AlarmEvent.Kind.UNASSIGNED: "Unassigned",
    AlarmEvent.Kind.DELETED: "Deleted in ThingsBoard",
}


@dataclass(frozen=True)
class Entry:
    at: datetime
    source: str  # "event", "comment", "system" or "audit"
    title: str
    text: str = ""
    who: str = ""


def _at(ms):
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _event(event):
    at = _at(event.ts) if event.ts else event.observed_at
    text = ""
    if event.kind == AlarmEvent.Kind.SEVERITY_CHANGED:
        text = f"{event.data.get('from')} to {event.data.get('to')}"
    elif event.kind == AlarmEvent.Kind.ASSIGNED:
        text = f"to {event.data.get('assignee', '')}"
    return Entry(at, "event", EVENT_WORDS.get(event.kind, event.kind), text)


def _comment(comment):
    who = " ".join(filter(None, (comment.first_name, comment.last_name))) or comment.email or ""
    if comment.type == "SYSTEM":
        return Entry(_at(comment.created_time), "system", "ThingsBoard", comment.text, who)
    return Entry(_at(comment.created_time), "comment", "Comment", comment.text, who)


def _audit(entry):
    title = f"{entry.get_outcome_display()}: {entry.action} through AlarmDesk"
    return Entry(entry.at, "audit", title, entry.detail, entry.user_email)


def timeline(alarm, comments):
    entries = [_event(e) for e in alarm.events.all()]
    entries += [_comment(c) for c in comments]
    entries += [_audit(a) for a in alarm.audit.all()]
    return sorted(entries, key=lambda entry: entry.at)
