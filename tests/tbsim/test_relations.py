"""The demo's asset hierarchy as ThingsBoard's relation API serves it, read through
tb-ce-client 4.4.0 (EntityRelationController; BaseRelationService for the queries).

The demo: each owner has a site ("Site A", "Site B", "Site C" and the tenant's "Site U", asset
type "site") that "Contains" its buildings (asset type "building"), which "Contain" its
devices, all in relation type group COMMON.
"""

import json
import re

import pytest
import requests
import test_conformance
from conftest import TENANT
from tb_ce_client.models import (
    EntityRelation,
    EntityRelationInfo,
    EntityRelationsQuery,
    RelationEntityTypeFilter,
    RelationsSearchParameters,
)
from test_conformance import conforming, refusal

from alarmdesk.tbsim.model import NULL_UUID

UNKNOWN = "5f1e6a57-1f6c-4f41-9d3f-0c0ffee00000"

# test_conformance.py's personas, signed in through the official client.
connect, tenant = test_conformance.connect, test_conformance.tenant
customer_a = test_conformance.customer_a


def asset_id(client, name):
    return str(client.get_tenant_asset_by_name(asset_name=name).id.id)


def device_id(client, name):
    return str(client.get_tenant_device_by_name(device_name=name).id.id)


def entity(client, entity_id):
    read = (
        client.get_asset_by_id
        if entity_id.entity_type.value == "ASSET"
        else client.get_device_by_id
    )
    return read(str(entity_id.id))


def owner(client, entity_id):
    return str(entity(client, entity_id).customer_id.id)


def names(client, relations, end):
    """The names of the entities at the `end` ("to" or "var_from") of `relations`, sorted."""
    return sorted(entity(client, getattr(relation, end)).name for relation in relations)


def query(root_id, direction="FROM", filters=(), **parameters):
    return EntityRelationsQuery(
        parameters=RelationsSearchParameters(
            root_id=root_id, root_type="ASSET", direction=direction, **parameters
        ),
        filters=list(filters),
    )


def by_query(client, body):
    return conforming(
        client.find_entity_relations_by_query_with_http_info(body), list[EntityRelation]
    )


# --- the hierarchy, both directions --------------------------------------------------------


def test_a_site_contains_its_buildings(tenant):
    site = asset_id(tenant, "Site U")

    relations = conforming(
        tenant.find_entity_relations_by_from_with_http_info("ASSET", site), list[EntityRelation]
    )

    assert names(tenant, relations, "to") == ["HQ Office", "Warehouse North"]
    assert {(r.type, r.type_group.value) for r in relations} == {("Contains", "COMMON")}
    assert {str(r.var_from.id) for r in relations} == {site}
    assert all(tenant.get_asset_by_id(str(r.to.id)).type == "building" for r in relations)
    assert tenant.get_asset_by_id(site).type == "site"


def test_a_building_contains_its_owners_devices(tenant):
    building = asset_id(tenant, "Building A")

    relations = conforming(
        tenant.find_entity_relations_by_from_with_http_info("ASSET", building),
        list[EntityRelation],
    )

    devices = tenant.get_tenant_devices(page_size=100, page=0).data
    assert names(tenant, relations, "to") == sorted(
        d.name for d in devices if re.search(r" A\d\d$", d.name)
    )
    assert len(relations) == 10
    assert {r.to.entity_type.value for r in relations} == {"DEVICE"}


def test_a_device_is_contained_in_its_building_and_that_in_its_site(tenant):
    pump = device_id(tenant, "Pump A06")

    up = conforming(
        tenant.find_entity_relations_by_to_with_http_info("DEVICE", pump), list[EntityRelation]
    )
    building = str(up[0].var_from.id)
    site = conforming(
        tenant.find_entity_relations_by_to_with_http_info("ASSET", building), list[EntityRelation]
    )

    assert names(tenant, up, "var_from") == ["Building A"]
    assert names(tenant, site, "var_from") == ["Site A"]
    assert tenant.get_asset_by_id(building).customer_id == tenant.get_device_by_id(pump).customer_id


def test_each_asset_belongs_to_the_owner_of_its_devices(tenant):
    for site_name in ("Site A", "Site B", "Site C", "Site U"):
        site = tenant.get_tenant_asset_by_name(asset_name=site_name)
        below = tenant.find_entity_relations_by_query(
            query(str(site.id.id), max_level=0, relation_type_group="COMMON")
        )
        assert {owner(tenant, r.to) for r in below} == {str(site.customer_id.id)}
    assert str(tenant.get_tenant_asset_by_name(asset_name="Site U").customer_id.id) == NULL_UUID


def test_infos_name_the_entity_at_the_far_end_only(tenant):
    building = asset_id(tenant, "Plant B")

    down = conforming(
        tenant.find_entity_relation_infos_by_from_with_http_info("ASSET", building),
        list[EntityRelationInfo],
    )
    up = conforming(
        tenant.find_entity_relation_infos_by_to_with_http_info("ASSET", building),
        list[EntityRelationInfo],
    )

    assert len(down) == 8
    assert all(r.from_name is None and r.to_name for r in down)
    assert sorted(r.to_name for r in down) == names(tenant, down, "to")
    assert [(r.from_name, r.to_name) for r in up] == [("Site B", None)]


def test_one_relation_reads_by_its_ends_and_type(tenant):
    site, building = asset_id(tenant, "Site C"), asset_id(tenant, "Store C")

    relation = conforming(
        tenant.get_relation_with_http_info(site, "ASSET", "Contains", building, "ASSET"),
        EntityRelation,
    )

    assert (str(relation.var_from.id), str(relation.to.id)) == (site, building)
    assert relation.type_group.value == "COMMON"
    assert relation.version > 0


def test_a_relation_that_does_not_exist_is_not_found(tenant):
    site, building = asset_id(tenant, "Site C"), asset_id(tenant, "Store C")

    status, body = refusal(tenant.get_relation, building, "ASSET", "Contains", site, "ASSET")
    manages = refusal(tenant.get_relation, site, "ASSET", "Manages", building, "ASSET")

    assert (status, body["errorCode"], body["message"]) == (404, 32, "Requested item wasn't found!")
    assert manages[0] == 404


def test_the_relation_type_and_type_group_narrow_the_list(tenant):
    site = asset_id(tenant, "Site U")

    contains = tenant.find_entity_relations_by_from_and_relation_type("ASSET", site, "Contains")
    manages = tenant.find_entity_relations_by_from_and_relation_type("ASSET", site, "Manages")
    edge = tenant.find_entity_relations_by_from("ASSET", site, relation_type_group="EDGE")
    # parseRelationTypeGroup: an unknown group falls back to COMMON instead of failing.
    unknown = tenant.find_entity_relations_by_from("ASSET", site, relation_type_group="NOPE")

    assert len(contains) == 2
    assert manages == edge == []
    assert unknown == contains


def test_the_hidden_query_parameter_forms_answer_as_the_path_forms(tenant, sign_in):
    session = sign_in(TENANT)
    site = asset_id(tenant, "Site U")
    building = asset_id(tenant, "HQ Office")

    down = session.get("/api/relations", params={"fromId": site, "fromType": "ASSET"})
    typed = session.get(
        "/api/relations",
        params={"fromId": site, "fromType": "ASSET", "relationType": "Contains"},
    )
    up = session.get("/api/relations/info", params={"toId": building, "toType": "ASSET"})
    path_form = json.loads(
        tenant.find_entity_relations_by_from_with_http_info("ASSET", site).raw_data
    )

    assert down.json() == typed.json() == path_form
    assert [r["fromName"] for r in up.json()] == ["Site U"]


def test_the_query_parameter_form_wants_one_end(sign_in):
    answer = sign_in(TENANT).get("/api/relations", params={"relationType": "Contains"})

    assert (answer.status_code, answer.json()["errorCode"]) == (400, 31)


def test_a_bad_entity_type_or_id_is_a_bad_request(tenant):
    status, body = refusal(tenant.find_entity_relations_by_from, "GADGET", UNKNOWN)
    bad_id = refusal(tenant.find_entity_relations_by_from, "ASSET", "not-a-uuid")

    assert (status, body["errorCode"]) == (400, 31)
    assert (
        body["message"] == "No enum constant org.thingsboard.server.common.data.EntityType.GADGET"
    )
    assert bad_id[0] == 400
    assert bad_id[1]["message"] == "Invalid UUID string: not-a-uuid"


# --- the query: levels and fetchLastLevelOnly (BaseRelationService.findByQuery) -------------


def test_the_query_goes_as_deep_as_max_level(tenant):
    site = asset_id(tenant, "Site U")

    one = by_query(tenant, query(site, max_level=1))
    two = by_query(tenant, query(site, max_level=2))
    unbounded = by_query(tenant, query(site, max_level=0))

    assert names(tenant, one, "to") == ["HQ Office", "Warehouse North"]
    assert len(two) == 2 + 8
    assert sorted(map(str, unbounded)) == sorted(map(str, two))


def test_the_last_level_only_is_the_devices_of_a_site_however_deep(tenant):
    site = asset_id(tenant, "Site U")

    leaves = by_query(tenant, query(site, max_level=0, fetch_last_level_only=True))
    at_two = by_query(tenant, query(site, max_level=2, fetch_last_level_only=True))
    at_one = by_query(tenant, query(site, max_level=1, fetch_last_level_only=True))

    assert len(leaves) == 8
    assert {r.to.entity_type.value for r in leaves} == {"DEVICE"}
    assert sorted(map(str, at_two)) == sorted(map(str, leaves))
    assert names(tenant, at_one, "to") == ["HQ Office", "Warehouse North"]


def test_filters_pick_relations_by_type_and_the_far_entitys_type(tenant):
    site = asset_id(tenant, "Site A")
    devices = RelationEntityTypeFilter(relation_type="Contains", entity_types=["DEVICE"])
    managed = RelationEntityTypeFilter(relation_type="Manages")

    found = by_query(tenant, query(site, max_level=0, filters=[devices]))
    none = by_query(tenant, query(site, max_level=0, filters=[managed]))

    assert len(found) == 10
    assert {r.to.entity_type.value for r in found} == {"DEVICE"}
    assert none == []


def test_the_query_upwards_finds_the_building_and_the_site(tenant):
    pump = device_id(tenant, "Pump A06")
    body = EntityRelationsQuery(
        parameters=RelationsSearchParameters(
            root_id=pump, root_type="DEVICE", direction="TO", max_level=0
        ),
        filters=[],
    )

    infos = conforming(
        tenant.find_entity_relation_infos_by_query_with_http_info(body), list[EntityRelationInfo]
    )

    assert sorted(r.from_name for r in infos) == ["Building A", "Site A"]
    assert all(r.to_name is None for r in infos)


def test_the_query_info_names_the_entities_found(tenant):
    site = asset_id(tenant, "Site B")

    infos = conforming(
        tenant.find_entity_relation_infos_by_query_with_http_info(
            query(site, max_level=0, fetch_last_level_only=True)
        ),
        list[EntityRelationInfo],
    )

    assert len(infos) == 8
    assert all(r.from_name is None for r in infos)
    assert sorted(r.to_name for r in infos) == names(tenant, infos, "to")


def test_a_query_without_parameters_or_filters_is_not_found(sign_in, tenant):
    session = sign_in(TENANT)
    site = asset_id(tenant, "Site A")

    # checkNotNull(query.getParameters()), checkNotNull(query.getFilters()).
    bare = session.post("/api/relations", json={})
    no_filters = session.post(
        "/api/relations",
        json={"parameters": {"rootId": site, "rootType": "ASSET", "direction": "FROM"}},
    )

    assert (bare.status_code, bare.json()["message"]) == (404, "Requested item wasn't found!")
    assert no_filters.status_code == 404


# --- who sees what ---------------------------------------------------------------------------


def test_a_customer_user_reads_its_own_hierarchy(customer_a, tenant):
    site = asset_id(tenant, "Site A")

    down = by_query(customer_a, query(site, max_level=0))
    up = conforming(
        customer_a.find_entity_relation_infos_by_to_with_http_info(
            "ASSET", asset_id(tenant, "Building A")
        ),
        list[EntityRelationInfo],
    )

    assert len(down) == 1 + 10
    assert [r.from_name for r in up] == ["Site A"]


def test_a_customer_user_may_not_read_another_customers_hierarchy(customer_a, tenant):
    site_b = asset_id(tenant, "Site B")
    plant_b = asset_id(tenant, "Plant B")
    site_a = asset_id(tenant, "Site A")

    listed = refusal(customer_a.find_entity_relations_by_from, "ASSET", site_b)
    queried = refusal(customer_a.find_entity_relations_by_query, query(plant_b, max_level=0))
    one = refusal(customer_a.get_relation, site_b, "ASSET", "Contains", plant_b, "ASSET")
    # The user may read Site A but not the other end.
    mixed = refusal(customer_a.get_relation, site_a, "ASSET", "Contains", plant_b, "ASSET")

    assert listed[0] == queried[0] == one[0] == mixed[0] == 403
    assert listed[1]["message"] == "You don't have permission to perform this operation!"
    assert listed[1]["errorCode"] == 20


def test_an_unknown_root_is_not_found(tenant, customer_a):
    status, body = refusal(tenant.find_entity_relations_by_from, "ASSET", UNKNOWN)
    device = refusal(customer_a.find_entity_relations_by_query, query(UNKNOWN))

    assert (status, body["errorCode"]) == (404, 32)
    assert body["message"] == f"Asset with id [{UNKNOWN}] is not found"
    assert device[0] == 404


def test_relations_to_entities_the_user_may_not_read_are_left_out(tbsim, customer_a, tenant):
    # filterRelationsByReadPermission: both ends must be readable, in every list and query.
    site_a, plant_b = asset_id(tenant, "Site A"), asset_id(tenant, "Plant B")
    state = tbsim.sim.state
    with state.lock:
        state.add_relation(("ASSET", site_a), ("ASSET", plant_b), "Manages")

    tenant_view = tenant.find_entity_relations_by_from("ASSET", site_a)
    customer_view = customer_a.find_entity_relations_by_from("ASSET", site_a)
    customer_query = customer_a.find_entity_relations_by_query(query(site_a, max_level=1))

    assert sorted(r.type for r in tenant_view) == ["Contains", "Manages"]
    assert [r.type for r in customer_view] == ["Contains"]
    assert [r.type for r in customer_query] == ["Contains"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/relations/from/ASSET/{site}",
        "/api/relations/info/to/ASSET/{site}",
        "/api/relation?fromId={site}&fromType=ASSET&relationType=Contains&toId={site}&toType=ASSET",
    ],
)
def test_the_relation_reads_require_a_signed_in_user(tbsim, tenant, path):
    answer = requests.get(tbsim.url + path.format(site=asset_id(tenant, "Site A")), timeout=10)

    assert answer.status_code == 401
    assert answer.json()["errorCode"] == 10


# --- alarm propagation follows the relations (BaseAlarmService.createEntityAlarmRecords) ---


def entity_alarm_ids(session, entity_type, entity_id):
    answer = session.get(
        f"/api/alarm/{entity_type}/{entity_id}", params={"pageSize": 1000, "page": 0}
    )
    assert answer.status_code == 200, answer.text
    return {row["id"]["id"] for row in answer.json()["data"]}


@pytest.mark.parametrize(
    ("relation_types", "reaches"), [([], True), (["Contains"], True), (["Manages"], False)]
)
def test_a_propagated_alarm_reaches_the_building_and_the_site(
    sign_in, tenant, relation_types, reaches
):
    session = sign_in(TENANT)
    pump = tenant.get_tenant_device_by_name(device_name="Pump A06")
    body = {
        "type": "Propagation Check",
        "originator": {"entityType": "DEVICE", "id": str(pump.id.id)},
        "severity": "MINOR",
        "propagate": True,
        "propagateRelationTypes": relation_types,
    }

    alarm_id = session.post("/api/alarm", json=body).json()["id"]["id"]

    for name in ("Building A", "Site A"):
        listed = entity_alarm_ids(session, "ASSET", asset_id(tenant, name))
        assert (alarm_id in listed) is reaches
    assert alarm_id not in entity_alarm_ids(session, "ASSET", asset_id(tenant, "Site B"))
