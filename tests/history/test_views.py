"""/history/ and its CSV export, per persona, against the simulator's synced demo data."""

import csv
import io
import re

import pytest
from django.http import StreamingHttpResponse

from alarmdesk.alarms.models import Alarm
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT, thingsboard_alarm_ids

ROW = re.compile(r'<tr data-alarm-id="([0-9a-f-]{36})">')


def table_ids(client, params):
    ids, page = [], 1
    while True:
        html = client.get("/history/", {**params, "page": page}).content.decode()
        ids += ROW.findall(html)
        if 'rel="next"' not in html:
            return ids
        page += 1


def csv_rows(client, params):
    response = client.get("/history/", {**params, "format": "csv"})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    "params", [{}, {"severity": "CRITICAL"}, {"q": "temperature", "status": "CLEARED"}]
)
def test_the_export_has_exactly_the_rows_of_the_table(as_user, params):
    client = as_user(TENANT)
    rows = csv_rows(client, params)
    assert rows[0][0] == "id"
    assert [row[0] for row in rows[1:]] == table_ids(client, params)
    assert len(rows) > 1


def test_a_customer_users_history_and_export_hold_only_their_customer(as_user, store):
    mine = thingsboard_alarm_ids(store, CUSTOMER_A)
    client = as_user(CUSTOMER_A)
    params = {"since": "2000-01-01"}
    shown = set(table_ids(client, params))
    exported = {row[0] for row in csv_rows(client, params)[1:]}
    assert shown == exported
    assert shown <= mine
    assert shown
    others = set(table_ids(as_user(CUSTOMER_B), params))
    assert not shown & others


def test_the_summary_counts_what_the_table_lists(as_user):
    client = as_user(TENANT)
    html = client.get("/history/").content.decode()
    total = int(re.search(r"</time>:\s*<strong>(\d+)</strong>", html).group(1))
    assert total == len(table_ids(client, {}))
    assert "Time to acknowledge" in html
    assert "Never acknowledged" in html
    assert "<svg" in html


def test_spreadsheet_formulas_in_alarm_text_are_neutralised(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.order_by("-start_ts").first()
    Alarm.objects.filter(id=alarm.id).update(
        type='=HYPERLINK("http://evil")', originator_name="+SUM(A1)", originator_label="@cmd"
    )
    rows = {row[0]: row for row in csv_rows(client, {})}
    row = rows[str(alarm.id)]
    assert row[2] == '\'=HYPERLINK("http://evil")'
    assert row[3] == "'+SUM(A1)"
    assert row[4] == "'@cmd"


def test_my_shift_reads_as_a_handover(as_user):
    client = as_user(TENANT)
    html = client.get("/history/", {"hours": 12}).content.decode()
    assert "Handover" in html
    open_now = Alarm.objects.filter(cleared=False, deleted=False).count()
    assert re.search(rf"<strong>{open_now}</strong> still open", html)


def test_deleted_alarms_stay_in_the_history(as_user, store):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(cleared=True).order_by("-start_ts").first()
    Alarm.objects.filter(id=alarm.id).update(deleted=True)
    assert str(alarm.id) in table_ids(client, {})


def test_anonymous_users_are_sent_to_sign_in(client, store):
    assert client.get("/history/")["Location"].startswith("/login/?next=")
    assert client.get("/history/?format=csv")["Location"].startswith("/login/?next=")
