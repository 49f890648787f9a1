"""Who may do what: each demo persona against alarms, devices, assets, customers and
telemetry of its own and of other customers and tenants (thingsboard-api.md sections 3.3,
5 and 6.4). Each matrix row is one persona; each column one owner of the thing touched."""

from dataclasses import dataclass

import pytest
from conftest import CUSTOMER_A, CUSTOMER_B, OTHER_TENANT, SYSADMIN, TENANT

from alarmdesk.tbsim.model import NULL_UUID

PERSONAS = {
    "tenant": TENANT,
    "customer A": CUSTOMER_A,
    "customer B": CUSTOMER_B,
    "sysadmin": SYSADMIN,
    "other tenant": OTHER_TENANT,
}
# The owners of what is touched, in the order of the matrix columns.
OWNERS = ("customer A", "customer B", "no customer", "other tenant")
UNKNOWN = "5f1e6a57-1f6c-4f41-9d3f-0c0ffee00000"
NO_PERMISSION = "You don't have permission to perform this operation!"


@dataclass
class World:
    sessions: dict  # persona -> signed-in session
    customers: dict  # "customer A"/"customer B" -> customer id
    devices: dict  # owner -> a device JSON
    assets: dict  # owner -> an asset JSON (the other tenant has none)

    def user_id(self, persona):
        return self.sessions[persona].me["id"]["id"]

    def creator(self, owner):
        """The tenant admin that raises alarms on this owner's devices."""
        return self.sessions["other tenant" if owner == "other tenant" else "tenant"]

    def raise_alarm(self, owner, alarm_type, **fields):
        session = self.creator(owner)
        body = {
            "type": alarm_type,
            "originator": self.devices[owner]["id"],
            "severity": "MAJOR",
            **fields,
        }
        answer = session.post("/api/alarm", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()["id"]["id"]


def rows(session, path, **params):
    answer = session.get(path, params={"pageSize": 10_000, "page": 0, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def first_owned_by(entities, owner_id):
    return next(e for e in entities if e["customerId"]["id"] == owner_id)


@pytest.fixture
def world(sign_in):
    sessions = {persona: sign_in(credentials) for persona, credentials in PERSONAS.items()}
    tenant, other = sessions["tenant"], sessions["other tenant"]
    customers = {
        name: sessions[name].me["customerId"]["id"] for name in ("customer A", "customer B")
    }
    owner_ids = {**customers, "no customer": NULL_UUID}
    devices = rows(tenant, "/api/tenant/devices")
    assets = rows(tenant, "/api/tenant/assets")
    return World(
        sessions=sessions,
        customers=customers,
        devices={
            **{owner: first_owned_by(devices, oid) for owner, oid in owner_ids.items()},
            "other tenant": rows(other, "/api/tenant/devices")[0],
        },
        assets={owner: first_owned_by(assets, oid) for owner, oid in owner_ids.items()},
    )


def statuses(world, probe, targets, personas=tuple(PERSONAS)):
    """{persona: (status per target)} for `probe(session, persona, target)`."""
    return {
        persona: tuple(
            probe(world.sessions[persona], persona, target).status_code for target in targets
        )
        for persona in personas
    }


# --- alarms --------------------------------------------------------------------------------

# A foreign tenant's alarm is "found" by findAlarmById and refused (section 3.3).
#                  customer A, customer B, no customer, other tenant
REFUSED_ACROSS_TENANTS = {
    "tenant": (200, 200, 200, 403),
    "customer A": (200, 403, 403, 403),
    "customer B": (403, 200, 403, 403),
    "sysadmin": (403, 403, 403, 403),
    "other tenant": (403, 403, 403, 200),
}
# The AlarmInfo lookup filters by tenant, so a foreign tenant's alarm is not found.
NOT_FOUND_ACROSS_TENANTS = {
    "tenant": (200, 200, 200, 404),
    "customer A": (200, 403, 403, 404),
    "customer B": (403, 200, 403, 404),
    "sysadmin": (403, 403, 403, 403),
    "other tenant": (404, 404, 404, 200),
}

ALARM_OPERATIONS = {
    "read": (lambda s, alarm, me: s.get(f"/api/alarm/{alarm}"), REFUSED_ACROSS_TENANTS),
    "read info": (
        lambda s, alarm, me: s.get(f"/api/alarm/info/{alarm}"),
        NOT_FOUND_ACROSS_TENANTS,
    ),
    "acknowledge": (lambda s, alarm, me: s.post(f"/api/alarm/{alarm}/ack"), REFUSED_ACROSS_TENANTS),
    "clear": (lambda s, alarm, me: s.post(f"/api/alarm/{alarm}/clear"), REFUSED_ACROSS_TENANTS),
    "assign to oneself": (
        lambda s, alarm, me: s.post(f"/api/alarm/{alarm}/assign/{me}"),
        REFUSED_ACROSS_TENANTS,
    ),
    "list comments": (
        lambda s, alarm, me: s.get(f"/api/alarm/{alarm}/comment?pageSize=10&page=0"),
        REFUSED_ACROSS_TENANTS,
    ),
    "comment": (
        lambda s, alarm, me: s.post(
            f"/api/alarm/{alarm}/comment", json={"comment": {"text": "On it"}}
        ),
        NOT_FOUND_ACROSS_TENANTS,
    ),
    "delete": (lambda s, alarm, me: s.delete(f"/api/alarm/{alarm}"), REFUSED_ACROSS_TENANTS),
}


@pytest.mark.parametrize("operation", ALARM_OPERATIONS)
def test_each_persona_may_act_on_the_alarms_thingsboard_lets_it(world, operation):
    call, expected = ALARM_OPERATIONS[operation]

    def probe(session, persona, owner):
        # A fresh alarm for every persona, so one persona's ack does not spoil the next's.
        alarm = world.raise_alarm(owner, f"Matrix probe for {persona}")
        return call(session, alarm, world.user_id(persona))

    assert statuses(world, probe, OWNERS) == expected


def test_each_persona_may_unassign_the_alarms_thingsboard_lets_it(world):
    def probe(session, persona, owner):
        assignee = {"entityType": "USER", "id": world.creator(owner).me["id"]["id"]}
        alarm = world.raise_alarm(owner, f"Matrix probe for {persona}", assigneeId=assignee)
        return session.delete(f"/api/alarm/{alarm}/assign")

    assert statuses(world, probe, OWNERS) == REFUSED_ACROSS_TENANTS


def test_refusals_carry_thingsboards_permission_error(world):
    alarm = world.raise_alarm("customer B", "Refusal probe")

    answer = world.sessions["customer A"].post(f"/api/alarm/{alarm}/ack")

    assert answer.json()["errorCode"] == 20
    assert answer.json()["message"] == NO_PERMISSION


def test_an_unknown_alarm_is_not_found_for_everyone_allowed_to_ask(world):
    def probe(session, persona, path):
        return session.get(path)

    paths = (f"/api/alarm/{UNKNOWN}", f"/api/alarm/info/{UNKNOWN}")

    assert statuses(world, probe, paths) == {
        "tenant": (404, 404),
        "customer A": (404, 404),
        "customer B": (404, 404),
        "sysadmin": (403, 403),
        "other tenant": (404, 404),
    }


# --- alarm lists ---------------------------------------------------------------------------


def test_a_tenant_admin_lists_every_alarm_of_its_tenant_across_customers(world):
    tenant_alarms = rows(world.sessions["tenant"], "/api/alarms")
    tenant_id = world.sessions["tenant"].me["tenantId"]

    by_customer = {}
    for alarm in tenant_alarms:
        owner = alarm["customerId"]["id"] if alarm["customerId"] else None
        by_customer.setdefault(owner, set()).add(alarm["id"]["id"])

    assert {alarm["tenantId"]["id"] for alarm in tenant_alarms} == {tenant_id["id"]}
    assert None in by_customer
    for name, customer_id in world.customers.items():
        listed = {a["id"]["id"] for a in rows(world.sessions[name], "/api/alarms")}
        assert listed == by_customer[customer_id]


def test_a_customer_user_lists_only_alarms_stored_with_its_customer(world):
    for name, customer_id in world.customers.items():
        for path in ("/api/alarms", "/api/v2/alarms"):
            alarms = rows(world.sessions[name], path)
            assert alarms
            assert {a["customerId"]["id"] for a in alarms if a["customerId"]} == {customer_id}
            assert all(a["customerId"] is not None for a in alarms)


def test_the_other_tenant_lists_only_its_own_alarms(world):
    other = world.sessions["other tenant"]

    alarms = rows(other, "/api/alarms")

    assert alarms
    assert {a["tenantId"]["id"] for a in alarms} == {other.me["tenantId"]["id"]}


def test_the_sysadmin_may_not_list_alarms(world):
    sysadmin = world.sessions["sysadmin"]

    for path in ("/api/alarms", "/api/v2/alarms"):
        answer = sysadmin.get(path, params={"pageSize": 10, "page": 0})
        assert (answer.status_code, answer.json()["errorCode"]) == (403, 20)


def test_a_device_alarm_list_needs_read_on_the_device(world):
    def probe(session, persona, owner):
        device = world.devices[owner]["id"]["id"]
        return session.get(f"/api/alarm/DEVICE/{device}", params={"pageSize": 10, "page": 0})

    # checkDeviceId's lookup is tenant-scoped: another tenant's device is not found,
    # except for the sysadmin, whose lookups span tenants (section 3.3, 5.1).
    assert statuses(world, probe, OWNERS) == {
        "tenant": (200, 200, 200, 404),
        "customer A": (200, 403, 403, 404),
        "customer B": (403, 200, 403, 404),
        "sysadmin": (403, 403, 403, 403),
        "other tenant": (404, 404, 404, 200),
    }


def test_an_asset_alarm_list_refuses_another_tenant_instead_of_hiding_the_asset(world):
    asset = world.assets["customer A"]["id"]["id"]

    answer = world.sessions["other tenant"].get(
        f"/api/alarm/ASSET/{asset}", params={"pageSize": 10, "page": 0}
    )

    assert answer.status_code == 403


def test_the_sysadmin_asking_for_a_tenants_alarms_gets_an_empty_page(world):
    tenant_id = world.sessions["tenant"].me["tenantId"]["id"]

    # UNVERIFIED (section 5.1): the query runs with the sysadmin's null tenant id.
    page = world.sessions["sysadmin"].get(
        f"/api/alarm/TENANT/{tenant_id}", params={"pageSize": 10, "page": 0}
    )

    assert page.status_code == 200
    assert page.json()["totalElements"] == 0


def test_alarm_types_are_the_tenants_for_every_user_of_it(world):
    def types(persona):
        return [t["type"] for t in rows(world.sessions[persona], "/api/alarm/types")]

    assert types("customer A") == types("customer B") == types("tenant")
    assert set(types("other tenant")) == {
        a["type"] for a in rows(world.sessions["other tenant"], "/api/alarms")
    }
    assert world.sessions["sysadmin"].get("/api/alarm/types?pageSize=10&page=0").status_code == 403


# --- creating alarms -----------------------------------------------------------------------


def alarm_body(world, owner, customer=None):
    body = {"type": "Created probe", "originator": world.devices[owner]["id"], "severity": "MINOR"}
    if customer:
        body["customerId"] = {"entityType": "CUSTOMER", "id": world.customers[customer]}
    return body


def test_a_customer_user_creates_alarms_on_its_devices_naming_its_customer(world):
    customer = world.sessions["customer A"]

    answer = customer.post("/api/alarm", json=alarm_body(world, "customer A", "customer A"))

    assert answer.status_code == 200
    assert answer.json()["customerId"]["id"] == world.customers["customer A"]


@pytest.mark.parametrize(
    ("owner", "customer"),
    [
        ("customer A", None),
        ("customer A", "customer B"),
        ("customer B", "customer A"),
        ("no customer", "customer A"),
    ],
    ids=[
        "no customer named",
        "another customer named",
        "another customers device",
        "unassigned device",
    ],
)
def test_a_customer_user_may_not_create_other_alarms(world, owner, customer):
    answer = world.sessions["customer A"].post(
        "/api/alarm", json=alarm_body(world, owner, customer)
    )

    assert (answer.status_code, answer.json()["errorCode"]) == (403, 20)


@pytest.mark.parametrize(
    ("owner", "customer", "message"),
    [
        ("customer A", "customer B", "Originator belongs to different customer!"),
        ("no customer", "customer A", "Originator is not assigned to customer!"),
    ],
)
def test_a_tenant_admin_naming_the_wrong_customer_is_a_bad_request(world, owner, customer, message):
    answer = world.sessions["tenant"].post("/api/alarm", json=alarm_body(world, owner, customer))

    assert answer.status_code == 400
    assert answer.json()["errorCode"] == 31
    assert answer.json()["message"] == f"Can't assign alarm to customer. {message}"


def test_creating_an_alarm_needs_read_on_the_originator(world):
    def probe(session, persona, owner):
        return session.post("/api/alarm", json=alarm_body(world, owner))

    admins = ("tenant", "sysadmin", "other tenant")
    assert statuses(world, probe, ("no customer", "other tenant"), admins) == {
        "tenant": (200, 404),
        "sysadmin": (403, 403),
        "other tenant": (404, 200),
    }


# --- assigning -------------------------------------------------------------------------------


def test_a_customer_user_assigns_only_users_of_its_own_customer(world):
    customer = world.sessions["customer A"]
    alarm = world.raise_alarm("customer A", "Assign probe")
    candidates = rows(customer, f"/api/users/assign/{alarm}")
    colleague = next(u for u in candidates if u["email"] != CUSTOMER_A[0])

    refused = [
        customer.post(f"/api/alarm/{alarm}/assign/{world.user_id(persona)}").status_code
        for persona in ("tenant", "customer B", "other tenant")
    ]
    assigned = customer.post(f"/api/alarm/{alarm}/assign/{colleague['id']['id']}")

    assert {u["email"] for u in candidates} >= {CUSTOMER_A[0], colleague["email"]}
    assert all(u["email"] != TENANT[0] for u in candidates)
    assert refused == [403, 403, 403]
    assert assigned.status_code == 200
    assert assigned.json()["assignee"]["email"] == colleague["email"]


def test_a_tenant_admin_assigns_a_user_of_the_alarms_customer(world):
    tenant = world.sessions["tenant"]
    alarm = world.raise_alarm("customer A", "Assign probe")

    answer = tenant.post(f"/api/alarm/{alarm}/assign/{world.user_id('customer A')}")

    assert answer.status_code == 200
    assert answer.json()["assignee"]["email"] == CUSTOMER_A[0]


# --- devices, assets and customers -------------------------------------------------------------


def test_reading_a_device_by_id(world):
    def probe(session, persona, owner):
        return session.get(f"/api/device/{world.devices[owner]['id']['id']}")

    # findDeviceById is tenant-scoped: another tenant's device is not found (section 3.3).
    assert statuses(world, probe, OWNERS) == {
        "tenant": (200, 200, 200, 404),
        "customer A": (200, 403, 403, 404),
        "customer B": (403, 200, 403, 404),
        "sysadmin": (403, 403, 403, 403),
        "other tenant": (404, 404, 404, 200),
    }


def test_reading_a_device_info_by_id(world):
    def probe(session, persona, owner):
        return session.get(f"/api/device/info/{world.devices[owner]['id']['id']}")

    # findDeviceInfoById ignores the tenant: another tenant's device is found and refused.
    assert statuses(world, probe, OWNERS) == REFUSED_ACROSS_TENANTS


def test_reading_an_asset_by_id(world):
    def probe(session, persona, owner):
        return session.get(f"/api/asset/{world.assets[owner]['id']['id']}")

    #                                      customer A, customer B, no customer
    assert statuses(world, probe, OWNERS[:3]) == {
        "tenant": (200, 200, 200),
        "customer A": (200, 403, 403),
        "customer B": (403, 200, 403),
        "sysadmin": (403, 403, 403),
        "other tenant": (403, 403, 403),
    }


def test_reading_a_customer_by_id(world):
    def probe(session, persona, customer):
        return session.get(f"/api/customer/{world.customers[customer]}")

    #                                      customer A, customer B
    assert statuses(world, probe, ("customer A", "customer B")) == {
        "tenant": (200, 200),
        "customer A": (200, 403),
        "customer B": (403, 200),
        "sysadmin": (403, 403),
        "other tenant": (403, 403),
    }


def test_a_customer_user_lists_the_devices_and_assets_of_its_own_customer_only(world):
    customer = world.sessions["customer A"]
    own, other = world.customers["customer A"], world.customers["customer B"]

    for kind in ("devices", "deviceInfos", "assets", "assetInfos"):
        listed = rows(customer, f"/api/customer/{own}/{kind}")
        refused = customer.get(f"/api/customer/{other}/{kind}", params={"pageSize": 10, "page": 0})
        assert listed
        assert {e["customerId"]["id"] for e in listed} == {own}
        assert refused.status_code == 403


def test_tenant_wide_lists_are_for_tenant_admins_only(world):
    paths = (
        "/api/tenant/devices",
        "/api/tenant/deviceInfos",
        "/api/tenant/assets",
        "/api/customers",
    )

    def probe(session, persona, path):
        return session.get(path, params={"pageSize": 10, "page": 0})

    assert statuses(world, probe, paths) == {
        "tenant": (200, 200, 200, 200),
        "customer A": (403, 403, 403, 403),
        "customer B": (403, 403, 403, 403),
        "sysadmin": (403, 403, 403, 403),
        "other tenant": (200, 200, 200, 200),
    }


def test_tenant_lists_hold_only_the_tenants_own_entities(world):
    other = world.sessions["other tenant"]

    devices = rows(other, "/api/tenant/devices")
    customers = rows(other, "/api/customers")

    assert [d["id"] for d in devices] == [world.devices["other tenant"]["id"]]
    assert customers == []


def test_devices_by_ids_are_silently_filtered_to_what_the_caller_may_see(world):
    wanted = ",".join(world.devices[owner]["id"]["id"] for owner in OWNERS)

    def seen(persona):
        answer = world.sessions[persona].get("/api/devices", params={"deviceIds": wanted})
        assert answer.status_code == 200
        return {d["id"]["id"] for d in answer.json()}

    assert seen("tenant") == {world.devices[o]["id"]["id"] for o in OWNERS[:3]}
    assert seen("customer A") == {world.devices["customer A"]["id"]["id"]}
    assert seen("other tenant") == {world.devices["other tenant"]["id"]["id"]}


# --- telemetry --------------------------------------------------------------------------------


def test_reading_device_telemetry(world):
    def probe(session, persona, owner):
        device = world.devices[owner]["id"]["id"]
        return session.get(f"/api/plugins/telemetry/DEVICE/{device}/values/timeseries")

    # AccessValidator refuses the sysadmin before looking, and its tenant-scoped lookup
    # does not find another tenant's device (sections 3.3, 6.4).
    assert statuses(world, probe, OWNERS) == {
        "tenant": (200, 200, 200, 404),
        "customer A": (200, 403, 403, 404),
        "customer B": (403, 200, 403, 404),
        "sysadmin": (403, 403, 403, 403),
        "other tenant": (404, 404, 404, 200),
    }


@pytest.mark.parametrize(
    ("persona", "owner", "status", "text"),
    [
        ("customer A", "customer B", 403, NO_PERMISSION),
        ("tenant", "other tenant", 404, "Device with requested id wasn't found!"),
        (
            "sysadmin",
            "customer A",
            403,
            "System administrator is not allowed to perform this operation!",
        ),
    ],
)
def test_telemetry_refusals_are_plain_text(world, persona, owner, status, text):
    device = world.devices[owner]["id"]["id"]
    session = world.sessions[persona]

    for path in ("values/timeseries", "keys/timeseries", "values/attributes"):
        answer = session.get(f"/api/plugins/telemetry/DEVICE/{device}/{path}")
        assert answer.status_code == status
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert answer.text == text


def test_the_sysadmin_is_refused_even_a_device_that_does_not_exist(world):
    answer = world.sessions["sysadmin"].get(
        f"/api/plugins/telemetry/DEVICE/{UNKNOWN}/values/timeseries"
    )

    assert answer.status_code == 403
    assert answer.text == "System administrator is not allowed to perform this operation!"


def test_reading_customer_attributes(world):
    def probe(session, persona, customer):
        path = f"/api/plugins/telemetry/CUSTOMER/{world.customers[customer]}/values/attributes"
        return session.get(path)

    same_tenant = ("tenant", "customer A", "customer B", "sysadmin")
    assert statuses(world, probe, ("customer A", "customer B"), same_tenant) == {
        "tenant": (200, 200),
        "customer A": (200, 403),
        "customer B": (403, 200),
        "sysadmin": (403, 403),
    }
