"""Print a new Web Push (VAPID) key as the environment file's one line."""

from django.core.management.base import BaseCommand
from py_vapid import Vapid

from alarmdesk.oncall.push import b64url


class Command(BaseCommand):
    help = (
        "Print a new Web Push (VAPID) private key as one ALARMDESK_VAPID_PRIVATE_KEY=... line "
        "(base64url of the raw P-256 key), for the environment file of every web server and "
        "notify worker. Browsers subscribed with another key stop receiving pushes."
    )

    def handle(self, *args, **options):
        key = Vapid()
        key.generate_keys()
        raw = key.private_key.private_numbers().private_value.to_bytes(32, "big")
        self.stdout.write(f"ALARMDESK_VAPID_PRIVATE_KEY={b64url(raw)}")
