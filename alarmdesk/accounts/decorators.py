from functools import wraps

from .middleware import login_redirect
from .tokens import session_user


def tb_login_required(view):
    """Signed-in ThingsBoard users only; others go to the sign-in page and come back."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if session_user(request) is None:
            return login_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper
