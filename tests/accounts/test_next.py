"""`next` is only ever a path of this site: anything else is ignored, never a 500."""

import pytest

from alarmdesk.alarms.models import Alarm
from tests.conftest import TENANT

NOT_PATHS = ["x", "bulk_job", "alarm_list", "//evil.example/", "https://evil.example/", "/\\evil"]


@pytest.mark.parametrize("next_url", NOT_PATHS)
def test_a_next_that_is_not_a_path_of_this_site_is_ignored_after_sign_in(client, store, next_url):
    response = client.post(
        "/login/", {"username": TENANT[0], "password": TENANT[1], "next": next_url}
    )
    assert response.status_code == 302
    assert response["Location"] == "/alarms/"


def test_a_path_of_this_site_is_where_sign_in_leads(client, store):
    response = client.post(
        "/login/", {"username": TENANT[0], "password": TENANT[1], "next": "/history/?hours=12"}
    )
    assert response["Location"] == "/history/?hours=12"


@pytest.mark.parametrize("next_url", NOT_PATHS)
def test_a_next_that_is_not_a_path_is_ignored_after_an_action(as_user, next_url):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(cleared=False, acknowledged=False).first()
    response = client.post(f"/alarms/{alarm.id}/", {"action": "ack", "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == f"/alarms/{alarm.id}/"


@pytest.mark.parametrize("next_url", NOT_PATHS)
def test_a_next_that_is_not_a_path_is_ignored_on_the_bulk_page(as_user, next_url):
    client = as_user(TENANT)
    response = client.post("/alarms/bulk/", {"action": "ack", "next": next_url})  # no ids
    assert response.status_code == 302
    assert response["Location"] == "/alarms/"
