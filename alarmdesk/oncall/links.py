"""Signed one-purpose links: one alarm, one action, one person, at most an hour.

A notification carries them (push actions, e-mail and chat links). A chat channel's name
its webhook instead of a person (chat.py): whoever of the team opens one acts as
themselves. Opening one never acts
by itself (link previewers fetch URLs): it lands on a confirmation page, behind sign-in, and
only the person it was made for, signed in as themselves, can confirm it. Signed with the
SECRET_KEY under a salt of their own, so no other signature of the site is one of them."""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "alarmdesk.oncall.links"
ACTIONS = {"ack": "Acknowledge", "claim": "Claim"}


@dataclass(frozen=True)
class Link:
    alarm_id: uuid.UUID
    action: str
    user_id: uuid.UUID | None  # the person's own link
    hook_id: int | None = None  # or a chat channel's

    @property
    def verb(self):
        return ACTIONS[self.action]


class Invalid(Exception):
    """A link that is not one of ours, or was altered, or names no action we take."""


class Expired(Exception):
    """One of ours, past its lifetime."""


def make(alarm_id, action, user_id=None, *, hook_id=None):
    if action not in ACTIONS:
        raise ValueError(f"no link for {action!r}")
    whom = f"hook:{int(hook_id)}" if hook_id is not None else str(uuid.UUID(str(user_id)))
    return signing.dumps([str(alarm_id), action, whom], salt=SALT, compress=False)


def read(token):
    try:
        alarm_id, action, whom = signing.loads(
            token, salt=SALT, max_age=settings.ALARMDESK_NOTIFY_LINK_SECONDS
        )
        if whom.startswith("hook:"):
            link = Link(uuid.UUID(alarm_id), action, None, int(whom.removeprefix("hook:")))
        else:
            link = Link(uuid.UUID(alarm_id), action, uuid.UUID(whom))
    except signing.SignatureExpired:
        raise Expired from None
    except (signing.BadSignature, ValueError, TypeError, AttributeError):
        raise Invalid from None
    if link.action not in ACTIONS:
        raise Invalid
    return link
