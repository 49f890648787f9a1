#!/usr/bin/env bash
# `make run`: the whole system in the foreground; Ctrl-C stops every process it started.
# Called by the Makefile once the venv and Debian's redis-server are in place.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p var/redis

# A secret key kept under var/ so sessions survive a restart; never committed.
if [ -z "${SECRET_KEY:-}" ]; then
    if [ ! -s var/secret_key ]; then
        (umask 077 && python -c 'import secrets; print(secrets.token_urlsafe(50))' >var/secret_key)
    fi
    SECRET_KEY="$(cat var/secret_key)"
    export SECRET_KEY
fi

processes=(web worker beat ready)
ports=(8000)
if [ -z "${REDIS_URL:-}" ]; then
    processes=(redis "${processes[@]}")
    ports+=(6390)
fi
if [ -z "${TB_URL:-}" ]; then
    processes=(tbsim "${processes[@]}")
    ports+=(8080)
fi
for port in "${ports[@]}"; do
    if python -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)) != 0)"; then
        echo "Port $port on 127.0.0.1 is already in use (another 'make run'?). Stop that process and try again." >&2
        exit 1
    fi
done

python manage.py migrate --no-input -v 0
python manage.py collectstatic --no-input -v 0
exec honcho start "${processes[@]}"
