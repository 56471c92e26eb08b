"""Django settings. This is the only module that reads the environment.

Unset, everything falls back to the embedded default a newcomer gets from ``make run``:
SQLite under var/, tasks run in-process, emails written as .eml files under var/outbox/.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = _env_bool("DEBUG", False)
# In CI a test that needs a service fails when the service is missing, instead of skipping.
RUNNING_IN_CI = _env_bool("CI", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment, or DEBUG=1 for local "
            "development (which uses a throw-away key)."
        )
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"

ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "anymail",
    "papers",
    "subscriptions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "digest_site.middleware.MalformedWebhookMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "digest_site.urls"
WSGI_APPLICATION = "digest_site.wsgi.application"

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

# --- Database: PostgreSQL via DATABASE_URL in production, SQLite under var/ otherwise.
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'paper_digest.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and Django cache. Unset (and no BROKER_URL): tasks run in-process.
REDIS_URL = os.environ.get("REDIS_URL", "")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Public pages (papers.views._cached) are cached in each web process's own memory: a cached
# page is then served without a round trip to Redis, and each process renders a page at
# most once per PAGE_CACHE_SECONDS. What must be shared (rate limits) stays in "default".
CACHES["pages"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "pages",
    "OPTIONS": {"MAX_ENTRIES": 2000},
}

# BROKER_URL picks another broker (e.g. amqp:// for RabbitMQ); Redis is the default one.
BROKER_URL = os.environ.get("BROKER_URL", "") or REDIS_URL
CELERY_BROKER_URL = BROKER_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A task not acknowledged within this time is handed to another worker; retry countdowns
# stay below it so a retried task is never delivered twice by the broker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
}

# --- Email: any anymail ESP or SMTP, chosen by EMAIL_BACKEND; .eml files by default.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "digest_site.mail.EmlFileBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "outbox")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Paper Digest <digest@localhost>")
# Absolute links in emails point here.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_")
}
# "user:password" the ESP's tracking webhook must send (basic auth). Unset, a random secret
# nobody knows stands in, so every webhook call is refused rather than accepted from anyone.
ANYMAIL.setdefault(
    "WEBHOOK_SECRET", os.environ.get("WEBHOOK_SECRET") or f"unset:{secrets.token_urlsafe(32)}"
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served by WhiteNoise from STATIC_ROOT after `collectstatic` (compressed, no manifest, so
# templates work before collectstatic has run, e.g. in tests and `make run`).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- HTTPS. HTTPS=1 in production (behind a proxy that sets X-Forwarded-Proto) turns on the
# redirect, HSTS and secure cookies; `manage.py check --deploy` then has nothing to say.
HTTPS = _env_bool("HTTPS", False)
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS")
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Fetching listings.
FETCH_TIMEOUT_SECONDS = float(os.environ.get("FETCH_TIMEOUT_SECONDS", "20"))
FETCH_RETRIES = int(os.environ.get("FETCH_RETRIES", "3"))
FETCH_BACKOFF_SECONDS = float(os.environ.get("FETCH_BACKOFF_SECONDS", "2"))
FETCH_USER_AGENT = os.environ.get(
    "FETCH_USER_AGENT", "PaperDigest/0.1 (+https://github.com/paper-digest; digest@localhost)"
)
HF_DAILY_PAPERS_URL = "https://huggingface.co/api/daily_papers?date={date}"
ARXIV_LISTING_URL = "https://arxiv.org/list/{category}/new"
ARXIV_CATEGORIES = _env_list("ARXIV_CATEGORIES", "cs.LG,cs.CV,cs.CL,cs.AI,cs.IR")

# LOG_FORMAT=json writes one JSON object a line (for log collectors); plain text otherwise.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "digest_site.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("LOG_FORMAT") == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Public paper pages are cached this long (a new listing or a hidden paper shows after it).
PAGE_CACHE_SECONDS = int(os.environ.get("PAGE_CACHE_SECONDS", "60"))

# /healthz answers 503 when the last successful ingest or the last digest run is older.
HEALTH_MAX_INGEST_AGE_HOURS = int(os.environ.get("HEALTH_MAX_INGEST_AGE_HOURS", "36"))
HEALTH_MAX_DIGEST_AGE_HOURS = int(os.environ.get("HEALTH_MAX_DIGEST_AGE_HOURS", "36"))

# --- Topics and ranking. Weights live here, not in code paths.
TOPIC_TAG_THRESHOLD = float(os.environ.get("TOPIC_TAG_THRESHOLD", "0.5"))
RANKING = {
    # score = RELEVANCE * relevance (0-1, relative to the subscriber's best match)
    #       + POPULARITY * popularity (0-1) + PINNED for papers the editors pinned
    "RELEVANCE": float(os.environ.get("RANKING_RELEVANCE_WEIGHT", "0.75")),
    "POPULARITY": float(os.environ.get("RANKING_POPULARITY_WEIGHT", "0.25")),
    "PINNED": float(os.environ.get("RANKING_PINNED_BOOST", "0.3")),
    # How the parts of relevance add up.
    "KEYWORD": 1.0,
    "TOPIC": 0.6,
    "AUTHOR": 1.0,
    # A keyword also counts towards topics it names, at this fraction of the topic weight.
    "KEYWORD_TOPIC_EXPANSION": 0.5,
    # ...when the keyword's similarity to the topic's phrases reaches this.
    "EXPANSION_MIN_SIMILARITY": 0.3,
    # "More like this" / "less like this": similarity to those papers, added or taken away.
    "MORE_LIKE_THIS": 0.5,
    "LESS_LIKE_THIS": 0.5,
    # Below this raw relevance a paper is not "for you", however popular.
    "MIN_RELEVANCE": float(os.environ.get("RANKING_MIN_RELEVANCE", "0.08")),
    # Popularity: upvotes vs. growth over the last GROWTH_WINDOW_HOURS, halved every HALF_LIFE.
    "UPVOTE_SHARE": 0.7,
    "GROWTH_WINDOW_HOURS": 24,
    "RECENCY_HALF_LIFE_DAYS": 3.0,
    # "42 upvotes, trending" is said of papers with at least this many upvotes.
    "TRENDING_MIN_UPVOTES": 20,
    # A keyword is named as a reason when its own match reaches this.
    "KEYWORD_REASON_MIN": 0.1,
    "SUBSCRIBER_BATCH_SIZE": 1000,
}

INTEREST_LIMITS = {
    "MAX_KEYWORDS": 20,
    "MAX_AUTHORS": 20,
    "MAX_EXCLUDED": 20,
    "MAX_PHRASE_LENGTH": 100,
}

# --- Sign-up.
CONFIRMATION_MAX_AGE_DAYS = 7
# At most one confirmation email per address per this many seconds, and this many
# sign-up attempts per client IP per hour.
CONFIRMATION_EMAIL_INTERVAL_SECONDS = 3600
SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR = int(os.environ.get("SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR", "20"))
# How many reverse proxies stand in front of the web process, each adding the address it saw
# to X-Forwarded-For. With 0, the client's address is REMOTE_ADDR; behind a proxy that is the
# proxy's own, the same for every visitor.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

# --- Bounces. A hard bounce suppresses an address at once; soft ones (a full mailbox) only
# this many in a row, each within the window of the one before, with no delivery between.
SOFT_BOUNCE_LIMIT = int(os.environ.get("SOFT_BOUNCE_LIMIT", "5"))
SOFT_BOUNCE_WINDOW_DAYS = int(os.environ.get("SOFT_BOUNCE_WINDOW_DAYS", "30"))

# --- Digests.
DIGESTS = {
    "FOR_YOU_COUNT": int(os.environ.get("DIGEST_FOR_YOU_COUNT", "10")),
    "TRENDING_COUNT": int(os.environ.get("DIGEST_TRENDING_COUNT", "3")),
    # With no match for a subscriber: "skip" (no email) or "note" ("nothing new" + trending).
    "WHEN_EMPTY": os.environ.get("DIGEST_WHEN_EMPTY", "skip"),
    # Papers featured (or published) this many days back are candidates.
    "CANDIDATE_DAYS": {"daily": 3, "weekly": 7},
    # Subscribers per batch (a worker task): built in one transaction, then sent.
    "BATCH_SIZE": int(os.environ.get("DIGEST_BATCH_SIZE", "1000")),
    # Digests claimed and recorded with one query each. A worker killed mid-chunk leaves up
    # to this many digests "unknown" (never resent) instead of sending them.
    "SEND_CHUNK_SIZE": int(os.environ.get("DIGEST_SEND_CHUNK_SIZE", "100")),
    # Stop sending a run after this many failures in a row (the ESP is probably down).
    "MAX_CONSECUTIVE_FAILURES": int(os.environ.get("DIGEST_MAX_CONSECUTIVE_FAILURES", "20")),
    # A digest claimed this long ago and still "sending" has an unknown outcome.
    "STALE_CLAIM_MINUTES": 30,
    "MAX_SEND_RETRIES": 6,
    "RETRY_BASE_SECONDS": int(os.environ.get("DIGEST_RETRY_BASE_SECONDS", "60")),
    "RETRY_MAX_SECONDS": min(1800, CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] // 2),
    # Beat schedule created by migration (editable in the admin afterwards).
    "HOUR_UTC": int(os.environ.get("DIGEST_HOUR_UTC", "7")),
    "WEEKDAY": os.environ.get("DIGEST_WEEKDAY", "1"),  # crontab day_of_week: 1 = Monday
}
DIGEST_REPLY_TO = os.environ.get("DIGEST_REPLY_TO", "")
DIGEST_LIST_ID = os.environ.get("DIGEST_LIST_ID", "Paper Digest <digest.paper-digest.local>")
