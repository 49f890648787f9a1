"""A time limit on every database statement a web request runs.

No request may hold a web process for long, whatever a user types: a statement that runs
longer than ALARMDESK_STATEMENT_SECONDS is interrupted, and the user gets a page that says
so (503) instead of a spinning tab and a stuck worker. The workers have no such limit:
Celery's task time limits bound them.

SQLite has no statement timeout of its own; its progress handler, called every few
thousand virtual-machine steps, interrupts the statement once its time is up. A statement
counts from its execute() until the next statement starts, so fetching the rows of a big
result counts too.

PostgreSQL has one: `statement_timeout`, set for the connection before the request's
first statement and reset once the request is answered (the same connection may serve
other work next); the server cancels a statement past it (SQLSTATE 57014).
"""

import time

from django.conf import settings
from django.db import OperationalError, connections
from django.shortcuts import render

# Virtual-machine steps between two looks at the clock (a few microseconds of work).
STEPS = 5_000


QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled (its timeout)


class _Clock:
    """When the current statement of one connection started; whether PostgreSQL was told
    the limit for this request."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.started = None
        self.told = False

    def expired(self):
        return self.started is not None and time.monotonic() - self.started > self.seconds


class StatementTimeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        connection = connections["default"]  # AlarmDesk has one database
        clock = _Clock(settings.ALARMDESK_STATEMENT_SECONDS)
        try:
            with connection.execute_wrapper(_timed(clock)):
                return self.get_response(request)
        finally:
            if connection.vendor == "sqlite" and connection.connection is not None:
                connection.connection.set_progress_handler(None, 0)
            elif clock.told:
                _forget_limit(connection)

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError) and _interrupted(exception):
            return render(request, "too_slow.html", status=503)
        return None


def _interrupted(exception):
    if "interrupted" in str(exception):  # SQLite, by the progress handler
        return True
    return getattr(exception.__cause__, "sqlstate", None) == QUERY_CANCELED


def _tell_limit(connection, seconds):
    """PostgreSQL: the limit for this connection's next statements (milliseconds, at least
    one: zero would mean none). On the driver's own connection, not through Django's cursor
    wrappers (and so not through this very middleware's)."""
    with connection.connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, false)",
            [f"{max(1, round(seconds * 1000))}ms"],
        )


def _forget_limit(connection):
    from psycopg.pq import TransactionStatus  # PostgreSQL only: psycopg is installed

    raw = connection.connection
    if raw is None or raw.closed:
        return
    if raw.info.transaction_status in (TransactionStatus.INERROR, TransactionStatus.UNKNOWN):
        # A failed transaction (the timeout's own, say) takes no RESET: a connection
        # outside any atomic block is closed rather than kept with the limit still set
        # (inside one, a test's, its rollback undoes a limit set within it).
        if not connection.in_atomic_block:
            connection.close()
        return
    with raw.cursor() as cursor:
        cursor.execute("RESET statement_timeout")


def _timed(clock):
    def execute(run, sql, params, many, context):
        connection = context["connection"]
        if connection.vendor == "sqlite":
            # Set on each statement: the connection may have been opened by this one.
            connection.connection.set_progress_handler(clock.expired, STEPS)
            clock.started = time.monotonic()
        elif connection.vendor == "postgresql" and not clock.told:
            _tell_limit(connection, clock.seconds)
            clock.told = True
        return run(sql, params, many, context)

    return execute
