"""A registry of API routes with the authorities ThingsBoard's @PreAuthorize demands."""

from werkzeug.routing import Map, Rule

from .model import CUSTOMER_USER, SYS_ADMIN, TENANT_ADMIN

ANYONE = None  # no authentication: login, refresh (SEC)
ALL_USERS = frozenset({SYS_ADMIN, TENANT_ADMIN, CUSTOMER_USER})
TENANT_OR_CUSTOMER = frozenset({TENANT_ADMIN, CUSTOMER_USER})
TENANT_ONLY = frozenset({TENANT_ADMIN})
SYS_ONLY = frozenset({SYS_ADMIN})
ADMINS = frozenset({SYS_ADMIN, TENANT_ADMIN})

_rules = []


def route(path, method, authorities=TENANT_OR_CUSTOMER):
    """Register a handler `handler(call, **path_args) -> Response`."""

    def register(handler):
        _rules.append(Rule(path, methods=[method], endpoint=(handler, authorities)))
        return handler

    return register


def build_map():
    # Importing the handler modules fills the registry.
    from . import api_alarms, api_auth, api_entities, api_relations, api_telemetry  # noqa: F401

    return Map([rule.empty() for rule in _rules], strict_slashes=False, merge_slashes=False)
