"""Django settings. This is the only module that reads the environment.

Unset, everything falls back to the embedded default a newcomer gets from ``make run``:
SQLite under var/, tasks run in-process, emails written as .eml files under var/outbox/.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from digest_site.env import (
    env_bool,
    env_choice,
    env_day_of_week,
    env_float,
    env_int,
    env_list,
    env_prefixed,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# In CI a test that needs a service fails when the service is missing, instead of skipping.
RUNNING_IN_CI = env_bool("CI", False)

SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment, or DEBUG=1 for local "
            "development (which uses a throw-away key)."
        )
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "anymail",
    "axes",
    "csp",
    "papers",
    "subscriptions",
    # An app only for its system checks (digest_site/checks.py); it has no models.
    "digest_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "digest_site.middleware.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "digest_site.middleware.MalformedWebhookMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "digest_site.middleware.PermissionsPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

# What a page may load, for every page (the site's and the admin's): its own scripts, styles,
# images and forms, nothing inline, nothing from elsewhere, never framed. Pages that show an
# email's HTML (view in browser, the admin's preview) add inline styles, which css-inline
# writes into every email (csp_update on those views).
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
    }
}
# Browser features no page of ours uses, switched off for them and anything they embed.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
        "browsing-topics",
    )
)

# The largest request body accepted: a sign-up form, an admin action or an ESP's event is a
# few kilobytes. A larger one is refused with 413 before anything reads it, file parts
# included (Django's own DATA_UPLOAD_MAX_MEMORY_SIZE leaves out files, which it spools to
# disk). No page takes a file; the proxy in front refuses the same size (deploy/nginx/).
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

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
                "subscriptions.context_processors.reader",
            ],
        },
    },
]

# --- Database: PostgreSQL via DATABASE_URL in production, SQLite under var/ otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "") or f"sqlite:///{VAR_DIR / 'paper_digest.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- The admin login. django-axes counts failed logins in the database (AccessAttempt rows),
# so every web process sees the same count: ADMIN_LOGIN_FAILURE_LIMIT failures for one
# username from one address lock that pair out for ADMIN_LOCKOUT_MINUTES (each further try
# during the lockout starts it again); a success clears the count. The address is the one
# the sign-up limits use (TRUSTED_PROXY_COUNT, below), not the proxy's.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ADMIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "subscriptions.views.client_ip"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Redis: Celery broker and Django cache. Unset (and no BROKER_URL): tasks run in-process.
REDIS_URL = env_str("REDIS_URL", "")

# Typed by hand: the entries mix text and dictionaries (OPTIONS), which inference cannot see.
CACHES: dict[str, dict[str, Any]]
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
# most once per PAGE_CACHE_SECONDS. Sign-up limits are not kept in a cache at all: in Redis
# or the database (subscriptions/people/ratelimit.py), so that every process shares them.
CACHES["pages"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "pages",
    "OPTIONS": {"MAX_ENTRIES": 2000},
}

# BROKER_URL picks another broker (e.g. amqp:// for RabbitMQ); Redis is the default one.
BROKER_URL = env_str("BROKER_URL", "") or REDIS_URL
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
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
}

# --- Email: any anymail ESP or SMTP, chosen by EMAIL_BACKEND; .eml files by default.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "digest_site.mail.EmlFileBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "outbox")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Paper Digest <digest@localhost>")
# Absolute links in emails point here.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
ANYMAIL = env_prefixed("ANYMAIL_")
# "user:password" the ESP's tracking webhook must send (basic auth). Unset, a random secret
# nobody knows stands in, so every webhook call is refused rather than accepted from anyone.
ANYMAIL.setdefault(
    "WEBHOOK_SECRET", env_str("WEBHOOK_SECRET", "") or f"unset:{secrets.token_urlsafe(32)}"
)

# The one ESP whose tracking webhook is mounted (/anymail/<esp>/tracking/): WEBHOOK_ESP when
# set, else the anymail ESP that EMAIL_BACKEND sends through, else (SMTP, .eml files) Postmark.
_ANYMAIL_ESP = re.fullmatch(r"anymail\.backends\.(\w+)\.EmailBackend", EMAIL_BACKEND)
_SENDING_ESP = (
    _ANYMAIL_ESP[1] if _ANYMAIL_ESP and _ANYMAIL_ESP[1] not in {"test", "console"} else ""
)
WEBHOOK_ESP = env_str("WEBHOOK_ESP", "").strip() or _SENDING_ESP or "postmark"

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
HTTPS = env_bool("HTTPS", False)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Fetching listings.
FETCH_TIMEOUT_SECONDS = env_float("FETCH_TIMEOUT_SECONDS", 20, above=0)
FETCH_RETRIES = env_int("FETCH_RETRIES", 3, minimum=0)
FETCH_BACKOFF_SECONDS = env_float("FETCH_BACKOFF_SECONDS", 2, minimum=0)
FETCH_USER_AGENT = env_str(
    "FETCH_USER_AGENT", "PaperDigest/0.1 (+https://github.com/paper-digest; digest@localhost)"
)
HF_DAILY_PAPERS_URL = "https://huggingface.co/api/daily_papers?date={date}"
# Each ingest of today's list of a one-list-a-day source (Hugging Face) also reads the lists
# of this many days before it again: their upvotes are observed while they still move, which
# is what "Trending" (growth over 24 h and 7 days) is measured from.
TRENDING_DAYS = env_int("TRENDING_DAYS", 7, minimum=0)
ARXIV_LISTING_URL = "https://arxiv.org/list/{category}/new"
ARXIV_CATEGORIES = env_list("ARXIV_CATEGORIES", "cs.LG,cs.CV,cs.CL,cs.AI,cs.IR")

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
            "formatter": env_choice("LOG_FORMAT", "text", ("text", "json")),
        }
    },
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "INFO", tuple(logging.getLevelNamesMapping())),
    },
}

# Public paper pages are cached this long (a new listing or a hidden paper shows after it).
PAGE_CACHE_SECONDS = env_int("PAGE_CACHE_SECONDS", 60, minimum=0)

# /healthz answers 503 when the last successful ingest or the last digest run is older.
HEALTH_MAX_INGEST_AGE_HOURS = env_int("HEALTH_MAX_INGEST_AGE_HOURS", 36, minimum=1)
HEALTH_MAX_DIGEST_AGE_HOURS = env_int("HEALTH_MAX_DIGEST_AGE_HOURS", 36, minimum=1)

# --- Topics and ranking. Weights live here, not in code paths.
TOPIC_TAG_THRESHOLD = env_float("TOPIC_TAG_THRESHOLD", 0.5, minimum=0)
RANKING: dict[str, float] = {
    # score = RELEVANCE * relevance (0-1, relative to the subscriber's best match)
    #       + POPULARITY * popularity (0-1) + PINNED for papers the editors pinned
    "RELEVANCE": env_float("RANKING_RELEVANCE_WEIGHT", 0.75, minimum=0),
    "POPULARITY": env_float("RANKING_POPULARITY_WEIGHT", 0.25, minimum=0),
    "PINNED": env_float("RANKING_PINNED_BOOST", 0.3, minimum=0),
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
    # A paper saved for later says more than "more like this"; one followed from a digest,
    # less (a click is curiosity as often as interest).
    "SAVED": 0.8,
    "CLICKED": 0.2,
    # The profile those signals make (subscriptions/matching/profile.py, Rocchio) is this many
    # times their weight: an interest fully matched is worth about 1 (BM25 relative to the
    # whole interest, times LEXICAL_SCALE, for a short paper that repeats it), where these
    # weights were set against TF-IDF cosines about half that.
    "PROFILE_SCALE": 2.0,
    # "like <title> you liked" is said of a pick at least this like (0-1) a paper they wanted.
    "LIKED_REASON_MIN": 0.5,
    # Below this raw relevance a paper is not "for you", however popular.
    "MIN_RELEVANCE": env_float("RANKING_MIN_RELEVANCE", 0.08, minimum=0),
    # Popularity: upvotes vs. growth over the last GROWTH_WINDOW_HOURS, halved every HALF_LIFE.
    "UPVOTE_SHARE": 0.7,
    "GROWTH_WINDOW_HOURS": 24,
    "RECENCY_HALF_LIFE_DAYS": 3.0,
    # "42 upvotes, trending" is said of papers with at least this many upvotes.
    "TRENDING_MIN_UPVOTES": 20,
    # A keyword is named as a reason when its own BM25 match (1.0: all of its words and phrases)
    # reaches this, or its topics' share does.
    "KEYWORD_REASON_MIN": 0.2,
    "TOPIC_REASON_MIN": 0.1,
    # BM25 of an interest: a phrase of its words standing together in a paper counts this much
    # beside each word; the whole BM25 relevance (0-1 for all of it once) is scaled by this.
    "PHRASE_BONUS": 0.5,
    "LEXICAL_SCALE": 0.5,
    # Semantic relevance: the cosine of interest and paper embeddings, from FLOOR (unrelated)
    # to CEILING (as close as it gets) mapped to 0-1, mixed with the lexical relevance at
    # this share where the paper has an embedding (chosen on the relevance dev set).
    "SEMANTIC_SHARE": env_float("RANKING_SEMANTIC_SHARE", 0.6, minimum=0, maximum=1),
    "SEMANTIC_FLOOR": 0.2,
    "SEMANTIC_CEILING": 0.7,
    # An interest whose semantic relevance alone reaches this is named ("related to: ...").
    "SEMANTIC_REASON_MIN": 0.5,
    "SUBSCRIBER_BATCH_SIZE": 1000,
}

# Sentence embeddings (papers/embeddings.py): the semantic half of relevance. Off, or without
# the semantic extra installed, ranking is lexical only.
EMBEDDINGS: dict[str, Any] = {
    "ENABLED": env_bool("SEMANTIC_RANKING", True),
    # Another ONNX model of all-MiniLM-L6-v2's shape, and its file's sha256 (checked on load).
    "MODEL_PATH": env_str("EMBEDDING_MODEL_PATH", ""),
    "MODEL_SHA256": env_str("EMBEDDING_MODEL_SHA256", ""),
    # Word pieces of a text embedded (128: about the title and the abstract's first half).
    "MAX_TOKENS": env_int("EMBEDDING_MAX_TOKENS", 128, minimum=16),
    # Texts per model run: a larger batch is hardly faster and holds much more memory.
    "BATCH_SIZE": env_int("EMBEDDING_BATCH_SIZE", 8, minimum=1),
    "THREADS": env_int("EMBEDDING_THREADS", 2, minimum=1),
}
if EMBEDDINGS["MODEL_PATH"] and not re.fullmatch(r"[0-9a-f]{64}", EMBEDDINGS["MODEL_SHA256"]):
    raise ImproperlyConfigured(
        "EMBEDDING_MODEL_PATH needs EMBEDDING_MODEL_SHA256: the model file's sha256 (64 hex digits)"
    )

INTEREST_LIMITS = {
    "MAX_KEYWORDS": 20,
    "MAX_AUTHORS": 20,
    "MAX_EXCLUDED": 20,
    "MAX_SEED_PAPERS": 20,
    # An interest may be a sentence ("prompt injection attacks on LLM agents and defences").
    "MAX_PHRASE_LENGTH": 300,
}

# --- Sign-up.
CONFIRMATION_MAX_AGE_DAYS = 7
# At most one confirmation email per mailbox (subscriptions.addresses.mailbox_of) per this
# many seconds; a confirmed subscriber signed up again is told so at most once a day; and
# this many sign-up attempts per client IP (IPv6: per /64) in any hour, in Redis or the
# database.
CONFIRMATION_EMAIL_INTERVAL_SECONDS = 3600
ALREADY_SUBSCRIBED_EMAIL_INTERVAL_SECONDS = 24 * 3600
SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR = env_int("SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR", 20, minimum=1)
# Live previews of a digest (the interests form asks for one as the reader types, 0.4 s after
# the last key): each ranks the day's papers and embeds what was typed, so one visitor gets
# this many an hour.
PREVIEWS_PER_IP_PER_HOUR = env_int("PREVIEWS_PER_IP_PER_HOUR", 600, minimum=1)
# How many reverse proxies stand in front of the web process, each adding the address it saw
# to X-Forwarded-For. With 0, the client's address is REMOTE_ADDR; behind a proxy that is the
# proxy's own, the same for every visitor.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# --- Bounces. A hard bounce suppresses an address at once; soft ones (a full mailbox) only
# this many in a row, each within the window of the one before, with no delivery between.
SOFT_BOUNCE_LIMIT = env_int("SOFT_BOUNCE_LIMIT", 5, minimum=1)
SOFT_BOUNCE_WINDOW_DAYS = env_int("SOFT_BOUNCE_WINDOW_DAYS", 30, minimum=1)

# --- Links in emails (subscriptions/people/tokens.py). A preferences link works this many
# days; an expired one offers to email a new one, at most this many an hour per address.
PREFERENCES_LINK_MAX_AGE_DAYS = env_int("PREFERENCES_LINK_MAX_AGE_DAYS", 30, minimum=1)
PREFERENCES_LINK_EMAILS_PER_HOUR = 3
# Links made before each link had one purpose still unsubscribe (and do nothing else) until
# they are this old; after that the code that reads them can go.
LEGACY_UNSUBSCRIBE_LINK_MAX_AGE_DAYS = 365

# --- Digests. Values of several types (counts, a choice, a mapping): code reading one knows
# which it asked for, so the dictionary is not typed per key.
DIGESTS: dict[str, Any] = {
    "FOR_YOU_COUNT": env_int("DIGEST_FOR_YOU_COUNT", 10, minimum=1),
    "TRENDING_COUNT": env_int("DIGEST_TRENDING_COUNT", 3, minimum=0),
    # With no match for a subscriber: "skip" (no email) or "note" ("nothing new" + trending).
    "WHEN_EMPTY": env_choice("DIGEST_WHEN_EMPTY", "skip", ("skip", "note")),
    # Papers featured (or published) this many days back are candidates, if they arrived
    # after the reader's last digest was built. A week is 8 days: what the listing of the
    # last digest's day brought after it was built goes into the next one.
    "CANDIDATE_DAYS": {"daily": 3, "weekly": 8},
    # Subscribers per batch (a worker task): built in one transaction, then sent.
    "BATCH_SIZE": env_int("DIGEST_BATCH_SIZE", 1000, minimum=1),
    # Emails in flight at once per worker process, each thread over its own ESP connection:
    # an ESP answers in 50-300 ms, so one at a time a worker sends only a few a second. Only
    # these are ever "sending": a killed worker leaves at most this many in doubt.
    "SEND_CONCURRENCY": env_int("DIGEST_SEND_CONCURRENCY", 64, minimum=1, maximum=512),
    # Sends a second for all workers together (in Redis when REDIS_URL is set); 0: no limit.
    "SEND_RATE_PER_SECOND": env_float("DIGEST_SEND_RATE_PER_SECOND", 0, minimum=0) or None,
    # Stop sending a run after this many failures in a row (the ESP is probably down).
    "MAX_CONSECUTIVE_FAILURES": env_int("DIGEST_MAX_CONSECUTIVE_FAILURES", 20, minimum=1),
    # A claim this old (a digest still "sending", a confirmation not yet recorded as sent)
    # is a dead worker's: the digest becomes "unknown", the confirmation is owed again.
    "STALE_CLAIM_MINUTES": env_float("DIGEST_STALE_CLAIM_MINUTES", 30, above=0),
    # A batch of an open run that showed no progress for this long is queued again.
    "STALL_MINUTES": env_float("DIGEST_STALL_MINUTES", 3, above=0),
    # A digest in doubt this long after its claim, with no ESP event about it, was never
    # taken by the ESP: it is sent once more. 0 turns this off (an ESP that sends no events).
    "UNKNOWN_RESEND_MINUTES": env_float("DIGEST_UNKNOWN_RESEND_MINUTES", 120, minimum=0),
    "MAX_SEND_RETRIES": 6,
    "RETRY_BASE_SECONDS": env_int("DIGEST_RETRY_BASE_SECONDS", 60, minimum=1),
    "RETRY_MAX_SECONDS": min(1800, CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] // 2),
    # An hourly run that never started (the beat, its broker or the database was down) is
    # started by the first hourly run of this many hours after it; later, the readers of
    # that hour go without that day's digest unless an operator sends it (`--hour`).
    "CATCH_UP_HOURS": env_int("DIGEST_CATCH_UP_HOURS", 6, minimum=0, maximum=23),
    # The send hour and weekday of readers subscribed before each chose theirs (migration
    # 0024 gave them these, in UTC).
    "HOUR_UTC": env_int("DIGEST_HOUR_UTC", 7, minimum=0, maximum=23),
    "WEEKDAY": env_day_of_week("DIGEST_WEEKDAY", "1"),  # crontab day_of_week: 1 = Monday
}
# --- Retention (subscriptions/delivery/retention.py, nightly). Which papers went to whom is
# kept while a paper can still be a candidate, plus a wide margin: after that the paper is
# retired (never a candidate again) and its digest items are deleted. Digests themselves are
# kept this many days, then compacted (their status, ESP id and count of papers kept) or
# dropped, as DIGESTS_OLD says.
DIGEST_ITEMS_KEEP_DAYS = env_int("DIGEST_ITEMS_KEEP_DAYS", 30, minimum=14)
DIGESTS_KEEP_DAYS = env_int("DIGESTS_KEEP_DAYS", 400, minimum=30)
DIGESTS_OLD = env_choice("DIGESTS_OLD", "compact", ("compact", "drop"))
# Rows deleted per statement: each batch is its own short transaction.
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 5000, minimum=100)
DIGEST_REPLY_TO = env_str("DIGEST_REPLY_TO", "")
DIGEST_LIST_ID = env_str("DIGEST_LIST_ID", "Paper Digest <digest.paper-digest.local>")
