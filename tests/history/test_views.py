"""/history/ and its CSV export, per persona, against the simulator's synced demo data."""

import csv
import html
import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from alarmdesk.alarms.filters import to_ms
from alarmdesk.alarms.models import Alarm
from alarmdesk.history.views import COLUMNS, spreadsheet_safe
from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT, thingsboard_alarm_ids

ROW = re.compile(r'<tr data-alarm-id="([0-9a-f-]{36})"')
FIGURE = re.compile(r'<a href="([^"]+)" data-figure="([a-z-]+)"><strong>([\d,]+)</strong>')


def month_ago():
    return (timezone.now() - timedelta(days=30)).date().isoformat()


def part(html_text, start, end):
    """The text from `start` to the first `end` after it."""
    begin = html_text.index(start)
    return html_text[begin : html_text.index(end, begin)]


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
    total = int(re.search(r"</time>:\s*<strong>([\d,]+)</strong>", html).group(1).replace(",", ""))
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


def test_the_table_has_human_column_headers_and_the_export_keeps_machine_names(as_user):
    client = as_user(TENANT)
    page = client.get("/history/", {"since": month_ago()}).content.decode()
    headers = re.findall(
        r'<th scope="col">([^<]+)</th>', part(page, '<table class="history-table', "</thead>")
    )
    assert headers == [
        "Severity",
        "Alarm",
        "Status",
        "Raised",
        "Acknowledged",
        "Cleared",
        "Customer",
    ]
    assert csv_rows(client, {"since": month_ago()})[0] == COLUMNS


def test_the_table_says_statuses_and_severities_in_words(as_user):
    client = as_user(TENANT)
    page = client.get("/history/", {"since": month_ago()}).content.decode()
    table = part(page, '<table class="history-table', "</table>")
    assert not re.search(r">[^<]*\b(ACTIVE|CLEARED)_(UN)?ACK\b", table)
    assert not re.search(r">[^<]*\b(CRITICAL|MAJOR|MINOR|WARNING|INDETERMINATE)\b", table)
    assert "Cleared, acknowledged" in table
    assert "Active, unacknowledged" in table
    assert "Critical" in table


@pytest.mark.parametrize(
    ("params", "preset"),
    [
        ({}, "7 days"),
        ({"hours": "24"}, "24 hours"),
        ({"shift": "current"}, "My shift"),
        ({"since": "month ago"}, "30 days"),
        ({"since": "2026-01-01", "until": "2026-01-03"}, None),
        ({"hours": "5"}, None),
    ],
)
def test_the_chosen_range_is_marked_among_the_presets_and_stated(as_user, params, preset):
    client = as_user(TENANT)
    if params.get("since") == "month ago":
        params = {"since": month_ago()}
    page = client.get("/history/", params).content.decode()
    presets = part(page, '<p class="presets"', "</p>")
    chosen = re.findall(r'<a [^>]*aria-current="true"[^>]*>([^<]+)</a>', presets)
    assert [c.split(" (")[0] for c in chosen] == ([preset] if preset else [])
    stated = part(page, '<p class="range"', "</p>")
    assert "Alarms raised from <time" in stated
    if "since" in params:
        assert f'datetime="{params["since"]}T00:00:00' in stated


def test_my_shift_starts_at_the_last_configured_boundary(as_user, settings):
    client = as_user(TENANT)
    start = (timezone.localtime() - timedelta(hours=3)).replace(second=0, microsecond=0)
    settings.ALARMDESK_SHIFTS = ((start.hour, start.minute),)
    page = client.get("/history/").content.decode()
    assert f"My shift (since {start:%H:%M})" in page
    page = client.get("/history/", {"shift": "current"}).content.decode()
    assert f'datetime="{start.isoformat()}"' in part(page, '<p class="range"', "</p>")
    raised = Alarm.objects.filter(start_ts__gte=to_ms(start)).count()
    assert re.search(rf"</time>:\s*<strong>{raised}</strong>", page)


def test_without_configured_shifts_my_shift_is_the_last_12_hours(as_user, settings):
    client = as_user(TENANT)
    settings.ALARMDESK_SHIFTS = ()
    page = client.get("/history/", {"shift": "current"}).content.decode()
    assert "My shift (12 hours)" in page
    assert table_ids(client, {"shift": "current"}) == table_ids(client, {"hours": 12})


@pytest.mark.parametrize("params", [{"shift": "current"}, {"hours": 12}])
def test_the_handover_adds_up_and_each_figure_links_to_its_rows(as_user, params):
    client = as_user(TENANT)
    page = client.get("/history/", params).content.decode()
    handover = part(page, '<section class="handover"', "</section>")
    figures = {
        name: (html.unescape(href), int(n.replace(",", "")))
        for href, name, n in FIGURE.findall(handover)
    }
    raised = figures["raised"][1]
    assert raised > 0
    assert raised == sum(figures[name][1] for name in ("open", "acknowledged-only", "cleared"))
    for name in (
        "raised",
        "open",
        "acknowledged-only",
        "cleared",
        "older-acknowledged",
        "older-cleared",
    ):
        href, count = figures[name]
        url = urlsplit(href)
        assert url.path in ("", "/history/")
        linked = {key: values[0] for key, values in parse_qs(url.query).items()}
        assert len(table_ids(client, linked)) == count, name
    assert figures["older-acknowledged"][1] + figures["older-cleared"][1] > 0
    href, count = figures["open-now"]
    assert href == "/alarms/"
    assert count == Alarm.objects.filter(cleared=False, deleted=False).count()


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
        {"shift": "yesterday"},
        {"shift": "current", "hours": "12"},
        {"shift": "current", "since": "2026-01-01"},
        {"handled": "forgotten"},
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


def test_the_csv_streams_its_rows_in_pieces_of_many_rows(as_user):
    """Not a piece a row: each is a write to the socket for a client that asks for no
    compression, and costs the server its handling (a tenth of the export's time); the
    memory stays bounded by one piece."""
    client = as_user(TENANT)
    response = client.get("/history/", {"since": month_ago(), "format": "csv"})
    pieces = list(response.streaming_content)
    rows = len(list(csv.reader(io.StringIO(b"".join(pieces).decode())))) - 1
    assert rows > 100
    assert len(pieces) <= 2 + rows // 1000


def test_the_page_says_when_its_times_come_from_a_sample(as_user, monkeypatch):
    from alarmdesk.history import stats

    client = as_user(TENANT)
    whole = client.get("/history/").content.decode()
    assert "sample" not in part(whole, "How they were handled", "Alarms per day")
    monkeypatch.setattr(stats, "SAMPLE_ABOVE", 1)
    monkeypatch.setattr(stats, "SAMPLE_SIZE", 1)
    monkeypatch.setattr(stats, "WHOLE_TYPE", 0)
    sampled = html.unescape(client.get("/history/").content.decode())
    said = part(sampled, "How they were handled", "Alarms per day")
    total = re.search(r"estimated from a sample of about [\d,]+ of the ([\d,]+) alarms", said)
    assert total, said
    week = Alarm.objects.filter(start_ts__gte=to_ms(timezone.now() - timedelta(days=7)))
    assert int(total.group(1).replace(",", "")) == week.count()


def test_the_daily_counts_give_the_figures_counting_the_alarms_gives(as_user, store, monkeypatch):
    """Whole days from the counts the store keeps, the rest from the alarms: the same
    summary as counting every alarm, per persona and filter, after alarms were
    acknowledged, cleared and one moved three days back by an update (section 4.6)."""
    from dataclasses import replace

    from alarmdesk.alarms import sync
    from alarmdesk.history import views
    from tests.conftest import TbSession

    tb = TbSession(store.url, TENANT)
    opened = list(Alarm.objects.filter(cleared=False, acknowledged=False)[:3])
    tb.post(f"/api/alarm/{opened[0].id}/ack").raise_for_status()
    tb.post(f"/api/alarm/{opened[1].id}/clear").raise_for_status()
    moved = tb.get(f"/api/alarm/{opened[2].id}").json()
    moved["startTs"] -= 3 * 86_400_000
    moved["endTs"] = moved["startTs"]
    tb.post("/api/alarm", json=moved).raise_for_status()
    sync.run_cycle()

    real, compared = views.summarize, []

    def both_ways(alarms, since, until, **kwargs):
        kept = real(alarms, since, until, **kwargs)
        counted = real(alarms, since, until, **{**kwargs, "daily": None})
        assert replace(kept, sample=None) == replace(counted, sample=None)
        compared.append((kwargs["daily"] is not None, kept.total))
        return kept

    monkeypatch.setattr(views, "summarize", both_ways)
    some = Alarm.objects.filter(customer_id__isnull=False).first()
    month = {"since": month_ago()}
    cases = [
        {},
        month,
        {**month, "status": "ACTIVE"},
        {**month, "status": "ACTIVE_UNACK"},
        {**month, "status": "ACK"},
        {**month, "severity": ["CRITICAL", "MAJOR"]},
        {**month, "type": [some.type]},
        {"hours": 72},
        {"until": (timezone.now() - timedelta(days=2)).date().isoformat()},
    ]
    for persona in (TENANT, CUSTOMER_A, CUSTOMER_B):
        client = as_user(persona)
        for params in cases:
            assert client.get("/history/", params).status_code == 200, (persona, params)
    client = as_user(TENANT)
    for customer in (str(some.customer_id), "none"):
        assert client.get("/history/", {**month, "customer": customer}).status_code == 200
    assert client.get("/history/", {**month, "q": some.type[:4]}).status_code == 200
    assert compared[-1][0] is False  # a search: counted from the alarms
    assert all(used for used, _ in compared[:-1])
    assert sum(total for _, total in compared) > 0


def test_counts_of_a_thousand_and_more_are_written_with_their_thousands_apart(as_user, monkeypatch):
    """As the list writes "10,000+": a week of 1,000,000 alarms said "19157 Critical"."""
    from dataclasses import replace

    from alarmdesk.history import views

    real = views.summarize

    def many(*args, **kwargs):
        summary = real(*args, **kwargs)
        return replace(summary, total=232_102, by_severity=[("CRITICAL", 19_157)])

    monkeypatch.setattr(views, "summarize", many)
    page = as_user(TENANT).get("/history/").content.decode()
    assert "<strong>232,102</strong>" in page
    assert "19,157" in page
    assert "19157" not in page
