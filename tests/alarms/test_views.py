"""The triage pages, for each persona, against the simulator and a synced store."""

import re
import uuid
from datetime import timedelta
from html import escape
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from alarmdesk.alarms import bulk, sync
from alarmdesk.alarms.models import Alarm, AuditEntry, BulkJob, Customer
from tests.alarms.conftest import ask_bulk, sim
from tests.conftest import (
    CUSTOMER_A,
    CUSTOMER_B,
    SYSADMIN,
    TENANT,
    TbSession,
    thingsboard_alarm_ids,
)

ROW_ID = re.compile(r'<tr id="row-([0-9a-f-]{36})"')
SEVERITY_ORDER = ["CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE"]


def tb_as(tbsim, persona):
    return TbSession(tbsim.url, persona)


def listed(response):
    assert response.status_code == 200
    return ROW_ID.findall(response.content.decode())


# --- the list --------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", [TENANT, CUSTOMER_A, CUSTOMER_B])
def test_each_persona_lists_exactly_the_active_alarms_thingsboard_shows_them(
    as_user, store, persona
):
    client = as_user(persona)
    ids = set(listed(client.get("/alarms/")))
    assert ids == thingsboard_alarm_ids(store, persona, statusList="ACTIVE")


def test_every_alarm_row_carries_its_thingsboard_id_as_the_design_says(as_user):
    """DESIGN.md's contract: data-alarm-id on every row, wherever rows are drawn (the page,
    an opened group, the answer to a row's act)."""
    client = as_user(TENANT)
    page = client.get("/alarms/").content.decode()
    first = ROW_ID.findall(page)[0]
    opened = Alarm.objects.get(id=first).type
    grouped = client.get("/alarms/", {"group": "type", "open": opened}).content.decode()
    headers = {"HX-Request": "true", "HX-Target": f"row-{first}"}
    answer = client.post(f"/alarms/{first}/", {"action": "ack"}, headers=headers)
    for html in (page, grouped, answer.content.decode()):
        rows = re.findall(r"<tr id=\"row-[^>]*>", html)
        assert rows
        for row in rows:
            row_id = re.search(r'id="row-([0-9a-f-]{36})"', row).group(1)
            assert f'data-alarm-id="{row_id}"' in row, row


def test_any_status_shows_everything_a_customer_may_see_page_by_page(as_user, store):
    client = as_user(CUSTOMER_A)
    expected = thingsboard_alarm_ids(store, CUSTOMER_A)
    seen, page = set(), 1
    while True:
        ids = listed(client.get("/alarms/", {"status": "ANY", "page": page}))
        assert len(ids) <= 50
        if not ids or set(ids) <= seen:
            break
        seen |= set(ids)
        page += 1
    assert seen == expected
    assert len(expected) > 50


def test_a_customer_never_sees_another_customers_alarm(as_user, store):
    theirs = thingsboard_alarm_ids(store, CUSTOMER_A)
    client = as_user(CUSTOMER_B)
    mine = set(listed(client.get("/alarms/", {"status": "ANY"})))
    assert mine
    assert not (mine & theirs)
    assert "Customer" not in re.findall(
        r"<th scope=\"col\">(\w+)</th>", client.get("/alarms/").content.decode()
    )


def test_severity_sorts_by_rank_not_alphabetically(as_user):
    client = as_user(TENANT)
    page = client.get("/alarms/").content.decode()
    severities = re.findall(r'class="sev-(\w+)[^"]*" tabindex', page)
    ranks = [SEVERITY_ORDER.index(s.upper()) for s in severities]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) > 1
    reverse = client.get("/alarms/", {"sort": "-severity"}).content.decode()
    ranks = [
        SEVERITY_ORDER.index(s.upper())
        for s in re.findall(r'class="sev-(\w+)[^"]*" tabindex', reverse)
    ]
    assert ranks == sorted(ranks, reverse=True)


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"status": "CLEARED"}, lambda a: a.cleared),
        ({"status": "ACK"}, lambda a: a.acknowledged),
        ({"status": "UNACK"}, lambda a: not a.acknowledged),
        (
            {"status": "ANY", "severity": ["CRITICAL", "MINOR"]},
            lambda a: a.severity in ("CRITICAL", "MINOR"),
        ),
        ({"status": "ANY", "assignee": "none"}, lambda a: a.assignee_id is None),
        ({"status": "ANY", "customer": "none"}, lambda a: a.customer_id is None),
    ],
)
def test_filters_select_what_they_say(as_user, params, check):
    client = as_user(TENANT)
    ids = listed(client.get("/alarms/", params))
    assert ids
    assert all(check(Alarm.objects.get(id=i)) for i in ids)


def test_text_search_matches_type_originator_name_and_label(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(cleared=False).first()
    for text in (alarm.type.upper(), alarm.originator_name[2:9].lower()):
        ids = listed(client.get("/alarms/", {"q": text}))
        assert str(alarm.id) in ids
        assert all(
            text.lower() in " ".join([a.type, a.originator_name, a.originator_label or ""]).lower()
            for a in Alarm.objects.filter(id__in=ids)
        )


def test_an_old_alarm_still_active_is_never_hidden_by_a_time_window(as_user):
    client = as_user(TENANT)
    oldest = Alarm.objects.filter(cleared=False).order_by("start_ts").first()
    today = timezone.now().date().isoformat()
    assert str(oldest.id) in listed(client.get("/alarms/", {"since": today}))


def test_counts_per_severity_sit_above_the_table(as_user):
    client = as_user(TENANT)
    page = client.get("/alarms/", {"status": "ANY"}).content.decode()
    for severity in SEVERITY_ORDER:
        count = Alarm.objects.filter(severity=severity).count()
        assert re.search(rf"{severity.title()}(</span>)? <strong>{count}</strong>", page)


def test_malformed_filters_are_a_400_that_keeps_the_form_and_says_why(as_user):
    client = as_user(TENANT)
    response = client.get(
        "/alarms/", {"status": "NOPE", "assignee": "x", "page": "-3", "sort": "evil", "q": "pump"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "These filters were not understood, so no alarm is shown" in html
    assert "Status: Select a valid choice. NOPE is not one of the available choices." in html
    assert "Page: Ensure this value is greater than or equal to 1." in html
    assert 'name="q" id="id_q" value="pump"' in html
    assert not ROW_ID.findall(html)  # never a wider list than the one asked for
    assert "Apply to all" not in html


def test_a_date_out_of_range_is_shown_next_to_its_field_on_the_list(as_user):
    client = as_user(CUSTOMER_A)
    response = client.get("/alarms/", {"until": "9999-12-31"})
    assert response.status_code == 400
    assert re.search(
        r'name="until" value="9999-12-31" aria-invalid="true" aria-describedby="until-error">'
        r'<small id="until-error">Choose a date from 1970-01-01 to 2100-12-31',
        response.content.decode(),
    )


def test_a_filter_not_understood_in_the_live_form_says_why_in_the_table(as_user):
    client = as_user(TENANT)
    # htmx swaps no 4xx answer: the fragment says why instead of leaving stale rows.
    response = client.get(
        "/alarms/", {"since": "2024-02-01", "until": "2024-01-01"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="alarm-table"')
    assert "To: To (2024-01-01) is before From (2024-02-01)." in html
    assert not ROW_ID.findall(html)
    assert "every 5s" not in html  # nothing to refresh until the filter is fixed


@pytest.mark.parametrize("t", ["garbage", "nan", "inf", "-1e999", "9" * 400])
def test_a_live_refresh_with_a_strange_version_or_time_is_a_full_refresh(as_user, t):
    client = as_user(TENANT)
    response = client.get("/alarms/", {"v": "x" * 5000, "t": t}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert ROW_ID.findall(response.content.decode())


def live_poll(page):
    """The URL the page's live refresh asks (live.js adds `v` and `t` from data-v, data-t)."""
    section = re.search(r'<section id="alarm-table"[^>]*>', page).group(0)
    path = re.search(r'hx-get="([^"]*)"', section).group(1).replace("&amp;", "&")
    v = re.search(r'data-v="([^"]*)"', section).group(1)
    t = re.search(r'data-t="([^"]*)"', section).group(1)
    return f"{path}&v={v}&t={t}"


def test_an_unchanged_live_refresh_answers_204_and_a_change_rerenders(as_user, store):
    client = as_user(TENANT)
    page = client.get("/alarms/").content.decode()
    poll = live_poll(page)
    unchanged = client.get(poll, headers={"HX-Request": "true"})
    assert unchanged.status_code == 204
    assert unchanged.content == b""
    assert unchanged["X-Sync-As-Of"]

    device = (
        tb_as(store, TENANT)
        .get("/api/tenant/deviceInfos", params={"page": 0, "pageSize": 1})
        .json()["data"][0]
    )
    new = sim(
        store,
        "/sim/alarms",
        {"device": device["name"], "type": "Live Test", "severity": "CRITICAL"},
    )
    sync.run_cycle()
    changed = client.get(poll, headers={"HX-Request": "true"})
    assert changed.status_code == 200
    html = changed.content.decode()
    assert new["id"]["id"] in ROW_ID.findall(html)
    assert re.search(rf'<tr id="row-{new["id"]["id"]}" class="[^"]*fresh', html)
    assert "<html" not in html  # a fragment, not a page


def test_a_live_refresh_of_a_page_with_rows_sends_only_what_changed(as_user, store):
    client = as_user(TENANT)
    Alarm.objects.update(changed_at=timezone.now() - timedelta(hours=1))  # a quiet while
    page = client.get("/alarms/?sort=-created").content.decode()
    shown = ROW_ID.findall(page)
    assert len(shown) > 3
    poll = live_poll(page)
    # Nothing changed since the page was drawn, but the scope moved: nothing to send again.
    device = (
        tb_as(store, TENANT)
        .get("/api/tenant/deviceInfos", params={"page": 0, "pageSize": 1})
        .json()["data"][0]
    )
    body = {"device": device["name"], "type": "Delta", "severity": "MAJOR"}
    new = sim(store, "/sim/alarms", body)
    sync.run_cycle()
    headers = {"HX-Request": "true", "X-Alarm-Rows": " ".join(shown)}
    answer = client.get(poll, headers=headers)
    assert answer.status_code == 200
    assert answer["X-Live-Delta"] == "1"
    html = answer.content.decode()
    order = re.search(r'data-order="([^"]*)"', html).group(1).split()
    assert order[0] == new["id"]["id"]
    assert order[1:] == [str(place) for place in range(len(shown[:49]))]  # by their places
    assert set(ROW_ID.findall(html)) == {new["id"]["id"]}  # only the row the page lacks
    assert 'id="severity-chips"' in html
    assert 'id="list-summary"' in html
    # A page that says it shows none of these rows gets all of them.
    everything = client.get(poll, headers=headers | {"X-Alarm-Rows": str(uuid.uuid4())})
    assert set(ROW_ID.findall(everything.content.decode())) == {new["id"]["id"], *shown[:49]}
    # Without the rows it shows, the whole section, as before.
    whole = client.get(poll, headers={"HX-Request": "true"})
    assert "X-Live-Delta" not in whole
    assert 'id="alarm-table"' in whole.content.decode()


def test_anonymous_users_are_sent_to_sign_in(client, store):
    assert client.get("/alarms/")["Location"].startswith("/login/?next=")
    alarm = Alarm.objects.first()
    assert client.get(f"/alarms/{alarm.id}/")["Location"].startswith("/login/?next=")
    assert client.post(f"/alarms/{alarm.id}/", {"action": "ack"})["Location"].startswith("/login/")
    assert client.post("/alarms/bulk/", {"action": "ack", "all": "1"})["Location"].startswith(
        "/login/"
    )


def test_a_system_administrator_gets_no_alarm_pages(client, store):
    response = client.post("/login/", {"username": SYSADMIN[0], "password": SYSADMIN[1]})
    assert "No alarms for system administrators" in response.content.decode()
    assert client.get("/alarms/").status_code == 302


# --- hostile text -------------------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)> hx-get="/logout/" {{7*7}}'


def test_alarm_text_from_devices_is_rendered_inert(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(cleared=False, customer_id__isnull=False).first()
    Alarm.objects.filter(id=alarm.id).update(
        type=HOSTILE,
        originator_name=HOSTILE,
        originator_label=f"{HOSTILE} label",
        assignee_email=HOSTILE,
        details={"x": HOSTILE},
    )
    Customer.objects.filter(id=alarm.customer_id).update(title=HOSTILE)
    # Filtered on its type, which the kept choices do not offer yet (changed behind the
    # sync's back; the row and the type's option both show it), and found by a search.
    for url in (f"/alarms/?{urlencode({'type': HOSTILE})}", "/alarms/?status=ANY&q=onerror"):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert 'hx-get="/logout/"' not in html
        row = re.search(rf'<tr id="row-{alarm.id}".*?</tr>', html, re.S).group(0)
        # Its type and originator (each in its cell, the checkbox's label and the Clear's
        # question), label, customer and assignee: each written escaped, none dropped.
        assert row.count(escape(HOSTILE)) == 9, row


def test_hostile_text_raised_through_thingsboard_is_inert_on_the_detail_page(as_user, store):
    tb = tb_as(store, TENANT)
    device = tb.get("/api/tenant/deviceInfos", params={"page": 0, "pageSize": 1}).json()["data"][0]
    raised = tb.post(
        "/api/alarm",
        json={
            "originator": device["id"],
            "type": HOSTILE,
            "severity": "MAJOR",
            "details": {"note": HOSTILE},
        },
    ).json()
    client = as_user(TENANT)
    html = client.get(f"/alarms/{raised['id']['id']}/").content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert html.count("&lt;script&gt;") >= 2


# --- the detail page ----------------------------------------------------------------------------


def test_the_detail_page_shows_the_alarm_live_with_its_timeline(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(acknowledged=True, cleared=True).first()
    html = client.get(f"/alarms/{alarm.id}/").content.decode()
    assert f'data-alarm-id="{alarm.id}"' in html
    assert "Raised" in html
    assert "Acknowledged" in html
    assert "Cleared" in html
    assert "ThingsBoard" in html  # its system comments
    assert "AlarmDesk's copy" not in html
    for field in (str(alarm.id), str(alarm.originator_id), "Propagation", "Created"):
        assert field in html  # every field, in words


def test_another_customers_alarm_id_is_a_404(as_user, store):
    theirs = next(iter(thingsboard_alarm_ids(store, CUSTOMER_A)))
    client = as_user(CUSTOMER_B)
    assert client.get(f"/alarms/{theirs}/").status_code == 404
    assert client.post(f"/alarms/{theirs}/", {"action": "ack"}).status_code == 404
    assert client.get(f"/alarms/{uuid.uuid4()}/").status_code == 404
    assert not AuditEntry.objects.exists()


def test_the_detail_page_falls_back_to_the_store_when_thingsboard_is_down(as_user, store):
    client = as_user(TENANT)
    alarm = Alarm.objects.first()
    sim(store, "/sim/faults", {"outage": True})
    response = client.get(f"/alarms/{alarm.id}/")
    assert response.status_code == 200
    assert "AlarmDesk's copy" in response.content.decode()


def test_a_slow_thingsboard_gets_one_call_not_five(as_user, store):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(originator_type="DEVICE").first()
    sim(store, "/sim/stats/reset")
    sim(store, "/sim/faults", {"latency_ms": 2100})
    response = client.get(f"/alarms/{alarm.id}/")
    assert response.status_code == 200
    assert "answering slowly" in response.content.decode()
    routes = sim(store, "/sim/stats", method="GET")["routes"]
    assert sum(v["count"] for route, v in routes.items() if " /api/" in route) == 1


def test_a_thingsboard_slowing_down_mid_page_gets_no_more_calls_once_the_page_is_late(
    as_user, store
):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(originator_type="DEVICE").first()
    sim(store, "/sim/faults", {"latency_ms": 700})  # the alarm, comments, assignees: 2.1 s
    sim(store, "/sim/stats/reset")
    response = client.get(f"/alarms/{alarm.id}/")
    assert response.status_code == 200
    assert "Telemetry unavailable" in response.content.decode()
    routes = sim(store, "/sim/stats", method="GET")["routes"]
    assert sum(v["count"] for route, v in routes.items() if " /api/" in route) == 3


def test_an_alarm_deleted_in_thingsboard_is_shown_as_such(as_user, store):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(cleared=True).first()
    tb_as(store, TENANT).delete(f"/api/alarm/{alarm.id}").raise_for_status()
    html = client.get(f"/alarms/{alarm.id}/").content.decode()
    assert "no longer exists in ThingsBoard" in html
    assert Alarm.objects.get(id=alarm.id).deleted


# --- actions -----------------------------------------------------------------------------------


def active_unacked(persona_customer=None):
    alarms = Alarm.objects.filter(cleared=False, acknowledged=False)
    if persona_customer:
        alarms = alarms.filter(customer_id=persona_customer)
    return alarms.first()


def test_acknowledging_goes_to_thingsboard_as_the_user_and_updates_the_store(as_user, store):
    client = as_user(CUSTOMER_A)
    me = tb_as(store, CUSTOMER_A).me
    alarm = active_unacked(me["customerId"]["id"])
    response = client.post(f"/alarms/{alarm.id}/", {"action": "ack", "next": "/alarms/"})
    assert response["Location"] == "/alarms/"
    in_tb = tb_as(store, TENANT).get(f"/api/alarm/info/{alarm.id}").json()
    assert in_tb["acknowledged"]
    comments = (
        tb_as(store, TENANT)
        .get(f"/api/alarm/{alarm.id}/comment", params={"page": 0, "pageSize": 50})
        .json()
    )
    assert any(c["userId"] and c["userId"]["id"] == me["id"]["id"] for c in comments["data"])
    assert Alarm.objects.get(id=alarm.id).ack_ts == in_tb["ackTs"]
    entry = AuditEntry.objects.get()
    assert (entry.user_email, entry.action, entry.outcome) == (CUSTOMER_A[0], "ack", "done")


def test_acknowledging_from_the_list_with_htmx_swaps_the_row(as_user):
    client = as_user(TENANT)
    alarm = active_unacked()
    response = client.post(
        f"/alarms/{alarm.id}/",
        {"action": "ack"},
        headers={"HX-Request": "true", "HX-Target": f"row-{alarm.id}"},
    )
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="row-{alarm.id}"')
    assert "Acknowledged." in html
    assert "Already acknowledged" in html  # the button now says why it is disabled


def test_already_acknowledged_is_shown_as_done(as_user, store):
    client = as_user(TENANT)
    alarm = active_unacked()
    tb_as(store, TENANT).post(f"/api/alarm/{alarm.id}/ack").raise_for_status()  # elsewhere
    response = client.post(
        f"/alarms/{alarm.id}/", {"action": "ack"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert "already acknowledged" in html
    assert "message-success" in html
    assert Alarm.objects.get(id=alarm.id).acknowledged
    assert AuditEntry.objects.get().outcome == "already_done"


def test_a_refusal_by_thingsboard_is_explained(as_user, store):
    """The adopted gateway's old alarms have no customer in ThingsBoard: a customer user
    who somehow reached one is refused by ThingsBoard, and told so in words."""
    me = tb_as(store, CUSTOMER_A).me
    alarm = (
        Alarm.objects.filter(customer_id=None, cleared=False).first()
        or Alarm.objects.filter(customer_id=None).first()
    )
    Alarm.objects.filter(id=alarm.id).update(customer_id=me["customerId"]["id"], acknowledged=False)
    client = as_user(CUSTOMER_A)
    response = client.post(
        f"/alarms/{alarm.id}/", {"action": "ack"}, headers={"HX-Request": "true"}
    )
    assert "does not allow your account to acknowledge" in response.content.decode()
    assert AuditEntry.objects.get().outcome == "denied"


def test_an_alarm_deleted_meanwhile_says_it_no_longer_exists(as_user, store):
    client = as_user(TENANT)
    alarm = active_unacked()
    tb_as(store, TENANT).delete(f"/api/alarm/{alarm.id}").raise_for_status()
    response = client.post(
        f"/alarms/{alarm.id}/", {"action": "ack"}, headers={"HX-Request": "true"}
    )
    assert "no longer exists" in response.content.decode()
    assert Alarm.objects.get(id=alarm.id).deleted


def test_thingsboard_unreachable_keeps_the_comment_typed(as_user, store):
    client = as_user(TENANT)
    alarm = active_unacked()
    # The simulated outage drops each connection once the request is sent: whether
    # ThingsBoard took the comment cannot be known.
    sim(store, "/sim/faults", {"outage": True})
    text = "Checked the pump <b>on site</b>, replacing the seal"
    response = client.post(
        f"/alarms/{alarm.id}/", {"action": "comment", "text": text}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert "whether your comment was posted is not known" in html
    assert AuditEntry.objects.get().outcome == "unknown"
    assert "Checked the pump &lt;b&gt;on site&lt;/b&gt;, replacing the seal</textarea>" in html


def test_assign_to_me_then_someone_else_then_unassign_and_comment(as_user, store):
    client = as_user(TENANT)
    alarm = active_unacked()
    tb = tb_as(store, TENANT)
    client.post(f"/alarms/{alarm.id}/", {"action": "assign", "assignee": "me"})
    assert Alarm.objects.get(id=alarm.id).assignee_email == TENANT[0]
    other = next(
        u
        for u in tb.get(f"/api/users/assign/{alarm.id}", params={"page": 0, "pageSize": 50}).json()[
            "data"
        ]
        if u["email"] != TENANT[0]
    )
    client.post(f"/alarms/{alarm.id}/", {"action": "assign", "assignee": other["id"]["id"]})
    assert Alarm.objects.get(id=alarm.id).assignee_email == other["email"]
    client.post(f"/alarms/{alarm.id}/", {"action": "unassign"})
    assert Alarm.objects.get(id=alarm.id).assignee_id is None
    client.post(f"/alarms/{alarm.id}/", {"action": "comment", "text": "On it."})
    comments = tb.get(f"/api/alarm/{alarm.id}/comment", params={"page": 0, "pageSize": 50}).json()[
        "data"
    ]
    assert any(c["comment"].get("text") == "On it." for c in comments)
    assert list(AuditEntry.objects.order_by("id").values_list("action", "outcome")) == [
        ("assign", "done"),
        ("assign", "done"),
        ("unassign", "done"),
        ("comment", "done"),
    ]
    assert AuditEntry.objects.last().detail == "On it."
    html = client.get(f"/alarms/{alarm.id}/").content.decode()
    assert "On it." in html
    assert "through AlarmDesk" in html


def test_a_bad_action_is_refused_with_a_reason(as_user):
    client = as_user(TENANT)
    alarm = active_unacked()
    response = client.post(
        f"/alarms/{alarm.id}/",
        {"action": "assign", "assignee": "nobody"},
        headers={"HX-Request": "true"},
    )
    assert "Choose whom to assign" in response.content.decode()
    assert (
        client.get(f"/alarms/{alarm.id}/", {"action": "ack"}).status_code == 200
    )  # GET never acts
    assert not AuditEntry.objects.filter(outcome="done").exists()


# --- bulk ---------------------------------------------------------------------------------------


def run_job(response):
    """What the worker would do (real workers run it in tests/alarms/test_bulk.py)."""
    job_id = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
    bulk.run(job_id)
    return BulkJob.objects.get(id=job_id)


def test_bulk_acknowledge_of_selected_rows_reports_per_alarm(as_user, store):
    client = as_user(TENANT)
    chosen = list(Alarm.objects.filter(cleared=False, acknowledged=False)[:3])
    tb_as(store, TENANT).post(f"/api/alarm/{chosen[0].id}/ack").raise_for_status()
    response = ask_bulk(client, {"action": "ack", "ids": [str(a.id) for a in chosen]})
    job = run_job(response)
    outcomes = dict(job.auditentry_set.values_list("alarm_uuid", "outcome"))
    assert outcomes == {chosen[0].id: "already_done", chosen[1].id: "done", chosen[2].id: "done"}
    page = client.get(f"/alarms/bulk/{job.id}/").content.decode()
    assert "Finished." in page
    assert "Already Done: <strong>1</strong>" in page


def test_bulk_clear_of_everything_matching_a_filter(as_user, store):
    client = as_user(CUSTOMER_A)
    before = thingsboard_alarm_ids(store, CUSTOMER_A, statusList="ACTIVE")
    response = ask_bulk(client, {"action": "clear", "all": "1", "status": "ACTIVE"})
    job = run_job(response)
    assert {str(i) for i in job.alarm_ids} == before
    assert set(job.auditentry_set.values_list("outcome", flat=True)) == {"done"}
    assert thingsboard_alarm_ids(store, CUSTOMER_A, statusList="ACTIVE") == set()


def test_bulk_ids_outside_the_users_scope_are_never_touched(as_user, store):
    theirs = list(thingsboard_alarm_ids(store, CUSTOMER_A, statusList="ACTIVE"))[:2]
    client = as_user(CUSTOMER_B)
    response = client.post("/alarms/bulk/", {"action": "clear", "ids": theirs})
    assert response.status_code == 302
    assert not BulkJob.objects.exists()
    assert thingsboard_alarm_ids(store, CUSTOMER_A, statusList="ACTIVE") >= set(theirs)


def test_another_users_bulk_job_is_a_404(as_user, store):
    client = as_user(TENANT)
    alarm = active_unacked()
    job = run_job(ask_bulk(client, {"action": "ack", "ids": [str(alarm.id)]}))
    client = as_user(CUSTOMER_A)
    assert client.get(f"/alarms/bulk/{job.id}/").status_code == 404


def test_bulk_with_the_queue_down_keeps_the_job_for_later(as_user, monkeypatch):
    from alarmdesk.celery import app

    client = as_user(TENANT)
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    alarm = active_unacked()
    response = ask_bulk(client, {"action": "ack", "ids": [str(alarm.id)]}, follow=True)
    assert "it starts as soon as the job queue is back" in response.content.decode()
    assert BulkJob.objects.get().finished_at is None  # recovered by bulk.stalled()
    assert not Alarm.objects.get(id=alarm.id).acknowledged


def test_a_bulk_job_whose_session_ended_finishes_with_the_rest_failed(as_user, store):
    client = as_user(TENANT)
    ids = [str(a.id) for a in Alarm.objects.filter(cleared=False, acknowledged=False)[:3]]
    response = ask_bulk(client, {"action": "ack", "ids": ids})
    client.post("/logout/")  # the session the worker would act with is gone
    job = run_job(response)
    job.refresh_from_db()
    assert job.finished_at is not None
    outcomes = set(job.auditentry_set.values_list("outcome", "detail"))
    assert outcomes == {("failed", "Your session ended: sign in and retry.")}
    assert not Alarm.objects.filter(id__in=ids, acknowledged=True).exists()


def test_a_row_says_how_often_its_alarm_was_raised_again(as_user, store):
    client = as_user(TENANT)
    device = Alarm.objects.filter(originator_type="DEVICE").first().originator_name
    body = {"device": device, "type": "Flaps A Lot", "severity": "MAJOR"}
    new = sim(store, "/sim/alarms", body)["id"]["id"]
    sync.run_cycle()
    for _ in range(2):  # raised again while active: ThingsBoard moves its endTs
        sim(store, "/sim/alarms", body)
        sync.run_cycle()

    html = client.get("/alarms/", {"q": "Flaps A Lot"}).content.decode()

    assert listed(client.get("/alarms/", {"q": "Flaps A Lot"})) == [new]
    assert "raised again twice" in html


def test_the_header_marks_alarms_as_the_section_of_an_alarms_page(as_user):
    client = as_user(TENANT)
    alarm = Alarm.objects.filter(cleared=False).first()
    for path in ("/alarms/", f"/alarms/{alarm.id}/"):
        page = client.get(path).content.decode()
        assert re.search(r'aria-current="page">Alarms</a>', page), path
