"""Who acknowledged and cleared each alarm, read from ThingsBoard's system comments."""

from alarmdesk.alarms import actors, sync
from alarmdesk.alarms.models import Alarm
from tests.alarms.conftest import sim
from tests.conftest import TENANT, TbSession


def comment_authors(tbsim, alarm_id):
    comments = (
        TbSession(tbsim.url, TENANT)
        .get(f"/api/alarm/{alarm_id}/comment", params={"page": 0, "pageSize": 100})
        .json()["data"]
    )
    found = {}
    for comment in comments:
        subtype = comment["comment"].get("subtype")
        if comment["type"] == "SYSTEM" and subtype in ("ACKED_BY_USER", "CLEARED_BY_USER"):
            found[subtype] = comment["email"]
    return found


def test_actors_come_from_the_system_comments_a_bounded_number_a_run(store):
    pending = Alarm.objects.filter(actors_known=False).exclude(acknowledged=False, cleared=False)
    before = pending.count()
    assert before > 50
    assert actors.identify(limit=50) == 50
    assert pending.count() == before - 50
    for alarm in Alarm.objects.filter(actors_known=True)[:10]:
        said = comment_authors(store, alarm.id)
        assert alarm.acknowledged_by == said.get("ACKED_BY_USER", "")
        assert alarm.cleared_by == said.get("CLEARED_BY_USER", "")


def test_an_alarm_cleared_by_its_rule_is_known_to_be_cleared_by_nobody(store, tb):
    device = tb.get("/api/tenant/deviceInfos", params={"page": 0, "pageSize": 1}).json()["data"][0]
    raised = sim(store, "/sim/alarms", {"device": device["name"], "type": "Self Clearing"})
    tb.post(f"/api/alarm/{raised['id']['id']}/ack").raise_for_status()
    sim(store, f"/sim/alarms/{raised['id']['id']}/clear")
    sync.run_cycle()
    actors.identify(limit=3)  # newest first
    alarm = Alarm.objects.get(id=raised["id"]["id"])
    assert alarm.actors_known
    assert alarm.acknowledged_by == TENANT[0]
    assert alarm.cleared_by == ""


def test_a_new_acknowledgement_makes_the_actors_unknown_again(store, tb):
    alarm = Alarm.objects.filter(cleared=False, acknowledged=False).order_by("-start_ts").first()
    Alarm.objects.filter(id=alarm.id).update(actors_known=True)
    tb.post(f"/api/alarm/{alarm.id}/ack").raise_for_status()
    sync.run_cycle()
    assert not Alarm.objects.get(id=alarm.id).actors_known
    actors.identify(limit=3)
    assert Alarm.objects.get(id=alarm.id).acknowledged_by == TENANT[0]
