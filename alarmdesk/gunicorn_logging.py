"""gunicorn's access log without the quiet refreshes.

Every open list or on-call page asks every ALARMDESK_LIVE_SECONDS whether anything changed,
and is almost always answered 204 (alarmdesk/livepoll.py): a line for each would be 43,200
lines a day per open page, and formatting them cost as much server time as answering them
(measured: `gunicorn --access-logfile -` halved the requests a second a trivial app served).
Everything else, a refresh that re-rendered included, is logged as gunicorn logs it.
"""

from gunicorn.glogging import Logger

from alarmdesk.livepoll import PATHS


class AccessLog(Logger):
    def access(self, resp, req, environ, request_time):
        if (
            resp.status_code == 204
            and environ.get("HTTP_HX_REQUEST") == "true"
            and environ.get("PATH_INFO") in PATHS
        ):
            return
        super().access(resp, req, environ, request_time)
