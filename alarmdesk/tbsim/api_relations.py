"""Entity relations, read only (EntityRelationController; BaseRelationService).

Every read first checks that the caller may READ the entity it starts from (checkEntityId:
404 when missing, 403 when not permitted), then drops each relation whose either end the
caller may not READ (filterRelationsByReadPermission, in every list and query since 3.4).
"""

from .api_telemetry import ENTITY_TYPES
from .errors import GENERAL, ITEM_NOT_FOUND, TbError, bad_request
from .http import json_response
from .relations import FROM, TO, matches
from .routes import ALL_USERS, route
from .state import ENTITY_TYPE_ENUM, parse_uuid

TYPE_GROUPS = (
    "COMMON",
    "DASHBOARD",
    "RULE_CHAIN",
    "RULE_NODE",
    "EDGE",
    "EDGE_AUTO_ASSIGN_RULE_CHAIN",
)
NOT_FOUND = "Requested item wasn't found!"  # BaseController.checkNotNull
# The mappings of GET /api/relations, in the controller's order, by their `params`.
PARAM_FORMS = (
    ("fromId", "fromType"),
    ("fromId", "fromType", "relationType"),
    ("toId", "toType"),
    ("toId", "toType", "relationType"),
)


def _entity_id(entity_type, entity_id):
    """EntityIdFactory.getByTypeAndId: the type's enum first, then the UUID (400 each)."""
    if entity_type not in ENTITY_TYPES:
        raise bad_request(f"No enum constant {ENTITY_TYPE_ENUM}.{entity_type}")
    return entity_type, parse_uuid(entity_id)


def _check(call, entity):
    """checkEntityId(entityId, READ). findDeviceById is tenant-scoped (another tenant's
    device is not found); the other lookups are not (section 3.3)."""
    entity_type, entity_id = entity
    call.state.check_entity(
        call.user, entity_type, entity_id, tenant_scoped_lookup=entity_type == "DEVICE"
    )


def _readable(call, relation):
    for end in (relation.to, relation.from_):
        try:
            _check(call, end)
        except TbError:
            return False
    return True


def _type_group(value):
    """parseRelationTypeGroup: blank or unknown groups fall back to COMMON, silently."""
    return value if value in TYPE_GROUPS else "COMMON"


def _name(state, entity):
    """EntityService.fetchEntityName, "N/A" when the entity is gone."""
    entity_type, entity_id = entity
    if entity_type in ("DEVICE", "ASSET") and entity_id in state.devices:
        return state.devices[entity_id].name
    if entity_type == "CUSTOMER" and entity_id in state.customers:
        return state.customers[entity_id].title
    if entity_type == "USER" and entity_id in state.users:
        return state.users[entity_id].email
    return "N/A"


def _answer(call, relations, direction=None):
    """The relations the caller may read; as EntityRelationInfo, naming the far end of
    `direction` (FROM: the "to" entities), when `direction` is given."""
    state = call.state
    rows = [r for r in relations if _readable(call, r)]
    if direction is None:
        return json_response([r.to_json() for r in rows])
    return json_response(
        [
            r.info_json(None, _name(state, r.to))
            if direction == FROM
            else r.info_json(_name(state, r.from_), None)
            for r in rows
        ]
    )


def _list(call, direction, entity_type, entity_id, relation_type=None, infos=False):
    entity = _entity_id(entity_type, entity_id)
    state = call.state
    with state.lock:
        _check(call, entity)
        group = _type_group(call.param("relationTypeGroup"))
        step = state.relations.by_from if direction == FROM else state.relations.by_to
        return _answer(call, step(entity, group, relation_type), direction if infos else None)


# --- the documented path forms (the ones tb-ce-client calls) -------------------------------


@route("/api/relations/from/<from_type>/<from_id>", "GET", ALL_USERS)
def relations_from(call, from_type, from_id):
    return _list(call, FROM, from_type, from_id)


@route("/api/relations/from/<from_type>/<from_id>/<relation_type>", "GET", ALL_USERS)
def relations_from_by_type(call, from_type, from_id, relation_type):
    return _list(call, FROM, from_type, from_id, relation_type)


@route("/api/relations/to/<to_type>/<to_id>", "GET", ALL_USERS)
def relations_to(call, to_type, to_id):
    return _list(call, TO, to_type, to_id)


@route("/api/relations/to/<to_type>/<to_id>/<relation_type>", "GET", ALL_USERS)
def relations_to_by_type(call, to_type, to_id, relation_type):
    return _list(call, TO, to_type, to_id, relation_type)


@route("/api/relations/info/from/<from_type>/<from_id>", "GET", ALL_USERS)
def relation_infos_from(call, from_type, from_id):
    return _list(call, FROM, from_type, from_id, infos=True)


@route("/api/relations/info/to/<to_type>/<to_id>", "GET", ALL_USERS)
def relation_infos_to(call, to_type, to_id):
    return _list(call, TO, to_type, to_id, infos=True)


# --- the hidden query-parameter forms -------------------------------------------------------


def _required(call, name):
    """checkParameter: present but blank is a 400."""
    value = call.args.get(name, "")
    if not value.strip():
        raise bad_request(f"Parameter '{name}' can't be empty!")
    return value


def _param_form(call, forms):
    """Spring's choice among the mappings by their `params` conditions. UNVERIFIED: neither
    end given is Spring's UnsatisfiedServletRequestParameterException, which
    ThingsboardErrorResponseHandler.handleExceptionInternal answers as 400 code 31; both
    ends given match two mappings equally well, an IllegalStateException (500, code 2)."""
    present = [form for form in forms if all(p in call.args for p in form)]
    ends = {form[0] for form in present}
    if not ends:
        conditions = " OR ".join(f'"{", ".join(form)}"' for form in forms)
        given = ", ".join(f"{k}={{{','.join(call.args.getlist(k))}}}" for k in call.args)
        raise bad_request(
            f"Parameter conditions {conditions} not met for actual request parameters: {given}"
        )
    if len(ends) > 1:
        raise TbError(GENERAL, f"Ambiguous handler methods mapped for '{call.request.path}'")
    return FROM if ends == {"fromId"} else TO


@route("/api/relations", "GET", ALL_USERS)
def relations_by_params(call):
    direction = _param_form(call, PARAM_FORMS)
    end = "from" if direction == FROM else "to"
    entity_id, entity_type = _required(call, f"{end}Id"), _required(call, f"{end}Type")
    relation_type = None
    if "relationType" in call.args:
        relation_type = _required(call, "relationType")
    return _list(call, direction, entity_type, entity_id, relation_type)


@route("/api/relations/info", "GET", ALL_USERS)
def relation_infos_by_params(call):
    direction = _param_form(call, (("fromId", "fromType"), ("toId", "toType")))
    end = "from" if direction == FROM else "to"
    entity_id, entity_type = _required(call, f"{end}Id"), _required(call, f"{end}Type")
    return _list(call, direction, entity_type, entity_id, infos=True)


@route("/api/relation", "GET", ALL_USERS)
def relation(call):
    """getRelation: both ends must be readable; a missing relation is checkNotNull's 404."""
    for name in ("fromId", "fromType", "relationType", "toId", "toType"):
        if name not in call.args:
            # UNVERIFIED: a missing @RequestParam (MissingServletRequestParameterException)
            # is answered by handleExceptionInternal as 400 code 31.
            raise bad_request(
                f"Required request parameter '{name}' for method parameter type String "
                "is not present"
            )
    from_id, from_type = _required(call, "fromId"), _required(call, "fromType")
    to_id, to_type = _required(call, "toId"), _required(call, "toType")
    from_, to = _entity_id(from_type, from_id), _entity_id(to_type, to_id)
    state = call.state
    with state.lock:
        _check(call, from_)
        _check(call, to)
        group = _type_group(call.param("relationTypeGroup"))
        found = state.relations.get(from_, to, call.args["relationType"], group)
        if found is None:
            raise TbError(ITEM_NOT_FOUND, NOT_FOUND)
        return json_response(found.to_json())


# --- the query (EntityRelationsQuery) --------------------------------------------------------


def _query(call, infos):
    body = call.json_body()
    body = body if isinstance(body, dict) else {}
    parameters, filters = body.get("parameters"), body.get("filters")
    if parameters is None or filters is None:
        raise TbError(ITEM_NOT_FOUND, NOT_FOUND)
    root_type, root_id = parameters.get("rootType"), parameters.get("rootId")
    if root_type is None:
        # UNVERIFIED: RelationsSearchParameters.getEntityId switches over a null type.
        raise TbError(GENERAL, 'Cannot invoke "EntityType.ordinal()" because "type" is null')
    if root_id is None:
        raise bad_request("Incorrect entityId null")  # BaseController.checkEntityId
    root = _entity_id(root_type, root_id)
    # A direction other than FROM walks "to" (BaseRelationService.findRelations).
    direction = FROM if parameters.get("direction") == FROM else TO
    group = parameters.get("relationTypeGroup") or "COMMON"
    # UNVERIFIED: Jackson builds RelationsSearchParameters through its all-arguments
    # constructor (lombok.config addConstructorProperties), so an absent maxLevel is 0, no
    # limit, not the field's initial 1.
    max_level = parameters.get("maxLevel") or 0
    last_level_only = bool(parameters.get("fetchLastLevelOnly"))
    state = call.state
    with state.lock:
        _check(call, root)
        walked = state.relations.query(root, direction, group, max_level, last_level_only)
        found = [r for r in walked if matches(filters, r, direction)]
        return _answer(call, found, direction if infos else None)


@route("/api/relations", "POST", ALL_USERS)
def relations_by_query(call):
    return _query(call, infos=False)


@route("/api/relations/info", "POST", ALL_USERS)
def relation_infos_by_query(call):
    return _query(call, infos=True)
