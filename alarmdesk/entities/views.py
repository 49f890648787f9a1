"""/devices/<uuid>/ and /assets/<uuid>/: an originator's own page."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from alarmdesk.accounts.decorators import tb_login_required

from .originator import Unreachable, look


@tb_login_required
@require_GET
def device_detail(request, entity_id):
    return _detail(request, "DEVICE", entity_id)


@tb_login_required
@require_GET
def asset_detail(request, entity_id):
    return _detail(request, "ASSET", entity_id)


def _detail(request, entity_type, entity_id):
    try:
        originator = look(request, request.tb_user, entity_type, entity_id)
    except Unreachable:
        context = {"entity_type": entity_type}
        return render(request, "entities/unreachable.html", context, status=503)
    return render(request, "entities/detail.html", {"originator": originator})
