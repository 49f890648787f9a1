"""The simulator's own controls under /sim/ (never under /api/): statistics, faults,
reset, generator steps, and the few things tests need to set up that ThingsBoard only
lets a person do in its UI."""

import json

from werkzeug.wrappers import Response

from .errors import TbError


def _json(value, status=200):
    return Response(json.dumps(value), status=status, content_type="application/json")


def _body(request):
    data = request.get_data()
    return json.loads(data) if data else {}


def index(sim, request):
    return _json(
        {
            "GET /sim/stats": "requests and statuses per API route since the last reset",
            "POST /sim/stats/reset": "zero the request statistics",
            "GET|POST|DELETE /sim/faults": "read, change or clear injected faults: "
            + ", ".join(sim.faults_json()),
            "POST /sim/reset": "rebuild the scenario; clears faults and statistics",
            "POST /sim/step": "run one live-generator step now",
            "POST /sim/alarms": "raise an alarm as the rule engine would: "
            '{"device": name, "type": ..., "severity": ...}',
            "POST /sim/alarms/<id>/clear": "clear an alarm as the rule engine would",
            "POST /sim/users/<email>/disable, /enable": "disable (its tokens are outdated) or "
            "re-enable an account",
            "POST /sim/security": '{"maxFailedLoginAttempts": n} (null: no lockout)',
        }
    )


def stats(sim, request):
    return _json(sim.stats.snapshot())


def stats_reset(sim, request):
    sim.stats.reset()
    return _json(sim.stats.snapshot())


def faults(sim, request):
    if request.method == "DELETE":
        sim.clear_faults()
    elif request.method == "POST":
        sim.faults.update(_body(request))
    return _json(sim.faults_json())


def reset(sim, request):
    sim.reset()
    return _json({"reset": True, "scenario": sim.options.scenario})


def step(sim, request):
    return _json({"events": sim.generator_step()})


def raise_alarm(sim, request):
    body = _body(request)
    alarm = sim.state.rule_engine_alarm(body["device"], body["type"], body.get("severity", "MAJOR"))
    return _json(alarm)


def clear_alarm(sim, request, alarm_id):
    return _json(sim.state.rule_engine_clear(alarm_id))


def set_user_enabled(sim, request, email, action):
    user = sim.state.user_by_email(email)
    if user is None:
        return _json({"error": f"no user {email}"}, 404)
    # As ThingsBoard's UI does it: UserController.setUserCredentialsEnabled, which outdates
    # the tokens of a disabled user.
    sim.state.set_enabled(user, action == "enable")
    return _json({"email": email, "enabled": user.enabled})


def security(sim, request):
    body = _body(request)
    sim.state.max_failed_logins = body.get("maxFailedLoginAttempts")
    return _json({"maxFailedLoginAttempts": sim.state.max_failed_logins})


ROUTES = {
    ("GET", ("",)): index,
    ("GET", ("stats",)): stats,
    ("POST", ("stats", "reset")): stats_reset,
    ("GET", ("faults",)): faults,
    ("POST", ("faults",)): faults,
    ("DELETE", ("faults",)): faults,
    ("POST", ("reset",)): reset,
    ("POST", ("step",)): step,
    ("POST", ("alarms",)): raise_alarm,
    ("POST", ("security",)): security,
}


def dispatch(sim, request):
    parts = tuple(request.path.strip("/").split("/")[1:]) or ("",)
    try:
        handler = ROUTES.get((request.method, parts))
        if handler is not None:
            return handler(sim, request)
        if (
            request.method == "POST"
            and len(parts) == 3
            and parts[0] == "alarms"
            and parts[2] == "clear"
        ):
            return clear_alarm(sim, request, parts[1])
        if (
            request.method == "POST"
            and len(parts) == 3
            and parts[0] == "users"
            and parts[2]
            in (
                "enable",
                "disable",
            )
        ):
            return set_user_enabled(sim, request, parts[1], parts[2])
        return _json({"error": f"no control {request.method} {request.path}"}, 404)
    except TbError as error:
        return Response(error.body(), status=error.status, content_type="application/json")
    except (ValueError, KeyError, TypeError) as error:
        return _json({"error": str(error)}, 400)
