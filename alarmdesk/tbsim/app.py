"""The simulator's WSGI application: ThingsBoard's API under /api, its controls under /sim."""

import logging
import random
import threading
import time
from dataclasses import asdict, dataclass

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request, Response

from . import control
from .auth import auth_failed
from .errors import GENERAL, ITEM_NOT_FOUND, TOO_MANY_REQUESTS, PlainTextError, TbError, denied
from .generator import Generator
from .http import Call, text_response
from .routes import ANYONE, build_map
from .scenarios import build_scenario

log = logging.getLogger("alarmdesk.tbsim")


class Outage(ConnectionAbortedError):
    """Raised to drop the connection without an answer, as a dead ThingsBoard would."""


@dataclass
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 500
    rate_limited: bool = False
    outage: bool = False
    # A ThingsBoard that carries out a POST or DELETE at once but answers this much later:
    # the caller's read timeout passes while the change is already made.
    write_answer_delay_ms: int = 0

    def update(self, values):
        for name, value in values.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault {name!r}")
            setattr(self, name, type(getattr(self, name))(value))


class Stats:
    """Requests and answers per route, so benchmarks can measure the load on ThingsBoard."""

    def __init__(self):
        self._lock = threading.Lock()
        self._routes = {}

    def record(self, route_key, status):
        with self._lock:
            entry = self._routes.setdefault(route_key, {"count": 0, "statuses": {}})
            entry["count"] += 1
            entry["statuses"][str(status)] = entry["statuses"].get(str(status), 0) + 1

    def snapshot(self):
        with self._lock:
            routes = {
                k: {"count": v["count"], "statuses": dict(v["statuses"])}
                for k, v in self._routes.items()
            }
        return {"total": sum(r["count"] for r in routes.values()), "routes": routes}

    def reset(self):
        with self._lock:
            self._routes.clear()


class RateLimit:
    """A greedy token bucket per tenant, like the tenant profile's REST limits (section 7.1)."""

    def __init__(self, spec):
        self.limits = [tuple(int(x) for x in part.split(":")) for part in spec.split(",")]
        self._buckets = {}
        self._lock = threading.Lock()

    def allow(self, key):
        now = time.monotonic()
        with self._lock:
            buckets = self._buckets.setdefault(key, [[c, now] for c, _ in self.limits])
            for bucket, (capacity, seconds) in zip(buckets, self.limits, strict=True):
                tokens, last = bucket
                bucket[0] = min(capacity, tokens + (now - last) * capacity / seconds)
                bucket[1] = now
            if any(bucket[0] < 1 for bucket in buckets):
                return False
            for bucket in buckets:
                bucket[0] -= 1
            return True


@dataclass(frozen=True)
class Options:
    scenario: str = "demo"
    token_ttl: int = 9000
    refresh_ttl: int = 604800
    rest_limit: str | None = None
    alarms: int = 100_000
    active: int = 10_000
    seed: int = 42


class Simulator:
    def __init__(self, options=None):
        self.options = options or Options()
        self.url_map = build_map()
        self.stats = Stats()
        self.rate_limit = RateLimit(self.options.rest_limit) if self.options.rest_limit else None
        self.state = None
        self.generator = Generator(self, seed=self.options.seed)
        self.reset()

    def generator_step(self):
        return self.generator.step()

    def reset(self):
        self.state = build_scenario(self.options)
        self.clear_faults()
        self.stats.reset()

    def clear_faults(self):
        self.faults = Faults()

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path == "/sim" or request.path.startswith("/sim/"):
            response = control.dispatch(self, request)
        else:
            response = self.handle_api(request)
        return response(environ, start_response)

    def handle_api(self, request):
        route_key = f"{request.method} (unmatched)"
        try:
            adapter = self.url_map.bind_to_environ(request.environ)
            try:
                rule, args = adapter.match(return_rule=True)
            except (NotFound, MethodNotAllowed) as error:
                self.inject_faults()
                response = self.no_route(request, error)
            else:
                # Counted under the real route even when a fault answers for it.
                route_key = f"{request.method} {rule.rule}"
                self.inject_faults()
                handler, authorities = rule.endpoint
                response = handler(self.authorize(request, authorities), **args)
                self.delay_write_answer(request)
        except TbError as error:
            response = Response(error.body(), status=error.status, content_type="application/json")
        except PlainTextError as error:
            response = text_response(error.message, error.status)
        except Outage:
            raise
        except Exception:
            log.exception("simulator error on %s %s", request.method, request.path)
            response = Response(
                TbError(GENERAL, "Internal server error").body(),
                status=500,
                content_type="application/json",
            )
        self.stats.record(route_key, response.status_code)
        return response

    def inject_faults(self):
        faults = self.faults
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if faults.outage:
            raise Outage("simulated outage")
        if faults.error_rate and random.random() < faults.error_rate:
            status = faults.error_status
            if status == 500:
                raise TbError(GENERAL, "Simulated failure")
            if status == 429:
                raise TbError(TOO_MANY_REQUESTS, "Too many requests for current tenant!")
            # What a reverse proxy answers for a dead ThingsBoard: not ThingsBoard's JSON.
            raise PlainTextError(status, HTTP_STATUS_CODES.get(status, "Error"))

    def delay_write_answer(self, request):
        if self.faults.write_answer_delay_ms and request.method in ("POST", "DELETE"):
            time.sleep(self.faults.write_answer_delay_ms / 1000)

    def authorize(self, request, authorities):
        """Authenticate (401), apply the REST rate limit (429), then @PreAuthorize (403)."""
        state = self.state
        call = Call(request, state)
        if authorities is ANYONE:
            return call
        call.claims, call.user = self.authenticate(request)
        if self.faults.rate_limited or (
            self.rate_limit
            and call.user.authority != "SYS_ADMIN"
            and not self.rate_limit.allow(call.user.tenant_id)
        ):
            raise TbError(TOO_MANY_REQUESTS, "Too many requests for current tenant!")
        if call.user.authority not in authorities:
            raise denied()
        return call

    def authenticate(self, request):
        header = request.headers.get("X-Authorization") or request.headers.get("Authorization")
        if not header:
            raise auth_failed()
        state = self.state
        if header.startswith("ApiKey "):
            user = state.users.get(state.api_keys.get(header[7:]))
            if user is None or not user.enabled:
                raise auth_failed()
            return {}, user
        if not header.startswith("Bearer "):
            raise auth_failed()
        claims = state.tokens.check_access(header[7:])
        user = state.users.get(claims.get("userId"))
        if user is None:
            raise auth_failed("Invalid username or password")
        return claims, user

    @staticmethod
    def no_route(request, error):
        """UNVERIFIED: Spring's answers for an unmapped path or method, in ThingsBoard's shape."""
        if isinstance(error, MethodNotAllowed):
            answer = TbError(GENERAL, f"Request method '{request.method}' is not supported", 405)
        elif not (request.headers.get("X-Authorization") or request.headers.get("Authorization")):
            # Spring Security guards /api/**: an unauthenticated caller learns nothing.
            answer = auth_failed()
        else:
            answer = TbError(ITEM_NOT_FOUND, f"No static resource {request.path.lstrip('/')}.")
        return Response(answer.body(), status=answer.status, content_type="application/json")

    def faults_json(self):
        return asdict(self.faults)
