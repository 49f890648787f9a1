"""The signed-in user's ThingsBoard tokens, kept in the server-side session.

The JWT never reaches the browser: the session cookie only names a row in the database.
Views call ThingsBoard through `tb_call(request, fn)`, which refreshes the token shortly
before it expires, and once more after a 401 code 11 (thingsboard-api.md 2.4, 9.7).
"""

import functools
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.middleware.csrf import rotate_token

from alarmdesk.thingsboard.client import ThingsBoardClient
from alarmdesk.thingsboard.errors import AuthenticationFailed, TokenExpired

SESSION_KEY = "thingsboard"
# Refresh this many seconds before `exp`, so a request never starts with a dying token.
REFRESH_MARGIN = 60


class SignInRequired(Exception):
    """The session's tokens can no longer be refreshed: the user must sign in again."""


@dataclass(frozen=True)
class SessionUser:
    id: str
    email: str
    name: str
    authority: str
    tenant_id: str
    customer_id: str | None

    @property
    def is_tenant_admin(self):
        return self.authority == "TENANT_ADMIN"

    @property
    def is_customer_user(self):
        return self.authority == "CUSTOMER_USER"

    @property
    def is_sysadmin(self):
        return self.authority == "SYS_ADMIN"

    @property
    def role(self):
        return {
            "TENANT_ADMIN": "Tenant administrator",
            "CUSTOMER_USER": "Customer user",
            "SYS_ADMIN": "System administrator",
        }.get(self.authority, self.authority)


@functools.cache
def _shared_client(url, timeout):
    # One connection pool per process; each user's token travels with its own requests.
    return ThingsBoardClient(url, timeout=timeout)


def new_client(token=None):
    return _shared_client(settings.TB_URL, settings.TB_TIMEOUT).with_token(token)


def store(request, pair, user):
    """Keep a fresh sign-in in a new session (the key and the CSRF token are cycled against
    fixation, as django.contrib.auth's login does)."""
    request.session.cycle_key()
    rotate_token(request)
    request.session[SESSION_KEY] = {
        "token": pair.token,
        "refresh_token": pair.refresh_token,
        "expires_at": pair.access_expires_at.timestamp(),
        "user": asdict(
            SessionUser(
                id=user.id,
                email=user.email,
                name=user.display_name,
                authority=user.authority,
                tenant_id=user.tenant_id,
                customer_id=user.customer_id,
            )
        ),
    }


def session_user(request):
    data = request.session.get(SESSION_KEY)
    return SessionUser(**data["user"]) if data else None


def _refresh(request):
    data = request.session[SESSION_KEY]
    try:
        pair = new_client().refresh(data["refresh_token"])
    except (AuthenticationFailed, TokenExpired) as error:
        request.session.flush()
        raise SignInRequired(str(error)) from error
    data.update(
        token=pair.token,
        refresh_token=pair.refresh_token,
        expires_at=pair.access_expires_at.timestamp(),
    )
    request.session.modified = True
    return pair.token


def current_token(request):
    """The access token, refreshed first if it expires within REFRESH_MARGIN seconds."""
    data = request.session.get(SESSION_KEY)
    if data is None:
        raise SignInRequired("not signed in")
    if data["expires_at"] - time.time() < REFRESH_MARGIN:
        return _refresh(request)
    return data["token"]


def tb_call(request, fn):
    """fn(client) with the user's token; on "token expired" refresh once and retry once."""
    try:
        return fn(new_client(current_token(request)))
    except TokenExpired:
        return fn(new_client(_refresh(request)))
