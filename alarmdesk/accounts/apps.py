import logging
import os
from pathlib import Path

from django.apps import AppConfig
from django.db.backends.signals import connection_created

log = logging.getLogger(__name__)


def keep_sqlite_files_private(sender, connection, **kwargs):
    """The SQLite database holds the sessions, and with them ThingsBoard tokens: readable by
    its owner only, whatever the umask of the process that created it. SQLite gives the
    -wal and -shm files it creates later the database's own mode."""
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        return
    for path in (Path(name), Path(f"{name}-wal"), Path(f"{name}-shm")):
        try:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
        except FileNotFoundError:
            pass
        except PermissionError:
            log.warning("%s is readable by others and not ours to change", path)


class AccountsConfig(AppConfig):
    name = "alarmdesk.accounts"

    def ready(self):
        connection_created.connect(keep_sqlite_files_private)
