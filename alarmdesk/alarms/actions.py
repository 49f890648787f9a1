"""Acting on an alarm in ThingsBoard as the signed-in user, and recording what happened.

The views and the bulk jobs both come through `perform()`: it calls ThingsBoard with the
user's own token (so ThingsBoard's permissions and audit trail apply to the real person),
writes ThingsBoard's answer to the store at once, and keeps the audit log.

The audit entry is written, as pending, before ThingsBoard is called and completed after,
so an action that reached ThingsBoard is never missing from the log. When ThingsBoard's
answer is lost (a timeout, a dropped connection, a 5xx), the action may or may not have
been done: the alarm is read back (a GET, safe to repeat) and the user told what is true.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import DatabaseError
from django.utils import timezone

from alarmdesk.accounts.tokens import SignInRequired, tb_call
from alarmdesk.database import retry_when_locked
from alarmdesk.redis_client import get_redis, key
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
    "delete": "delete",
}
DONE = {
    "ack": "Acknowledged.",
    "clear": "Cleared.",
    "assign": "Assigned.",
    "unassign": "Unassigned.",
    "comment": "Comment added.",
    "delete": "Deleted in ThingsBoard; AlarmDesk keeps its history.",
}
# What the alarm is once the action is done, for messages about a lost answer.
GOAL_WORDS = {
    "ack": "acknowledged",
    "clear": "cleared",
    "assign": "assigned to that person",
    "unassign": "unassigned",
    "comment": "commented",
    "delete": "deleted",
}
# Who did it, known at once when done through AlarmDesk (the history shows it).
ACTOR_FIELDS = {"ack": "acknowledged_by", "clear": "cleared_by", "delete": "deleted_by"}
UNREACHABLE = "ThingsBoard could not be reached, so nothing was changed. Try again."
KEPT = " What you typed is kept."
BUSY = "AlarmDesk's database is busy, so nothing was done (it could not be logged). Try again."
ALREADY = {
    "acknowledged": "It was already acknowledged.",
    "cleared": "It was already cleared.",
    "assigned": "It was already assigned to that person.",
    "unassigned": "Nobody was assigned.",
}
GONE = "This alarm no longer exists in ThingsBoard."
# The acts that ask first (confirm.py), and what is said when one was not confirmed.
NOT_CONFIRMED = {
    "clear": "Nothing was cleared: clearing asks first, and it was not confirmed.",
    "delete": "Nothing was deleted: deleting asks first, and it was not confirmed.",
}
# A comment whose answer was lost is looked for in ThingsBoard before the same text is
# posted again, for this long: a retry never posts it twice.
COMMENT_MEMORY = timedelta(minutes=15)
# How long one person's claim holds off another's (the calls take a few seconds at most).
CLAIM_SECONDS = 30
# Where a person acted from, as the audit log keeps it (AuditEntry.via).
VIA_PAGE, VIA_PUSH, VIA_LINK = "", "notification", "link"


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
    if action == "delete":
        return lambda tb: tb.delete_alarm(alarm_id)
    return lambda tb: tb.add_comment(alarm_id, text)


def perform(
    request, user, alarm_id, action, *, assignee=None, text="", bulk_job=None, via=VIA_PAGE
):
    """Do `action` on the alarm in ThingsBoard; returns a Result a person can read.

    The caller has already checked the alarm with the access rule; ThingsBoard checks again.
    `request` is anything with the user's session (a view's request, or a bulk job's).
    `via` says, in the audit log, where the person acted from when not on a page.
    """
    alarm_id = str(alarm_id)
    if action == "claim":
        return _claim(request, user, alarm_id, text, bulk_job, via)
    if action == "assign" and assignee == "me":
        assignee = user.id
    detail = _detail(action, assignee, text)
    entry = _begin(user, alarm_id, action, detail, bulk_job, via)
    if entry is None:
        return Result(Outcome.FAILED, BUSY)
    try:
        result = _outcome(request, user, action, alarm_id, assignee, text, entry)
    except SignInRequired:
        _complete(entry, Result(Outcome.FAILED, "The session ended: sign in and try again."))
        raise
    _complete(entry, result)
    return result


def _begin(user, alarm_id, action, detail, bulk_job, via=VIA_PAGE):
    """The pending audit entry, or None when the database will not take it."""
    try:
        return AuditEntry.objects.create(
            user_id=user.id,
            user_email=user.email,
            alarm_id=alarm_id,
            alarm_uuid=alarm_id,
            action=action,
            outcome=Outcome.PENDING,
            detail=detail,
            bulk_job=bulk_job,
            via=via,
        )
    except DatabaseError:
        log.error("could not log %s of alarm %s; not calling ThingsBoard", action, alarm_id)
        return None


def _complete(entry, result):
    """The entry's outcome. If the database still refuses after retries, the entry stays
    pending: the action is in the log, its outcome not."""
    detail = entry.detail
    if not result.ok:
        detail = f"{detail}: {result.message}" if detail else result.message
    try:
        retry_when_locked(
            lambda: AuditEntry.objects.filter(id=entry.id).update(
                outcome=result.outcome, detail=detail
            )
        )
    except DatabaseError:
        log.error("audit entry %s left pending: %s", entry.id, result, exc_info=True)


def _outcome(request, user, action, alarm_id, assignee, text, entry):
    verb = ACTIONS[action]
    if action == "comment" and _posted_before(request, user, alarm_id, text):
        return Result(Outcome.DONE, "That comment was already posted.")
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
        return _not_found(request, action, alarm_id)
    except errors.Unavailable as error:
        log.warning("%s of alarm %s: no answer (%s)", action, alarm_id, error)
        if not error.delivered:
            return Result(Outcome.FAILED, UNREACHABLE + (KEPT if text else ""))
        return _read_back(request, user, entry, assignee, text)
    except errors.ThingsBoardError as error:
        log.warning("%s of alarm %s failed: %s", action, alarm_id, error)
        return Result(Outcome.FAILED, f"ThingsBoard refused: {error.message}")
    if action == "delete":
        _store(lambda: mark_deleted([alarm_id]))
    elif action != "comment":
        _store(lambda: save_alarms([answer]))
    if action in ACTOR_FIELDS:
        fields = {ACTOR_FIELDS[action]: user.email}
        _store(lambda: Alarm.objects.filter(id=alarm_id).update(**fields))
    return Result(Outcome.DONE, DONE[action])


def _store(write):
    """Keep ThingsBoard's answer in the store; if the database refuses, the next sync
    brings the same answer, so the action itself is not reported as failed (and the time
    goes to completing the audit entry instead)."""
    try:
        write()
    except DatabaseError:
        log.warning("could not store ThingsBoard's answer; the sync will", exc_info=True)


def _not_found(request, action, alarm_id):
    """ThingsBoard's 404 may be about the alarm or about the assignee (a user that does not
    exist or was deleted): only a read of the alarm itself says the alarm is gone."""
    try:
        _read_alarm(request, alarm_id)
    except errors.NotFound:
        if action == "delete":
            return Result(Outcome.ALREADY_DONE, "It was already deleted in ThingsBoard.")
        return Result(Outcome.NOT_FOUND, GONE)
    except errors.ThingsBoardError:
        return Result(
            Outcome.FAILED,
            "ThingsBoard answered 'not found' and then did not answer: nothing was changed.",
        )
    if action == "assign":
        return Result(
            Outcome.FAILED,
            "That user does not exist in ThingsBoard (or was deleted): nothing was changed.",
        )
    return Result(Outcome.FAILED, "ThingsBoard answered 'not found': nothing was changed.")


def settle(request, user, entry):
    """Complete a pending entry left by a run that died mid-call (a bulk job's worker
    killed): read the alarm back and record what is true. If the action was not done, it
    is done now, under the same entry: the alarm was just seen without it, so should the
    first call still arrive, ThingsBoard refuses one of the two as already done (never for
    a comment, which ThingsBoard would take twice). A bulk job assigns to the user who
    asked; a comment's text is the entry's detail."""
    result = _read_back(request, user, entry, user.id, entry.detail)
    if result.outcome == Outcome.FAILED and entry.action != "comment":  # seen not done
        result = _outcome(request, user, entry.action, str(entry.alarm_uuid), user.id, "", entry)
    _complete(entry, result)
    return result


def _read_back(request, user, entry, assignee, text):
    """What became of an action whose answer was lost: the alarm as ThingsBoard has it."""
    action, alarm_id = entry.action, str(entry.alarm_uuid)
    assignee = str(assignee)
    goal = GOAL_WORDS[action]
    try:
        if action == "comment":
            reached = _comment_on_alarm(request, user, alarm_id, text, entry.at) is not None
        else:
            reached = _reached(action, _read_alarm(request, alarm_id), assignee)
    except errors.NotFound:
        # Gone (the read marked it deleted): what a delete was for, and a loss to the rest.
        done = action == "delete"
        result = Result(Outcome.DONE, DONE[action]) if done else Result(Outcome.NOT_FOUND, GONE)
        if done:
            _store(lambda: Alarm.objects.filter(id=alarm_id).update(deleted_by=user.email))
    except errors.ThingsBoardError:
        result = Result(Outcome.UNKNOWN, _unknown(action, goal))
    else:
        if reached:
            if action in ACTOR_FIELDS:
                fields = {ACTOR_FIELDS[action]: user.email}
                _store(lambda: Alarm.objects.filter(id=alarm_id).update(**fields))
            late = " ThingsBoard answered late; the alarm was read back to be sure."
            result = Result(Outcome.DONE, DONE[action] + late)
        else:
            result = Result(
                Outcome.FAILED,
                f"ThingsBoard did not answer in time, and the alarm is not {goal}: "
                "nothing was changed. Try again." + (KEPT if action == "comment" else ""),
            )
    return result


def _unknown(action, goal):
    if action == "comment":
        return (
            "ThingsBoard did not answer, so whether your comment was posted is not known. "
            "Sending it again is safe: AlarmDesk will not post the same text twice." + KEPT
        )
    return (
        f"ThingsBoard did not answer, so whether the alarm was {goal} is not known. "
        "Look at the alarm before trying again."
    )


def _reached(action, info, assignee):
    if action == "ack":
        return info.acknowledged
    if action == "clear":
        return info.cleared
    if action == "assign":
        return info.assignee_id == assignee
    if action == "delete":
        return False  # ThingsBoard still has it
    return info.assignee_id is None  # unassign


def _comment_on_alarm(request, user, alarm_id, text, since):
    """The user's comment with this text on the alarm, posted since `since` (less a minute
    for clocks), or None."""
    since_ms = int((since - timedelta(minutes=1)).timestamp() * 1000)
    page = tb_call(request, lambda tb: tb.comments(alarm_id, page_size=200))
    for comment in page.data:
        if (
            comment.type == "OTHER"
            and comment.user_id == str(user.id)
            and comment.text == text
            and comment.created_time >= since_ms
        ):
            return comment
    return None


def _posted_before(request, user, alarm_id, text):
    """Whether an earlier attempt at this very comment, whose answer was lost, did post it.
    Asked of ThingsBoard only after such an attempt."""
    earlier = (
        AuditEntry.objects.filter(
            alarm_uuid=alarm_id,
            user_id=user.id,
            action="comment",
            outcome__in=(Outcome.PENDING, Outcome.UNKNOWN, Outcome.FAILED),
            at__gte=timezone.now() - COMMENT_MEMORY,
        )
        .filter(detail__startswith=text)
        .order_by("at")
        .first()
    )
    if earlier is None:
        return False
    try:
        return _comment_on_alarm(request, user, alarm_id, text, earlier.at) is not None
    except errors.ThingsBoardError:
        return False  # the call that follows will say what is wrong


def _refresh_from_thingsboard(request, alarm_id):
    """After "already done", show the alarm as ThingsBoard has it now."""
    try:
        _read_alarm(request, alarm_id)
    except errors.ThingsBoardError:
        log.info("could not re-read alarm %s after 'already done'", alarm_id)


def _read_alarm(request, alarm_id):
    """The alarm as ThingsBoard has it now, written to the store. A 404 to this read (of
    the alarm itself, unlike an action's 404) proves it is gone: marked deleted, re-raised."""
    try:
        info = tb_call(request, lambda tb: tb.alarm_info(alarm_id))
    except errors.NotFound:
        _store(lambda: mark_deleted([alarm_id]))
        raise
    _store(lambda: save_alarms([info]))
    return info


def _detail(action, assignee, text):
    if action == "comment":
        return text
    if action == "assign":
        return f"assignee {assignee}"
    return ""


# --- claim: on-call's one tap ------------------------------------------------------------


def _claim(request, user, alarm_id, text, bulk_job, via):
    """Acknowledge, assign to me, and post the note if there is one. Never takes the alarm
    from someone else: if another person has it (or is claiming it this very moment), say
    who and change nothing."""
    if not _hold_claim(alarm_id, user):
        return _refused_claim(user, alarm_id, "Someone else is claiming this alarm right now.", via)
    try:
        try:
            info = _read_alarm(request, alarm_id)
        except errors.NotFound:
            return Result(Outcome.NOT_FOUND, GONE)
        except errors.ThingsBoardError:
            return Result(Outcome.FAILED, UNREACHABLE + (KEPT if text else ""))
        if info.assignee_id and info.assignee_id != str(user.id):
            holder = f"{_person(info.assignee)} already has this alarm: nothing was changed."
            return _refused_claim(user, alarm_id, holder, via)
        steps = [] if info.acknowledged else [("ack", None)]
        steps += [] if info.assignee_id else [("assign", "me")]
        steps += [("comment", None)] if text else []
        for action, assignee in steps:
            result = perform(
                request,
                user,
                alarm_id,
                action,
                assignee=assignee,
                text=text,
                bulk_job=bulk_job,
                via=via,
            )
            if not result.ok:
                return result
    finally:
        _release_claim(alarm_id, user)
    return Result(
        Outcome.DONE, "Acknowledged and assigned to you." + (" Note posted." if text else "")
    )


def _refused_claim(user, alarm_id, message, via):
    result = Result(Outcome.FAILED, message)
    entry = _begin(user, alarm_id, "claim", "", None, via)
    if entry is not None:
        _complete(entry, result)
    return result


def _person(assignee):
    if assignee is None:
        return "Someone else"
    name = " ".join(filter(None, (assignee.first_name, assignee.last_name)))
    return f"{name} ({assignee.email})" if name else assignee.email


def _claim_key(alarm_id):
    return key("claim", alarm_id)


def _hold_claim(alarm_id, user):
    """One claim of an alarm at a time, across every web process (Redis SET NX). With
    Redis down a claim goes ahead: ThingsBoard's own state is still checked first."""
    try:
        held = get_redis().set(_claim_key(alarm_id), str(user.id), nx=True, ex=CLAIM_SECONDS)
        return bool(held) or get_redis().get(_claim_key(alarm_id)) == str(user.id).encode()
    except Exception:
        log.warning("Redis unavailable for the claim of %s", alarm_id, exc_info=True)
        return True


def _release_claim(alarm_id, user):
    try:
        redis = get_redis()
        if redis.get(_claim_key(alarm_id)) == str(user.id).encode():
            redis.delete(_claim_key(alarm_id))
    except Exception:
        log.warning("Redis unavailable; the claim of %s expires by itself", alarm_id)


# --- raising an alarm by hand (the originator's page) ------------------------------------


def raise_alarm(
    request, user, entity_type, entity_id, alarm_type, severity, *, note="", assignee=None
):
    """Raise an alarm on the device or asset in ThingsBoard as the user; returns (Result, the
    alarm's id or None). ThingsBoard's dedup may update the active alarm of that type on
    that originator instead (createOrUpdateActiveAlarm): the Result says which. `assignee`:
    a user's id, or "me". Logged as pending first, under the originator's id until the
    alarm's is known."""
    if assignee == "me":
        assignee = user.id
    active = (
        Alarm.objects.filter(originator_id=entity_id, type=alarm_type, cleared=False)
        .values_list("id", flat=True)
        .first()
    )
    entry = _begin(user, str(entity_id), "raise", f"{severity} {alarm_type}", None)
    if entry is None:
        return Result(Outcome.FAILED, BUSY), None
    customer = user.customer_id if user.is_customer_user else None
    details = {"note": note} if note else None
    try:
        alarm_id, _ = tb_call(
            request,
            lambda tb: tb.raise_alarm(
                entity_type,
                entity_id,
                alarm_type,
                severity,
                details=details,
                customer_id=customer,
                assignee_id=assignee or None,
            ),
        )
    except errors.ThingsBoardError as error:
        result = _raise_refused(error)
        _complete(entry, result)
        return result, None
    updated = active is not None and str(active) == alarm_id
    try:
        _read_alarm(request, alarm_id)
    except errors.ThingsBoardError:
        log.info("raised alarm %s not read back; the sync will bring it", alarm_id)
    words = f"{severity.title()} {alarm_type}"
    if updated:
        message = f"{words} was already active here: ThingsBoard updated it, not a second one."
    else:
        message = f"Raised: {words}."
    detail = f"{'updated' if updated else 'raised'} {severity} {alarm_type}"
    _store(
        lambda: AuditEntry.objects.filter(id=entry.id).update(
            alarm_uuid=alarm_id, alarm_id=alarm_id, detail=detail
        )
    )
    entry.detail = detail
    result = Result(Outcome.DONE, message)
    _complete(entry, result)
    return result, alarm_id


def _raise_refused(error):
    if isinstance(error, errors.PermissionDenied):
        return Result(
            Outcome.DENIED,
            "ThingsBoard does not allow your account to raise an alarm here: "
            f"{error.message}. Nothing was raised.",
        )
    if isinstance(error, errors.Unavailable) and error.delivered:
        return Result(
            Outcome.UNKNOWN,
            "ThingsBoard did not answer, so whether the alarm was raised is not known. "
            "Look at this device's alarms before trying again.",
        )
    if isinstance(error, errors.Unavailable):
        return Result(Outcome.FAILED, UNREACHABLE)
    return Result(Outcome.FAILED, f"ThingsBoard refused: {error.message}. Nothing was raised.")
