"""The list filtered by an asset: the alarms of the asset and of every device or asset it
contains, however deep (ThingsBoard's "Contains" relations, asked with the user's token);
another customer's asset refused in words with no alarm shown; the history and "all
matching" bulk take the same filter."""

from alarmdesk.alarms.models import Alarm
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT, TbSession

ROW = 'data-alarm-id="'


def site_of(tbsim, letter):
    with TbSession(tbsim.url, TENANT) as tb:
        assets = tb.get("/api/tenant/assets", params={"page": 0, "pageSize": 100}).json()
        site = next(a for a in assets["data"] if a["name"] == f"Site {letter}")
        down = tb.post(
            "/api/relations/info",
            json={
                "parameters": {
                    "rootId": site["id"]["id"],
                    "rootType": "ASSET",
                    "direction": "FROM",
                    "relationTypeGroup": "COMMON",
                    "maxLevel": 0,
                },
                "filters": [{"relationType": "Contains", "entityTypes": []}],
            },
        ).json()
    return site, {site["id"]["id"], *(r["to"]["id"] for r in down)}


def listed(html):
    return {part.split('"', 1)[0] for part in html.split(ROW)[1:]}


def test_a_site_lists_the_alarms_of_everything_in_it_however_deep(as_user, store):
    site, inside = site_of(store, "A")
    client = as_user(TENANT)
    html = client.get("/alarms/", {"asset": site["id"]["id"], "status": "ANY"}).content.decode()
    theirs = {
        str(i)
        for i in Alarm.objects.filter(originator_id__in=inside, deleted=False).values_list(
            "id", flat=True
        )
    }
    assert theirs  # the site's devices have alarms in the demo
    shown = listed(html)
    assert shown <= theirs
    assert len(shown) == min(50, len(theirs))  # a page of them
    assert f"{site['name']} and everything in it" in html


def test_a_customer_user_filters_by_their_site_not_another_s(as_user, store):
    own, _ = site_of(store, "A")
    other, _ = site_of(store, "B")
    client = as_user(CUSTOMER_A)
    assert client.get("/alarms/", {"asset": own["id"]["id"]}).status_code == 200
    refused = client.get("/alarms/", {"asset": other["id"]["id"], "status": "ANY"})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "That asset is not one you can see." in html
    assert listed(html) == set()


def test_the_history_filters_by_asset_too(as_user, store):
    site, inside = site_of(store, "B")
    client = as_user(CUSTOMER_B)
    html = client.get("/history/", {"asset": site["id"]["id"]}).content.decode()
    shown = listed(html)
    assert shown
    assert set(Alarm.objects.filter(id__in=shown).values_list("originator_id", flat=True)) <= {
        __import__("uuid").UUID(i) for i in inside
    }
