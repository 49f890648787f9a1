import logging
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.sessions.backends.base import UpdateError
from django.db import DatabaseError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from alarmdesk.database import retry_when_locked

from .tokens import SESSION_KEY, SignInRequired, session_user

log = logging.getLogger(__name__)


def safe_next(request, value):
    """`value` if it is a path of this site ("/alarms/?status=ANY"), else None.

    Only an absolute path will do: `redirect()` reads anything else as the name of a URL
    pattern (`next=bulk_job` would raise NoReverseMatch), and a full URL is never needed."""
    if (
        value
        and value.startswith("/")
        and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return value
    return None


def login_redirect(request, message=None):
    """Back to the sign-in page, then to where the user was; htmx gets HX-Redirect so a
    login page is never swapped into a fragment."""
    if message:
        messages.warning(request, message)
    target = request.get_full_path() if request.method == "GET" else request.path
    if getattr(request, "htmx", False):
        target = request.htmx.current_url_abs_path or target
    url = f"{reverse('login')}?{urlencode({'next': target})}"
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)


class ThingsBoardSessionMiddleware:
    """Puts the signed-in ThingsBoard user on `request.tb_user` (None when signed out),
    and turns an expired sign-in anywhere in a view into a trip to the sign-in page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tb_user = SimpleLazyObject(lambda: session_user(request))
        response = self.get_response(request)
        _save_session(request)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, SignInRequired):
            return login_redirect(
                request, "Your ThingsBoard session has ended: please sign in again."
            )
        return None


def _save_session(request):
    """Save a session changed by the request (a refreshed token pair) before Django's
    SessionMiddleware would, retried while the database is locked: a locked database must
    not turn an action ThingsBoard already did into an error page. If it stays locked, the
    session keeps its previous pair, whose refresh token ThingsBoard still accepts."""
    session = request.session
    if not session.modified or session.is_empty():
        return
    try:
        retry_when_locked(session.save)
    except (DatabaseError, UpdateError):
        log.error("session not saved: the database stayed locked", exc_info=True)
        session.modified = False  # given up: Django's middleware would answer 400
    # Once saved, Django's middleware saves it again (a quick write) and sets the cookie.


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every answer to a signed-in session (pages, fragments,
    the CSV) and on the sign-in page, so a shared browser keeps none of them after sign-out.
    Static files never get here: WhiteNoise, earlier in MIDDLEWARE, answers them first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Asked before and after: signing in adds the session, signing out flushes it.
        signed_in = SESSION_KEY in request.session
        response = self.get_response(request)
        if signed_in or SESSION_KEY in request.session or request.path == reverse("login"):
            add_never_cache_headers(response)
        return response
