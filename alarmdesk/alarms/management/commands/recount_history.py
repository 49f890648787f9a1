"""Count the history's daily counts again from the stored alarms (tallies.rebuild)."""

import time

from django.core.management.base import BaseCommand
from django.db import transaction

from alarmdesk.alarms import tallies


class Command(BaseCommand):
    help = (
        "Count the history's daily counts again from the stored alarms: the store keeps "
        "them with every write, so this is only for rows edited by hand in the database."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        with transaction.atomic():  # the pages read the old counts until the new are whole
            tallies.rebuild()
        self.stdout.write(f"History counted again in {time.monotonic() - started:.1f} s.")
