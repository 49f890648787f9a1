"""AlarmDesk's only settings file: every value comes from the environment.

The helpers below refuse malformed values with ImproperlyConfigured instead of guessing,
so a typo in a deployment fails at start-up, not at 3 a.m.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env_str(name, default=None):
    value = os.environ.get(name, "")
    return value if value != "" else default


def env_bool(name, default=False):
    value = env_str(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name, default, minimum=1):
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_list(name, default):
    value = env_str(name)
    return [item.strip() for item in value.split(",") if item.strip()] if value else default


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if SECRET_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=true for development)")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production-0123456789"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])

# --- ThingsBoard --------------------------------------------------------------------------

# Unset: demo mode, against the simulator that `make run` starts on this address.
TB_URL = env_str("TB_URL", "http://127.0.0.1:8080").rstrip("/")
TB_DEMO = env_str("TB_URL") is None
TB_SYNC_USERNAME = env_str("TB_SYNC_USERNAME", "tenant@thingsboard.org" if TB_DEMO else None)
TB_SYNC_PASSWORD = env_str("TB_SYNC_PASSWORD", "tenant" if TB_DEMO else None)
TB_SYNC_API_KEY = env_str("TB_SYNC_API_KEY")
if not TB_SYNC_API_KEY and not (TB_SYNC_USERNAME and TB_SYNC_PASSWORD):
    raise ImproperlyConfigured(
        "With TB_URL set, give the sync account: TB_SYNC_USERNAME and TB_SYNC_PASSWORD, "
        "or TB_SYNC_API_KEY (a tenant administrator of the tenant AlarmDesk serves)"
    )
# Seconds to wait for ThingsBoard to accept the connection, and to answer.
TB_TIMEOUT = (3.05, float(env_int("TB_TIMEOUT", 10)))

# --- The alarm sync (alarmdesk/alarms/sync.py) ------------------------------------------

# Every 2 s: a change in ThingsBoard reaches an open page within about 3 s at p95 (a read
# every S seconds, then a poll every ALARMDESK_LIVE_SECONDS: p95 is near 0.95 S + the poll,
# so a 5 s sync could never meet the 5 s target; bench/fresh_bench.py). A quiet cycle is
# four one-page requests: 2 requests a second, however many people watch.
ALARMDESK_SYNC_SECONDS = env_int("ALARMDESK_SYNC_SECONDS", 2)
# How often an open live page (the list, on-call) asks whether its scope changed: a
# "nothing changed" answer is one Redis round trip and a 204.
ALARMDESK_LIVE_SECONDS = env_int("ALARMDESK_LIVE_SECONDS", 2)
ALARMDESK_RECONCILE_SECONDS = env_int("ALARMDESK_RECONCILE_SECONDS", 300)
ALARMDESK_BACKFILL_DAYS = env_int("ALARMDESK_BACKFILL_DAYS", 30)


# --- Django -------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "alarmdesk.accounts",
    "alarmdesk.alarms",
    "alarmdesk.oncall",
    "alarmdesk.history",
    "alarmdesk.entities",
]

MIDDLEWARE = [
    # First, so it compresses what every other middleware wrote: brotli, else gzip (BREACH:
    # see alarmdesk/compression.py).
    "alarmdesk.compression.CompressionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "alarmdesk.statement_limit.StatementTimeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "alarmdesk.accounts.middleware.ThingsBoardSessionMiddleware",
    "alarmdesk.accounts.middleware.NoStoreMiddleware",
]

ROOT_URLCONF = "alarmdesk.urls"
WSGI_APPLICATION = "alarmdesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.messages.context_processors.messages",
                "alarmdesk.accounts.context_processors.tb_user",
                "alarmdesk.alarms.context_processors.sync_status",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'alarmdesk.sqlite3'}"),
        conn_max_age=600,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web processes read while the worker writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        # Seconds to wait for another process's write lock: the sync's writes hold it
        # for a batch (tens of ms), and a web request must not wait long.
        "timeout": 5,
    }
# Web requests only: a database statement running longer is interrupted and the user
# told so (alarmdesk/statement_limit.py).
ALARMDESK_STATEMENT_SECONDS = env_int("ALARMDESK_STATEMENT_SECONDS", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6390/0")
CACHES = {
    "default": {
        "BACKEND": "alarmdesk.cache.RedisCache",  # Django's, keeping its client
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "alarmdesk",
        # Fail fast when Redis is unreachable: pages then fall back (no throttle, no cache)
        # instead of waiting for the operating system's connect timeout.
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# Server-side sessions: the ThingsBoard tokens live here, never in a cookie.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 7 * 24 * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Pages are served from the store without asking ThingsBoard, so a session is confirmed with
# ThingsBoard (a token refresh, which re-loads the user) before every action, and before a
# read once this many seconds have passed since the last confirmation: a user disabled or
# deleted in ThingsBoard reads AlarmDesk's pages for at most this long.
ALARMDESK_SESSION_CHECK_SECONDS = env_int("ALARMDESK_SESSION_CHECK_SECONDS", 120)

ALARMDESK_HTTPS = env_bool("ALARMDESK_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = ALARMDESK_HTTPS
SECURE_SSL_REDIRECT = ALARMDESK_HTTPS
SECURE_HSTS_SECONDS = 31536000 if ALARMDESK_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = ALARMDESK_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if ALARMDESK_HTTPS else None
# HSTS preloading is a commitment only the site's owner can make; not ours to default.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGIN_URL = "login"

# A strict Content-Security-Policy: no inline script or style, no eval.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True


def env_times_of_day(name):
    """Times of day as (hour, minute) pairs, in order: "HH:MM" separated by commas."""
    value = env_str(name)
    if value is None:
        return ()
    times = []
    for item in value.split(","):
        hour, colon, minute = item.strip().partition(":")
        digits = (hour + minute).isascii() and (hour + minute).isdigit()
        if not (colon and len(hour) == len(minute) == 2 and digits):
            raise ImproperlyConfigured(f"{name} must be times like 07:00,19:00, not {value!r}")
        if int(hour) > 23 or int(minute) > 59:
            raise ImproperlyConfigured(f"{name}: {item.strip()} is not a time of day")
        times.append((int(hour), int(minute)))
    if len(set(times)) < len(times):
        raise ImproperlyConfigured(f"{name} gives the same time twice: {value!r}")
    return tuple(sorted(times))


# "My shift" on /history/ runs from the last of these times (in TIME_ZONE) to now; none:
# the last 12 hours.
ALARMDESK_SHIFTS = env_times_of_day("ALARMDESK_SHIFTS")

# Sign-in attempts that may reach ThingsBoard in LOGIN_THROTTLE_SECONDS: per username and
# client address together (a success starts that count again), and per address alone, where
# every attempt counts, successful or not.
LOGIN_THROTTLE_ATTEMPTS = env_int("LOGIN_THROTTLE_ATTEMPTS", 5)
LOGIN_THROTTLE_ADDRESS_ATTEMPTS = env_int("LOGIN_THROTTLE_ADDRESS_ATTEMPTS", 30)
LOGIN_THROTTLE_SECONDS = env_int("LOGIN_THROTTLE_SECONDS", 300)
# How many proxies in front of AlarmDesk append to X-Forwarded-For. 0: the client is
# REMOTE_ADDR and the header is ignored (anyone can send one).
ALARMDESK_TRUSTED_PROXIES = env_int("ALARMDESK_TRUSTED_PROXIES", 0, minimum=0)

# --- Notifying the person on call (alarmdesk/oncall/) -----------------------------------

# The site's address as its users reach it: the links in notifications and e-mails.
ALARMDESK_PUBLIC_URL = env_str("ALARMDESK_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Web Push's VAPID key (RFC 8292): unset, one is generated once and kept in var/ (every web
# process and worker of a machine then shares it; set it when they run on several). A PEM,
# or the base64url of the raw key or its DER (`manage.py vapid_key` prints one).
ALARMDESK_VAPID_PRIVATE_KEY = env_str("ALARMDESK_VAPID_PRIVATE_KEY")
ALARMDESK_VAPID_KEY_FILE = VAR_DIR / "vapid_private.pem"
# Who runs this push sender, for the push services to write to: mailto: or https:.
ALARMDESK_VAPID_SUBJECT = env_str("ALARMDESK_VAPID_SUBJECT", "mailto:alarmdesk@localhost")
# The push services a browser's subscription may point at (a name, or a suffix after a dot);
# https only unless an entry is written with http:// (the tests' own, on loopback). Nothing
# else is ever sent a request: a subscription naming another host is refused.
ALARMDESK_PUSH_HOSTS = env_list(
    "ALARMDESK_PUSH_HOSTS",
    [
        "fcm.googleapis.com",  # Chrome, Edge and Android
        ".push.services.mozilla.com",  # Firefox
        ".push.apple.com",  # Safari, and iOS 16.4+ home-screen apps
        ".notify.windows.com",  # Edge on Windows (WNS)
    ],
)
# Chat webhooks are posted to over https; plain http only to these hosts (a receiver on
# the same private network, the tests' own on loopback).
ALARMDESK_WEBHOOK_HTTP_HOSTS = env_list("ALARMDESK_WEBHOOK_HTTP_HOSTS", [])
# An alarm raised longer ago than this when the sync first sees it is not paged (a backfill,
# or AlarmDesk started after an outage): it is on the pages, not in anyone's pocket.
ALARMDESK_NOTIFY_MAX_AGE_SECONDS = env_int("ALARMDESK_NOTIFY_MAX_AGE_SECONDS", 900)
# Sending: tries per delivery, and the first retry's delay (doubled at each next one).
ALARMDESK_NOTIFY_ATTEMPTS = env_int("ALARMDESK_NOTIFY_ATTEMPTS", 5)
ALARMDESK_NOTIFY_RETRY_SECONDS = env_int("ALARMDESK_NOTIFY_RETRY_SECONDS", 5)
# A link in a notification (acknowledge, claim) works this long, for its one person.
ALARMDESK_NOTIFY_LINK_SECONDS = env_int("ALARMDESK_NOTIFY_LINK_SECONDS", 3600)
# E-mail to the person on call who asked for it: Django's own settings. In demo mode with no
# mail server named, the e-mails are written to the notify worker's log instead.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "AlarmDesk <alarmdesk@localhost>")
if TB_DEMO and env_str("EMAIL_HOST") is None:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- Celery -------------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL
# A Redis that does not answer (frozen, or gone without closing the connection) fails a
# publish within seconds, not after Celery's default retries on a socket with no timeout
# (minutes): the bulk view then keeps its job in the database, for bulk.stalled().
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 3, "socket_connect_timeout": 3}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.5}
# The sync has its own queue and worker process (`worker-sync` in the Procfile), so bulk
# jobs and other work on the default queue (`worker`) never delay it.
# Notifications have theirs (`worker-notify`): a slow push service or SMTP server never
# holds up a bulk job, and a bulk job never holds up a page.
CELERY_TASK_ROUTES = {
    "alarmdesk.alarms.tasks.sync_alarms": {"queue": "sync"},
    **{
        f"alarmdesk.oncall.tasks.{name}": {"queue": "notify"}
        for name in ("plan_notices", "deliver", "sweep")
    },
}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "sync-alarms": {
        "task": "alarmdesk.alarms.tasks.sync_alarms",
        "schedule": ALARMDESK_SYNC_SECONDS,
        # A run not started within one interval is dropped: the next one does its work.
        "options": {"expires": ALARMDESK_SYNC_SECONDS},
    },
    "identify-alarm-actors": {
        "task": "alarmdesk.alarms.tasks.identify_alarm_actors",
        "schedule": 60,
        "options": {"expires": 60},
    },
    "recover-bulk-jobs": {
        "task": "alarmdesk.alarms.tasks.recover_bulk_jobs",
        "schedule": 15,
        "options": {"expires": 15},
    },
    # The outbox's safety net: notices the sync's nudge did not plan (a lost message), and
    # deliveries whose message Redis lost or whose worker died.
    "sweep-notifications": {
        "task": "alarmdesk.oncall.tasks.sweep",
        "schedule": 15,
        "options": {"expires": 15},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
