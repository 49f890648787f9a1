"""ThingsBoardClient: ThingsBoard's REST API as typed Python calls (thingsboard-api.md).

Every call goes through `_request()`: a timeout on each, ThingsBoard's error bodies mapped to
the classes of `errors.py`, and automatic retries only where they are safe.
"""

import logging
import random
import time
from urllib.parse import quote

import requests
import urllib3

from .errors import (
    AuthenticationFailed,
    BadRequest,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ThingsBoardError,
    TokenExpired,
    Unavailable,
)
from .types import (
    AlarmComment,
    AlarmInfo,
    Attribute,
    Customer,
    Entity,
    EntityInfo,
    Page,
    Relation,
    TimeSeries,
    TokenPair,
    User,
    UserEmailInfo,
)

log = logging.getLogger(__name__)

# Three tries in all, about 0.1-0.3 s then 0.2-0.6 s apart: long enough for a proxy to find
# a live upstream, short enough that a user waiting on a page does not notice.
ATTEMPTS = 3
BACKOFF_SECONDS = 0.2
# Answers worth repeating an idempotent GET for: a proxy without a live upstream, and the
# REST rate limit, whose bucket refills continuously (section 7.1).
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


class ThingsBoardClient:
    """A client for one ThingsBoard, signed in with `token` (a JWT) or `api_key`.

    Token refresh is the caller's job, not the client's: a call made with an expired or
    logged-out token raises TokenExpired, and the caller, who owns where tokens are kept
    (the user's session, the sync account), calls `refresh()` once, stores the new pair and
    repeats the call with `with_token()`; a second failure is final.

    Only GETs are retried (on connection errors, 429, 502, 503, 504); a POST or DELETE is
    sent exactly once, since ThingsBoard's alarm actions are not idempotent (section 4.5).
    """

    def __init__(
        self,
        base_url,
        *,
        timeout=(3.05, 10),
        token=None,
        api_key=None,
        session=None,
    ):
        if token and api_key:
            raise ValueError("give a token or an API key, not both")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token
        self.api_key = api_key
        self.session = session or requests.Session()

    def with_token(self, token):
        """This client for another user's token, sharing the connection pool.

        Credentials travel with each request, never on the shared Session.
        """
        return ThingsBoardClient(
            self.base_url, timeout=self.timeout, token=token, session=self.session
        )

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- authentication (section 2) ------------------------------------------------------

    def login(self, username, password) -> TokenPair:
        answer = self._request(
            "POST",
            "/api/auth/login",
            json={"username": username, "password": password},
            authenticated=False,
        )
        if isinstance(answer, dict) and answer.get("scope") and "refreshToken" not in answer:
            # A pre-verification token for two-factor authentication (section 2.2).
            raise AuthenticationFailed(
                "This account needs two-factor authentication, which AlarmDesk does not offer",
                status=200,
            )
        return TokenPair.from_json(answer)

    def refresh(self, refresh_token) -> TokenPair:
        """A new token pair; the refresh token changes too (section 2.4)."""
        answer = self._request(
            "POST", "/api/auth/token", json={"refreshToken": refresh_token}, authenticated=False
        )
        return TokenPair.from_json(answer)

    def logout(self) -> None:
        """Ends the token's session at ThingsBoard: its access and refresh tokens stop working."""
        self._request("POST", "/api/auth/logout")

    def current_user(self) -> User:
        return User.from_json(self._request("GET", "/api/auth/user"))

    # --- alarms (section 4) --------------------------------------------------------------

    def alarms(
        self,
        *,
        page,
        page_size,
        status_list=(),
        severity_list=(),
        type_list=(),
        assignee_id=None,
        start_time=None,
        end_time=None,
        text_search=None,
        sort_property="createdTime",
        sort_order="DESC",
    ) -> Page[AlarmInfo]:
        """The alarms the user may see (GET /api/v2/alarms, section 4.3).

        `start_time`/`end_time` (epoch ms, inclusive) filter on `createdTime`; `text_search`
        matches type, severity and status only. Always sorted: without `sortProperty`
        ThingsBoard orders by random UUID (section 7.2).
        """
        params = {
            "page": page,
            "pageSize": page_size,
            # requests repeats list values, as ThingsBoard's own client sends them.
            "statusList": list(status_list),
            "severityList": list(severity_list),
            "typeList": list(type_list),
            "assigneeId": assignee_id,
            "startTime": start_time,
            "endTime": end_time,
            "textSearch": text_search,
            "sortProperty": sort_property,
            "sortOrder": sort_order,
        }
        answer = self._request("GET", "/api/v2/alarms", params=params)
        return Page.from_json(answer, AlarmInfo.from_json)

    def alarm_info(self, alarm_id) -> AlarmInfo:
        # /api/alarm/{id} would give a plain Alarm, without originator names (section 9.9).
        return AlarmInfo.from_json(self._request("GET", f"/api/alarm/info/{_path(alarm_id)}"))

    def acknowledge(self, alarm_id) -> AlarmInfo:
        """Raises BadRequest with `already_done` when it was already acknowledged."""
        return AlarmInfo.from_json(self._request("POST", f"/api/alarm/{_path(alarm_id)}/ack"))

    def clear(self, alarm_id) -> AlarmInfo:
        """Raises BadRequest with `already_done` when it was already cleared."""
        return AlarmInfo.from_json(self._request("POST", f"/api/alarm/{_path(alarm_id)}/clear"))

    def assign(self, alarm_id, user_id) -> AlarmInfo:
        """Raises BadRequest with `already_done` when it was already assigned to that user."""
        path = f"/api/alarm/{_path(alarm_id)}/assign/{_path(user_id)}"
        return AlarmInfo.from_json(self._request("POST", path))

    def unassign(self, alarm_id) -> AlarmInfo:
        """Raises BadRequest with `already_done` when it had no assignee."""
        path = f"/api/alarm/{_path(alarm_id)}/assign"
        return AlarmInfo.from_json(self._request("DELETE", path))

    def raise_alarm(
        self,
        entity_type,
        entity_id,
        alarm_type,
        severity,
        *,
        details=None,
        customer_id=None,
        assignee_id=None,
    ) -> tuple[str, int]:
        """POST /api/alarm without an id (section 4.6): a new alarm, or, ThingsBoard's dedup,
        the active alarm of that type on that originator updated (the same id, its first
        createdTime). A customer user must name their own customer. Returns the alarm's id
        and createdTime (the answer is an Alarm without the originator's names: read it
        back with alarm_info)."""
        body = {
            "originator": {"entityType": entity_type, "id": str(entity_id)},
            "type": alarm_type,
            "severity": severity,
            "details": details,
        }
        if customer_id:
            body["customerId"] = {"entityType": "CUSTOMER", "id": str(customer_id)}
        if assignee_id:
            body["assigneeId"] = {"entityType": "USER", "id": str(assignee_id)}
        saved = self._request("POST", "/api/alarm", json=body)
        try:
            return str(saved["id"]["id"]), int(saved["createdTime"])
        except (KeyError, TypeError, ValueError):
            raise ProtocolError(f"saved alarm in an unexpected shape: {saved!r}") from None

    def delete_alarm(self, alarm_id) -> None:
        """DELETE /api/alarm/{id}: gone from ThingsBoard with its comments (answers `true`)."""
        self._request("DELETE", f"/api/alarm/{_path(alarm_id)}")

    def comments(self, alarm_id, *, page=0, page_size=100) -> Page[AlarmComment]:
        """Comments and SYSTEM entries, oldest first (the default order is by random id)."""
        params = {
            "page": page,
            "pageSize": page_size,
            "sortProperty": "createdTime",
            "sortOrder": "ASC",
        }
        answer = self._request("GET", f"/api/alarm/{_path(alarm_id)}/comment", params=params)
        return Page.from_json(answer, AlarmComment.from_json)

    def add_comment(self, alarm_id, text) -> AlarmComment:
        path = f"/api/alarm/{_path(alarm_id)}/comment"
        return AlarmComment.from_json(self._request("POST", path, json={"comment": {"text": text}}))

    def users_for_assign(
        self, alarm_id, *, page=0, page_size=100, text_search=None
    ) -> Page[UserEmailInfo]:
        """Who the alarm may be assigned to, by e-mail."""
        params = {
            "page": page,
            "pageSize": page_size,
            "textSearch": text_search,
            "sortProperty": "email",
            "sortOrder": "ASC",
        }
        answer = self._request("GET", f"/api/users/assign/{_path(alarm_id)}", params=params)
        return Page.from_json(answer, UserEmailInfo.from_json)

    def alarm_types(self, *, page=0, page_size=100, text_search=None) -> Page[str]:
        """The tenant's alarm types in alphabetical order; tenant-wide even for customer
        users (section 4.4)."""
        params = {"page": page, "pageSize": page_size, "textSearch": text_search}
        answer = self._request("GET", "/api/alarm/types", params=params)
        return Page.from_json(answer, _alarm_type)

    # --- devices (section 6.1) -----------------------------------------------------------

    def devices(self, *, page=0, page_size=100, customer_id=None, text_search=None) -> Page[Entity]:
        """The tenant's devices (tenant admins), or one customer's (`customer_id`), by name."""
        path = "/api/tenant/devices"
        if customer_id:
            path = f"/api/customer/{_path(customer_id)}/devices"
        params = {
            "page": page,
            "pageSize": page_size,
            "textSearch": text_search,
            "sortProperty": "name",
            "sortOrder": "ASC",
        }
        return Page.from_json(self._request("GET", path, params=params), Entity.from_json)

    def users(self, *, page=0, page_size=100) -> Page[User]:
        """GET /api/users: a tenant administrator's tenant's users, a customer user's own
        customer's (UserController.getUsers)."""
        params = {"page": page, "pageSize": page_size, "sortProperty": "email", "sortOrder": "ASC"}
        return Page.from_json(self._request("GET", "/api/users", params=params), User.from_json)

    def customers(self, *, page=0, page_size=100) -> Page[Customer]:
        """The tenant's customers, by title (tenant administrators only)."""
        params = {"page": page, "pageSize": page_size, "sortProperty": "title", "sortOrder": "ASC"}
        answer = self._request("GET", "/api/customers", params=params)
        return Page.from_json(answer, Customer.from_json)

    def device(self, device_id) -> Entity:
        return Entity.from_json(self._request("GET", f"/api/device/{_path(device_id)}"))

    def entity_info(self, entity_type, entity_id) -> EntityInfo:
        """GET /api/device/info/{id} or /api/asset/info/{id}: the entity with its owner's
        title, its profile, and for a device whether it is active."""
        kind = {"DEVICE": "device", "ASSET": "asset"}[entity_type]
        return EntityInfo.from_json(self._request("GET", f"/api/{kind}/info/{_path(entity_id)}"))

    def related(
        self, entity_type, entity_id, direction, *, relation_type="Contains", entity_types=()
    ) -> tuple[Relation, ...]:
        """Every relation of that type reached from the entity, however deep (POST
        /api/relations/info, an EntityRelationsQuery with maxLevel 0: no limit), walking
        FROM it (what it contains) or TO it (what contains it); `entity_types` narrows the
        far ends (none: any)."""
        query = {
            "parameters": {
                "rootId": str(entity_id),
                "rootType": entity_type,
                "direction": direction,
                "relationTypeGroup": "COMMON",
                "maxLevel": 0,
                "fetchLastLevelOnly": False,
            },
            "filters": [{"relationType": relation_type, "entityTypes": list(entity_types)}],
        }
        answer = self._request("POST", "/api/relations/info", json=query)
        if not isinstance(answer, list):
            raise ProtocolError(f"relations in an unexpected shape: {answer!r}")
        return tuple(Relation.from_json(r) for r in answer)

    def attributes(self, entity_type, entity_id, scope) -> tuple[Attribute, ...]:
        """The entity's attributes of one scope (CLIENT_SCOPE, SHARED_SCOPE, SERVER_SCOPE),
        by key; their values typed as ThingsBoard stored them."""
        path = f"{_entity_telemetry(entity_type, entity_id)}/values/attributes/{_path(scope)}"
        answer = self._request("GET", path)
        if not isinstance(answer, list):
            raise ProtocolError(f"attributes in an unexpected shape: {answer!r}")
        return tuple(sorted((Attribute.from_json(a) for a in answer), key=lambda a: a.key))

    def save_attributes(self, entity_type, entity_id, scope, values) -> None:
        """POST .../attributes/{scope} with {key: value}: SERVER_SCOPE or SHARED_SCOPE
        (CLIENT_SCOPE is the device's own: 400). ThingsBoard keeps the JSON types: a number
        as LONG or DOUBLE, a boolean, a string, an object or array as JSON."""
        path = f"{_entity_telemetry(entity_type, entity_id)}/attributes/{_path(scope)}"
        self._request("POST", path, json=values)

    def delete_attributes(self, entity_type, entity_id, scope, keys) -> None:
        """DELETE .../{scope}?keys=a,b: those keys of that scope gone (unknown ones ignored)."""
        path = f"{_entity_telemetry(entity_type, entity_id)}/{_path(scope)}"
        self._request("DELETE", path, params={"keys": ",".join(keys)})

    # --- telemetry (section 6.4) ---------------------------------------------------------

    def timeseries(
        self,
        entity_type,
        entity_id,
        keys,
        start_ts,
        end_ts,
        *,
        limit=100,
        agg=None,
        interval=None,
    ) -> TimeSeries:
        """Readings with `start_ts <= ts < end_ts` (epoch ms), oldest first.

        Without `agg`, at most `limit` readings per key: the newest, as ThingsBoard orders
        them newest first. With `agg` (MIN, MAX, AVG, SUM, COUNT), one value per `interval`
        milliseconds.
        """
        params = {
            "keys": ",".join(keys),
            "startTs": start_ts,
            "endTs": end_ts,
            "limit": limit,
            "agg": agg,
            "interval": interval,
            "useStrictDataTypes": "false",
        }
        # The classic path: /values/timeseries/history is only documented since 4.3.1.
        answer = self._request("GET", _telemetry_path(entity_type, entity_id), params=params)
        return TimeSeries.from_json(answer)

    def latest(self, entity_type, entity_id, keys=()) -> TimeSeries:
        """The latest reading of each key (of every key when none are given); a key never
        written has one point whose value is None."""
        params = {"keys": ",".join(keys) or None, "useStrictDataTypes": "false"}
        answer = self._request("GET", _telemetry_path(entity_type, entity_id), params=params)
        return TimeSeries.from_json(answer)

    # --- the one way out -----------------------------------------------------------------

    def _request(self, method, path, *, params=None, json=None, authenticated=True):
        """Send one API call and return its JSON (None for an empty body), or raise.

        The retry loop is ours rather than urllib3's Retry, which repeats any method,
        POST included, after a connection error (its connect count ignores allowed_methods).
        """
        headers = {"Accept": "application/json"}
        if authenticated and self.token:
            headers["X-Authorization"] = f"Bearer {self.token}"
        elif authenticated and self.api_key:
            headers["X-Authorization"] = f"ApiKey {self.api_key}"
        if params is not None:
            params = {name: value for name, value in params.items() if value is not None}
        url = self.base_url + path
        attempt = 1
        while True:
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=self.timeout,
                    # A redirect would turn a POST into a GET; ThingsBoard never sends one.
                    allow_redirects=False,
                )
            except requests.ConnectionError as error:
                failure = Unavailable(
                    f"ThingsBoard at {self.base_url} is unreachable: {error}",
                    delivered=not _never_sent(error),
                )
            except requests.Timeout:
                # Not retried: the user has already waited the whole read timeout once.
                raise Unavailable(
                    f"ThingsBoard at {self.base_url} did not answer {method} {path} in time"
                ) from None
            except requests.RequestException as error:
                raise Unavailable(f"{method} {path} failed: {error}") from None
            else:
                if response.status_code < 300:
                    return _json_body(response, method, path)
                failure = _error_from(response)
                if response.status_code not in TRANSIENT_STATUSES:
                    raise failure
            if method != "GET" or attempt == ATTEMPTS:
                raise failure
            delay = BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
            log.warning(
                "%s %s failed (%s); try %d of %d in %.2f s",
                method,
                path,
                failure,
                attempt + 1,
                ATTEMPTS,
                delay,
            )
            time.sleep(delay)
            attempt += 1


def _never_sent(error):
    """Whether a connection error happened before the request left: refused, or not
    connected in time (urllib3's NewConnectionError and ConnectTimeoutError), rather than
    dropped while ThingsBoard was reading or answering it."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0] if error.args else None, "reason", None)
    return isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    )


def _path(value):
    """An id as one path segment, so an odd value cannot reach another endpoint."""
    return quote(str(value), safe="")


def _entity_telemetry(entity_type, entity_id):
    return f"/api/plugins/telemetry/{_path(entity_type)}/{_path(entity_id)}"


def _telemetry_path(entity_type, entity_id):
    return f"{_entity_telemetry(entity_type, entity_id)}/values/timeseries"


def _alarm_type(row):
    """An EntitySubtype `{tenantId, entityType: "ALARM", type}` -> its type."""
    if not isinstance(row, dict) or not isinstance(row.get("type"), str):
        raise ProtocolError(f"alarm type in an unexpected shape: {row!r}")
    return row["type"]


def _json_body(response, method, path):
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(
            f"{method} {path} answered {response.status_code} with "
            f"{response.headers.get('Content-Type', 'no content type')}, not JSON",
            status=response.status_code,
        ) from None


# The class for each HTTP status ThingsBoard answers with (section 3.2); the error code
# only tells the two 401s apart.
_ERROR_BY_STATUS = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    429: RateLimited,
}
_TOKEN_EXPIRED = 11


def _error_from(response) -> ThingsBoardError:
    """ThingsBoard's `{status, message, errorCode}`, or the plain text of the telemetry
    endpoints and of proxies (section 6.4), as a typed error."""
    status = response.status_code
    code, message = None, None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        message = body.get("message")
        code = body.get("errorCode") if isinstance(body.get("errorCode"), int) else None
    elif response.text and "html" not in response.headers.get("Content-Type", ""):
        message = response.text.strip()[:500]
    message = message or f"HTTP {status} {response.reason or ''}".strip()
    if status == 401 and code == _TOKEN_EXPIRED:
        return TokenExpired(message, status=status, code=code)
    if status in _ERROR_BY_STATUS:
        return _ERROR_BY_STATUS[status](message, status=status, code=code)
    if status >= 500:
        return Unavailable(message, status=status, code=code)
    if 400 <= status < 500:
        return BadRequest(message, status=status, code=code)
    return ProtocolError(f"unexpected HTTP {status}: {message}", status=status, code=code)
