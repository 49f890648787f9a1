"""A production topology on loopback (tests/topology.py: deploy/'s units and env template,
two web servers, two of each worker, one beat, one PostgreSQL, one Redis). People act
through both web servers at once (the same alarm twice, and a bulk job); afterwards the
store holds each alarm once, each change of state once, one audit entry per act and one
outcome per alarm of the bulk job. And a short soak: pages watching while things fail.

Runs in the PostgreSQL pass (`--database postgres`), in a database of its own in that
pass's private cluster."""

import os
import signal
import threading
import time
from collections import Counter

import pytest
import requests

from tests.conftest import CUSTOMER_A, CUSTOMER_B, TENANT, TbSession, raise_alarm
from tests.topology import (
    PROPOSED_JOB,
    Watcher,
    healthy,
    post,
    query,
    running,
    sign_in,
    store_matches_thingsboard,
    thingsboard_changes,
    wait_for,
)


@pytest.fixture
def topology(postgres_cluster, tbsim, tmp_path):
    with running(postgres_cluster, tbsim.url, tmp_path) as topology:
        yield topology


def test_two_webs_two_workers_each_and_one_beat_keep_one_store(topology, tbsim):
    for base in topology.bases:
        wait_for(lambda base=base: healthy(base), 90, f"{base}/healthz with a sync done", topology)
    (first, page1), (second, page2) = (sign_in(base, TENANT) for base in topology.bases)
    raised = [raise_alarm(tbsim, f"Topology {n}", "MAJOR") for n in range(5)]
    with TbSession(tbsim.url, TENANT) as tb:
        everything = set(tb.alarms())
    wait_for(
        lambda: {str(i) for (i,) in query(topology, "SELECT id FROM alarms_alarm")} >= everything,
        60,
        "the store to hold every alarm",
        topology,
    )
    twice, *bulk = raised

    # The same alarm acknowledged through both web servers at once.
    answers = {}

    def act(name, session, base, page):
        answers[name] = post(session, base, f"/alarms/{twice}/", page, {"action": "ack"})

    racing = [
        threading.Thread(target=act, args=("first", first, topology.bases[0], page1)),
        threading.Thread(target=act, args=("second", second, topology.bases[1], page2)),
    ]
    for thread in racing:
        thread.start()
    for thread in racing:
        thread.join(timeout=60)
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "first": 200,
        "second": 200,
    }

    # A bulk job asked for through the second web server, run by either general worker.
    proposal = post(
        second, topology.bases[1], "/alarms/bulk/", page2, {"action": "ack", "ids": bulk}
    )
    [job] = PROPOSED_JOB.findall(proposal.text)
    confirmed = post(second, topology.bases[1], "/alarms/bulk/", proposal.text, {"job": job})
    assert confirmed.status_code == 200
    assert f"/alarms/bulk/{job}/" in confirmed.url

    def finished():
        rows = query(topology, "SELECT finished_at FROM alarms_bulkjob WHERE id = %s", [job])
        return rows and rows[0][0] is not None

    wait_for(finished, 60, "the bulk job to finish", topology)
    acked = set(bulk) | {twice}
    wait_for(
        lambda: (
            {str(i) for (i,) in query(topology, "SELECT id FROM alarms_alarm WHERE acknowledged")}
            >= acked
        ),
        30,
        "the sync to see the acknowledgements",
        topology,
    )
    time.sleep(5)  # two more sync cycles, by either sync worker, on a quiet store

    ids = [str(i) for (i,) in query(topology, "SELECT id FROM alarms_alarm")]
    assert len(ids) == len(set(ids))
    assert set(ids) >= everything
    events = Counter(
        (str(alarm), kind)
        for alarm, kind in query(topology, "SELECT alarm_id, kind FROM alarms_alarmevent")
    )
    assert all(events[(alarm, "created")] == 1 for alarm in ids), "an alarm created twice"
    assert all(events[(alarm, "acknowledged")] == 1 for alarm in acked), events
    audit = Counter(
        (str(alarm), action, job_id)
        for alarm, action, job_id in query(
            topology, "SELECT alarm_uuid, action, bulk_job_id FROM alarms_auditentry"
        )
    )
    assert audit[(twice, "ack", None)] == 2  # one entry for each of the two requests
    assert all(audit[(alarm, "ack", int(job))] == 1 for alarm in bulk), audit
    assert sum(audit.values()) == 2 + len(bulk)
    assert query(topology, "SELECT count(*) FROM alarms_bulkjob") == [(1,)]
    with TbSession(tbsim.url, TENANT) as tb:
        assert all(tb.get(f"/api/alarm/info/{alarm}").json()["acknowledged"] for alarm in acked)


# --- a short soak: people watching while things fail ----------------------------------------

SOAK_SECONDS = 60
# When each fault starts, in seconds from the start of the soak (a shortened schedule of
# bench/soak_bench.py's): ThingsBoard down for 12 s; Redis restarted; a sync worker killed
# (systemd starts it again 2 s later); a web server's workers reloaded (systemctl reload).
OUTAGE = (8, 20)
REDIS_RESTART = 26
SYNC_WORKER_KILL = 34
WEB_RELOAD = 42


def test_a_short_soak_with_faults_answers_every_page_and_loses_no_change(topology, tbsim):
    for base in topology.bases:
        wait_for(lambda base=base: healthy(base), 90, f"{base}/healthz with a sync done", topology)
    started = time.monotonic()
    until = started + SOAK_SECONDS
    personas = [TENANT, CUSTOMER_A, CUSTOMER_B]
    watchers = [
        Watcher(topology.bases[n % 2], personas[n % 3], path, until, started)
        for n, path in enumerate(["/alarms/", "/oncall/"] * 6)
    ]
    for watcher in watchers:
        watcher.start()
    touched = set()
    changer = threading.Thread(target=thingsboard_changes, args=(tbsim, until, touched))
    changer.start()

    def at(second):
        time.sleep(max(0.0, started + second - time.monotonic()))

    at(OUTAGE[0])
    requests.post(f"{tbsim.url}/sim/faults", json={"outage": True}, timeout=5).raise_for_status()
    at(OUTAGE[1])
    requests.delete(f"{tbsim.url}/sim/faults", timeout=5).raise_for_status()
    at(REDIS_RESTART)
    topology.restart("redis")
    at(SYNC_WORKER_KILL)
    topology.restart("sync1", how=signal.SIGKILL, pause=2)
    at(WEB_RELOAD)
    web, _ = topology.processes["web1"]
    os.kill(web.pid, signal.SIGHUP)  # gunicorn's graceful reload: new workers, old ones finish
    changer.join(timeout=SOAK_SECONDS)
    for watcher in watchers:
        watcher.join(timeout=30)
    topology.check_alive()

    answers = [answer for watcher in watchers for answer in watcher.answers]
    assert len(answers) > len(watchers) * SOAK_SECONDS / 3  # the pages kept asking
    outage = (OUTAGE[0], OUTAGE[1] + 10)  # and the sync's next cycles after it
    bad = [
        (round(second, 1), status)
        for second, status, _ in answers
        if not (isinstance(status, int) and status < 500) and not outage[0] <= second <= outage[1]
    ]
    assert bad == [], bad
    assert touched, "nothing changed in ThingsBoard during the soak"
    wait_for(lambda: store_matches_thingsboard(topology, tbsim), 60, "the store to match", topology)
