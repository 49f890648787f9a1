"""Customers, users, devices and assets (CustomerController, UserController,
DeviceController, AssetController; sections 5.2 and 6.1-6.3)."""

from .errors import ITEM_NOT_FOUND, TbError
from .http import json_response, page_response, text_response
from .model import TENANT_ADMIN, User
from .routes import ALL_USERS, TENANT_ONLY, route
from .state import parse_uuid

ENTITY_SORT_KEYS = {
    "createdTime": lambda e: e.created_time,
    "name": lambda e: e.name,
    "label": lambda e: e.label or "",
    "type": lambda e: e.type,
    "deviceProfileName": lambda e: e.type,
    "assetProfileName": lambda e: e.type,
}


def _sorted(rows, page_link, keys):
    rows = sorted(rows, key=lambda r: r.id)
    key = keys.get(page_link.sort_property)
    if key is not None:
        rows.sort(key=key, reverse=page_link.sort_desc)
    return rows


# --- customers ---------------------------------------------------------------------------


@route("/api/customer/<customer_id>", "GET")
def customer(call, customer_id):
    with call.state.lock:
        return json_response(call.state.check_entity(call.user, "CUSTOMER", customer_id).to_json())


@route("/api/customer/<customer_id>/shortInfo", "GET")
def customer_short_info(call, customer_id):
    with call.state.lock:
        found = call.state.check_entity(call.user, "CUSTOMER", customer_id)
    return json_response({"title": found.title, "isPublic": False})


@route("/api/customer/<customer_id>/title", "GET")
def customer_title(call, customer_id):
    with call.state.lock:
        found = call.state.check_entity(call.user, "CUSTOMER", customer_id)
    # `produces = "application/text"` (section 6.3), not text/plain: the official client
    # cannot parse it. The charset is Spring Boot's UTF-8 default (UNVERIFIED).
    return text_response(found.title, 200, "application/text;charset=UTF-8")


@route("/api/customers", "GET", TENANT_ONLY)
def customers(call):
    page_link = call.page_link()
    with call.state.lock:
        rows = [c for c in call.state.customers.values() if c.tenant_id == call.user.tenant_id]
    if page_link.text_search:
        rows = [c for c in rows if page_link.text_search.lower() in c.title.lower()]
    keys = {
        "createdTime": lambda c: c.created_time,
        "title": lambda c: c.title,
        "email": lambda c: c.email,
        "country": lambda c: c.country,
        "city": lambda c: c.city,
    }
    return page_response(_sorted(rows, page_link, keys), page_link, lambda c: c.to_json())


# --- users -------------------------------------------------------------------------------

USER_SORT_KEYS = {
    "createdTime": lambda u: u.created_time,
    "firstName": lambda u: u.first_name or "",
    "lastName": lambda u: u.last_name or "",
    "email": lambda u: u.email,
}


def user_page(page_link, rows, to_json=User.to_json):
    """A page of users: textSearch over email and names, USER_SORT_KEYS (UserController)."""
    if page_link.text_search:
        needle = page_link.text_search.lower()
        rows = [
            u
            for u in rows
            if any(needle in (v or "").lower() for v in (u.email, u.first_name, u.last_name))
        ]
    return page_response(_sorted(rows, page_link, USER_SORT_KEYS), page_link, to_json)


@route("/api/user/<user_id>", "GET", ALL_USERS)
def user(call, user_id):
    with call.state.lock:
        return json_response(call.state.check_user(call.user, user_id).to_json())


@route("/api/users", "GET")
def users(call):
    me = call.user
    with call.state.lock:
        rows = [
            u
            for u in call.state.users.values()
            if u.tenant_id == me.tenant_id
            and (me.authority == TENANT_ADMIN or u.customer_id == me.customer_id)
        ]
    return user_page(call.page_link(), rows)


@route("/api/customer/<customer_id>/users", "GET", TENANT_ONLY)
def customer_users(call, customer_id):
    with call.state.lock:
        found = call.state.check_entity(call.user, "CUSTOMER", customer_id)
        rows = [u for u in call.state.users.values() if u.customer_id == found.id]
    return user_page(call.page_link(), rows)


# --- devices and assets ------------------------------------------------------------------


def _entity_page(call, entity_type, customer_id=None, infos=False):
    page_link = call.page_link()
    state, me = call.state, call.user
    profile_param = "deviceProfileId" if entity_type == "DEVICE" else "assetProfileId"
    with state.lock:
        if customer_id is not None:
            customer_id = state.check_entity(me, "CUSTOMER", customer_id).id
        rows = [
            e
            for e in state.devices.values()
            if e.entity_type == entity_type
            and e.tenant_id == me.tenant_id
            and (customer_id is None or e.customer_id == customer_id)
        ]
        kind = call.param("type")
        profile = call.param(profile_param) if infos else None
        if kind:
            # `type` takes precedence over the profile id (section 6.1).
            rows = [e for e in rows if e.type == kind]
        elif profile:
            rows = [e for e in rows if e.profile_id == parse_uuid(profile)]
        active = call.param("active") if infos and entity_type == "DEVICE" else None
        if active is not None:
            rows = [e for e in rows if state.device_active(e) == (active.lower() == "true")]
        if page_link.text_search:
            rows = [e for e in rows if page_link.text_search.lower() in e.name.lower()]
        keys = dict(ENTITY_SORT_KEYS, customerTitle=lambda e: state.customer_title(e))
        rows = _sorted(rows, page_link, keys)
        to_json = (lambda e: state.entity_info(e)) if infos else (lambda e: e.to_json())
        return page_response(rows, page_link, to_json)


def _by_id(call, entity_type, entity_id, infos=False):
    state = call.state
    with state.lock:
        # findDeviceById is tenant-scoped (404 for another tenant's device); the info
        # lookups and assets ignore the tenant and answer 403 (section 3.3).
        tenant_scoped = entity_type == "DEVICE" and not infos
        found = state.check_entity(
            call.user, entity_type, entity_id, tenant_scoped_lookup=tenant_scoped
        )
        return json_response(state.entity_info(found) if infos else found.to_json())


def _by_ids(call, entity_type, param):
    state, me = call.state, call.user
    ids = [parse_uuid(i) for i in call.list_param(param)]
    with state.lock:
        # Silently filtered to what the caller may see (section 6.1).
        found = [
            state.devices[i]
            for i in ids
            if i in state.devices
            and state.devices[i].entity_type == entity_type
            and state.may_read(me, state.devices[i])
        ]
        return json_response([e.to_json() for e in found])


def _by_name(call, entity_type, param):
    name = call.param(param)
    with call.state.lock:
        for e in call.state.devices.values():
            if (
                e.entity_type == entity_type
                and e.tenant_id == call.user.tenant_id
                and e.name == name
            ):
                return json_response(e.to_json())
    label = "Device" if entity_type == "DEVICE" else "Asset"
    raise TbError(
        ITEM_NOT_FOUND, f"Requested item wasn't found! {label} with name {name} not found"
    )


def _register(entity_type, plural):
    """The same eight endpoints for devices and for assets (DeviceController, AssetController)."""
    single = plural[:-1]
    infos = f"{single}Infos"

    @route(f"/api/tenant/{plural}", "GET", TENANT_ONLY)
    def tenant_list(call):
        return _entity_page(call, entity_type)

    @route(f"/api/tenant/{infos}", "GET", TENANT_ONLY)
    def tenant_infos(call):
        return _entity_page(call, entity_type, infos=True)

    @route(f"/api/customer/<customer_id>/{plural}", "GET")
    def customer_list(call, customer_id):
        return _entity_page(call, entity_type, customer_id)

    @route(f"/api/customer/<customer_id>/{infos}", "GET")
    def customer_infos(call, customer_id):
        return _entity_page(call, entity_type, customer_id, infos=True)

    @route(f"/api/{single}/<entity_id>", "GET")
    def by_id(call, entity_id):
        return _by_id(call, entity_type, entity_id)

    @route(f"/api/{single}/info/<entity_id>", "GET")
    def info_by_id(call, entity_id):
        return _by_id(call, entity_type, entity_id, infos=True)

    @route(f"/api/{plural}", "GET")
    def by_ids(call):
        return _by_ids(call, entity_type, f"{single}Ids")

    @route(f"/api/tenant/{single}", "GET", TENANT_ONLY)
    def by_name(call):
        return _by_name(call, entity_type, f"{single}Name")


_register("DEVICE", "devices")
_register("ASSET", "assets")
