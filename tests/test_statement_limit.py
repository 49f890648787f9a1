"""No request holds a web process for long: a database statement that runs past
ALARMDESK_STATEMENT_SECONDS is interrupted, and the user is told so."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError, connection
from django.http import HttpResponse
from django.test import RequestFactory

from alarmdesk import statement_limit
from alarmdesk.statement_limit import StatementTimeLimitMiddleware
from tests.conftest import TENANT

# Counts to a billion: minutes of work for SQLite or PostgreSQL, unless interrupted.
ENDLESS = """
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000)
    SELECT count(*) FROM n
"""


def endless_view(request):
    with connection.cursor() as cursor:
        cursor.execute(ENDLESS)
        return HttpResponse(str(cursor.fetchone()[0]))


@pytest.fixture
def sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite progress handler")


def test_a_statement_past_the_limit_is_interrupted_and_the_page_says_why(
    transactional_db, settings
):
    settings.ALARMDESK_STATEMENT_SECONDS = 0.5
    middleware = StatementTimeLimitMiddleware(endless_view)
    request = RequestFactory().get("/history/")
    request.session = SessionStore()

    with pytest.raises(OperationalError) as interrupted:
        middleware(request)
    # What Django's handler does with the view's exception: asks the middleware.
    response = middleware.process_exception(request, interrupted.value)

    assert response.status_code == 503
    assert "took too long" in response.content.decode()


def test_statements_outside_web_requests_have_no_limit(transactional_db, settings):
    settings.ALARMDESK_STATEMENT_SECONDS = 0.000001
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < 200000) SELECT count(*) FROM n"
        )
        assert cursor.fetchone()[0] == 200000


def test_the_limit_ends_with_the_request_even_one_that_was_interrupted(transactional_db, settings):
    """The connection outlives the request (CONN_MAX_AGE): the work it does next, a worker's
    say, must not inherit the request's limit."""
    settings.ALARMDESK_STATEMENT_SECONDS = 0.2
    request = RequestFactory().get("/history/")
    request.session = SessionStore()

    def quick_view(request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return HttpResponse("ok")

    assert StatementTimeLimitMiddleware(quick_view)(request).status_code == 200
    with pytest.raises(OperationalError):
        StatementTimeLimitMiddleware(endless_view)(request)
    with connection.cursor() as cursor:  # outside any request: no limit
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < 3000000) SELECT count(*) FROM n"  # over 0.2 s on either database
        )
        assert cursor.fetchone()[0] == 3000000


def test_a_page_whose_statements_run_too_long_is_a_503_in_words(
    as_user, settings, sqlite_only, monkeypatch
):
    client = as_user(TENANT)
    settings.ALARMDESK_STATEMENT_SECONDS = 0.000001  # every statement is past its time
    monkeypatch.setattr(statement_limit, "STEPS", 100)  # and looks at the clock early

    response = client.get("/history/")

    assert response.status_code == 503
    assert "took too long" in response.content.decode()
