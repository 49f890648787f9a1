from .tokens import session_user


def tb_user(request):
    return {"tb_user": session_user(request)}
