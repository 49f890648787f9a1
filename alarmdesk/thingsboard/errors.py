"""The errors ThingsBoardClient raises: one class per ThingsBoard error family.

Only these leave the client. `permanent` says whether repeating the same call can help,
so a caller (a view, a Celery job) decides between "try again later" and "give up".
"""

import re

# 400 code 31 messages of the alarm actions, which are not idempotent since 3.5
# (thingsboard-api.md section 4.5 and section 9, gotcha 1).
_ALREADY_DONE = re.compile(r"Alarm was already (acknowledged|cleared|assigned|unassigned)\b")


class ThingsBoardError(Exception):
    """Anything that went wrong talking to ThingsBoard.

    `status` is the HTTP status (None when no answer came), `code` ThingsBoard's
    `errorCode` (None when the body was not ThingsBoard's JSON), `message` its text.
    """

    permanent = True

    def __init__(self, message, *, status=None, code=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def __str__(self):
        where = ", ".join(
            part
            for part in (
                f"HTTP {self.status}" if self.status is not None else "",
                f"errorCode {self.code}" if self.code is not None else "",
            )
            if part
        )
        return f"{self.message} ({where})" if where else self.message


class AuthenticationFailed(ThingsBoardError):
    """401 code 10 (and 15, 45): wrong credentials, disabled or locked account, bad token."""


class TokenExpired(ThingsBoardError):
    """401 code 11: the access token expired, was logged out, or has a bad signature.

    Repeating the call as it was cannot help; refreshing the token once can.
    """


class PermissionDenied(ThingsBoardError):
    """403 (code 20, or plain text from the telemetry endpoints)."""


class NotFound(ThingsBoardError):
    """404 (code 32, or plain text from the telemetry endpoints)."""


class BadRequest(ThingsBoardError):
    """400 code 31 and any other 4xx ThingsBoard refuses the request with."""

    @property
    def already(self):
        """'acknowledged', 'cleared', 'assigned' or 'unassigned' when the alarm already
        was, else None."""
        match = _ALREADY_DONE.match(self.message or "")
        return match.group(1) if match and self.status == 400 else None

    @property
    def already_done(self):
        """True when the action failed only because it had already been done."""
        return self.already is not None


class RateLimited(ThingsBoardError):
    """429 code 33: the tenant's or customer's REST limit. ThingsBoard sends no Retry-After."""

    permanent = False


class Unavailable(ThingsBoardError):
    """No usable answer: connection refused or dropped, timeout, 5xx, a proxy's 502/503/504.

    `delivered` is False only when the request certainly never reached ThingsBoard (the
    connection was refused or not made in time): then a write was certainly not done.
    Otherwise ThingsBoard may have carried it out before its answer was lost.
    """

    permanent = False

    def __init__(self, message, *, status=None, code=None, delivered=True):
        super().__init__(message, status=status, code=code)
        self.delivered = delivered


class ProtocolError(ThingsBoardError):
    """An answer ThingsBoard would not give: not JSON where JSON is due, missing fields,
    a redirect. Usually TB_URL points at something that is not ThingsBoard."""
