"""Clearing asks first: without `confirmed=1` nothing is cleared. Without JavaScript the
server asks on a page of its own; with it, a dialog asks (tests/browser/test_confirm.py)."""

import re

from alarmdesk.alarms.models import Alarm, AuditEntry
from tests.conftest import TENANT, TbSession


def active(store):
    alarm = Alarm.objects.filter(cleared=False).order_by("id").first()
    return alarm, TbSession(store.url, TENANT)


def cleared_in_thingsboard(tb, alarm):
    return tb.get(f"/api/alarm/info/{alarm.id}").json()["cleared"]


def test_a_clear_without_javascript_asks_on_a_page_of_its_own_first(as_user, store):
    client = as_user(TENANT)
    alarm, tb = active(store)

    page = client.post(f"/alarms/{alarm.id}/", {"action": "clear", "next": "/alarms/"})

    html = page.content.decode()
    assert page.status_code == 200
    assert f"Clear {alarm.type} on {alarm.originator_name}?" in html
    assert "cannot be made active again" in html
    assert not cleared_in_thingsboard(tb, alarm)
    assert not AuditEntry.objects.exists()  # nothing was done, so nothing to log

    yes = dict(re.findall(r'name="(action|confirmed|next)" value="([^"]*)"', html))
    answer = client.post(f"/alarms/{alarm.id}/", yes)
    assert answer["Location"] == "/alarms/"
    assert cleared_in_thingsboard(tb, alarm)


def test_an_htmx_clear_not_confirmed_changes_nothing(as_user, store):
    client = as_user(TENANT)
    alarm, tb = active(store)

    answer = client.post(
        f"/alarms/{alarm.id}/", {"action": "clear"}, headers={"HX-Request": "true"}
    )

    assert "it was not confirmed" in answer.content.decode()
    assert not cleared_in_thingsboard(tb, alarm)
