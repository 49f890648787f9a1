"""The quiet refresh answered before Django (alarmdesk/livepoll.py), through the WSGI
application as gunicorn calls it, against the simulator and a real Redis."""

import re
import time
from contextlib import contextmanager

import pytest
import requests
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import RequestFactory

from alarmdesk import livepoll
from alarmdesk.accounts import tokens
from alarmdesk.alarms.store import scope_key
from alarmdesk.redis_client import get_redis
from tests.conftest import CUSTOMER_A, TENANT

pytestmark = pytest.mark.django_db(transaction=True)

PER_ANSWER = {"expires", "date", "set-cookie", "x-sync-as-of", "content-length"}


class Counting:
    """Django's WSGI handler, counting the requests that reach it."""

    def __init__(self):
        self.django = WSGIHandler()
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.django(environ, start_response)


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setattr(livepoll, "READ_SECONDS", 0)  # every refresh reads Redis afresh
    return livepoll.QuietRefresh(Counting())


@contextmanager
def _connections_kept():
    # As Django's test client does: the end of a request must not close the test's database
    # connection.
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_finished.connect(close_old_connections)


def call(app, path, cookies, query=None, **extra):
    """(status code, headers as a dict of lower-case names, body) of one GET through `app`."""
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    environ = RequestFactory().get(path, query or {}, HTTP_COOKIE=header, **extra).environ
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {name.lower(): value for name, value in headers}

    with _connections_kept():
        parts = app(environ, start_response)
        try:
            body = b"".join(parts)
        finally:
            getattr(parts, "close", lambda: None)()
    return answer["status"], answer["headers"], body


def refresh(app, cookies, version, path="/alarms/", **extra):
    return call(app, path, cookies, {"v": version}, HTTP_HX_REQUEST="true", **extra)


def signed_in(as_user, persona, path="/alarms/"):
    """(cookies, the page's version) for `persona` after opening `path`."""
    client = as_user(persona)
    page = client.get(path).content.decode()
    version = re.search(r'(?:data-v="|\?v=)(\d*)', page).group(1)
    return {name: morsel.value for name, morsel in client.cookies.items()}, version, client


def bump(kind, scope_id):
    get_redis().incr(scope_key(kind, scope_id))


def session_user(cookies):
    from django.contrib.sessions.backends.db import SessionStore

    data = SessionStore(session_key=cookies["sessionid"]).load()
    return data[tokens.SESSION_KEY]["user"]


def test_a_quiet_refresh_is_answered_before_django_with_djangos_own_headers(as_user, app):
    cookies, version, _ = signed_in(as_user, TENANT)
    assert livepoll.COOKIE in cookies
    status, django_headers, _ = refresh(app, cookies, version)  # Django's own, learned
    assert (status, app.application.calls) == (204, 1)
    for _ in range(3):
        status, headers, body = refresh(app, cookies, version)
        assert (status, body) == (204, b"")
    assert app.application.calls == 1

    def kept(found):
        return {name: value for name, value in found.items() if name not in PER_ANSWER}

    assert kept(headers) == kept(django_headers)
    assert headers["x-sync-as-of"] == django_headers["x-sync-as-of"]
    assert "no-store" in headers["cache-control"]
    assert "expires" in headers


def test_a_change_in_the_scope_is_answered_by_django(as_user, app):
    cookies, version, _ = signed_in(as_user, TENANT)
    refresh(app, cookies, version)
    bump("tenant", session_user(cookies)["tenant_id"])
    status, _, body = refresh(app, cookies, version)
    assert status == 200
    assert b"alarm" in body
    assert app.application.calls == 2


def test_a_change_reaches_the_quiet_refreshes_within_the_read_interval(as_user, app, monkeypatch):
    monkeypatch.setattr(livepoll, "READ_SECONDS", 0.3)
    cookies, version, _ = signed_in(as_user, TENANT)
    refresh(app, cookies, version)  # learned
    assert refresh(app, cookies, version)[0] == 204  # read now
    bump("tenant", session_user(cookies)["tenant_id"])
    clock = livepoll.time.monotonic
    monkeypatch.setattr(livepoll.time, "monotonic", lambda: clock() + 0.31)
    assert refresh(app, cookies, version)[0] == 200
    assert app.application.calls == 2


def test_a_customer_users_ticket_watches_their_own_customer_only(as_user, app):
    cookies, version, _ = signed_in(as_user, CUSTOMER_A)
    user = session_user(cookies)
    refresh(app, cookies, version)
    bump("customer", "00000000-0000-0000-0000-00000000000b")  # another customer's scope
    assert refresh(app, cookies, version)[0] == 204
    assert app.application.calls == 1
    bump("customer", user["customer_id"])
    assert refresh(app, cookies, version)[0] == 200
    assert app.application.calls == 2


def test_the_on_call_page_refreshes_the_same_way(as_user, app):
    cookies, version, _ = signed_in(as_user, TENANT, "/oncall/")
    refresh(app, cookies, version, "/oncall/")
    assert refresh(app, cookies, version, "/oncall/")[0] == 204
    assert app.application.calls == 1


def test_without_a_good_ticket_django_answers(as_user, app):
    cookies, version, _ = signed_in(as_user, TENANT)
    other, _, _ = signed_in(as_user, CUSTOMER_A)
    refresh(app, cookies, version)
    kind, scope_id, expires, fresh, signature = cookies[livepoll.COOKIE].split(".")
    later = int(expires) + 600
    altered = [
        {"sessionid": cookies["sessionid"]},  # no ticket
        {**cookies, "sessionid": other["sessionid"]},  # another session's ticket
        {**cookies, livepoll.COOKIE: f"customer.{scope_id}.{expires}.{fresh}.{signature}"},
        {**cookies, livepoll.COOKIE: f"{kind}.{scope_id}.{later}.{fresh}.{signature}"},
        {**cookies, livepoll.COOKIE: f"{kind}.{scope_id}.{expires}.{later}.{signature}"},
        {**cookies, livepoll.COOKIE: f"{kind}.{scope_id}.{expires}.{fresh}.{'0' * 32}"},
        {**cookies, livepoll.COOKIE: "tenant.x"},
    ]
    for number, sent in enumerate(altered, start=2):
        status, _, _ = refresh(app, sent, version)
        assert app.application.calls == number, sent
        assert status in (200, 204)


def test_a_ticket_lasts_an_hour_and_never_past_the_session(as_user, settings):
    settings.SESSION_COOKIE_AGE = 600
    client = as_user(TENANT)
    client.get("/alarms/")
    ticket, session_key = client.cookies[livepoll.COOKIE].value, client.cookies["sessionid"].value
    expires = int(ticket.split(".")[2])
    assert expires <= livepoll.time.time() + 600
    assert livepoll.read_ticket(ticket, session_key, now=expires - 1)
    assert not livepoll.read_ticket(ticket, session_key, now=expires)
    settings.SESSION_COOKIE_AGE = 7 * 24 * 3600
    client = as_user(TENANT)
    client.get("/alarms/")
    expires = int(client.cookies[livepoll.COOKIE].value.split(".")[2])
    assert abs(expires - (livepoll.time.time() + livepoll.TICKET_SECONDS)) < 5


def test_a_disabled_users_page_is_signed_out_by_the_first_refresh_that_brings_news(
    as_user, app, dashboard, monkeypatch, settings
):
    cookies, version, _ = signed_in(as_user, TENANT)
    refresh(app, cookies, version)
    email = TENANT[0]
    requests.post(f"{dashboard.url}/sim/users/{email}/disable", timeout=10).raise_for_status()
    later = livepoll.time.time() + settings.ALARMDESK_SESSION_CHECK_SECONDS + 1
    monkeypatch.setattr(livepoll.time, "time", lambda: later)  # the same module for both
    # Nothing changed: "nothing changed" is all it is told, without asking ThingsBoard.
    assert refresh(app, cookies, version)[0] == 204
    assert app.application.calls == 1
    bump("tenant", session_user(cookies)["tenant_id"])
    _, headers, body = refresh(app, cookies, version)
    assert app.application.calls == 2
    assert "/login/" in headers.get("hx-redirect", "")
    assert b"<tr" not in body


def test_after_sign_out_the_old_cookies_get_nothing_before_django(as_user, app):
    cookies, version, client = signed_in(as_user, TENANT)
    refresh(app, cookies, version)
    client.post("/logout/")
    _, headers, _ = refresh(app, cookies, version)
    assert app.application.calls == 2
    assert "/login/" in headers.get("hx-redirect", "")


def test_with_redis_failing_django_answers(as_user, app, monkeypatch):
    cookies, version, _ = signed_in(as_user, TENANT)
    refresh(app, cookies, version)

    def down():
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(livepoll, "get_redis", down)
    status, _, _ = refresh(app, cookies, version)
    assert app.application.calls == 2
    assert status in (200, 204)


def test_where_https_is_required_plain_http_goes_to_django(as_user, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    cookies, version, _ = signed_in(as_user, TENANT)
    settings.SECURE_SSL_REDIRECT = True
    app = livepoll.QuietRefresh(Counting())  # Django's middleware reads the settings once
    https = {"HTTP_X_FORWARDED_PROTO": "https"}
    assert refresh(app, cookies, version, **https)[0] == 204  # Django's, learned
    assert refresh(app, cookies, version, **https)[0] == 204
    assert app.application.calls == 1
    status, _, _ = refresh(app, cookies, version)
    assert (status, app.application.calls) == (301, 2)
    status, _, _ = refresh(app, cookies, version, HTTP_HOST="evil.example", **https)
    assert (status, app.application.calls) == (400, 3)


def test_only_a_live_pages_htmx_get_is_looked_at(as_user, app):
    cookies, version, _ = signed_in(as_user, TENANT)
    refresh(app, cookies, version)
    call(app, "/alarms/", cookies, {"v": version})  # not htmx: the page
    call(app, "/history/", cookies, {"v": version}, HTTP_HX_REQUEST="true")
    assert app.application.calls == 3


def test_the_ticket_cookie_is_http_only_and_sent_again_only_when_half_spent(as_user):
    client = as_user(TENANT)
    first = client.get("/alarms/")
    morsel = first.cookies[livepoll.COOKIE]
    assert morsel["httponly"]
    assert (morsel["samesite"], morsel["path"]) == ("Lax", "/")
    assert livepoll.COOKIE not in client.get("/alarms/").cookies


def test_the_served_application_answers_quiet_refreshes_first():
    from alarmdesk.wsgi import application

    assert isinstance(application, livepoll.QuietRefresh)


def test_the_access_log_leaves_out_quiet_refreshes_only(monkeypatch):
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from alarmdesk.gunicorn_logging import AccessLog

    logged = []
    monkeypatch.setattr(
        Logger, "access", lambda self, resp, req, environ, took: logged.append(environ)
    )

    class Answer:
        def __init__(self, status_code):
            self.status_code = status_code

    log = AccessLog(Config())
    refresh = {"HTTP_HX_REQUEST": "true", "PATH_INFO": "/alarms/"}
    log.access(Answer(204), None, refresh, 0.001)
    log.access(Answer(204), None, {**refresh, "PATH_INFO": "/oncall/"}, 0.001)
    log.access(Answer(200), None, refresh, 0.01)  # re-rendered
    log.access(Answer(204), None, {"PATH_INFO": "/alarms/"}, 0.001)  # not htmx
    log.access(Answer(302), None, {"PATH_INFO": "/login/"}, 0.001)
    assert [environ.get("PATH_INFO") for environ in logged] == ["/alarms/", "/alarms/", "/login/"]


def test_the_cache_keeps_its_redis_client_between_calls():
    from django.core.cache import cache

    cache.set("kept-client", 1, 10)
    assert cache.get("kept-client") == 1
    assert cache._cache.get_client() is cache._cache.get_client(write=True)


# --- a changed refresh whose answer Django already made for this view ------------------------


def list_refresh(app, cookies, url, rows, **extra):
    """A list refresh as live.js sends it, through `app`: (status, headers, body decoded)."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    headers = {"HTTP_X_ALARM_ROWS": " ".join(rows), "HTTP_HX_REQUEST": "true", **extra}
    status, answer_headers, body = call(
        app, parts.path, cookies, dict(parse_qsl(parts.query)), **headers
    )
    if answer_headers.get("content-encoding") == "br":
        import brotli

        body = brotli.decompress(body)
    return status, answer_headers, body.decode()


def followed(url, body):
    delta = re.search(r'<template id="alarm-delta"[^>]*>', body).group(0)
    version = re.search(r'data-v="([^"]*)"', delta).group(1)
    drawn = re.search(r'data-t="([^"]*)"', delta).group(1)
    url = re.sub(r"([?&])v=[^&]*", rf"\g<1>v={version}", url)
    return re.sub(r"([?&])t=[^&]*", rf"\g<1>t={drawn}", url)


def two_watchers(own_client, store, app):
    """Two people of the tenant watching the list, their refresh URLs and rows after one
    change (their `t` then the same: the version's first drawing); Django has answered."""
    from tests.alarms.test_views import ROW_ID, live_poll

    watchers = []
    for persona in (TENANT, ("olivia.ops@thingsboard.org", "tenant")):
        client = own_client(persona)
        page = client.get("/alarms/").content.decode()
        cookies = {name: morsel.value for name, morsel in client.cookies.items()}
        watchers.append([cookies, live_poll(page), ROW_ID.findall(page)])
    ack_one(store)
    for watcher in watchers:
        _, headers, body = list_refresh(app, *watcher)
        assert headers.get("x-live-delta") == "1"
        watcher[1] = followed(watcher[1], body)
    assert watchers[0][1] == watchers[1][1]
    return watchers


def ack_one(store):
    from alarmdesk.alarms import sync
    from alarmdesk.alarms.models import Alarm
    from tests.alarms.test_views import tb_as

    alarm = Alarm.objects.filter(cleared=False, acknowledged=False).order_by("severity_rank")[0]
    tb_as(store, TENANT).post(f"/api/alarm/{alarm.id}/ack").raise_for_status()
    sync.run_cycle()
    return alarm


@pytest.fixture
def quiet_while(store):
    from datetime import timedelta

    from django.utils import timezone

    from alarmdesk.alarms.models import Alarm

    Alarm.objects.update(changed_at=timezone.now() - timedelta(minutes=1))


def test_a_changed_refresh_django_made_for_this_view_is_answered_before_django(
    own_client, store, app, quiet_while
):
    watchers = two_watchers(own_client, store, app)
    alarm = ack_one(store)
    calls = app.application.calls
    first = list_refresh(app, *watchers[0], HTTP_ACCEPT_ENCODING="br")
    assert app.application.calls == calls + 1  # Django made it
    second = list_refresh(app, *watchers[1], HTTP_ACCEPT_ENCODING="br")
    assert app.application.calls == calls + 1  # and it was handed out here
    assert second[0] == 200
    assert second[2] == first[2]
    assert str(alarm.id) in second[2]
    assert second[1]["content-encoding"] == "br"
    plain = list_refresh(app, *watchers[1])  # no Accept-Encoding: as it is, with its length
    assert app.application.calls == calls + 1
    assert plain[2] == first[2]
    assert "content-encoding" not in plain[1]
    assert int(plain[1]["content-length"]) == len(plain[2].encode())

    def kept(headers):
        left = PER_ANSWER | {"content-encoding", "vary"}
        return {name: value for name, value in headers.items() if name not in left}

    assert kept(second[1]) == kept(first[1])


def test_a_changed_refresh_goes_to_django_once_the_session_is_due_for_confirmation(
    own_client, store, app, quiet_while, monkeypatch, settings
):
    watchers = two_watchers(own_client, store, app)
    ack_one(store)
    list_refresh(app, *watchers[0])
    calls = app.application.calls
    later = livepoll.time.time() + settings.ALARMDESK_SESSION_CHECK_SECONDS + 1
    clock = type("Clock", (), {"time": staticmethod(lambda: later), "monotonic": time.monotonic})
    monkeypatch.setattr(livepoll, "time", clock)  # this module's clock only: Django's stays
    status, _, _ = list_refresh(app, *watchers[1])
    assert app.application.calls == calls + 1
    assert status == 200


def test_an_answer_for_me_or_on_call_is_never_handed_out_before_django(own_client, store, app):
    cookies_seen = []
    for persona in (TENANT, ("olivia.ops@thingsboard.org", "tenant")):
        client = own_client(persona)
        client.get("/alarms/")
        cookies_seen.append({name: morsel.value for name, morsel in client.cookies.items()})
    for path, query in (("/alarms/", {"assignee": "me", "t": "1"}), ("/oncall/", {"t": "1"})):
        calls = app.application.calls
        for cookies in cookies_seen:
            call(
                app,
                path,
                cookies,
                {**query, "v": "0"},
                HTTP_HX_REQUEST="true",
                HTTP_X_ALARM_ROWS="x",
            )
        assert app.application.calls == calls + 2
