"""Writes that must not be lost to a briefly locked database."""

import logging
import time

from django.db import OperationalError

log = logging.getLogger(__name__)


def retry_when_locked(write, attempts=3, pause=0.25):
    """`write()`, again after a pause when the database is locked (SQLite: another process
    held the write lock longer than the busy timeout). The last failure is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except OperationalError:
            if attempt == attempts:
                raise
            log.warning("database busy; retrying a write (%d of %d)", attempt + 1, attempts)
            time.sleep(pause * attempt)
    return None
