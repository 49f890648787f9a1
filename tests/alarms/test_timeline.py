"""An alarm's timeline: one line per event, whoever recorded it, naming people."""

import uuid
from datetime import UTC, datetime, timedelta

from alarmdesk.alarms.models import AlarmEvent, AuditEntry
from alarmdesk.alarms.timeline import timeline
from alarmdesk.thingsboard.types import AlarmComment

OLIVIA = str(uuid.uuid4())
BOB = str(uuid.uuid4())
PEOPLE = {OLIVIA: "Olivia Ops", BOB: "Bob Builder"}
RAISED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ACKED = RAISED + timedelta(minutes=7)
Kind = AlarmEvent.Kind


def ms(moment):
    return int(moment.timestamp() * 1000)


def event(kind, at, **data):
    return AlarmEvent(kind=kind, ts=ms(at), observed_at=at + timedelta(seconds=4), data=data)


def _comment(kind, subtype, text, at, user, body):
    """An AlarmComment as the client parses it, by `user` (None: ThingsBoard itself)."""
    first, last = PEOPLE[user].split() if user else (None, None)
    return AlarmComment(
        id=str(uuid.uuid4()),
        alarm_id="a",
        user_id=user,
        type=kind,
        text=text,
        subtype=subtype,
        comment=body,
        created_time=ms(at),
        first_name=first,
        last_name=last,
        email=f"{first.lower()}@example.com" if user else None,
    )


def system(subtype, at, text, user=OLIVIA, **params):
    return _comment("SYSTEM", subtype, text, at, user, {"text": text, "subtype": subtype, **params})


def comment(text, at, user=OLIVIA):
    return _comment("OTHER", None, text, at, user, {"text": text})


def audit(action, at, user=OLIVIA, outcome=AuditEntry.Outcome.DONE, detail=""):
    email = f"{PEOPLE[user].split()[0].lower()}@example.com"
    return AuditEntry(
        at=at, user_id=user, user_email=email, action=action, outcome=outcome, detail=detail
    )


def lines(events=(), comments=(), entries=(), people=PEOPLE):
    return [entry.title for entry in timeline(events, comments, entries, people)]


def test_an_acknowledgement_through_alarmdesk_is_one_line_naming_the_person():
    assert lines(
        [event(Kind.CREATED, RAISED, severity="MAJOR"), event(Kind.ACKNOWLEDGED, ACKED)],
        [system("ACKED_BY_USER", ACKED, "Alarm was acknowledged by user Olivia Ops")],
        [audit("ack", ACKED - timedelta(milliseconds=300))],
    ) == ["Raised", "Acknowledged by Olivia Ops, through AlarmDesk"]


def test_an_acknowledgement_in_thingsboard_itself_is_one_line_without_alarmdesk():
    assert lines(
        [event(Kind.ACKNOWLEDGED, ACKED)],
        [system("ACKED_BY_USER", ACKED, "Alarm was acknowledged by user Olivia Ops")],
    ) == ["Acknowledged by Olivia Ops"]


def test_an_assignment_names_both_people_and_never_shows_a_user_id():
    titles = lines(
        [event(Kind.ASSIGNED, ACKED, assignee_id=BOB, assignee="bob@example.com")],
        [
            system(
                "ASSIGNED_TO_USER",
                ACKED,
                "Alarm was assigned by user Olivia Ops to user Bob Builder",
                userName="Olivia Ops",
                assigneeName="Bob Builder",
            )
        ],
        [audit("assign", ACKED, detail=f"assignee {BOB}")],
    )
    assert titles == ["Assigned to Bob Builder by Olivia Ops, through AlarmDesk"]


def test_an_assignment_known_only_from_the_audit_log_names_the_assignee_from_the_people():
    titles = lines(entries=[audit("assign", ACKED, detail=f"assignee {BOB}")])
    assert titles == ["Assigned to Bob Builder by Olivia Ops, through AlarmDesk"]
    unknown = lines(entries=[audit("assign", ACKED, detail=f"assignee {BOB}")], people={})
    assert BOB not in " ".join(unknown)


def test_a_comment_posted_through_alarmdesk_is_one_line_with_its_text():
    entries = timeline(
        [], [comment("On it.", ACKED)], [audit("comment", ACKED, detail="On it.")], PEOPLE
    )
    assert [(e.title, e.text) for e in entries] == [
        ("Comment by Olivia Ops, through AlarmDesk", "On it.")
    ]


def test_acts_far_apart_in_time_or_by_different_people_stay_apart():
    titles = lines(
        [event(Kind.ACKNOWLEDGED, ACKED)],
        [system("ACKED_BY_USER", ACKED, "Alarm was acknowledged by user Olivia Ops")],
        [audit("ack", ACKED + timedelta(minutes=5), user=BOB)],
    )
    assert titles[0] == "Acknowledged by Olivia Ops"
    assert len(titles) == 2


def test_a_failed_attempt_is_its_own_line_saying_what_happened():
    titles = lines(
        entries=[
            audit(
                "ack",
                ACKED,
                outcome=AuditEntry.Outcome.DENIED,
                detail="ThingsBoard does not allow your account to acknowledge this alarm.",
            )
        ]
    )
    assert titles == ["Olivia Ops tried to acknowledge through AlarmDesk: denied"]


def test_a_clearing_by_the_rule_engine_has_no_person():
    assert lines([event(Kind.CLEARED, ACKED)]) == ["Cleared"]


def test_a_severity_change_is_one_line_with_both_severities():
    entries = timeline(
        [event(Kind.SEVERITY_CHANGED, ACKED, **{"from": "MAJOR", "to": "CRITICAL"})],
        [
            system(
                "SEVERITY_CHANGED",
                ACKED,
                "Alarm severity was updated from MAJOR to CRITICAL",
                user=None,
                oldSeverity="MAJOR",
                newSeverity="CRITICAL",
            )
        ],
        [],
        PEOPLE,
    )
    assert [(e.title, e.text) for e in entries] == [("Severity changed", "MAJOR to CRITICAL")]


def test_the_lines_come_in_time_order():
    entries = timeline(
        [event(Kind.CLEARED, ACKED + timedelta(hours=1)), event(Kind.CREATED, RAISED)],
        [comment("Looking", ACKED)],
        [],
        PEOPLE,
    )
    assert [e.title for e in entries] == ["Raised", "Comment by Olivia Ops", "Cleared"]
