"""Settings, all from the environment (django-environ). Embedded defaults need no external server."""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("HARNMODEL_VAR_DIR", default=str(BASE_DIR / "var")))
# var/ holds the SQLite database (live sessions), secrets and logs: the service user's alone (M7).
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _local_secret(name: str) -> str:
    """A secret kept in var/ (git-ignored) so the embedded demo needs no configuration.

    Production sets the environment variable instead; the file is never committed.
    """
    path = VAR_DIR / name
    if not path.exists():  # created 0600, never readable by others even for a moment
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret("secret_key")
# Separate keys: rotating SECRET_KEY must not lock out every API key or channel secret.
HARNMODEL_KEY_HMAC_SECRET = env.str("HARNMODEL_KEY_HMAC_SECRET", default="") or _local_secret("key_hmac_secret")
HARNMODEL_ENCRYPTION_KEY = env.str("HARNMODEL_ENCRYPTION_KEY", default="") or _local_secret("encryption_key")

DEBUG = env.bool("DEBUG", default=False)
# ALLOWED_HOSTS: see below, after HARNMODEL_SITE_URL (its default comes from it).
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # the docs page's assets, served from here (no CDN)
    "accounts",
    "gateway",
    "billing",
    "gateway.upstream.truth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After AuthenticationMiddleware: marks request.user verified by a TOTP device (admin sign-in, accounts/otp.py).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A strict Content-Security-Policy on every page (accounts/csp.py): own scripts and styles, or a nonce.
    "accounts.csp.ContentSecurityPolicyMiddleware",
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
            "libraries": {"portal": "accounts.portal.templatetags"},
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
    # SQLite creates the -wal and -shm files with the database file's mode: a 0600 database keeps all three
    # private whatever the umask (M7). Made here, before any connection, and fixed if an older one is 0644.
    _sqlite = Path(DATABASES["default"]["NAME"])
    if DATABASES["default"]["NAME"] not in ("", ":memory:") and _sqlite.parent.is_dir():
        os.close(os.open(_sqlite, os.O_WRONLY | os.O_CREAT, 0o600))
        for _file in (_sqlite, _sqlite.with_name(_sqlite.name + "-wal"), _sqlite.with_name(_sqlite.name + "-shm")):
            if _file.exists() and _file.stat().st_mode & 0o077 and _file.stat().st_uid == os.getuid():
                _file.chmod(0o600)
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
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- the customer portal ------------------------------------------------------------------------
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:login"
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))  # for the file-based backend
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="harnmodel <no-reply@harnmodel.local>")
# The base URL customers call (docs, playground samples), e.g. https://api.example.com/v1;
# empty = the host the portal was reached on.
HARNMODEL_PUBLIC_API_BASE = env.str("HARNMODEL_PUBLIC_API_BASE", default="")
# The portal's own origin, e.g. https://portal.example.com: every link we email (sign-up confirmation,
# password reset, invitations) and the Stripe return URL are built from it, never from the request's
# Host header (which a client chooses, and ALLOWED_HOSTS may allow). The default is where scripts/run
# serves: http://127.0.0.1 on $PORT (8000 unless set). Production must set it.
HARNMODEL_SITE_URL = env.str("HARNMODEL_SITE_URL", default="").rstrip("/") or (
    f"http://127.0.0.1:{env.int('PORT', default=8000)}"
)
# Host names this server answers to; with the site URL, also the origins the console's websocket accepts
# (accounts/ws_routing.py). Never "*" by default outside DEBUG: the site URL's host and the loopback names
# (health checks from the same machine; the embedded demo), so no web page can reach the demo on a
# developer's machine through DNS rebinding. A load balancer probing by pod IP needs its host listed.
_site_host = urlsplit(HARNMODEL_SITE_URL).hostname or "127.0.0.1"
_site_host = f"[{_site_host}]" if ":" in _site_host else _site_host  # an IPv6 address, as Host carries it
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[]) or (
    ["*"] if DEBUG else list(dict.fromkeys([_site_host, "127.0.0.1", "localhost", "[::1]"]))
)
# Behind TLS (directly or via a proxy that sets X-Forwarded-Proto) cookies must be Secure; the
# embedded demo runs on plain http://127.0.0.1, where Secure cookies would never come back.
HARNMODEL_HTTPS = env.bool("HARNMODEL_HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HARNMODEL_HTTPS
if HARNMODEL_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
CSRF_COOKIE_HTTPONLY = True  # forms carry the token; no script needs to read the cookie
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Login throttling: failures per email and per client address within the window.
HARNMODEL_LOGIN_FAILURES_PER_EMAIL = env.int("HARNMODEL_LOGIN_FAILURES_PER_EMAIL", default=5)
HARNMODEL_LOGIN_FAILURES_PER_IP = env.int("HARNMODEL_LOGIN_FAILURES_PER_IP", default=30)
HARNMODEL_LOGIN_WINDOW_SECONDS = env.int("HARNMODEL_LOGIN_WINDOW_SECONDS", default=900)
# Invitation mails an account may send in any 24 hours (each goes to an address its owner typed).
HARNMODEL_INVITATIONS_PER_DAY = env.int("HARNMODEL_INVITATIONS_PER_DAY", default=20)

# Webhooks (accounts/api/webhooks.py): internal receivers an operator allows despite the private-address
# rule (names, *.suffix, IPs, CIDRs), and a CA bundle for receivers with a private CA ("" = system store).
HARNMODEL_WEBHOOK_ALLOWED_HOSTS = env.list("HARNMODEL_WEBHOOK_ALLOWED_HOSTS", default=[])
HARNMODEL_WEBHOOK_CA_BUNDLE = env.str("HARNMODEL_WEBHOOK_CA_BUNDLE", default="")
# key.expiring webhook events go out when a key's expiry is this many days away (each threshold once).
HARNMODEL_KEY_EXPIRY_NOTICE_DAYS = env.list("HARNMODEL_KEY_EXPIRY_NOTICE_DAYS", cast=int, default=[7, 1])

# The management REST API (/api/v1/, accounts/api/): throttled per caller on the Django cache.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.auth.ManagementKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "accounts.api.pagination.IdCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api.throttles.CallerThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api": env.str("HARNMODEL_API_RATE", default="600/min"),
        "api_write": env.str("HARNMODEL_API_WRITE_RATE", default="120/min"),
    },
    "EXCEPTION_HANDLER": "accounts.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "harnmodel management API",
    "DESCRIPTION": "Accounts, keys, usage, billing and operations. Inference stays on /v1.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "APPEND_COMPONENTS": {
        "securitySchemes": {"managementKey": {"type": "http", "scheme": "bearer", "description": "mk-…"}}
    },
    "SECURITY": [{"managementKey": []}],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.api.schema.add_error_responses",
    ],
}
# Browsers may call /v1/* from these origins (the Playground itself is same-origin); "*" = any.
# Read by the /v1 front (gateway/relay/front.py): the API authenticates by bearer key, never by cookie.
HARNMODEL_CORS_ALLOWED_ORIGINS = env.list("HARNMODEL_CORS_ALLOWED_ORIGINS", default=["*"])
# Operator console sign-in needs a TOTP code from a device enrolled with `manage.py totp_enroll` (accounts/otp.py).
# Off by default so the embedded demo's printed admin login works; production turns it on.
HARNMODEL_ADMIN_TOTP = env.bool("HARNMODEL_ADMIN_TOTP", default=False)
OTP_TOTP_ISSUER = "harnmodel"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # django-otp's own device pages never show the key or its QR code

# Session storage: a one-time API key secret shown in a message must never ride in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The embedded run serves static files itself; production puts them behind the proxy/CDN of its choice.
HARNMODEL_SERVE_STATIC = env.bool("HARNMODEL_SERVE_STATIC", default=True)

LOG_FORMAT = env.str("LOG_FORMAT", default="text")  # text | json
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Defence in depth: whatever a log line holds, API keys and bearer tokens are blanked.
    "filters": {"redact_secrets": {"()": "gateway.observe.logformat.RedactSecretsFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "gateway.observe.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        # django.request logs every 4xx as a warning: for an API whose clients send bad keys all
        # day, that is noise on the hot path.
        "django.request": {"level": "ERROR"},
        # uvicorn's lines through the same handler (not the parent "uvicorn": dictConfig would
        # reset its children's levels and --log-level would stop working).
        "uvicorn.error": {"handlers": ["console"], "propagate": False},
        "uvicorn.access": {"handlers": ["console"], "propagate": False},
        "uvicorn.asgi": {"handlers": ["console"], "propagate": False},
    },
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
# How often a relay DB thread re-checks its connection (ping, CONN_MAX_AGE); a database error
# triggers the check at once.
HARNMODEL_DB_CHECK_SECONDS = env.float("HARNMODEL_DB_CHECK_SECONDS", default=1.0)
# A key's "last used" is written at most this often per key (gateway/relay/key_touch.py), never per request.
HARNMODEL_KEY_TOUCH_SECONDS = env.float("HARNMODEL_KEY_TOUCH_SECONDS", default=60.0)
# PostgreSQL: the hold and the settlement run on the event loop over this many connections per worker
# (billing/holds/aio.py); off, or on SQLite, they run in the DB threads.
HARNMODEL_DB_ASYNC = env.bool("HARNMODEL_DB_ASYNC", default=True)
HARNMODEL_DB_ASYNC_CONNECTIONS = env.int("HARNMODEL_DB_ASYNC_CONNECTIONS", default=4)
HARNMODEL_UPSTREAM_TIMEOUT = env.float("HARNMODEL_UPSTREAM_TIMEOUT", default=300.0)
HARNMODEL_UPSTREAM_CONNECT_TIMEOUT = env.float("HARNMODEL_UPSTREAM_CONNECT_TIMEOUT", default=10.0)
HARNMODEL_MAX_ATTEMPTS = env.int("HARNMODEL_MAX_ATTEMPTS", default=3)
# After a client disconnects mid-stream we keep reading the upstream this long for its usage.
HARNMODEL_DRAIN_SECONDS = env.float("HARNMODEL_DRAIN_SECONDS", default=30.0)
# Same-protocol passthrough (gateway/protocols/native.py): a Chat / Messages / Gemini door request served by a
# channel of its own protocol goes up as the client sent it and its answer comes back byte for byte.
HARNMODEL_DOOR_PASSTHROUGH = env.bool("HARNMODEL_DOOR_PASSTHROUGH", default=True)
# Signed receipts (gateway/receipts/): every billed answer carries one. A worker re-reads the signing key
# this often, so a rotation reaches every worker within it (the old key keeps verifying meanwhile).
HARNMODEL_RECEIPTS = env.bool("HARNMODEL_RECEIPTS", default=True)
HARNMODEL_RECEIPT_KEY_CACHE_SECONDS = env.float("HARNMODEL_RECEIPT_KEY_CACHE_SECONDS", default=60.0)
# A hold not settled after this long belongs to a crashed worker; the sweeper handles it.
HARNMODEL_HOLD_TTL_SECONDS = env.int("HARNMODEL_HOLD_TTL_SECONDS", default=3600)
# Retention (billing/retention.py, hourly): raw usage records and receipts older than this many days are
# deleted (whole months dropped on PostgreSQL, where the usage table is partitioned by month) once their days'
# rollups are final; closed holds after HARNMODEL_RETAIN_HOLDS_DAYS. 0 keeps them forever. The ledger is
# never purged (balance = Σ ledger). At least 62 days of usage stay: monthly budgets and this month's portal read raw rows.
HARNMODEL_RETAIN_USAGE_DAYS = env.int("HARNMODEL_RETAIN_USAGE_DAYS", default=400)
HARNMODEL_RETAIN_HOLDS_DAYS = env.int("HARNMODEL_RETAIN_HOLDS_DAYS", default=30)
HARNMODEL_RETENTION_BATCH = env.int("HARNMODEL_RETENTION_BATCH", default=5000)  # rows per DELETE transaction
HARNMODEL_USAGE_PARTITIONS_AHEAD = env.int("HARNMODEL_USAGE_PARTITIONS_AHEAD", default=3)  # months created ahead
if 0 < HARNMODEL_RETAIN_USAGE_DAYS < 62 or 0 < HARNMODEL_RETAIN_HOLDS_DAYS < 2:
    raise ImproperlyConfigured(
        "HARNMODEL_RETAIN_USAGE_DAYS must be 0 or at least 62, HARNMODEL_RETAIN_HOLDS_DAYS 0 or at least 2"
    )
if HARNMODEL_RETENTION_BATCH < 1 or not 1 <= HARNMODEL_USAGE_PARTITIONS_AHEAD <= 24:
    raise ImproperlyConfigured("HARNMODEL_RETENTION_BATCH must be positive, HARNMODEL_USAGE_PARTITIONS_AHEAD 1–24")
# A session budget's counter ends this long after the session's last request (gateway/relay/sessions.py).
HARNMODEL_SESSION_IDLE_SECONDS = env.int("HARNMODEL_SESSION_IDLE_SECONDS", default=86400)
# Wallet leases (billing/holds/lease.py, PostgreSQL with HARNMODEL_DB_ASYNC): a worker holds this much of a wallet
# in one statement and carves requests' holds from it in memory (0 turns leases off). A lease is taken only while it
# is at most SHARE_PERCENT of the wallet's free balance; it goes back after IDLE_SECONDS unused; a dead worker's
# leases expire after TTL_SECONDS (the live worker touches them every third of it).
HARNMODEL_WALLET_LEASE_MICROS = env.int("HARNMODEL_WALLET_LEASE_MICROS", default=5_000_000)
HARNMODEL_WALLET_LEASE_SHARE_PERCENT = env.int("HARNMODEL_WALLET_LEASE_SHARE_PERCENT", default=10)
HARNMODEL_WALLET_LEASE_IDLE_SECONDS = env.float("HARNMODEL_WALLET_LEASE_IDLE_SECONDS", default=10.0)
HARNMODEL_WALLET_LEASE_TTL_SECONDS = env.int("HARNMODEL_WALLET_LEASE_TTL_SECONDS", default=120)
if (
    HARNMODEL_WALLET_LEASE_MICROS < 0
    or not 1 <= HARNMODEL_WALLET_LEASE_SHARE_PERCENT <= 100
    or HARNMODEL_WALLET_LEASE_IDLE_SECONDS <= 0
    or HARNMODEL_WALLET_LEASE_TTL_SECONDS < 3
):
    raise ImproperlyConfigured(
        "HARNMODEL_WALLET_LEASE_MICROS must be ≥ 0, _SHARE_PERCENT 1–100, _IDLE_SECONDS > 0, _TTL_SECONDS ≥ 3"
    )
# A live request pushes its hold's expiry forward at most this often (capped at a third of the TTL).
HARNMODEL_HOLD_TOUCH_SECONDS = env.float("HARNMODEL_HOLD_TOUCH_SECONDS", default=60.0)
# Input the gateway cannot count is held at a worst case (billing/overdraft.py, gateway/wire/tokens.py):
# server-stored context (previous_response_id, conversation, prompt, item_reference), each file, each image.
HARNMODEL_PREVIOUS_RESPONSE_HOLD_TOKENS = env.int("HARNMODEL_PREVIOUS_RESPONSE_HOLD_TOKENS", default=128_000)
HARNMODEL_FILE_HOLD_TOKENS = env.int("HARNMODEL_FILE_HOLD_TOKENS", default=50_000)
HARNMODEL_IMAGE_HOLD_TOKENS = env.int("HARNMODEL_IMAGE_HOLD_TOKENS", default=1_536)
# Usage above the hold is charged up to hold + free balance + this; a wallet may go this far below zero.
HARNMODEL_OVERDRAFT_LIMIT_MICROS = env.int("HARNMODEL_OVERDRAFT_LIMIT_MICROS", default=100_000)
HARNMODEL_MAX_BODY_BYTES = env.int("HARNMODEL_MAX_BODY_BYTES", default=16 * 1024 * 1024)
# /v1 requests whose header names and values add up to more get a 431 (the lean front, gateway/relay/front.py).
HARNMODEL_MAX_HEADER_BYTES = env.int("HARNMODEL_MAX_HEADER_BYTES", default=16 * 1024)
# Responses over WebSocket at /v1/responses (gateway/relay/websocket.py, docs/websocket.md). Off, or a worker at its
# socket cap, or an unknown `OpenAI-Beta: responses_websockets=` version: the upgrade gets a 426 (clients use HTTP).
HARNMODEL_WS_ENABLED = env.bool("HARNMODEL_WS_ENABLED", default=True)
HARNMODEL_WS_MAX_SOCKETS = env.int("HARNMODEL_WS_MAX_SOCKETS", default=500)  # open sockets per worker
HARNMODEL_WS_IDLE_SECONDS = env.float("HARNMODEL_WS_IDLE_SECONDS", default=300.0)  # no frame this long: closed
HARNMODEL_WS_MAX_SECONDS = env.float("HARNMODEL_WS_MAX_SECONDS", default=3600.0)  # a socket's whole life
HARNMODEL_WS_MAX_TURNS = env.int("HARNMODEL_WS_MAX_TURNS", default=1000)  # response.create frames per socket
HARNMODEL_WS_MAX_FRAMES = env.int("HARNMODEL_WS_MAX_FRAMES", default=10_000)  # client frames of any kind
HARNMODEL_WS_MAX_PENDING = env.int("HARNMODEL_WS_MAX_PENDING", default=8)  # frames queued behind a running turn
HARNMODEL_WS_BETA_VERSIONS = env.list("HARNMODEL_WS_BETA_VERSIONS", default=["2026-02-06"])
# Routing. Per-channel timeouts (Channel.*_timeout) override these platform defaults, in seconds.
HARNMODEL_CONNECT_TIMEOUT = env.float("HARNMODEL_CONNECT_TIMEOUT", default=HARNMODEL_UPSTREAM_CONNECT_TIMEOUT)
HARNMODEL_FIRST_BYTE_TIMEOUT = env.float("HARNMODEL_FIRST_BYTE_TIMEOUT", default=60.0)  # streams: the first chunk
HARNMODEL_JSON_TIMEOUT = env.float("HARNMODEL_JSON_TIMEOUT", default=300.0)  # non-streamed: the whole answer's headers
HARNMODEL_IDLE_TIMEOUT = env.float("HARNMODEL_IDLE_TIMEOUT", default=120.0)  # longest silence between chunks
# Circuit breaker per channel+model: open after FAILURES in WINDOW seconds, or when more than
# FAILURE_RATE of at least MIN_CALLS calls failed; stay open COOLDOWN seconds (or the upstream's
# Retry-After, up to MAX_COOLDOWN), then let one probe request through.
HARNMODEL_BREAKER_FAILURES = env.int("HARNMODEL_BREAKER_FAILURES", default=5)
HARNMODEL_BREAKER_WINDOW = env.float("HARNMODEL_BREAKER_WINDOW", default=60.0)
HARNMODEL_BREAKER_MIN_CALLS = env.int("HARNMODEL_BREAKER_MIN_CALLS", default=20)
HARNMODEL_BREAKER_FAILURE_RATE = env.float("HARNMODEL_BREAKER_FAILURE_RATE", default=0.5)
HARNMODEL_BREAKER_COOLDOWN = env.float("HARNMODEL_BREAKER_COOLDOWN", default=30.0)
HARNMODEL_BREAKER_MAX_COOLDOWN = env.float("HARNMODEL_BREAKER_MAX_COOLDOWN", default=600.0)
# Breaker states are read from Redis at most this often per model and worker (0 = every request).
HARNMODEL_BREAKER_CACHE_SECONDS = env.float("HARNMODEL_BREAKER_CACHE_SECONDS", default=0.5)
# Successes on a closed breaker are counted in the worker and written to Redis together at most this late.
HARNMODEL_BREAKER_SUCCESS_FLUSH = env.float("HARNMODEL_BREAKER_SUCCESS_FLUSH", default=0.25)
# Shared state (breakers, rate limits) in Redis: key prefix, per-call timeout, and how long a worker
# stops asking a Redis that failed (it then serves traffic without it: fail open).
HARNMODEL_REDIS_PREFIX = env.str("HARNMODEL_REDIS_PREFIX", default="hm")
HARNMODEL_REDIS_TIMEOUT = env.float("HARNMODEL_REDIS_TIMEOUT", default=0.5)
HARNMODEL_REDIS_RETRY_SECONDS = env.float("HARNMODEL_REDIS_RETRY_SECONDS", default=5.0)
# The console's live request log (gateway.observe.livelog → websocket viewers): Redis carries it across workers;
# the embedded run has one worker, so memory will do. Small capacity: a slow viewer loses events, never memory.
# Viewers renew their group membership every few seconds, so a crashed worker's channels drop out within a minute.
_channel_layer_config: dict[str, object] = {"capacity": 100, "expiry": 30, "group_expiry": 60}
if REDIS_URL:
    _channel_layer_config |= {"hosts": [REDIS_URL], "prefix": f"{HARNMODEL_REDIS_PREFIX}:asgi"}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer" if REDIS_URL else "channels.layers.InMemoryChannelLayer",
        "CONFIG": _channel_layer_config,
    }
}
# Health probes (gateway.tasks.probe_channels): a tiny real request per channel and mapped model.
HARNMODEL_PROBE_TIMEOUT = env.float("HARNMODEL_PROBE_TIMEOUT", default=30.0)
HARNMODEL_PROBE_MAX_OUTPUT_TOKENS = env.int("HARNMODEL_PROBE_MAX_OUTPUT_TOKENS", default=16)
HARNMODEL_PROBE_CONCURRENCY = env.int("HARNMODEL_PROBE_CONCURRENCY", default=16)
# Upstream balance samples kept per channel (gateway.upstream.balance_poll); older ones are trimmed on each poll.
HARNMODEL_BALANCE_SAMPLES_KEPT = env.int("HARNMODEL_BALANCE_SAMPLES_KEPT", default=96)
# Channel truth (gateway/upstream/truth): reported ÷ locally counted input tokens per channel × model, the
# canaries, and the score that demotes a channel's routing weight below HARNMODEL_TRUTH_DEMOTE_BELOW.
HARNMODEL_TRUTH_WINDOW = env.int("HARNMODEL_TRUTH_WINDOW", default=200)  # ratios kept per channel × model
HARNMODEL_TRUTH_MIN_SAMPLES = env.int("HARNMODEL_TRUTH_MIN_SAMPLES", default=20)
HARNMODEL_TRUTH_MAX_INPUT_TOKENS = env.int("HARNMODEL_TRUTH_MAX_INPUT_TOKENS", default=32_000)  # larger inputs: no sample
HARNMODEL_TRUTH_PRELOAD = env.bool("HARNMODEL_TRUTH_PRELOAD", default=True)  # vocabularies loaded at server start
HARNMODEL_TRUTH_MIN_TOKENS = env.int("HARNMODEL_TRUTH_MIN_TOKENS", default=40)  # shorter inputs: framing noise
HARNMODEL_TRUTH_INFLATION_RATIO = env.float("HARNMODEL_TRUTH_INFLATION_RATIO", default=1.05)
HARNMODEL_TRUTH_SAMPLES_PER_SECOND = env.float("HARNMODEL_TRUTH_SAMPLES_PER_SECOND", default=2.0)  # per channel × model; 0 = all
HARNMODEL_TRUTH_PENDING = env.int("HARNMODEL_TRUTH_PENDING", default=1000)  # counts queued; past it, dropped
HARNMODEL_TRUTH_FLUSH_SAMPLES = env.int("HARNMODEL_TRUTH_FLUSH_SAMPLES", default=100)
HARNMODEL_TRUTH_FLUSH_SECONDS = env.float("HARNMODEL_TRUTH_FLUSH_SECONDS", default=30.0)
HARNMODEL_TRUTH_DEMOTE_BELOW = env.int("HARNMODEL_TRUTH_DEMOTE_BELOW", default=60)
HARNMODEL_TRUTH_DEMOTE_FACTOR = env.float("HARNMODEL_TRUTH_DEMOTE_FACTOR", default=0.1)
HARNMODEL_TRUTH_DEMOTE_SECONDS = env.int("HARNMODEL_TRUTH_DEMOTE_SECONDS", default=6 * 3600)
HARNMODEL_TRUTH_CANARY_RUNS_KEPT = env.int("HARNMODEL_TRUTH_CANARY_RUNS_KEPT", default=50)
HARNMODEL_TRUTH_TEXT_SIMILARITY = env.float("HARNMODEL_TRUTH_TEXT_SIMILARITY", default=0.8)
DATA_UPLOAD_MAX_MEMORY_SIZE = HARNMODEL_MAX_BODY_BYTES
HARNMODEL_MAX_INPUT_ITEMS = env.int("HARNMODEL_MAX_INPUT_ITEMS", default=2048)
# Hosted-tool calls (web_search, …) a request may ask for in max_tool_calls, and the cap held and sent
# upstream when it names none (gateway/relay/field_policy.py).
HARNMODEL_MAX_TOOL_CALLS = env.int("HARNMODEL_MAX_TOOL_CALLS", default=64)
HARNMODEL_DEFAULT_MAX_TOOL_CALLS = env.int("HARNMODEL_DEFAULT_MAX_TOOL_CALLS", default=8)
HARNMODEL_MAX_TOOLS = env.int("HARNMODEL_MAX_TOOLS", default=128)
HARNMODEL_MAX_JSON_DEPTH = env.int("HARNMODEL_MAX_JSON_DEPTH", default=64)
HARNMODEL_MAX_JSON_CONTAINERS = env.int("HARNMODEL_MAX_JSON_CONTAINERS", default=100_000)
# String lengths (gateway/wire/limits.py): model id; other ids (call, item, file, end-user, cache key); free text.
HARNMODEL_MAX_MODEL_CHARS = env.int("HARNMODEL_MAX_MODEL_CHARS", default=256)
HARNMODEL_MAX_ID_CHARS = env.int("HARNMODEL_MAX_ID_CHARS", default=256)
HARNMODEL_MAX_TEXT_CHARS = env.int("HARNMODEL_MAX_TEXT_CHARS", default=10_485_760)
# In-process caches (gateway/wire/bounded.py): entries and bytes each, oldest evicted first.
HARNMODEL_MODEL_CACHE_ENTRIES = env.int("HARNMODEL_MODEL_CACHE_ENTRIES", default=10_000)
HARNMODEL_MODEL_CACHE_BYTES = env.int("HARNMODEL_MODEL_CACHE_BYTES", default=16 * 1024 * 1024)
HARNMODEL_KEY_CACHE_ENTRIES = env.int("HARNMODEL_KEY_CACHE_ENTRIES", default=100_000)
HARNMODEL_KEY_CACHE_BYTES = env.int("HARNMODEL_KEY_CACHE_BYTES", default=64 * 1024 * 1024)
# Bodies over this are decoded, validated and counted in a pool of HARNMODEL_CPU_THREADS, off the event loop.
HARNMODEL_INLINE_BODY_BYTES = env.int("HARNMODEL_INLINE_BODY_BYTES", default=256 * 1024)
HARNMODEL_CPU_THREADS = env.int("HARNMODEL_CPU_THREADS", default=2)
# /metrics: a bearer token, or (without one) only these networks may scrape.
HARNMODEL_METRICS_TOKEN = env.str("HARNMODEL_METRICS_TOKEN", default="")
HARNMODEL_METRICS_ALLOW_NETWORKS = env.list("HARNMODEL_METRICS_ALLOW_NETWORKS", default=["127.0.0.1/32", "::1/128"])
# Older channel-secret keys that still decrypt during a rotation (channel_secrets_rotate).
HARNMODEL_ENCRYPTION_KEYS_OLD = env.list("HARNMODEL_ENCRYPTION_KEYS_OLD", default=[])
# Stripe Checkout top-ups: the API key opens checkouts, the webhook secret (whsec_…) verifies events.
# Without a webhook secret every webhook is refused.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Another Stripe API endpoint (stripe-mock, a local test double); empty: Stripe's own.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# Alipay (official SDK): configured when app id and both keys are set. Sandbox: point the gateway URL
# at Alipay's sandbox gateway. ALIPAY_CHECKOUT: "qr" (precreate, QR shown in the portal) or "page"
# (desktop page pay, a redirect).
ALIPAY_APP_ID = env.str("ALIPAY_APP_ID", default="")
ALIPAY_APP_PRIVATE_KEY = env.str("ALIPAY_APP_PRIVATE_KEY", default="", multiline=True)
ALIPAY_PUBLIC_KEY = env.str("ALIPAY_PUBLIC_KEY", default="", multiline=True)
ALIPAY_GATEWAY_URL = env.str("ALIPAY_GATEWAY_URL", default="https://openapi.alipay.com/gateway.do")
ALIPAY_NOTIFY_URL = env.str("ALIPAY_NOTIFY_URL", default="")
ALIPAY_CHECKOUT = env.str("ALIPAY_CHECKOUT", default="qr")
# WeChat Pay API v3 (Native / QR), platform public-key mode.
WECHATPAY_MCHID = env.str("WECHATPAY_MCHID", default="")
WECHATPAY_APPID = env.str("WECHATPAY_APPID", default="")
WECHATPAY_PRIVATE_KEY = env.str("WECHATPAY_PRIVATE_KEY", default="", multiline=True)
WECHATPAY_CERT_SERIAL_NO = env.str("WECHATPAY_CERT_SERIAL_NO", default="")
WECHATPAY_APIV3_KEY = env.str("WECHATPAY_APIV3_KEY", default="")
WECHATPAY_PUBLIC_KEY = env.str("WECHATPAY_PUBLIC_KEY", default="", multiline=True)
WECHATPAY_PUBLIC_KEY_ID = env.str("WECHATPAY_PUBLIC_KEY_ID", default="")
WECHATPAY_GATEWAY_URL = env.str("WECHATPAY_GATEWAY_URL", default="https://api.mch.weixin.qq.com")
WECHATPAY_NOTIFY_URL = env.str("WECHATPAY_NOTIFY_URL", default="")
# Unpaid top-up orders are closed at the provider and expired after this.
HARNMODEL_TOPUP_EXPIRY_MINUTES = env.int("HARNMODEL_TOPUP_EXPIRY_MINUTES", default=30)
# Auto top-up (a saved Stripe card charged when the balance falls below a threshold): what a customer
# may set, in currency units, and how long a declined charge waits for its one retry.
HARNMODEL_AUTOTOPUP_MIN_AMOUNT = env.str("HARNMODEL_AUTOTOPUP_MIN_AMOUNT", default="10")
HARNMODEL_AUTOTOPUP_MAX_AMOUNT = env.str("HARNMODEL_AUTOTOPUP_MAX_AMOUNT", default="5000")
HARNMODEL_AUTOTOPUP_MAX_THRESHOLD = env.str("HARNMODEL_AUTOTOPUP_MAX_THRESHOLD", default="5000")
HARNMODEL_AUTOTOPUP_RETRY_MINUTES = env.int("HARNMODEL_AUTOTOPUP_RETRY_MINUTES", default=60)
# Email a customer once when the balance falls below this (currency units); a wallet may set its own.
# Empty: only wallets with their own threshold are watched.
HARNMODEL_LOW_BALANCE_DEFAULT = env.str("HARNMODEL_LOW_BALANCE_DEFAULT", default="10")
# Issued 发票 PDFs (billing/invoice_storage.py): private, never served by URL; back it up like the database.
HARNMODEL_PRIVATE_MEDIA_ROOT = env.str("HARNMODEL_PRIVATE_MEDIA_ROOT", default=str(VAR_DIR / "private"))

# --- Celery -------------------------------------------------------------------------------------
# Without Redis the broker is the filesystem, so the embedded demo runs worker and beat with no
# server process.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _celery_dir = VAR_DIR / "celery"
    _celery_dir.mkdir(mode=0o700, exist_ok=True)  # private like all of var/ (M7)
    for _sub in ("queue", "processed", "control"):
        (_celery_dir / _sub).mkdir(mode=0o700, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),  # default is ./control, in whatever the cwd is
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "billing-sweep-holds": {"task": "billing.tasks.sweep_expired_holds", "schedule": 60.0},
    "billing-reconcile-ledger": {"task": "billing.tasks.reconcile_ledger", "schedule": 3600.0},
    "billing-rollup-usage": {"task": "billing.tasks.rollup_usage", "schedule": 600.0},
    "billing-retention": {"task": "billing.tasks.retention_run", "schedule": 3600.0},
    "billing-low-balance": {"task": "billing.tasks.check_low_balances", "schedule": 300.0},
    "billing-sync-topups": {"task": "billing.tasks.sync_topups", "schedule": 60.0},
    "billing-auto-topups": {"task": "billing.tasks.auto_topups", "schedule": 30.0},
    "gateway-probe-channels": {"task": "gateway.tasks.probe_channels", "schedule": 60.0},
    "gateway-sync-upstream-models": {"task": "gateway.tasks.sync_upstream_models", "schedule": 3600.0},
    "gateway-poll-upstream-balances": {"task": "gateway.tasks.poll_upstream_balances", "schedule": 600.0},
    "gateway-purge-idle-sessions": {"task": "gateway.tasks.purge_idle_sessions", "schedule": 3600.0},
    "accounts-sweep-webhooks": {"task": "accounts.tasks.sweep_webhook_deliveries", "schedule": 120.0},
    "accounts-expiring-keys": {"task": "accounts.tasks.notify_expiring_keys", "schedule": 3600.0},
    "truth-canaries": {"task": "gateway.upstream.truth.tasks.run_canaries", "schedule": 3600.0},
    "truth-scores": {"task": "gateway.upstream.truth.tasks.score_channels", "schedule": 300.0},
}
