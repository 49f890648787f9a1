"""Writing a device's shared and server attributes from its page: through ThingsBoard with
the user's token, the value's type kept (number, boolean, text, JSON), every write in the
audit log with the value before and after; refusals in words that change nothing; another
customer's device 404; hostile keys and values inert."""

import pytest
import requests

from alarmdesk.alarms.models import Alarm, Customer
from alarmdesk.entities.models import AttributeChange
from tests.alarms.conftest import sim
from tests.conftest import CUSTOMER_A, TENANT, TbSession


def device_of(title):
    customer = Customer.objects.get(title=title)
    return Alarm.objects.filter(customer_id=customer.id, originator_type="DEVICE").first()


def write(client, device, key, value, kind="string", scope="SHARED_SCOPE", **extra):
    data = {"action": "attribute", "scope": scope, "key": key, "value": value, "kind": kind}
    return client.post(f"/devices/{device.originator_id}/", data | extra, follow=True)


def in_thingsboard(tbsim, device, scope="SHARED_SCOPE"):
    with TbSession(tbsim.url, TENANT) as tb:
        path = f"/api/plugins/telemetry/DEVICE/{device.originator_id}/values/attributes/{scope}"
        return {a["key"]: a["value"] for a in tb.get(path).json()}


@pytest.mark.parametrize(
    ("kind", "text", "kept"),
    [
        ("number", "42", 42),
        ("number", "21.5", 21.5),
        ("boolean", "True", True),
        ("string", "Bearing replaced", "Bearing replaced"),
        # ThingsBoard's JsonConverter casts text that reads as a number (type cast is on by
        # default): the page says so beside the form.
        ("string", "42", 42),
        ("json", '{"interval": 30, "units": ["C"]}', {"interval": 30, "units": ["C"]}),
    ],
)
def test_a_shared_attribute_is_written_with_its_type(as_user, store, kind, text, kept):
    client = as_user(TENANT)
    device = device_of("Customer A")
    page = write(client, device, "config", text, kind).content.decode()
    assert "Saved config = " in page
    assert in_thingsboard(store, device)["config"] == kept
    [entry] = AttributeChange.objects.all()
    sent = text if kind == "string" else kept  # the log keeps what was asked of ThingsBoard
    assert (entry.key, entry.new, entry.had_value, entry.outcome) == ("config", sent, False, "done")


def test_a_change_and_a_delete_are_logged_with_the_value_before(as_user, store):
    client = as_user(TENANT)
    device = device_of("Customer A")
    write(client, device, "threshold", "30", "number", scope="SERVER_SCOPE")
    write(client, device, "threshold", "35", "number", scope="SERVER_SCOPE")
    page = client.post(
        f"/devices/{device.originator_id}/",
        {"action": "attribute-delete", "scope": "SERVER_SCOPE", "key": "threshold"},
        follow=True,
    ).content.decode()
    assert "Deleted threshold." in page
    assert "threshold" not in in_thingsboard(store, device, "SERVER_SCOPE")
    changes = list(AttributeChange.objects.order_by("id").values_list("old", "new", "deleted"))
    assert changes == [(None, 30, False), (30, 35, False), (35, None, True)]
    assert "(was <code>30</code>)" in page  # the log on the page


def test_a_customer_user_writes_their_device_and_gets_404_on_another_s(as_user, store):
    client = as_user(CUSTOMER_A)
    own, other = device_of("Customer A"), device_of("Customer B")
    write(client, own, "note", "checked")
    assert in_thingsboard(store, own)["note"] == "checked"
    answer = client.post(
        f"/devices/{other.originator_id}/",
        {"action": "attribute", "scope": "SHARED_SCOPE", "key": "note", "value": "x"},
    )
    assert answer.status_code == 404
    assert "note" not in in_thingsboard(store, other)
    assert AttributeChange.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"kind": "number", "value": "abc"}, "is not a number"),
        ({"kind": "boolean", "value": "maybe"}, "True or false takes true or false"),
        ({"kind": "json", "value": "{"}, "That is not JSON"),
        ({"kind": "json", "value": "42"}, "an object {...} or an array"),
        ({"scope": "CLIENT_SCOPE"}, "client attributes are the device&#x27;s own"),
        ({"key": ""}, "Name the attribute&#x27;s key"),
    ],
)
def test_a_write_not_understood_is_refused_in_words_and_changes_nothing(
    as_user, store, fields, words
):
    client = as_user(TENANT)
    device = device_of("Customer A")
    before = in_thingsboard(store, device)
    data = {"action": "attribute", "scope": "SHARED_SCOPE", "key": "k", "value": "v"} | fields
    page = client.post(f"/devices/{device.originator_id}/", data, follow=True).content.decode()
    assert "Nothing was changed" in page
    assert words in page
    assert in_thingsboard(store, device) == before
    assert not AttributeChange.objects.exists()


def test_thingsboard_down_changes_nothing_and_says_so(as_user, store):
    client = as_user(TENANT)
    device = device_of("Customer A")
    sim(store, "/sim/faults", {"outage": True})
    try:
        page = write(client, device, "note", "x").content.decode()
    finally:
        requests.delete(f"{store.url}/sim/faults", timeout=5)
    assert "nothing was changed" in page.lower()
    assert "note" not in in_thingsboard(store, device)


def test_hostile_keys_and_values_are_inert(as_user, store):
    client = as_user(TENANT)
    device = device_of("Customer A")
    hostile = '<img src=x onerror="alert(1)">'
    page = write(client, device, hostile, hostile).content.decode()
    assert hostile not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert in_thingsboard(store, device)[hostile] == hostile


def test_change_fills_the_form_with_the_key_its_value_and_its_type(as_user, store):
    """So that changing a boolean or a number keeps it one (text would stay text)."""
    client = as_user(TENANT)
    device = device_of("Customer A")
    write(client, device, "enabled", "true", "boolean", scope="SERVER_SCOPE")
    page = client.get(
        f"/devices/{device.originator_id}/", {"edit": "SERVER_SCOPE:enabled"}
    ).content.decode()
    form = page.split('id="edit-SERVER_SCOPE" open>', 1)[1].split("</form>", 1)[0]
    assert 'list="keys-SERVER_SCOPE" value="enabled"' in form
    assert '<option value="boolean" selected>' in form
    assert ">true</textarea>" in form
    assert 'href="?edit=SERVER_SCOPE:enabled#edit-SERVER_SCOPE"' in page
    # Not a writable attribute of the page: the form stays empty and closed.
    other = client.get(
        f"/devices/{device.originator_id}/", {"edit": "CLIENT_SCOPE:firmwareVersion"}
    )
    assert "open>" not in other.content.decode().split('id="attributes"', 1)[1]
