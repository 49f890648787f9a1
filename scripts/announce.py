"""Wait until AlarmDesk answers /healthz, then print where it is and how to sign in.

Started by `make run` as the Procfile's `ready` process; honcho stops every process when
one exits, so after the announcement this one just waits for Ctrl-C.
"""

import contextlib
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

DEMO_LOGINS = [
    ("tenant administrator", "tenant@thingsboard.org", "tenant"),
    ("customer A user", "customerA@thingsboard.org", "customer"),
    ("customer B user", "customerB@thingsboard.org", "customer"),
    ("customer C user", "customerC@thingsboard.org", "customer"),
    ("system administrator", "sysadmin@thingsboard.org", "sysadmin"),
]


def health(url):
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # 503: up, but a check failed
        return json.load(error)
    except (OSError, ValueError):
        return None


def main(url, patience=120):
    deadline = time.monotonic() + patience
    while (status := health(url)) is None or status.get("redis") != "ok":
        if time.monotonic() > deadline:
            print(f"AlarmDesk did not answer {url}/healthz in {patience} s; see the logs above.")
            return 1
        time.sleep(0.5)
    lines = ["", f"AlarmDesk is running: {url}/", ""]
    if not os.environ.get("TB_URL"):
        lines.append("Demo mode: the ThingsBoard simulator runs on http://127.0.0.1:8080")
        lines.append("Sign in as (email / password):")
        lines += [f"  {who:<21} {email} / {password}" for who, email, password in DEMO_LOGINS]
    else:
        lines.append(f"ThingsBoard: {os.environ['TB_URL']}; sign in with your ThingsBoard account.")
    lines += ["", "Ctrl-C stops every process.", ""]
    print("\n".join(lines), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
