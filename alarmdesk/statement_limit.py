"""A time limit on every database statement a web request runs.

No request may hold a web process for long, whatever a user types: a statement that runs
longer than ALARMDESK_STATEMENT_SECONDS is interrupted, and the user gets a page that says
so (503) instead of a spinning tab and a stuck worker. The workers have no such limit:
Celery's task time limits bound them.

SQLite has no statement timeout of its own; its progress handler, called every few
thousand virtual-machine steps, interrupts the statement once its time is up. A statement
counts from its execute() until the next statement starts, so fetching the rows of a big
result counts too.
"""

import time

from django.conf import settings
from django.db import OperationalError, connections
from django.shortcuts import render

# Virtual-machine steps between two looks at the clock (a few microseconds of work).
STEPS = 5_000


class _Clock:
    """When the current statement of one connection started."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.started = None

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

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError) and "interrupted" in str(exception):
            return render(request, "too_slow.html", status=503)
        return None


def _timed(clock):
    def execute(run, sql, params, many, context):
        connection = context["connection"]
        if connection.vendor == "sqlite":
            # Set on each statement: the connection may have been opened by this one.
            connection.connection.set_progress_handler(clock.expired, STEPS)
            clock.started = time.monotonic()
        return run(sql, params, many, context)

    return execute
