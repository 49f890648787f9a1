from functools import wraps

from .middleware import login_redirect
from .tokens import confirm_sign_in, session_user


def tb_login_required(view):
    """Signed-in ThingsBoard users only; others go to the sign-in page and come back.

    Pages served from the store never call ThingsBoard, so the session is confirmed with
    ThingsBoard here (tokens.confirm_sign_in): on every action, and on a read when the last
    confirmation is older than ALARMDESK_SESSION_CHECK_SECONDS. A refusal (the account was
    disabled or deleted, its password changed, the session ended) signs the user out."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if session_user(request) is None:
            return login_redirect(request)
        confirm_sign_in(request)  # raises SignInRequired: the middleware redirects
        request.tb_user = session_user(request)  # as ThingsBoard has them now
        return view(request, *args, **kwargs)

    return wrapper
