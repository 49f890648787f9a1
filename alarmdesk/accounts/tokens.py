"""The signed-in user's ThingsBoard tokens, kept in the server-side session.

The JWT never reaches the browser: the session cookie only names a row in the database.
Views call ThingsBoard through `tb_call(request, fn)`, which refreshes the token shortly
before it expires, and once more after a 401 code 11 (thingsboard-api.md 2.4, 9.7).

ThingsBoard trusts an access token's claims without looking the user up
(JwtAuthenticationProvider): it refuses a disabled or deleted user's older tokens through
DefaultTokenOutdatingService, and re-loads the user only on a refresh
(RefreshTokenAuthenticationProvider). Pages served from the store never call ThingsBoard,
so `confirm_sign_in` refreshes the session's token, and reads the user again, before every
action and whenever the last confirmation is older than ALARMDESK_SESSION_CHECK_SECONDS.
"""

import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from django.conf import settings
from django.middleware.csrf import rotate_token

from alarmdesk.livepoll import forget
from alarmdesk.thingsboard.client import ThingsBoardClient
from alarmdesk.thingsboard.errors import AuthenticationFailed, ThingsBoardError, TokenExpired

log = logging.getLogger(__name__)

SESSION_KEY = "thingsboard"
# While ThingsBoard cannot confirm a session, a read asks again after this many seconds.
CONFIRM_RETRY_SECONDS = 30
# Refresh this many seconds before `exp`, so a request never starts with a dying token.
REFRESH_MARGIN = 60


class SignInRequired(Exception):
    """The session's tokens can no longer be refreshed: the user must sign in again."""


class Authority:
    """What a ThingsBoard `authority` makes of someone: for the signed-in user, and for
    whoever the access rule reasons about without a session (an on-call duty)."""

    authority: str

    @property
    def is_tenant_admin(self):
        return self.authority == "TENANT_ADMIN"

    @property
    def is_customer_user(self):
        return self.authority == "CUSTOMER_USER"

    @property
    def is_sysadmin(self):
        return self.authority == "SYS_ADMIN"


@dataclass(frozen=True)
class SessionUser(Authority):
    id: str
    email: str
    name: str
    authority: str
    tenant_id: str
    customer_id: str | None

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


def _session_user(user):
    return asdict(
        SessionUser(
            id=user.id,
            email=user.email,
            name=user.display_name,
            authority=user.authority,
            tenant_id=user.tenant_id,
            customer_id=user.customer_id,
        )
    )


def store(request, pair, user):
    """Keep a fresh sign-in in a new session (the key and the CSRF token are cycled against
    fixation, as django.contrib.auth's login does)."""
    forget(request.session.session_key)
    request.session.cycle_key()
    rotate_token(request)
    request.session[SESSION_KEY] = {
        "token": pair.token,
        "refresh_token": pair.refresh_token,
        "expires_at": pair.access_expires_at.timestamp(),
        "confirmed_at": time.time(),
        "user": _session_user(user),
    }


def session_user(request):
    data = request.session.get(SESSION_KEY)
    return SessionUser(**data["user"]) if data else None


def _sign_out(request, error):
    forget(request.session.session_key)
    request.session.flush()
    return SignInRequired(str(error))


def _refresh(request):
    """A new token pair, and the user as ThingsBoard has them now.

    ThingsBoard cannot move a user to another tenant, authority or customer
    (UserDataValidator.validateUpdate), but the session follows whatever it answers: a
    change of customer narrows the store's pages at once (the access rule reads the
    session's user); another tenant, or a system administrator, is signed out."""
    data = request.session[SESSION_KEY]
    try:
        pair = new_client().refresh(data["refresh_token"])
        user = new_client(pair.token).current_user()
    except (AuthenticationFailed, TokenExpired) as error:
        raise _sign_out(request, error) from error
    if user.authority == "SYS_ADMIN" or user.tenant_id != data["user"]["tenant_id"]:
        raise _sign_out(request, f"{user.email} is now {user.authority} of {user.tenant_id}")
    data.update(
        token=pair.token,
        refresh_token=pair.refresh_token,
        expires_at=pair.access_expires_at.timestamp(),
        confirmed_at=time.time(),
        user=_session_user(user),
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


def confirm_sign_in(request):
    """Ask ThingsBoard whether the session's user may still sign in: before every action,
    and before a read once ALARMDESK_SESSION_CHECK_SECONDS have passed since the last time.

    Raises SignInRequired when ThingsBoard refuses (the session is flushed). When it cannot
    be reached the request goes on unconfirmed, and the next one asks again: the store's
    pages stay readable through an outage, and an action still needs ThingsBoard, which
    refuses a disabled or deleted user's tokens itself (DefaultTokenOutdatingService)."""
    data = request.session.get(SESSION_KEY)
    if data is None:
        raise SignInRequired("not signed in")
    age = time.time() - data.get("confirmed_at", 0)
    reading = request.method in ("GET", "HEAD")
    try:
        if reading and age < settings.ALARMDESK_SESSION_CHECK_SECONDS:
            current_token(request)
        else:
            _refresh(request)
    except ThingsBoardError:
        log.warning("could not confirm %s's session with ThingsBoard", data["user"]["email"])
        if reading:
            # Not asked again on every page while ThingsBoard is down or slow: the store's
            # pages stay fast, and the next try comes after CONFIRM_RETRY_SECONDS.
            retry_at = time.time() + CONFIRM_RETRY_SECONDS
            data["confirmed_at"] = retry_at - settings.ALARMDESK_SESSION_CHECK_SECONDS
            request.session.modified = True


def tb_call(request, fn):
    """fn(client) with the user's token; on "token expired" refresh once and retry once.

    A 401 that a refresh did not cure means ThingsBoard no longer takes this session's
    tokens (signed out, disabled, deleted): the user must sign in again."""
    try:
        return fn(new_client(current_token(request)))
    except TokenExpired:
        token = _refresh(request)
    except AuthenticationFailed as error:
        raise _sign_out(request, error) from error
    try:
        return fn(new_client(token))
    except (TokenExpired, AuthenticationFailed) as error:
        raise _sign_out(request, error) from error


def tb_calls(request, calls):
    """{name: fn(client)} made at once, each in a thread of its own with the user's token:
    {name: its result, or the ThingsBoardError it raised}. Calls told "token expired" are
    made again once after one refresh (in this thread: the session is not shared with the
    others); a 401 a refresh did not cure signs the user out, as tb_call does."""
    token = current_token(request)
    results = _at_once(calls, token)
    expired = {name: calls[name] for name, got in results.items() if isinstance(got, TokenExpired)}
    if any(isinstance(got, AuthenticationFailed) for got in results.values()):
        raise _sign_out(request, "ThingsBoard no longer takes this session's token")
    if expired:
        results |= _at_once(expired, _refresh(request))
        for got in results.values():
            if isinstance(got, TokenExpired | AuthenticationFailed):
                raise _sign_out(request, got) from got
    return results


def _at_once(calls, token):
    def call(fn):
        try:
            return fn(new_client(token))
        except ThingsBoardError as error:
            return error

    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        running = {name: pool.submit(call, fn) for name, fn in calls.items()}
        return {name: future.result() for name, future in running.items()}
