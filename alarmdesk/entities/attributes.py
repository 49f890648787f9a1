"""Writing a device's or an asset's attributes in ThingsBoard as the signed-in user, and
keeping each write in the audit log (models.AttributeChange) with the value before and
after. ThingsBoard's own rule decides who may write (WRITE_ATTRIBUTES): its refusal is
shown in its words, and nothing is changed."""

import json
import logging

from django.db import DatabaseError

from alarmdesk.accounts.tokens import tb_call
from alarmdesk.alarms.actions import BUSY, UNREACHABLE, Result
from alarmdesk.thingsboard import errors

from .models import AttributeChange

log = logging.getLogger(__name__)

Outcome = AttributeChange.Outcome
# The scopes a user writes through the REST API (client attributes are the device's own),
# per kind of entity (shared attributes are a device's only).
WRITABLE = {"DEVICE": ("SHARED_SCOPE", "SERVER_SCOPE"), "ASSET": ("SERVER_SCOPE",)}


def shown(value):
    """A value as the page writes it: JSON as JSON, the rest as ThingsBoard would."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def change(request, user, entity_type, entity_id, scope, key, *, value=None, delete=False):
    """Set `key` to `value` (or delete it) in that scope; a Result a person can read."""
    try:
        before = tb_call(request, lambda tb: tb.attributes(entity_type, entity_id, scope))
    except errors.Unavailable:
        return Result(Outcome.FAILED, UNREACHABLE)  # only read so far: nothing was written
    except errors.ThingsBoardError as error:
        return _refused(error)
    old = next((a for a in before if a.key == key), None)
    if delete and old is None:
        return Result(Outcome.DONE, f"{key} was not set: nothing to delete.")
    try:
        entry = AttributeChange.objects.create(
            user_id=user.id,
            user_email=user.email,
            entity_type=entity_type,
            entity_id=entity_id,
            scope=scope,
            key=key,
            had_value=old is not None,
            old=old.value if old is not None else None,
            deleted=delete,
            new=None if delete else value,
            outcome=Outcome.PENDING,
        )
    except DatabaseError:
        log.error("could not log the write of %s on %s; not calling ThingsBoard", key, entity_id)
        return Result(Outcome.FAILED, BUSY)
    try:
        if delete:
            tb_call(request, lambda tb: tb.delete_attributes(entity_type, entity_id, scope, [key]))
        else:
            tb_call(
                request,
                lambda tb: tb.save_attributes(entity_type, entity_id, scope, {key: value}),
            )
    except errors.ThingsBoardError as error:
        result = _refused(error)
    else:
        words = f"Deleted {key}." if delete else f"Saved {key} = {shown(value)}."
        result = Result(Outcome.DONE, words)
    detail = "" if result.ok else result.message
    AttributeChange.objects.filter(id=entry.id).update(outcome=result.outcome, detail=detail)
    return result


def _refused(error):
    if isinstance(error, errors.PermissionDenied):
        return Result(Outcome.DENIED, f"ThingsBoard refused: {error.message} Nothing was changed.")
    if isinstance(error, errors.Unavailable):
        if not error.delivered:
            return Result(Outcome.FAILED, UNREACHABLE)
        return Result(
            Outcome.UNKNOWN,
            "ThingsBoard did not answer, so whether the attribute was written is not known. "
            "Reload the page to see.",
        )
    return Result(Outcome.FAILED, f"ThingsBoard refused: {error.message} Nothing was changed.")


def kind_of(value):
    """The form's type for a value as ThingsBoard keeps it (forms.KINDS)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict | list):
        return "json"
    return "string"


def editing(originator, asked):
    """What "Change" on an attribute's row fills the form with (`?edit=SCOPE:key`): its
    scope, key, value and type, so that a change keeps the type; None when not asked, or
    not a writable attribute of the page."""
    scope, _, key = asked.partition(":")
    if scope not in WRITABLE.get(originator.entity_type, ()):
        return None
    for shown_scope in originator.scopes:
        if shown_scope.scope == scope:
            for attribute in shown_scope.attributes:
                if attribute.key == key:
                    value = attribute.value
                    return {
                        "scope": scope,
                        "key": key,
                        "value": shown(value),
                        "kind": kind_of(value),
                    }
    return None


def recent(entity_id, limit=20):
    """The latest writes through AlarmDesk on this entity, newest first."""
    return list(AttributeChange.objects.filter(entity_id=entity_id).order_by("-at", "-id")[:limit])
