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
        """The claims of a valid refresh token (section 2.4)."""
        if not token:
            raise auth_failed()
        claims = self._parse(token)
        if claims.get("scopes") != ["REFRESH_TOKEN"]:
            raise auth_failed("Invalid username or password")
        if self.is_outdated(claims):
            # CredentialsExpiredException branch: code 10, not 11 (section 2.4).
            raise auth_failed("Token is outdated")
        return claims

    def is_outdated(self, claims):
        with self._lock:
            return claims.get("sessionId") in self._outdated_sessions

    def logout(self, claims):
        """UserSessionInvalidationEvent: both tokens of that session stop working (section 2.6)."""
        with self._lock:
            self._outdated_sessions.add(claims.get("sessionId"))
