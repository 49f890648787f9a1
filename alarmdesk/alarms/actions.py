"""Acting on an alarm in ThingsBoard as the signed-in user, and recording what happened.

The views and the bulk jobs both come through `perform()`: it calls ThingsBoard with the
user's own token (so ThingsBoard's permissions and audit trail apply to the real person),
writes ThingsBoard's answer to the store at once, and adds an audit entry.
"""

import logging
from dataclasses import dataclass

from alarmdesk.accounts.tokens import tb_call
from alarmdesk.thingsboard import errors

from .models import Alarm, AuditEntry
from .store import mark_deleted, save_alarms

log = logging.getLogger(__name__)

Outcome = AuditEntry.Outcome
ACTIONS = {
    "ack": "acknowledge",
    "clear": "clear",
    "assign": "assign",
    "unassign": "unassign",
    "comment": "comment on",
}
DONE = {
    "ack": "Acknowledged.",
    "clear": "Cleared.",
    "assign": "Assigned.",
    "unassign": "Unassigned.",
    "comment": "Comment added.",
}
# Who did it, known at once when done through AlarmDesk (the history shows it).
ACTOR_FIELDS = {"ack": "acknowledged_by", "clear": "cleared_by"}
UNREACHABLE = (
    "ThingsBoard could not be reached, so nothing was changed. Try again: what you typed is kept."
)
ALREADY = {
    "acknowledged": "It was already acknowledged.",
    "cleared": "It was already cleared.",
    "assigned": "It was already assigned to that person.",
    "unassigned": "Nobody was assigned.",
}


@dataclass(frozen=True)
class Result:
    outcome: str
    message: str

    @property
    def ok(self):
        return self.outcome in (Outcome.DONE, Outcome.ALREADY_DONE)


def _call(action, alarm_id, assignee, text):
    if action == "ack":
        return lambda tb: tb.acknowledge(alarm_id)
    if action == "clear":
        return lambda tb: tb.clear(alarm_id)
    if action == "assign":
        return lambda tb: tb.assign(alarm_id, assignee)
    if action == "unassign":
        return lambda tb: tb.unassign(alarm_id)
    return lambda tb: tb.add_comment(alarm_id, text)


def perform(request, user, alarm_id, action, *, assignee=None, text="", bulk_job=None):
    """Do `action` on the alarm in ThingsBoard; returns a Result a person can read.

    The caller has already checked the alarm with the access rule; ThingsBoard checks again.
    `request` is anything with the user's session (a view's request, or a bulk job's).
    """
    alarm_id = str(alarm_id)
    if action == "claim":
        return _claim(request, user, alarm_id, text, bulk_job)
    if action == "assign" and assignee == "me":
        assignee = user.id
    result = _outcome(request, user, action, alarm_id, assignee, text)
    AuditEntry.objects.create(
        user_id=user.id,
        user_email=user.email,
        alarm_id=alarm_id,
        alarm_uuid=alarm_id,
        action=action,
        outcome=result.outcome,
        detail=_detail(action, assignee, text, result),
        bulk_job=bulk_job,
    )
    return result


def _claim(request, user, alarm_id, text, bulk_job):
    """On-call's one tap: acknowledge, assign to me, and post the note if there is one."""
    steps = [("ack", None), ("assign", "me")] + ([("comment", None)] if text else [])
    for action, assignee in steps:
        result = perform(
            request, user, alarm_id, action, assignee=assignee, text=text, bulk_job=bulk_job
        )
        if not result.ok:
            return result
    return Result(
        Outcome.DONE, "Acknowledged and assigned to you." + (" Note posted." if text else "")
    )


def _outcome(request, user, action, alarm_id, assignee, text):
    verb = ACTIONS[action]
    try:
        answer = tb_call(request, _call(action, alarm_id, assignee, text))
    except errors.BadRequest as error:
        if not error.already_done:
            return Result(Outcome.FAILED, f"ThingsBoard refused: {error.message}")
        _refresh_from_thingsboard(request, alarm_id)
        return Result(Outcome.ALREADY_DONE, ALREADY[error.already])
    except errors.PermissionDenied:
        return Result(
            Outcome.DENIED,
            f"ThingsBoard does not allow your account to {verb} this alarm. "
            "Ask a tenant administrator.",
        )
    except errors.NotFound:
        mark_deleted([alarm_id])
        return Result(Outcome.NOT_FOUND, "This alarm no longer exists in ThingsBoard.")
    except errors.ThingsBoardError as error:
        log.warning("%s of alarm %s failed: %s", action, alarm_id, error)
        return Result(Outcome.FAILED, UNREACHABLE)
    if action != "comment":
        save_alarms([answer])
    if action in ACTOR_FIELDS:
        Alarm.objects.filter(id=alarm_id).update(**{ACTOR_FIELDS[action]: user.email})
    return Result(Outcome.DONE, DONE[action])


def _refresh_from_thingsboard(request, alarm_id):
    """After "already done", show the alarm as ThingsBoard has it now."""
    try:
        save_alarms([tb_call(request, lambda tb: tb.alarm_info(alarm_id))])
    except errors.ThingsBoardError:
        log.info("could not re-read alarm %s after 'already done'", alarm_id)


def _detail(action, assignee, text, result):
    if action == "comment":
        return text
    if action == "assign":
        return f"assignee {assignee}" + ("" if result.ok else f": {result.message}")
    return "" if result.ok else result.message
