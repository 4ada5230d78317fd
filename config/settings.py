"""One settings module, configured by environment variables.

The defaults serve the embedded demo: SQLite and kombu's filesystem broker under `var/`,
so a new user needs no server. Production sets DATABASE_URL, CELERY_BROKER_URL,
SECRET_KEY and ALLOWED_HOSTS.
"""

import os
import warnings
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# The embedded defaults' files (SQLite, the filesystem broker); config.var_dir makes the
# folders when a process starts.
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Off unless asked for: `make demo` and `make test` turn it on.
DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
PORT = int(os.environ.get("PORT", "8000"))

# HTTPS. Each setting is read from the environment variable of the same name. Cookies are
# secure unless DEBUG is on; redirecting to HTTPS and HSTS are the operator's choice, since
# they depend on how TLS reaches this process (the README's production table sets them).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# "HTTP_X_FORWARDED_PROTO,https" behind a proxy that terminates TLS and sets that header.
if _proxy_header := env_list("SECURE_PROXY_SSL_HEADER"):
    if len(_proxy_header) != 2:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must be a header and a value, e.g. "
            "HTTP_X_FORWARDED_PROTO,https."
        )
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_header)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: `runserver` then serves static files through WhiteNoise too.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "template_partials",
    "django_htmx",
    "monitoring",
    "jobs",
    "suggestions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves static files from the web process itself, right after the security headers.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # Each web thread keeps its connection between requests: people watching a job
        # poll every few seconds, and a new PostgreSQL connection costs more than a poll.
        # Checked before reuse, so a connection the server dropped is replaced, not an error.
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE transactions take
    # the write lock up front so two writers queue instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL's JIT spends more compiling the regroup's short queries than running them.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "project-list"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
# `collectstatic` writes hashed, compressed copies that WhiteNoise serves with far-future
# cache headers. With DEBUG on (the demo) it serves the source files instead, unhashed, so
# the demo needs no collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    # Files of captures uploaded to be added (kept until their job succeeds, for Retry):
    # on this machine by default; with workers on several machines, in an S3-compatible
    # bucket that they all reach (django-storages, `pip install '.[s3]'`).
    "capture_uploads": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "uploads" / "captures")},
    },
}
if UPLOADS_S3_BUCKET := os.environ.get("UPLOADS_S3_BUCKET"):
    STORAGES["capture_uploads"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": UPLOADS_S3_BUCKET,
            "location": os.environ.get("UPLOADS_S3_PREFIX", "capture-uploads"),
            # Empty: AWS itself; else the URL of another S3-compatible service.
            "endpoint_url": os.environ.get("UPLOADS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("UPLOADS_S3_REGION") or None,
            # Empty: the machine's own credentials (instance role, AWS_* variables).
            "access_key": os.environ.get("UPLOADS_S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("UPLOADS_S3_SECRET_ACCESS_KEY") or None,
            "default_acl": None,
            "file_overwrite": False,
        },
    }
if DEBUG:
    # Files come from their sources then; a missing collected folder is no news.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "client_errors_without_traceback": {
            "()": "config.log_filters.ClientErrorsWithoutTraceback",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"filters": ["client_errors_without_traceback"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Celery. The default broker is kombu's filesystem transport, so the demo runs a real
# worker process without a server; production sets a redis:// or amqp:// URL.
# A host name, though the transport ignores it, keeps kombu from warning at every start.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    _queue_dir = _broker_dir / "queue"
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "polling_interval": 0.1,
    }
# The queue jobs are sent to and workers consume; sites that share a broker each name one.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Captures a regroup writes per transaction; it reports progress and honours a cancel
# between chunks. Whole sessions go in a chunk, so one very long session makes a bigger one.
REGROUP_CHUNK_CAPTURES = int(os.environ.get("REGROUP_CHUNK_CAPTURES", "5000"))

# Adding captures from the browser: the limits the upload form states and enforces, and
# the rows an import writes per transaction (between progress reports and cancel checks).
CAPTURE_IMPORT_MAX_BYTES = int(float(os.environ.get("CAPTURE_IMPORT_MAX_MB", "100")) * 1024**2)
CAPTURE_IMPORT_MAX_ROWS = int(os.environ.get("CAPTURE_IMPORT_MAX_ROWS", "1000000"))
CAPTURE_IMPORT_CHUNK_ROWS = int(os.environ.get("CAPTURE_IMPORT_CHUNK_ROWS", "5000"))

# Jobs. A running job saves its progress at most this often (and always at a stage's end).
JOBS_PROGRESS_SAVE_SECONDS = float(os.environ.get("JOBS_PROGRESS_SAVE_SECONDS", "1"))
# A running job's worker marks it alive this often, even during one long statement.
JOBS_HEARTBEAT_SECONDS = float(os.environ.get("JOBS_HEARTBEAT_SECONDS", "15"))
# A running job silent this long has lost its worker (four missed beats by default: a busy
# database may delay a beat or two). The reaper then queues it again, up to
# JOBS_MAX_ATTEMPTS runs in all, and only then marks it failed, ready for Retry.
JOBS_STALE_AFTER_SECONDS = float(
    os.environ.get("JOBS_STALE_AFTER_SECONDS", str(4 * JOBS_HEARTBEAT_SECONDS))
)
JOBS_MAX_ATTEMPTS = int(os.environ.get("JOBS_MAX_ATTEMPTS", "3"))
JOBS_REAP_EVERY_SECONDS = int(os.environ.get("JOBS_REAP_EVERY_SECONDS", "60"))
if JOBS_HEARTBEAT_SECONDS <= 0 or JOBS_STALE_AFTER_SECONDS < 2 * JOBS_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        f"JOBS_STALE_AFTER_SECONDS ({JOBS_STALE_AFTER_SECONDS:g}) must be at least twice "
        f"JOBS_HEARTBEAT_SECONDS ({JOBS_HEARTBEAT_SECONDS:g}), which must be positive: "
        "otherwise jobs whose worker is alive would be run again."
    )
if JOBS_MAX_ATTEMPTS < 1 or JOBS_REAP_EVERY_SECONDS < 1:
    raise ImproperlyConfigured("JOBS_MAX_ATTEMPTS and JOBS_REAP_EVERY_SECONDS must be 1 or more.")
CELERY_BEAT_SCHEDULE = {
    "reap-stale-jobs": {"task": "jobs.tasks.reap_stale_jobs", "schedule": JOBS_REAP_EVERY_SECONDS},
}
# A job's message is acknowledged only once it has run; if the worker dies, brokers that
# can (RabbitMQ at once, Redis after the visibility timeout) deliver it again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands an unacknowledged message out again this long after delivering it: after
    # the reaper has had two rounds to notice a dead worker, so the copy normally finds its
    # job queued again, running or ended, and is dropped. Whichever comes first, a job's
    # row lock and live-worker check let only one run go ahead. (A job running longer than
    # this has its copy dropped the same way.)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": round(JOBS_STALE_AFTER_SECONDS + 2 * JOBS_REAP_EVERY_SECONDS)
    }
