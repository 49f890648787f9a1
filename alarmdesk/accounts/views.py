import logging

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from alarmdesk import livepoll
from alarmdesk.livepoll import forget
from alarmdesk.thingsboard import errors

from . import throttle
from .forms import LoginForm
from .middleware import safe_next
from .tenant import served_tenant_id
from .tokens import new_client, store, tb_call

log = logging.getLogger(__name__)

FAILED = "Wrong email or password, or too many attempts. Check them, wait a minute, and try again."
UNREACHABLE = "ThingsBoard cannot be reached right now. Nothing was changed; try again shortly."
DISABLED = "This ThingsBoard account is disabled or locked. Ask your ThingsBoard administrator."
MISCONFIGURED = (
    "AlarmDesk cannot check which tenant it serves: its sync account is refused by "
    "ThingsBoard. Ask whoever runs AlarmDesk to check TB_SYNC_USERNAME/TB_SYNC_PASSWORD "
    "or TB_SYNC_API_KEY."
)
OTHER_TENANT = (
    "This account belongs to another ThingsBoard tenant than the one this AlarmDesk serves."
)


def _sign_in(username, password):
    """The ThingsBoard user and token pair; raises ThingsBoard's typed errors."""
    pair = new_client().login(username, password)
    user = new_client(pair.token).current_user()
    return pair, user


def _is_disabled(error):
    # "User account is not active" / "... is locked due to security policy" (section 2.7).
    return "not active" in error.message or "locked" in error.message


def _refusal(request, form, next_url, message, status=200):
    messages.error(request, message)
    return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=status)


def login(request):
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = LoginForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return render(request, "accounts/login.html", {"form": form, "next": next_url})
    username, password = form.cleaned_data["username"], form.cleaned_data["password"]
    address = throttle.client_address(request)
    if not throttle.attempt(username, address):
        return _refusal(request, form, next_url, FAILED, status=429)
    try:
        pair, user = _sign_in(username, password)
    except errors.AuthenticationFailed as error:
        if _is_disabled(error):
            return _refusal(request, form, next_url, DISABLED)
        return _refusal(request, form, next_url, FAILED)
    except errors.ThingsBoardError:
        log.warning("sign-in: ThingsBoard unavailable", exc_info=True)
        return _refusal(request, form, next_url, UNREACHABLE, status=503)
    throttle.forget(username, address)
    if user.authority == "SYS_ADMIN":
        new_client(pair.token).logout()
        return render(request, "accounts/sysadmin.html", {"email": user.email})
    try:
        tenant = served_tenant_id()
    except errors.AuthenticationFailed:
        # The sync account's own credentials: nothing the person signing in can fix.
        log.error("the sync account (TB_SYNC_*) cannot sign in to ThingsBoard")
        return _refusal(request, form, next_url, MISCONFIGURED, status=503)
    except errors.ThingsBoardError:
        log.warning("sign-in: ThingsBoard unavailable", exc_info=True)
        return _refusal(request, form, next_url, UNREACHABLE, status=503)
    if user.tenant_id != tenant:
        new_client(pair.token).logout()
        return _refusal(request, form, next_url, OTHER_TENANT, status=403)
    store(request, pair, user)
    return redirect(next_url or "alarm_list")


@require_POST
def logout(request):
    try:
        tb_call(request, lambda client: client.logout())
    except Exception:
        # Signing out of AlarmDesk must work even when ThingsBoard does not answer.
        log.info("ThingsBoard logout failed; flushing the session anyway", exc_info=True)
    forget(request.session.session_key)
    request.session.flush()
    messages.info(request, "You are signed out.")
    response = redirect(settings.LOGIN_URL)
    response.delete_cookie(livepoll.COOKIE, samesite="Lax")
    return response
