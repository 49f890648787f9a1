#!/usr/bin/env bash
# `make run`: the whole system in the foreground; Ctrl-C stops every process it started.
# Called by the Makefile once the venv and Debian's redis-server are in place.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

# What the processes write under var/ is their owner's alone: the SQLite database (and its
# -wal, -shm) holds sessions with ThingsBoard tokens; then the secret key, Redis's dump.rdb
# and beat's schedule. Only var/static is for everyone, so var/ may be passed through but
# not listed. An older install made its files with the default umask: closed here.
umask 077
mkdir -p var/redis
chmod 711 var
find var -mindepth 1 -path var/static -prune -o ! -type l -exec chmod go-rwx {} +

# A secret key kept under var/ so sessions survive a restart; never committed.
if [ -z "${SECRET_KEY:-}" ]; then
    if [ ! -s var/secret_key ]; then
        python -c 'import secrets; print(secrets.token_urlsafe(50))' >var/secret_key
    fi
    SECRET_KEY="$(cat var/secret_key)"
    export SECRET_KEY
fi

processes=(web worker-sync worker-notify worker beat ready)
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
(umask 022 && python manage.py collectstatic --no-input -v 0)
chmod -R u+rwX,go+rX,go-w var/static
exec honcho start "${processes[@]}"
