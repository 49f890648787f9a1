#!/usr/bin/env bash
# `make test`'s suite, on both databases AlarmDesk supports: every test on SQLite, and every
# test that touches the store again on PostgreSQL (a private cluster the tests start,
# tests/pgcluster.py): all but the browser's, the simulator's, the ThingsBoard client's, the
# deployment files' and sign-in's, which do not depend on the alarm store.
#
# Three passes run side by side, since most of a test's time is spent waiting on a socket
# (a simulator, a worker, a browser), about equal in length: SQLite, the store's tests
# (shown as it runs); SQLite, the browser's, the simulator's and the client's tests, with
# those that have no store of their own (sign-in and sessions, the refreshes answered
# before Django, compression, the web app's files, the deployment files); and PostgreSQL,
# the store's tests. The other two passes' output follows once all are done.
# Arguments go to every pass (e.g. -x, -k name).
set -uo pipefail

bin=.venv/bin
work=$(mktemp -d -t alarmdesk-tests-XXXXXX)
trap 'rm -rf "$work"' EXIT

pass() {  # name, then pytest's arguments; output to $work/<name>.log
    local name=$1
    shift
    "$bin/python" -m pytest -p no:cacheprovider --basetemp "$work/$name" "$@" \
        >"$work/$name.log" 2>&1
}

apart=(--ignore tests/browser --ignore tests/tbsim --ignore tests/thingsboard)
# Without a store of their own (WSGI, middleware, sign-in, static files, deploy/): on SQLite
# only, beside the browser's, so that the store's pass on SQLite, the longest, is shorter.
storeless=(tests/accounts tests/test_livepoll.py tests/test_compression.py tests/test_webapp.py
    tests/test_deploy.py)
unstored=()
for path in "${storeless[@]}"; do unstored+=(--ignore "$path"); done
pass postgres --database postgres "${apart[@]}" "${unstored[@]}" "$@" &
postgres_pass=$!
pass browser --database sqlite tests/browser tests/tbsim tests/thingsboard "${storeless[@]}" "$@" &
browser_pass=$!

echo "== SQLite, the store's tests (two more passes run beside it; their output follows) =="
"$bin/python" -m pytest --database sqlite --basetemp "$work/sqlite" "${apart[@]}" "${unstored[@]}" "$@"
sqlite_status=$?

wait "$browser_pass"
browser_status=$?
wait "$postgres_pass"
postgres_status=$?
for name in browser postgres; do
    echo
    echo "== $([ $name = browser ] && echo "SQLite, the browser's, the simulator's, the client's and the storeless tests" || echo "PostgreSQL, the store's tests") =="
    cat "$work/$name.log"
done

verdict() { [ "$1" -eq 0 ] && echo passed || echo "FAILED ($1)"; }
echo
echo "SQLite, the store: $(verdict $sqlite_status); SQLite, browser, simulator and client: $(verdict $browser_status);" \
    "PostgreSQL, the store: $(verdict $postgres_status)"
[ $sqlite_status -eq 0 ] && [ $browser_status -eq 0 ] && [ $postgres_status -eq 0 ]
