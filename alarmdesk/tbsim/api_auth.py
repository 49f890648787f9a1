"""POST /api/auth/login, /api/auth/token, /api/auth/logout and GET /api/auth/user (section 2),
and the two UserController endpoints that end a user's sign-ins: disabling and deleting."""

from .auth import auth_failed
from .errors import bad_request
from .http import empty_response, json_response
from .routes import ADMINS, ALL_USERS, ANYONE, route

# What Spring's StringToBooleanConverter accepts for a boolean request parameter.
SPRING_BOOLEANS = dict.fromkeys(("true", "on", "yes", "1"), True) | dict.fromkeys(
    ("false", "off", "no", "0"), False
)


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
    # The user is re-loaded on refresh (RefreshTokenAuthenticationProvider.authenticate,
    # AbstractAuthenticationProvider.authenticateByUserId), before the outdated check.
    user = call.state.users.get(claims.get("userId"))
    if user is None:
        raise auth_failed("Invalid username or password")  # UsernameNotFoundException
    if not user.enabled:
        raise auth_failed("User account is not active")  # DisabledException
    if call.state.tokens.is_outdated(claims):
        # CredentialsExpiredException branch: code 10, not 11 (section 2.4).
        raise auth_failed("Token is outdated")
    return json_response(call.state.tokens.issue_pair(user))


@route("/api/auth/user", "GET", ALL_USERS)
def current_user(call):
    return json_response(call.user.to_json())


@route("/api/auth/logout", "POST", ALL_USERS)
def logout(call):
    call.state.tokens.logout(call.claims)
    return empty_response()


@route("/api/user/<user_id>/userCredentialsEnabled", "POST", ADMINS)
def set_user_credentials_enabled(call, user_id):
    """UserController.setUserCredentialsEnabled: `userCredentialsEnabled` defaults to true."""
    value = call.args.get("userCredentialsEnabled", "true")
    enabled = SPRING_BOOLEANS.get(value.lower())
    if enabled is None:
        # UNVERIFIED: the wording of Spring's failed conversion (StringToBooleanConverter).
        raise bad_request(
            "Failed to convert value of type 'java.lang.String' to required type 'boolean'; "
            f"Invalid boolean value '{value}'"
        )
    call.state.set_user_credentials_enabled(call.user, user_id, enabled)
    return empty_response()


@route("/api/user/<user_id>", "DELETE", ADMINS)
def delete_user(call, user_id):
    call.state.delete_user(call.user, user_id)
    return empty_response()
