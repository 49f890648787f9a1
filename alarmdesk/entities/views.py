"""/devices/<uuid>/ and /assets/<uuid>/: an originator's own page, and what may be done
there (raise an alarm by hand)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from alarmdesk.accounts.decorators import tb_login_required
from alarmdesk.accounts.tokens import tb_call
from alarmdesk.alarms import actions
from alarmdesk.alarms.filters import filter_choices
from alarmdesk.alarms.live import scope_version
from alarmdesk.thingsboard.errors import NotFound, PermissionDenied, ThingsBoardError

from . import attributes
from .forms import AttributeForm, RaiseForm
from .originator import PAGES, Unreachable, look


@tb_login_required
@require_http_methods(["GET", "POST"])
def device_detail(request, entity_id):
    return _detail(request, "DEVICE", entity_id)


@tb_login_required
@require_http_methods(["GET", "POST"])
def asset_detail(request, entity_id):
    return _detail(request, "ASSET", entity_id)


def _detail(request, entity_type, entity_id):
    user = request.tb_user
    if request.method == "POST":
        return _act(request, user, entity_type, entity_id)
    try:
        originator = look(request, user, entity_type, entity_id)
    except Unreachable:
        context = {"entity_type": entity_type}
        return render(request, "entities/unreachable.html", context, status=503)
    writable = attributes.WRITABLE[entity_type]
    context = {
        "editing": attributes.editing(originator, request.GET.get("edit", "")),
        "originator": originator,
        "raise_form": RaiseForm(initial={"severity": "MAJOR"}),
        "known_types": filter_choices(user, scope_version(user)[0])["types"],
        "writable": writable,
        "kinds": AttributeForm(scopes=writable).fields["kind"].choices,
        "changes": attributes.recent(entity_id),
    }
    return render(request, "entities/detail.html", context)


def _act(request, user, entity_type, entity_id):
    """What the page's forms post: only an entity ThingsBoard lets the user read (404
    otherwise, as its page), and the outcome in words on the page it leads to."""
    _readable(request, entity_type, entity_id)
    page = PAGES[entity_type]
    action = request.POST.get("action")
    if action in ("attribute", "attribute-delete"):
        _change_attribute(request, user, entity_type, entity_id, action == "attribute-delete")
        return redirect(f"{reverse(page, args=[entity_id])}#attributes")
    if action != "raise":
        messages.error(request, "That action was not understood: nothing was done.")
        return redirect(page, entity_id=entity_id)
    form = RaiseForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Nothing was raised: {form.error_text()}")
        return redirect(page, entity_id=entity_id)
    data = form.cleaned_data
    result, alarm_id = actions.raise_alarm(
        request,
        user,
        entity_type,
        entity_id,
        data["type"],
        data["severity"],
        note=data["note"],
        assignee=data["assign"] or None,
    )
    (messages.success if result.ok else messages.error)(request, result.message)
    if alarm_id is not None:
        return redirect("alarm_detail", alarm_id=alarm_id)
    return redirect(page, entity_id=entity_id)


def _change_attribute(request, user, entity_type, entity_id, deleting):
    scopes = attributes.WRITABLE[entity_type]
    form = AttributeForm(request.POST, scopes=scopes, deleting=deleting)
    if not form.is_valid():
        messages.error(request, f"Nothing was changed: {form.error_text()}")
        return
    data = form.cleaned_data
    result = attributes.change(
        request,
        user,
        entity_type,
        entity_id,
        data["scope"],
        data["key"],
        value=data.get("value"),
        delete=deleting,
    )
    (messages.success if result.ok else messages.error)(request, result.message)


def _readable(request, entity_type, entity_id):
    try:
        tb_call(request, lambda tb: tb.entity_info(entity_type, entity_id))
    except (PermissionDenied, NotFound):
        raise Http404("No such device or asset of yours.") from None
    except ThingsBoardError:
        pass  # the act itself will say ThingsBoard is not answering
