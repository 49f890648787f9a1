"""The alarm detail page: after any action the whole page says what is now true."""

import re

from alarmdesk.alarms.models import Alarm
from tests.alarms.conftest import sim
from tests.conftest import TENANT, TbSession

OLIVIA = ("olivia.ops@thingsboard.org", "tenant")
HTMX = {"HX-Request": "true"}


def timeline_lines(html):
    timeline = html.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", li)).strip() for li in timeline.split("<li")[1:]
    ]


def buttons(html):
    return re.findall(r'<button type="submit" name="action" value="([a-z]+)"', html)


def fresh_alarm():
    return Alarm.objects.filter(cleared=False, acknowledged=False, assignee_id=None).first()


def post(client, alarm, **data):
    return client.post(f"/alarms/{alarm.id}/", data, headers=HTMX).content.decode()


def test_acknowledging_with_htmx_re_renders_state_buttons_picker_and_timeline(as_user):
    client = as_user(OLIVIA)
    alarm = fresh_alarm()
    html = post(client, alarm, action="ack")
    assert html.lstrip().startswith('<div id="alarm-main"')
    assert "Acknowledged." in html
    assert "ack" not in buttons(html)
    assert re.search(r'<select [^>]*name="assignee"', html)  # the assign picker is still there
    assert 'name="text"' in html  # and the comment form
    assert "Acknowledged by Olivia Ops, through AlarmDesk" in timeline_lines(html)[-1]


def test_a_comment_posted_with_htmx_shows_in_the_timeline_once(as_user):
    client = as_user(OLIVIA)
    alarm = fresh_alarm()
    html = post(client, alarm, action="comment", text="Pump seal replaced")
    lines = [line for line in timeline_lines(html) if "Pump seal replaced" in line]
    assert len(lines) == 1
    assert "Comment by Olivia Ops, through AlarmDesk" in lines[0]
    assert "Pump seal replaced</textarea>" not in html  # the form is empty again


def test_each_act_is_one_timeline_line_naming_people_not_ids(as_user, store):
    client = as_user(OLIVIA)
    alarm = fresh_alarm()
    tenant = TbSession(store.url, TENANT)
    admin = tenant.me
    post(client, alarm, action="ack")
    post(client, alarm, action="assign", assignee=admin["id"]["id"])
    lines = timeline_lines(client.get(f"/alarms/{alarm.id}/").content.decode())
    acts = [line for line in lines if "Acknowledged" in line or "Assigned" in line]
    assert len(acts) == 2, lines
    assert "Assigned to tenant@thingsboard.org by Olivia Ops, through AlarmDesk" in acts[1]
    assert not [line for line in lines if admin["id"]["id"] in line]


def test_only_the_actions_that_fit_the_state_are_offered(as_user):
    client = as_user(OLIVIA)
    alarm = fresh_alarm()
    page = client.get(f"/alarms/{alarm.id}/").content.decode()
    assert buttons(page) == ["ack", "clear", "assign", "delete"]  # nobody to unassign
    mine = post(client, alarm, action="assign", assignee="me")
    assert buttons(mine) == ["ack", "clear", "unassign", "delete"]  # not "Assign to me" again
    cleared = post(client, alarm, action="clear", confirmed="1")
    assert buttons(cleared) == ["ack", "unassign", "delete"]


def test_an_alarm_deleted_in_thingsboard_offers_no_action(as_user, store):
    client = as_user(TENANT)
    alarm = fresh_alarm()
    TbSession(store.url, TENANT).delete(f"/api/alarm/{alarm.id}").raise_for_status()
    html = client.get(f"/alarms/{alarm.id}/").content.decode()
    assert buttons(html) == []
    assert 'name="text"' not in html
    assert "no longer exists in ThingsBoard" in html


def test_a_slow_thingsboard_is_not_said_to_have_failed_to_send_telemetry(as_user, store):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(originator_type="DEVICE").first()
    sim(store, "/sim/faults", {"latency_ms": 2100})
    html = client.get(f"/alarms/{alarm.id}/").content.decode()
    assert "were not asked for" in html
    assert "did not send" not in html


def test_the_detail_page_sends_strangers_to_sign_in(client, store):
    alarm = fresh_alarm()
    response = client.get(f"/alarms/{alarm.id}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client.post(f"/alarms/{alarm.id}/", {"action": "ack"}).status_code == 302
    assert not Alarm.objects.get(id=alarm.id).acknowledged


def test_the_detail_page_refuses_other_methods(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.first()
    assert client.put(f"/alarms/{alarm.id}/").status_code == 405
    assert client.delete(f"/alarms/{alarm.id}/").status_code == 405
