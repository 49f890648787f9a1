"""The list's filter: what a user may type in the URL, and the words when it cannot be used."""

from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from alarmdesk.alarms.filters import AlarmFilter
from alarmdesk.alarms.models import BulkJob
from alarmdesk.history.views import HistoryFilter
from tests.conftest import CUSTOMER_A, TENANT


def parsed(form_class, params):
    form = form_class(QueryDict(urlencode(params, doseq=True)), types=["High Temperature"])
    form.is_valid()
    return form


@pytest.mark.parametrize("date", ["0001-01-01", "1969-12-31", "2101-01-01", "9999-12-31"])
@pytest.mark.parametrize("field", ["since", "until"])
def test_a_date_outside_1970_to_2100_is_refused_in_words(field, date):
    form = parsed(AlarmFilter, {field: date})
    assert form.errors[field] == [
        f"Choose a date from 1970-01-01 to 2100-12-31 ({date} is outside)."
    ]


def test_the_first_and_last_dates_allowed_are_accepted():
    assert parsed(AlarmFilter, {"since": "1970-01-01", "until": "2100-12-31"}).is_valid()


def test_a_reversed_window_is_refused_in_words():
    form = parsed(AlarmFilter, {"since": "2024-02-01", "until": "2024-01-01"})
    assert form.errors["until"] == ["To (2024-01-01) is before From (2024-02-01)."]


def test_a_single_day_window_is_accepted():
    assert parsed(AlarmFilter, {"since": "2024-02-01", "until": "2024-02-01"}).is_valid()


def test_the_same_open_group_named_twice_counts_once():
    form = parsed(AlarmFilter, {"open": ["Door Open", "Door Open", *map(str, range(49))]})
    assert form.is_valid()
    assert form.cleaned_data["open"].count("Door Open") == 1


def test_a_parameter_given_twice_is_refused_rather_than_one_silently_chosen():
    form = parsed(AlarmFilter, {"status": ["ACTIVE", "CLEARED"], "severity": ["MAJOR", "MINOR"]})
    assert form.errors == {"status": ["Give Status once, not 2 times."]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "abc"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": str(10**30)}, "page"),
        ({"sort": "evil"}, "sort"),
        ({"status": "NOPE"}, "status"),
        ({"severity": "PURPLE"}, "severity"),
        ({"type": "No Such Type"}, "type"),
        ({"assignee": "x"}, "assignee"),
        ({"customer": "' OR 1=1 --"}, "customer"),
        ({"q": "x" * 101}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"since": "2024-13-45"}, "since"),
        ({"until": "garbage"}, "until"),
        ({"group": "severity"}, "group"),
        ({"originator": "Temperature Sensor A01"}, "originator"),
        ({"open": "x" * 256}, "open"),
        ({"open": [str(n) for n in range(51)]}, "open"),
    ],
)
def test_every_typed_parameter_not_understood_is_an_error_of_its_field(params, field):
    form = parsed(AlarmFilter, params)
    assert list(form.errors) == [field]
    assert form.error_text().startswith(f"{form.fields[field].label}: ")


def test_two_thousand_years_of_history_are_refused_in_words():
    form = parsed(HistoryFilter, {"since": "2000-01-01", "until": "2000-12-31"})
    assert form.is_valid()  # 366 days: the most one page holds
    form = parsed(HistoryFilter, {"since": "2000-01-01", "until": "2001-01-01"})
    assert form.errors["since"] == [
        "Choose at most 366 days: from 2000-01-01 to 2001-01-01 is 367 days."
    ]


def test_history_from_a_date_to_now_counts_the_days_to_today():
    form = parsed(HistoryFilter, {"since": "2000-01-01"})
    assert form.errors["since"][0].startswith("Choose at most 366 days: from 2000-01-01 to ")


def test_history_from_a_future_date_is_refused_as_reversed():
    form = parsed(HistoryFilter, {"since": "2100-01-01"})
    assert form.errors["since"] == ["From (2100-01-01) is after today, the end of the range."]


def test_history_up_to_a_date_shows_the_week_before_it():
    form = parsed(HistoryFilter, {"until": "2024-01-31"})
    assert form.is_valid()
    since, until = form.range_ms()
    assert until - since == 7 * 86_400_000


@pytest.mark.parametrize(
    "params",
    [{"hours": "0"}, {"hours": "99999"}, {"hours": "1e3"}, {"format": "xls"}],
)
def test_history_refuses_what_it_cannot_show(params):
    form = parsed(HistoryFilter, params)
    assert list(form.errors) == list(params)


def test_hours_and_dates_together_are_refused_rather_than_one_ignored():
    form = parsed(HistoryFilter, {"hours": "12", "since": "2024-01-01"})
    assert form.errors["hours"] == ["Choose one of my shift, hours or dates."]


# --- the filter as the bulk action reads it -----------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{"until": "9999-12-31"}, {"since": "2024-02-01", "until": "2024-01-01"}, {"page": "x"}],
)
def test_bulk_over_a_filter_that_cannot_be_used_is_refused_in_words(as_user, params):
    client = as_user(CUSTOMER_A)
    response = client.post(
        "/alarms/bulk/", {"action": "ack", "all": "1", "next": "/alarms/?status=ANY", **params}
    )
    assert response.status_code == 302
    assert response["Location"] == "/alarms/?status=ANY"
    assert not BulkJob.objects.exists()
    words = " ".join(str(m) for m in response.wsgi_request._messages)
    assert words.startswith("Nothing was done: the filter was not understood.")


def test_bulk_over_a_valid_window_still_runs(as_user):
    client = as_user(TENANT)
    response = client.post(
        "/alarms/bulk/", {"action": "ack", "all": "1", "since": "1970-01-01", "until": "2100-12-31"}
    )
    assert response.status_code == 200  # the proposal, to confirm
    assert BulkJob.objects.count() == 1
