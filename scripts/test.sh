#!/usr/bin/env bash
# `make test`'s suite, on both databases AlarmDesk supports: every test on SQLite, and every
# test that touches the store again on PostgreSQL (a private cluster the tests start,
# tests/pgcluster.py): all but the browser's, the simulator's and the ThingsBoard client's,
# which do not depend on the database. The two passes run side by side (about half of a
# test's time is spent waiting on a socket); the PostgreSQL pass's output is printed once
# both are done. Arguments go to both passes (e.g. -x, -k name).
set -uo pipefail

bin=.venv/bin
work=$(mktemp -d -t alarmdesk-tests-XXXXXX)
trap 'rm -rf "$work"' EXIT

"$bin/python" -m pytest --database postgres -p no:cacheprovider --basetemp "$work/postgres" \
    --ignore tests/browser --ignore tests/tbsim --ignore tests/thingsboard "$@" \
    >"$work/postgres.log" 2>&1 &
postgres_pass=$!

echo "== the SQLite pass (the PostgreSQL pass runs beside it; its output follows) =="
"$bin/python" -m pytest --database sqlite --basetemp "$work/sqlite" "$@"
sqlite_status=$?

wait "$postgres_pass"
postgres_status=$?
echo
echo "== the PostgreSQL pass =="
cat "$work/postgres.log"
echo
echo "SQLite pass: $([ $sqlite_status -eq 0 ] && echo passed || echo "FAILED ($sqlite_status)");" \
    "PostgreSQL pass: $([ $postgres_status -eq 0 ] && echo passed || echo "FAILED ($postgres_status)")"
[ $sqlite_status -eq 0 ] && [ $postgres_status -eq 0 ]
