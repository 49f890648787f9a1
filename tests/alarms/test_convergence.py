"""Random histories of alarm changes, interleaved with sync cycles, faults and changes made
while a cycle is paging: the store ends equal to ThingsBoard, with the right events."""

import contextlib
import os

import hypothesis.strategies as st
import requests
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from alarmdesk.alarms import sync
from alarmdesk.alarms.account import ServiceAccount
from alarmdesk.alarms.models import Alarm, AlarmEvent, SyncState
from alarmdesk.redis_client import get_redis
from alarmdesk.thingsboard.client import ThingsBoardClient
from alarmdesk.thingsboard.errors import ThingsBoardError
from tests.alarms.conftest import sim, store_differences
from tests.conftest import TENANT, TbSession

Kind = AlarmEvent.Kind
TYPES = ["Overheat", "Door Open", "Low Battery"]
SEVERITIES = ["CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE"]
FAULTS = [
    {"error_rate": 0.5, "error_status": 500},
    {"error_rate": 0.5, "error_status": 503},
    {"error_rate": 0.5, "error_status": 429},
    {"rate_limited": True},
    {"outage": True},
]
# Kinds an alarm can record at most once.
ONCE = {Kind.CREATED, Kind.ACKNOWLEDGED, Kind.CLEARED, Kind.DELETED}


class MidPageSession(requests.Session):
    """The sync's HTTP session, which makes a change in ThingsBoard right after the first
    page of an alarm list is answered, while the cycle is still paging."""

    change = None

    def request(self, method, url, *args, **kwargs):
        response = super().request(method, url, *args, **kwargs)
        if self.change and "/api/v2/alarms" in url and kwargs.get("params", {}).get("page") == 0:
            change, self.change = self.change, None
            change()
        return response


class History:
    """What happened to one alarm in ThingsBoard, as far as the test made it happen."""

    def __init__(self):
        self.happened = {Kind.CREATED}
        self.retriggered_while_stored = False
        self.end_ts = 0
        self.severity = None


class SyncMachine(RuleBasedStateMachine):
    tbsim = None

    def __init__(self):
        super().__init__()
        sim(self.tbsim, "/sim/reset")
        SyncState.objects.all().delete()
        Alarm.objects.all().delete()
        get_redis().flushall()
        self.tb = TbSession(self.tbsim.url, TENANT)  # a reset forgets every session
        self.devices = [
            d["name"]
            for d in self.tb.get(
                "/api/tenant/deviceInfos", params={"page": 0, "pageSize": 4}
            ).json()["data"]
        ]
        self.history = {}
        self.session = MidPageSession()
        client = ThingsBoardClient(self.tbsim.url, timeout=(3.05, 10), session=self.session)
        self.account = ServiceAccount(client)
        self.cycle()

    def live_ids(self):
        # In the order the test raised them (their ids are random: sorting them would make
        # a replayed history pick other alarms).
        return [i for i, h in self.history.items() if Kind.DELETED not in h.happened]

    def stored(self, alarm_id):
        return Alarm.objects.filter(id=alarm_id).exists()

    # --- changes in ThingsBoard ---------------------------------------------------------

    def _raise(self, device, alarm_type, severity):
        before = dict(self.history)
        alarm = sim(
            self.tbsim,
            "/sim/alarms",
            {"device": self.devices[device], "type": alarm_type, "severity": severity},
        )
        alarm_id = alarm["id"]["id"]
        if alarm_id not in before:
            self.history[alarm_id] = History()
        else:
            history = self.history[alarm_id]
            if alarm["endTs"] > history.end_ts:
                history.happened.add(Kind.RETRIGGERED)
                if self.stored(alarm_id):
                    history.retriggered_while_stored = True
            if alarm["severity"] != history.severity:
                history.happened.add(Kind.SEVERITY_CHANGED)
        self.history[alarm_id].end_ts = alarm["endTs"]
        self.history[alarm_id].severity = alarm["severity"]

    @rule(
        device=st.integers(0, 3),
        alarm_type=st.sampled_from(TYPES),
        severity=st.sampled_from(SEVERITIES),
    )
    def raise_or_retrigger(self, device, alarm_type, severity):
        self._raise(device, alarm_type, severity)

    def _act(self, alarm_id, path, kind):
        answer = self.tb.post(f"/api/alarm/{alarm_id}/{path}")
        if answer.status_code == 200:
            self.history[alarm_id].happened.add(kind)
        else:
            assert answer.json()["errorCode"] == 31  # already done

    @precondition(lambda self: self.live_ids())
    @rule(data=st.data())
    def acknowledge(self, data):
        self._act(data.draw(st.sampled_from(self.live_ids())), "ack", Kind.ACKNOWLEDGED)

    @precondition(lambda self: self.live_ids())
    @rule(data=st.data(), by_rule_engine=st.booleans())
    def clear(self, data, by_rule_engine):
        alarm_id = data.draw(st.sampled_from(self.live_ids()))
        if by_rule_engine:
            answer = requests.post(f"{self.tbsim.url}/sim/alarms/{alarm_id}/clear", timeout=10)
            if answer.status_code == 200:
                self.history[alarm_id].happened.add(Kind.CLEARED)
        else:
            self._act(alarm_id, "clear", Kind.CLEARED)

    @precondition(lambda self: self.live_ids())
    @rule(data=st.data())
    def assign(self, data):
        alarm_id = data.draw(st.sampled_from(self.live_ids()))
        users = self.tb.get(
            f"/api/users/assign/{alarm_id}", params={"page": 0, "pageSize": 10}
        ).json()["data"]
        user = data.draw(st.sampled_from(sorted(users, key=lambda u: u["email"])))
        answer = self.tb.post(f"/api/alarm/{alarm_id}/assign/{user['id']['id']}")
        if answer.status_code == 200:
            self.history[alarm_id].happened.add(Kind.ASSIGNED)

    @precondition(lambda self: self.live_ids())
    @rule(data=st.data())
    def unassign(self, data):
        alarm_id = data.draw(st.sampled_from(self.live_ids()))
        if self.tb.delete(f"/api/alarm/{alarm_id}/assign").status_code == 200:
            self.history[alarm_id].happened.add(Kind.UNASSIGNED)

    @precondition(lambda self: self.live_ids())
    @rule(data=st.data(), severity=st.sampled_from(SEVERITIES))
    def edit_severity(self, data, severity):
        """POST /api/alarm with the alarm's id: a new severity without a re-trigger."""
        alarm_id = data.draw(st.sampled_from(self.live_ids()))
        body = self.tb.get(f"/api/alarm/{alarm_id}").json()
        if body["severity"] != severity:
            self.tb.post("/api/alarm", json={**body, "severity": severity}).raise_for_status()
            self.history[alarm_id].happened.add(Kind.SEVERITY_CHANGED)
            self.history[alarm_id].severity = severity

    @precondition(lambda self: self.live_ids())
    @rule(data=st.data())
    def delete(self, data):
        alarm_id = data.draw(st.sampled_from(self.live_ids()))
        self.tb.delete(f"/api/alarm/{alarm_id}").raise_for_status()
        self.history[alarm_id].happened.add(Kind.DELETED)

    # --- the sync -------------------------------------------------------------------------

    @rule(reconcile=st.booleans())
    def cycle(self, reconcile=False):
        sync.run_cycle(self.account, reconcile_now=reconcile)

    @rule(fault=st.sampled_from(FAULTS), reconcile=st.booleans())
    def cycle_with_fault(self, fault, reconcile):
        sim(self.tbsim, "/sim/faults", fault)
        try:
            with contextlib.suppress(ThingsBoardError):
                sync.run_cycle(self.account, reconcile_now=reconcile)
        finally:
            sim(self.tbsim, "/sim/faults", method="DELETE")

    @rule(
        device=st.integers(0, 3),
        alarm_type=st.sampled_from(TYPES),
        ack_too=st.booleans(),
        reconcile=st.booleans(),
    )
    def cycle_with_changes_while_paging(self, device, alarm_type, ack_too, reconcile):
        def change():
            self._raise(device, alarm_type, "MAJOR")
            if ack_too and self.live_ids():
                self._act(self.live_ids()[-1], "ack", Kind.ACKNOWLEDGED)

        self.session.change = change
        sync.run_cycle(self.account, reconcile_now=reconcile)
        self.session.change = None

    # --- what must hold -----------------------------------------------------------------

    @invariant()
    def events_never_invent_or_repeat(self):
        for alarm_id, history in self.history.items():
            kinds = list(
                AlarmEvent.objects.filter(alarm_id=alarm_id).values_list("kind", flat=True)
            )
            assert set(kinds) <= history.happened, (alarm_id, kinds, history.happened)
            for kind in ONCE:
                assert kinds.count(kind) <= 1, (alarm_id, kinds)

    def teardown(self):
        sim(self.tbsim, "/sim/faults", method="DELETE")
        in_tb = self.tb.alarms()
        sync.run_cycle(self.account)
        # After one fast cycle: every creation, re-trigger, acknowledgement and clearing.
        stored = {str(a.id): a for a in Alarm.objects.filter(id__in=list(in_tb))}
        for alarm_id, alarm in in_tb.items():
            have = stored[alarm_id]
            assert (have.acknowledged, have.cleared) == (alarm["acknowledged"], alarm["cleared"])
            assert (have.start_ts, have.end_ts) == (alarm["startTs"], alarm["endTs"])
            assert (have.ack_ts or 0, have.clear_ts or 0) == (alarm["ackTs"], alarm["clearTs"])
        # After a reconciliation: everything, field by field.
        sync.run_cycle(self.account, reconcile_now=True)
        assert store_differences(self.tb) == {}
        for alarm_id, history in self.history.items():
            kinds = set(AlarmEvent.objects.filter(alarm_id=alarm_id).values_list("kind", flat=True))
            alarm = Alarm.objects.filter(id=alarm_id).first()
            if alarm is None:  # raised and deleted between two cycles: never seen
                assert Kind.DELETED in history.happened
                continue
            assert Kind.CREATED in kinds
            assert (Kind.ACKNOWLEDGED in kinds) == alarm.acknowledged
            assert (Kind.CLEARED in kinds) == alarm.cleared
            assert (Kind.DELETED in kinds) == alarm.deleted
            if history.retriggered_while_stored and not alarm.deleted:
                assert Kind.RETRIGGERED in kinds


def test_the_store_converges_to_thingsboard(synced, monkeypatch):
    monkeypatch.setattr(sync, "PAGE_SIZE", 5)  # many pages, so changes land mid-paging
    monkeypatch.setattr(sync, "RECONCILE_PAGE_SIZE", 200)
    monkeypatch.setattr("alarmdesk.thingsboard.client.BACKOFF_SECONDS", 0.01)
    SyncMachine.tbsim = synced
    run_state_machine_as_test(
        SyncMachine,
        settings=settings(
            max_examples=int(os.environ.get("ALARMDESK_EXPLORE_EXAMPLES", 12)),
            stateful_step_count=30,
            deadline=None,
            # ThingsBoard's state is outside hypothesis: replaying a history to shrink it
            # cannot be exact, so failures are reported as found. Derandomized, so CI runs
            # the same histories every time; ALARMDESK_EXPLORE=1 draws new ones.
            phases=[Phase.generate],
            derandomize=not os.environ.get("ALARMDESK_EXPLORE"),
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
