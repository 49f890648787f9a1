"""Signed one-purpose links: one alarm, one action, one person, at most an hour.

A notification carries them (push actions, e-mail and chat links). Opening one never acts
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
    user_id: uuid.UUID

    @property
    def verb(self):
        return ACTIONS[self.action]


class Invalid(Exception):
    """A link that is not one of ours, or was altered, or names no action we take."""


class Expired(Exception):
    """One of ours, past its lifetime."""


def make(alarm_id, action, user_id):
    if action not in ACTIONS:
        raise ValueError(f"no link for {action!r}")
    return signing.dumps([str(alarm_id), action, str(user_id)], salt=SALT, compress=False)


def read(token):
    try:
        alarm_id, action, user_id = signing.loads(
            token, salt=SALT, max_age=settings.ALARMDESK_NOTIFY_LINK_SECONDS
        )
        link = Link(uuid.UUID(alarm_id), action, uuid.UUID(user_id))
    except signing.SignatureExpired:
        raise Expired from None
    except (signing.BadSignature, ValueError, TypeError):
        raise Invalid from None
    if link.action not in ACTIONS:
        raise Invalid
    return link
