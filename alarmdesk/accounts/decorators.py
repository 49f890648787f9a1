from functools import wraps

from .middleware import login_redirect
from .tokens import current_token, session_user


def tb_login_required(view):
    """Signed-in ThingsBoard users only; others go to the sign-in page and come back.

    Pages served from the store never call ThingsBoard, so the session's token is checked
    here: refreshed when it is about to expire, and a refused refresh (the account was
    disabled, its password changed, the session ended) signs the user out of AlarmDesk."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if session_user(request) is None:
            return login_redirect(request)
        current_token(request)  # raises SignInRequired: the middleware redirects
        return view(request, *args, **kwargs)

    return wrapper
