"""Settings for Trade CRM, read from the environment (see .env.example).

The embedded default (no variables set) runs on SQLite with an on-disk Celery broker, so the
app, its worker and beat start on a bare machine. Production sets DJANGO_DEBUG=False,
DJANGO_SECRET_KEY, DATABASE_URL (PostgreSQL) and REDIS_URL.
"""

import datetime
from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # local state of the embedded default: database, broker, uploads

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    # A fixed key is only acceptable for local development; production must set its own.
    default="dev-only-insecure-key-do-not-use-in-production" if DEBUG else environ.Env.NOTSET,
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "django_htmx",
    "django_celery_beat",
    "import_export",
    "csp",
    "axes",  # before accounts: its failed-login receiver runs first
    "accounts",
    "contacts",
    "followups",
    "mailbox",
    "crm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the lockout page
]

if DEBUG:
    # runserver serves static files itself; WhiteNoise serves the collected ones in production.
    MIDDLEWARE.remove("whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "followups.context_processors.notifications",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'trade_crm.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)  # the embedded default keeps its state here
    # Web, worker and beat share the file: wait for locks, take write locks up front.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compilation: the CRM's queries are short, and for the few large ones (an import's
    # lookup of 49,000 addresses) PostgreSQL spent two seconds compiling before running 0.3 s.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Refuses locked-out credentials before any password is checked; authenticates nobody.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Simplified Chinese first: the users are Chinese export teams.
LANGUAGE_CODE = env.str("DJANGO_LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "crm_language"
USE_I18N = True
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="Asia/Shanghai")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=VAR_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=VAR_DIR / "media")

# --- Celery: Redis in production, kombu's filesystem transport in the embedded default ---
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "store_processed": False,
    }
    for folder in ("queue", "processed"):
        (CELERY_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a killed worker's task is redelivered; tasks are idempotent
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# Redis is the cache when configured (production, tests); else a per-process memory cache.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Mail ---
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)  # a hung SMTP server must not block a worker
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Trade CRM <crm@localhost>")

# --- Mailbox: IMAP sync, bounces, the mail the CRM sends (see mailbox/) ---
# Fernet key(s) for mailbox passwords, comma-separated, the first encrypts. Required when
# DEBUG is off; in development a key derived from SECRET_KEY stands in (see mailbox/crypto.py).
MAILBOX_ENCRYPTION_KEY = env.str("MAILBOX_ENCRYPTION_KEY", default="")
# Envelope sender (Return-Path) of CRM mail, where bounces go; empty: DEFAULT_FROM_EMAIL's address.
MAILBOX_RETURN_PATH = env.str("MAILBOX_RETURN_PATH", default="")
MAILBOX_VERP = env.bool("MAILBOX_VERP", default=False)  # bounces+<token>@domain per message
MAILBOX_REPLY_TO = env.str("MAILBOX_REPLY_TO", default="")  # e.g. the synced sales mailbox
MAILBOX_MESSAGE_ID_DOMAIN = env.str("MAILBOX_MESSAGE_ID_DOMAIN", default="")
MAILBOX_SOFT_BOUNCE_LIMIT = env.int("MAILBOX_SOFT_BOUNCE_LIMIT", default=3)  # N soft bounces ...
MAILBOX_SOFT_BOUNCE_DAYS = env.int("MAILBOX_SOFT_BOUNCE_DAYS", default=30)  # ... within D days
MAILBOX_SYNC_BATCH = 50  # messages per IMAP FETCH
MAILBOX_SYNC_MAX_PER_RUN = 1000  # per folder and run; the next run goes on from there
MAILBOX_MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # larger messages are quarantined unread
MAILBOX_IMAP_TIMEOUT = env.int("MAILBOX_IMAP_TIMEOUT", default=30)  # seconds, per socket call

# --- Lists ---
CONTACT_LIST_PAGE_SIZE = 25
CONTACT_LIST_MAX_PAGE_SIZE = 100  # requested page sizes are capped here
SEARCH_MAX_LENGTH = 200  # longer search text is cut, never an error

# Bulk inserts (imports, their audit rows) check foreign keys once per column and skip
# PostgreSQL's per-row checks, when the database role may (crm/bulk.py, checked_references).
BULK_SET_BASED_KEY_CHECKS = env.bool("BULK_SET_BASED_KEY_CHECKS", default=True)

# --- Contact import: limits that make a hostile or broken spreadsheet fail fast ---
# Checked before a row is read (size, zip directory) or while streaming (rows, columns), so a
# bad upload never costs more than a few seconds or a bounded amount of memory.
IMPORT_MAX_FILE_BYTES = env.int("IMPORT_MAX_FILE_BYTES", default=20 * 1024 * 1024)  # 20 MB
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=100_000)  # rows with content, all sheets
IMPORT_MAX_COLUMNS = env.int("IMPORT_MAX_COLUMNS", default=200)  # last column holding a value
IMPORT_MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024  # .xlsx: sum of the zip members' sizes
IMPORT_MAX_COMPRESSION_RATIO = 100  # .xlsx: any member (over 1 MB) packed tighter is a bomb
# Uploads wait here (private: not under MEDIA_ROOT or STATIC_ROOT, never served) until their job
# ends; web and worker must share the folder. A running job whose worker sent no heartbeat for
# IMPORT_STALE_SECONDS (the worker died) is shown as failed and can be run again.
IMPORT_UPLOAD_DIR = env.path("IMPORT_UPLOAD_DIR", default=VAR_DIR / "imports")
IMPORT_HEARTBEAT_SECONDS = 15
IMPORT_STALE_SECONDS = env.int("IMPORT_STALE_SECONDS", default=120)

# --- Contact export ---
# More contacts than this are exported by a background job: the user gets a page with progress
# and a download link instead of waiting on one long request.
CONTACT_EXPORT_SYNC_LIMIT = env.int("CONTACT_EXPORT_SYNC_LIMIT", default=5_000)
# Finished export files wait here (private like IMPORT_UPLOAD_DIR: never served as media; web
# and worker share the folder) for their requester to download them, and are removed after
# CONTACT_EXPORT_RETENTION_DAYS by the "export cleanup" periodic job.
CONTACT_EXPORT_DIR = env.path("CONTACT_EXPORT_DIR", default=VAR_DIR / "exports")
CONTACT_EXPORT_RETENTION_DAYS = env.int("CONTACT_EXPORT_RETENTION_DAYS", default=7)

# --- Login throttling (django-axes) ---
# Too many failed logins for one username from one IP address lock that pair out for a while;
# the lock expires by itself, and attempts while locked do not extend it. Counted per pair, so
# nobody can lock a colleague out from elsewhere. Kept in the database: shared by every process
# (the embedded default's cache is per process), visible in the admin, reset by `axes_reset`.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.security.client_ip"  # the address the audit log records
AXES_DISABLE_ACCESS_LOG = True  # successful logins are not kept: less personal data

# --- Content-Security-Policy (django-csp), in every mode so that tests see it ---
# The pages load only their own scripts and styles: no inline script, style or event handler.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Production hardening (DEBUG=False) ---
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # htmx sends the token from the page (hx-headers), not the cookie
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
