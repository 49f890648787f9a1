"""/history/ and its CSV export, per persona, against the simulator's synced demo data."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from alarmdesk.alarms.models import Alarm
from alarmdesk.history.views import spreadsheet_safe
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
    params = {"since": (timezone.now() - timedelta(days=365)).date().isoformat()}
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


# --- what a user can type, bounded and answered in words ------------------------------------


def test_a_history_of_two_thousand_years_is_refused_in_words(as_user):
    client = as_user(CUSTOMER_A)
    page = client.get("/history/", {"since": "0001-01-01"})
    assert page.status_code == 400
    assert "Choose a date from 1970-01-01 to 2100-12-31 (0001-01-01 is outside)." in (
        page.content.decode()
    )
    exported = client.get("/history/", {"since": "0001-01-01", "format": "csv"})
    assert exported.status_code == 400
    assert exported["Content-Type"] == "text/plain; charset=utf-8"
    assert exported.content.decode() == (
        "Not exported: the filter was not understood."
        " From: Choose a date from 1970-01-01 to 2100-12-31 (0001-01-01 is outside).\n"
    )


@pytest.mark.parametrize("fmt", [None, "csv"])
def test_more_than_366_days_of_history_are_refused_on_the_page_and_in_the_csv(as_user, fmt):
    client = as_user(CUSTOMER_A)
    params = {"since": "2000-01-01", **({"format": fmt} if fmt else {})}
    response = client.get("/history/", params)
    assert response.status_code == 400
    assert "Choose at most 366 days: from 2000-01-01 to " in response.content.decode()
    ok = client.get("/history/", {**params, "since": "2000-01-01", "until": "2000-12-31"})
    assert ok.status_code == 200


def test_a_reversed_range_is_refused_in_words(as_user):
    client = as_user(TENANT)
    response = client.get("/history/", {"since": "2024-02-01", "until": "2024-01-01"})
    assert response.status_code == 400
    assert "To (2024-01-01) is before From (2024-02-01)." in response.content.decode()


@pytest.mark.parametrize("url", ["/alarms/", "/history/", "/history/?format=csv"])
@pytest.mark.parametrize("field", ["since", "until"])
def test_a_date_past_year_9999_is_a_400_not_a_500_on_every_page(as_user, url, field):
    client = as_user(TENANT)
    for date in ("9999-12-31", "10000-01-01"):
        response = client.get(url, {field: date})
        assert response.status_code == 400
        words = response.content.decode()
        assert "Choose a date from 1970-01-01 to 2100-12-31" in words or "valid date" in words


def test_the_400_page_keeps_the_filter_form_with_the_error_next_to_the_field(as_user):
    client = as_user(TENANT)
    response = client.get("/history/", {"until": "9999-12-31", "q": "temperature"})
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(
        r'name="until" value="9999-12-31" aria-invalid="true" aria-describedby="until-error">'
        r'<small id="until-error">Choose a date from 1970-01-01 to 2100-12-31',
        html,
    )
    assert 'name="q" value="temperature"' in html
    assert '<table class="history-table"' not in html  # no rows for a filter not applied


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": str(10**30)},
        {"hours": "0"},
        {"hours": "99999999999999999999"},
        {"sort": "evil"},
        {"status": "NOPE"},
        {"status": ["ANY", "CLEARED"]},
        {"severity": "PURPLE"},
        {"type": "No Such Type"},
        {"assignee": "x"},
        {"customer": "x"},
        {"q": "x" * 5000},
        {"format": "xls"},
    ],
)
def test_every_typed_parameter_not_understood_is_a_400_in_words(as_user, params):
    client = as_user(CUSTOMER_A)
    for fmt in ({}, {"format": "csv"}):
        response = client.get("/history/", {**fmt, **params})
        assert response.status_code == 400
        assert "not understood" in response.content.decode()


def test_every_csv_cell_is_quoted_and_formulas_are_neutralised_after_whitespace(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.order_by("-start_ts").first()
    Alarm.objects.filter(id=alarm.id).update(
        type=" =1+1", originator_name="\t=cmd|' /C calc'!A0", originator_label="a;=1+1"
    )
    response = client.get("/history/", {"format": "csv"})
    text = b"".join(response.streaming_content).decode()
    lines = text.splitlines()
    assert lines[0].startswith('"id","severity",')
    mine = next(line for line in lines if line.startswith(f'"{alarm.id}"'))
    assert '"\' =1+1"' in mine
    assert "\"'\t=cmd|' /C calc'!A0\"" in mine
    assert '"a;=1+1"' in mine  # one quoted cell, even where ";" splits cells
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell.lstrip(" \t\r\n").startswith(("=", "+", "-", "@")) or cell[0] == "'"


@pytest.mark.parametrize("text", ["\n=1+1", "\r=1+1", " \t@SUM(A1)", "-2+3", "\t"])
def test_a_cell_led_by_whitespace_then_a_formula_is_prefixed(text):
    assert spreadsheet_safe(text) == "'" + text
