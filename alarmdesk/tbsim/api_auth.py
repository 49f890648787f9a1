"""POST /api/auth/login, /api/auth/token, /api/auth/logout and GET /api/auth/user (section 2)."""

from .auth import auth_failed
from .http import empty_response, json_response
from .routes import ALL_USERS, ANYONE, route


@route("/api/auth/login", "POST", ANYONE)
def login(call):
    try:
        body = call.json_body()
    except Exception:
        # RestLoginProcessingFilter: an unreadable payload is an authentication failure.
        raise auth_failed() from None
    if not isinstance(body, dict):
        raise auth_failed()
    username, password = body.get("username"), body.get("password")
    if not username or not password:
        raise auth_failed()
    user = call.state.authenticate(username, password)
    return json_response(call.state.tokens.issue_pair(user))


@route("/api/auth/token", "POST", ANYONE)
def refresh_token(call):
    try:
        body = call.json_body()
    except Exception:
        raise auth_failed() from None
    token = body.get("refreshToken") if isinstance(body, dict) else None
    claims = call.state.tokens.check_refresh(token)
    user = call.state.users.get(claims.get("userId"))
    if user is None:
        raise auth_failed("Invalid username or password")
    if not user.enabled:
        # The user is re-loaded on refresh (RefreshTokenAuthenticationProvider).
        raise auth_failed("User account is not active")
    return json_response(call.state.tokens.issue_pair(user))


@route("/api/auth/user", "GET", ALL_USERS)
def current_user(call):
    return json_response(call.user.to_json())


@route("/api/auth/logout", "POST", ALL_USERS)
def logout(call):
    call.state.tokens.logout(call.claims)
    return empty_response()
