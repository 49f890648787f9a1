#!/usr/bin/env bash
# Makes sure Debian's packages that AlarmDesk runs on are present: redis-server always;
# for the tests (--browser) chromium, postgresql (the tests start a private cluster of its
# server, never the system's service) and nginx (its `nginx -t` checks deploy/). Installs
# them with apt-get when running as root; otherwise says exactly what to install.
set -euo pipefail

wanted=()
command -v redis-server >/dev/null 2>&1 || wanted+=(redis-server)
if [ "${1:-}" = "--browser" ]; then
    command -v chromium >/dev/null 2>&1 || wanted+=(chromium)
    ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || wanted+=(postgresql)
    [ -x /usr/sbin/nginx ] || wanted+=(nginx)  # not on a user's PATH: looked for by path
fi
[ ${#wanted[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "AlarmDesk needs Debian's ${wanted[*]}: run 'sudo apt-get install ${wanted[*]}' and try again." >&2
    exit 1
fi
echo "Installing ${wanted[*]} with apt-get..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
