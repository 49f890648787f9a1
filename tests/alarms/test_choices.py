"""The types and assignees the filters offer: read once for many changes, by the sync rather
than by a page, and never the reason a filter on a type the store holds is refused.

Reading them is a scan of the scope (at 1,000,000 alarms on PostgreSQL, 475 to 930 ms), so
a page does not pay it on every change: they are kept until the scope changes and for
CHOICES_STALE seconds after, and the sync reads them again for the scopes it changed."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alarmdesk.alarms import filters, sync
from alarmdesk.alarms.models import Alarm
from tests.alarms.conftest import sim
from tests.alarms.test_views import listed
from tests.conftest import CUSTOMER_A, TENANT


def choice_reads(run):
    """The statements `run()` made that read the offered types or assignees."""
    with CaptureQueriesContext(connection) as captured:
        result = run()
    reads = [q["sql"] for q in captured if "SELECT DISTINCT" in q["sql"]]
    return result, reads


def raise_new_type(store, alarm_type):
    device = Alarm.objects.filter(customer_id__isnull=True).values("originator_name").first()
    return sim(store, "/sim/alarms", {"device": device["originator_name"], "type": alarm_type})


@pytest.mark.parametrize("persona", [TENANT, CUSTOMER_A])
def test_the_sync_read_the_choices_so_no_page_does(as_user, persona):
    client = as_user(persona)
    response, reads = choice_reads(lambda: client.get("/alarms/"))
    assert response.status_code == 200
    assert reads == []


def test_a_change_soon_after_reads_them_nowhere_again(as_user, store):
    client = as_user(TENANT)

    def change_then_look():
        raise_new_type(store, "Choices Soon")
        sync.run_cycle()
        return client.get("/alarms/")

    response, reads = choice_reads(change_then_look)
    assert response.status_code == 200
    assert reads == []


def test_a_type_not_offered_yet_is_still_filtered_on(as_user, store):
    client = as_user(TENANT)
    raise_new_type(store, "Choices New")
    sync.run_cycle()
    new = Alarm.objects.get(type="Choices New")
    page = client.get("/alarms/").content.decode()
    assert 'value="Choices New"' not in page  # kept choices, fresh enough
    assert listed(client.get("/alarms/", {"type": "Choices New"})) == [str(new.id)]
    # A type no alarm of the scope has is refused in words, as before.
    refused = client.get("/alarms/", {"type": "No Such Type"})
    assert refused.status_code == 400
    assert "No Such Type" in refused.content.decode()


def test_once_stale_the_sync_offers_the_new_type(as_user, store, monkeypatch):
    client = as_user(TENANT)
    raise_new_type(store, "Choices Later")
    monkeypatch.setattr(filters, "CHOICES_STALE", 0)
    _, reads = choice_reads(sync.run_cycle)
    assert reads  # the sync read them, for the scopes it changed
    response, reads = choice_reads(lambda: client.get("/alarms/"))
    assert 'value="Choices Later"' in response.content.decode()
    assert reads == []


def test_with_redis_down_the_choices_are_read_by_the_page(as_user, redis_down):
    client = as_user(TENANT)
    response, reads = choice_reads(lambda: client.get("/alarms/"))
    assert response.status_code == 200
    assert reads
