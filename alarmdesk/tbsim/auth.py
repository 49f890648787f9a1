"""ThingsBoard's JWTs: HS512 token pairs, refresh and session invalidation (section 2)."""

import secrets
import threading
import time
import uuid

import jwt

from .errors import AUTHENTICATION, JWT_TOKEN_EXPIRED, TbError

ISSUER = "thingsboard.io"


def auth_failed(message="Authentication failed"):
    return TbError(AUTHENTICATION, message)


def token_expired():
    return TbError(JWT_TOKEN_EXPIRED, "Token has expired")


class Tokens:
    """Issues and checks token pairs; remembers which sessions were logged out."""

    def __init__(self, token_ttl=9000, refresh_ttl=604800):
        self.token_ttl = token_ttl
        self.refresh_ttl = refresh_ttl
        self._key = secrets.token_bytes(64)
        self._outdated_sessions = set()
        self._outdated_users = {}  # user id -> when its credentials were invalidated (s)
        self._lock = threading.Lock()

    def issue_pair(self, user):
        """A new pair with a new sessionId, on login and on every refresh (JTF createTokenPair)."""
        now = int(time.time())
        session_id = str(uuid.uuid4())
        common = {"sub": user.email, "userId": user.id, "sessionId": session_id, "iss": ISSUER}
        access = {
            **common,
            "scopes": [user.authority],
            "enabled": user.enabled,
            "isPublic": False,
            "tenantId": user.tenant_id,
            "customerId": user.customer_id,
            "iat": now,
            "exp": now + self.token_ttl,
        }
        # jjwt drops null claims (section 2.3).
        if user.first_name is not None:
            access["firstName"] = user.first_name
        if user.last_name is not None:
            access["lastName"] = user.last_name
        refresh = {
            **common,
            "scopes": ["REFRESH_TOKEN"],
            "isPublic": False,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + self.refresh_ttl,
        }
        return {"token": self._sign(access), "refreshToken": self._sign(refresh)}

    def _sign(self, claims):
        return jwt.encode(claims, self._key, algorithm="HS512")

    def _parse(self, token):
        try:
            return jwt.decode(token, self._key, algorithms=["HS512"], options={"require": ["exp"]})
        except (jwt.ExpiredSignatureError, jwt.InvalidSignatureError):
            # parseTokenClaims catches SignatureException and ExpiredJwtException together,
            # so a bad signature is reported as an expired token (section 2.7).
            raise token_expired() from None
        except jwt.InvalidTokenError:
            raise auth_failed("Invalid username or password") from None

    def check_access(self, token):
        """The claims of a valid access token; 401 code 11 when expired or logged out."""
        claims = self._parse(token)
        if claims.get("scopes") == ["REFRESH_TOKEN"]:
            # UNVERIFIED: a refresh token presented as an access token carries no authority
            # ThingsBoard accepts; we answer as for a malformed token.
            raise auth_failed("Invalid username or password")
        if self.is_outdated(claims):
            raise token_expired()
        return claims

    def check_refresh(self, token):
        """The claims of a well-formed refresh token (section 2.4). Whether it is outdated
        is asked after the user is re-loaded, as RefreshTokenAuthenticationProvider does."""
        if not token:
            raise auth_failed()
        claims = self._parse(token)
        if claims.get("scopes") != ["REFRESH_TOKEN"]:
            raise auth_failed("Invalid username or password")
        return claims

    def is_outdated(self, claims):
        """DefaultTokenOutdatingService.isOutdated: the token's session was logged out, or
        its user's credentials were invalidated after the token was issued. ThingsBoard
        compares whole seconds (`toSeconds(iat) < toSeconds(outdatedAt)`), so a token
        issued in the very second of the invalidation stays valid."""
        with self._lock:
            if claims.get("sessionId") in self._outdated_sessions:
                return True
            invalidated = self._outdated_users.get(claims.get("userId"))
            return invalidated is not None and int(claims.get("iat", 0)) < int(invalidated)

    def logout(self, claims):
        """UserSessionInvalidationEvent: both tokens of that session stop working (section 2.6)."""
        with self._lock:
            self._outdated_sessions.add(claims.get("sessionId"))

    def invalidate_user(self, user_id):
        """UserCredentialsInvalidationEvent(userId), published when a user is disabled
        (UserController.setUserCredentialsEnabled) or deleted (UserServiceImpl.deleteUser):
        every token issued to the user before now is outdated."""
        with self._lock:
            self._outdated_users[user_id] = time.time()
