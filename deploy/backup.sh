#!/bin/sh
# One dump of AlarmDesk's database into DIRECTORY, keeping the dumps of the last DAYS days
# (14 unless given). Run by alarmdesk-backup.service as the alarmdesk user, with the
# database URL the app itself uses (DATABASE_URL from /etc/alarmdesk/alarmdesk.env).
#
#   backup.sh DIRECTORY [DAYS]
#
# pg_dump's custom format: compressed, and pg_restore can restore all or only some tables
# from it (docs/deploy.md, "Backups").
set -eu

dir=${1:?usage: backup.sh DIRECTORY [DAYS]}
days=${2:-14}
file="$dir/alarmdesk-$(date -u +%Y%m%dT%H%M%SZ).dump"

# Written under another name until complete, so that a dump cut short (a full disk, the
# database gone) is never mistaken for a whole one, nor counted among the dumps kept.
trap 'rm -f "$file.partial"' EXIT
pg_dump --format=custom --dbname="$DATABASE_URL" --file="$file.partial"
mv "$file.partial" "$file"

# Older than DAYS whole days: find's -mtime +N means "at least N+1 days".
find "$dir" -maxdepth 1 -name 'alarmdesk-*.dump' -mtime +"$((days - 1))" -delete
