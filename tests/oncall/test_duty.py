"""Who is on call, for what: a person goes on call and off, chooses severities (a tenant
administrator also types and customers) and quiet hours; a tenant administrator sees who is
on call now. What a duty covers is the one access rule first, then the person's choices."""

import re
import uuid
from datetime import UTC, datetime, time

import pytest

from alarmdesk.alarms.models import Alarm, Customer
from alarmdesk.oncall.models import Duty
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT

OLIVIA = ("olivia.ops@thingsboard.org", "tenant")
HTMX = {"HX-Request": "true"}


def duty_of(email):
    return Duty.objects.get(email=email)


def state(response):
    """The duty's sentence as the page says it, in plain words."""
    assert response.status_code == 200, response.content.decode()[:2000]
    found = re.search(r'<p id="duty-state" role="status">(.*?)</p>', response.content.decode())
    return re.sub(r"<[^>]+>", "", found.group(1))


def go(client, **fields):
    data = {"action": "duty", "severities": ["CRITICAL", "MAJOR"], "time_zone": "UTC"} | fields
    return client.post("/oncall/", data, headers=HTMX)


# --- going on call ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", [TENANT, CUSTOMER_A])
def test_a_person_goes_on_call_and_off_in_one_tap(as_user, persona):
    client = as_user(persona)
    assert state(client.get("/oncall/")) == "You are not on call."
    assert "Go on call" in client.get("/oncall/").content.decode()

    answer = go(client, on_call="1")
    assert state(answer).startswith("You are on call since ")
    assert "for critical, major alarms" in state(answer)
    duty = duty_of(persona[0])
    assert duty.on_call
    assert duty.since is not None
    assert duty.authority == ("TENANT_ADMIN" if persona == TENANT else "CUSTOMER_USER")

    answer = go(client, on_call="0")
    assert state(answer) == "You are not on call."
    assert not duty_of(persona[0]).on_call


def test_saving_choices_keeps_the_person_on_call_and_since_when(as_user):
    client = as_user(TENANT)
    go(client, on_call="1")
    since = duty_of(TENANT[0]).since
    go(client, severities=["CRITICAL"], quiet_from="22:00", quiet_until="07:00")
    duty = duty_of(TENANT[0])
    assert duty.on_call
    assert duty.since == since
    assert duty.severities == ["CRITICAL"]
    assert (duty.quiet_from, duty.quiet_until) == (time(22), time(7))


def test_a_person_moved_to_another_customer_is_on_call_for_the_new_one_only(as_user):
    """The duty keeps who the person was at their last visit; a visit after ThingsBoard
    moved them (here: a duty left pointing at Customer B) brings it up to date at once."""
    client = as_user(CUSTOMER_A)
    go(client, on_call="1")
    b = Customer.objects.get(title="Customer B").id
    Duty.objects.filter(email=CUSTOMER_A[0]).update(customer_id=b, name="old name")
    client.get("/oncall/")
    duty = duty_of(CUSTOMER_A[0])
    assert duty.customer_id == Customer.objects.get(title="Customer A").id
    assert duty.name != "old name"
    assert duty.on_call


def test_without_script_the_form_posts_and_comes_back_to_the_page(as_user):
    client = as_user(CUSTOMER_A)
    answer = client.post(
        "/oncall/", {"action": "duty", "severities": ["MAJOR"], "on_call": "1"}, follow=True
    )
    assert "You are on call for Major alarms." in answer.content.decode()
    assert state(answer).startswith("You are on call since ")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"severities": []}, "Choose at least one severity"),
        ({"severities": ["LOUD"]}, "Select a valid choice"),
        ({"quiet_from": "22:00"}, "both a start and an end"),
        ({"quiet_from": "22:00", "quiet_until": "22:00"}, "cannot start and end at the same"),
        ({"quiet_from": "25:99", "quiet_until": "07:00"}, "Enter a valid time"),
        ({"time_zone": "Mars/Olympus"}, "Mars/Olympus is not a time zone"),
    ],
)
def test_choices_not_understood_are_refused_in_words_and_change_nothing(as_user, fields, words):
    client = as_user(TENANT)
    go(client, on_call="1", severities=["CRITICAL"])
    answer = go(client, on_call="0", **fields)
    page = answer.content.decode()
    assert words in page
    assert 'role="alert"' in page
    duty = duty_of(TENANT[0])
    assert duty.on_call
    assert duty.severities == ["CRITICAL"]


def test_a_customer_user_chooses_severities_only(as_user):
    """Types and customers are a tenant administrator's; posted by a customer user they are
    not offered, not kept, and cannot widen what the duty covers."""
    client = as_user(CUSTOMER_A)
    page = client.get("/oncall/").content.decode()
    assert 'name="types"' not in page
    assert 'name="customers"' not in page
    other = Customer.objects.exclude(title="Customer A").first()
    go(client, on_call="1", customers=[str(other.id)], types=["High Temperature"])
    duty = duty_of(CUSTOMER_A[0])
    assert duty.types == []
    assert duty.customers == []


def test_a_tenant_administrator_narrows_by_type_and_customer(as_user):
    client = as_user(TENANT)
    page = client.get("/oncall/").content.decode()
    some_type = Alarm.objects.values_list("type", flat=True).first()
    assert f'<option value="{some_type}"' in page
    customer = Customer.objects.get(title="Customer B")
    assert f'<option value="{customer.id}">Customer B</option>' in page
    go(client, on_call="1", types=[some_type], customers=[str(customer.id)])
    duty = duty_of(TENANT[0])
    assert duty.types == [some_type]
    assert duty.customers == [str(customer.id)]
    assert f"of {some_type}" in state(client.get("/oncall/"))


def test_another_tenants_customer_is_not_a_choice(as_user):
    client = as_user(TENANT)
    answer = go(client, on_call="1", customers=[str(uuid.uuid4())])
    assert "Select a valid choice" in answer.content.decode()
    assert not Duty.objects.filter(email=TENANT[0], on_call=True).exists()


# --- who is on call now -------------------------------------------------------------------------


def test_a_tenant_administrator_sees_who_is_on_call_now(as_user):
    go(as_user(CUSTOMER_A), on_call="1", severities=["CRITICAL"])
    go(as_user(OLIVIA), on_call="1", quiet_from="00:00", quiet_until="23:59")
    go(as_user(CUSTOMER_B), on_call="0")
    page = as_user(TENANT).get("/oncall/").content.decode()
    section = re.search(r'<section class="on-call-now".*?</section>', page, re.S).group(0)
    assert CUSTOMER_A[0] in section
    assert "critical" in section
    assert OLIVIA[0] in section
    assert CUSTOMER_B[0] not in section  # off call
    olivia = re.search(r"<li>[^<]*<small>olivia[^<]*</small>[^<]*(.*?)</li>", section).group(0)
    quiet_now = duty_of(OLIVIA[0]).quiet_at(datetime.now(UTC))
    assert ("quiet now" in olivia) == quiet_now


@pytest.mark.parametrize("persona", [CUSTOMER_A, CUSTOMER_B])
def test_a_customer_user_does_not_see_who_is_on_call(as_user, persona):
    go(as_user(TENANT), on_call="1")
    page = as_user(persona).get("/oncall/").content.decode()
    assert "On call now" not in page
    assert TENANT[0] not in page


def test_hostile_names_and_types_on_the_on_call_list_are_inert(as_user):
    go(as_user(OLIVIA), on_call="1")
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    Duty.objects.filter(email=OLIVIA[0]).update(name=hostile, types=[hostile])
    page = as_user(TENANT).get("/oncall/").content.decode()
    assert "<script>alert" not in page
    assert "<img src=x" not in page


# --- what a duty covers -------------------------------------------------------------------------


def a_duty(**fields):
    tenant = Alarm.objects.values_list("tenant_id", flat=True).first()
    defaults = {"user_id": uuid.uuid4(), "tenant_id": tenant, "on_call": True}
    defaults |= {"authority": "TENANT_ADMIN", "severities": ["CRITICAL", "MAJOR", "MINOR"]}
    return Duty(**(defaults | fields))


NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_a_customer_users_duty_covers_their_customers_alarms_only(store):
    alarms = Alarm.objects.filter(severity="CRITICAL", customer_id__isnull=False)
    a = Customer.objects.get(title="Customer A").id
    duty = a_duty(authority="CUSTOMER_USER", customer_id=a, customers=[], types=[])
    theirs = [alarm for alarm in alarms if duty.wants(alarm, NOON)]
    assert theirs
    assert all(alarm.customer_id == a for alarm in theirs)
    assert len(theirs) == alarms.filter(customer_id=a).count()
    # Whatever was stored as their choices: the rule decides before them.
    widened = a_duty(authority="CUSTOMER_USER", customer_id=a, customers=[str(uuid.uuid4())])
    assert [alarm for alarm in alarms if widened.wants(alarm, NOON)] == theirs
    tenants_own = Alarm.objects.filter(customer_id__isnull=True).first()
    assert not duty.wants(tenants_own, NOON)


def test_a_duty_covers_its_severities_types_and_customers(store):
    alarm = Alarm.objects.filter(customer_id__isnull=False, severity="MAJOR").first()
    assert a_duty().wants(alarm, NOON)
    assert not a_duty(severities=["CRITICAL"]).wants(alarm, NOON)
    assert a_duty(types=[alarm.type]).wants(alarm, NOON)
    assert not a_duty(types=["Something Else"]).wants(alarm, NOON)
    assert a_duty(customers=[str(alarm.customer_id)]).wants(alarm, NOON)
    assert not a_duty(customers=[str(uuid.uuid4())]).wants(alarm, NOON)
    assert not a_duty(on_call=False).wants(alarm, NOON)
    assert not a_duty(tenant_id=uuid.uuid4()).wants(alarm, NOON)  # another tenant's person
    assert not a_duty(authority="SYS_ADMIN").wants(alarm, NOON)


@pytest.mark.parametrize(
    ("quiet", "zone", "at", "expected"),
    [
        ((time(22), time(7)), "UTC", datetime(2026, 12, 2, 23, 30, tzinfo=UTC), True),
        ((time(22), time(7)), "UTC", datetime(2026, 12, 2, 6, 59, tzinfo=UTC), True),
        ((time(22), time(7)), "UTC", datetime(2026, 12, 2, 7, 0, tzinfo=UTC), False),
        ((time(22), time(7)), "UTC", NOON, False),
        ((time(12), time(13)), "UTC", NOON, True),
        # 12:00 UTC is 13:00 in Berlin in December: past a quiet hour that ends at 13:00.
        ((time(12), time(13)), "Europe/Berlin", NOON, False),
        ((time(13), time(14)), "Europe/Berlin", NOON, True),
        ((None, None), "UTC", NOON, False),
    ],
)
def test_quiet_hours_are_the_persons_own_clocks_and_may_wrap_past_midnight(
    db, quiet, zone, at, expected
):
    duty = a_duty(quiet_from=quiet[0], quiet_until=quiet[1], time_zone=zone)
    assert duty.quiet_at(at) is expected
