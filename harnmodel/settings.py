"""Settings, all from the environment (django-environ). Embedded defaults need no external server."""

import os
import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("HARNMODEL_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret(name: str) -> str:
    """A secret kept in var/ (git-ignored) so the embedded demo needs no configuration.

    Production sets the environment variable instead; the file is never committed.
    """
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret("secret_key")
# Separate keys: rotating SECRET_KEY must not lock out every API key or channel secret.
HARNMODEL_KEY_HMAC_SECRET = env.str("HARNMODEL_KEY_HMAC_SECRET", default="") or _local_secret("key_hmac_secret")
HARNMODEL_ENCRYPTION_KEY = env.str("HARNMODEL_ENCRYPTION_KEY", default="") or _local_secret("encryption_key")

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "accounts",
    "gateway",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "harnmodel.urls"
ASGI_APPLICATION = "harnmodel.asgi.application"

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'harnmodel.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE: writers take the lock at BEGIN, so concurrent holds queue instead of failing.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so an end-to-end test's server process can open it; one per test process,
    # so two test runs on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-harnmodel-{os.getpid()}.sqlite3")}
else:
    # One test database per test process: two runs against one server never trip over each other.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=300)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# Session storage: a one-time API key secret shown in a message must never ride in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The embedded run serves static files itself; production puts them behind the proxy/CDN of its choice.
HARNMODEL_SERVE_STATIC = env.bool("HARNMODEL_SERVE_STATIC", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django.request logs every 4xx as a warning: for an API whose clients send bad keys all day,
    # that is noise on the hot path.
    "loggers": {"httpx": {"level": "WARNING"}, "django.request": {"level": "ERROR"}},
}

# --- the gateway -------------------------------------------------------------------------------
HARNMODEL_CURRENCY = env.str("HARNMODEL_CURRENCY", default="CNY")
# How long a key/catalog lookup may be served from the in-process cache: a revoked key or a
# changed channel takes effect within this many seconds on every worker.
HARNMODEL_AUTH_CACHE_SECONDS = env.float("HARNMODEL_AUTH_CACHE_SECONDS", default=5.0)
HARNMODEL_CATALOG_CACHE_SECONDS = env.float("HARNMODEL_CATALOG_CACHE_SECONDS", default=5.0)
HARNMODEL_DB_THREADS = env.int("HARNMODEL_DB_THREADS", default=8)
# Keep each relay DB thread's connection open between requests (tests turn this off so the test
# database can be dropped at the end).
HARNMODEL_DB_PERSISTENT = env.bool("HARNMODEL_DB_PERSISTENT", default=True)
HARNMODEL_UPSTREAM_TIMEOUT = env.float("HARNMODEL_UPSTREAM_TIMEOUT", default=300.0)
HARNMODEL_UPSTREAM_CONNECT_TIMEOUT = env.float("HARNMODEL_UPSTREAM_CONNECT_TIMEOUT", default=10.0)
HARNMODEL_MAX_ATTEMPTS = env.int("HARNMODEL_MAX_ATTEMPTS", default=3)
# After a client disconnects mid-stream we keep reading the upstream this long for its usage.
HARNMODEL_DRAIN_SECONDS = env.float("HARNMODEL_DRAIN_SECONDS", default=30.0)
# A hold not settled after this long belongs to a crashed worker; the sweeper handles it.
HARNMODEL_HOLD_TTL_SECONDS = env.int("HARNMODEL_HOLD_TTL_SECONDS", default=3600)
HARNMODEL_MAX_BODY_BYTES = env.int("HARNMODEL_MAX_BODY_BYTES", default=16 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = HARNMODEL_MAX_BODY_BYTES

# --- Celery -------------------------------------------------------------------------------------
# Without Redis the broker is the filesystem, so the embedded demo runs worker and beat with no
# server process.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _celery_dir = VAR_DIR / "celery"
    for _sub in ("queue", "processed"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "billing-sweep-holds": {"task": "billing.tasks.sweep_expired_holds", "schedule": 60.0},
}
