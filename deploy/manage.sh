#!/bin/sh
# manage.py as the services run it: as the alarmdesk user, with the settings of
# /etc/alarmdesk/alarmdesk.env, from this checkout. Run it as root, for instance
#
#   /opt/alarmdesk/deploy/manage.sh migrate
#
# The file is read here by the shell, and by systemd for the services: its values are
# written so that both read them alike (no quotes, spaces, `$` or backslashes).
set -eu
cd "$(dirname "$0")/.."
# What collectstatic writes is for nginx (www-data) to read.
umask 022
set -a
. /etc/alarmdesk/alarmdesk.env
set +a
# runuser keeps the environment (only HOME, USER and LOGNAME change), so the file may stay
# readable by root alone.
exec runuser -u alarmdesk -- .venv/bin/python manage.py "$@"
