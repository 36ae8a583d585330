"""Settings for civicapp, read from environment variables.

With no variables at all the app runs on its embedded default: a SQLite file in the project
folder, Celery tasks run eagerly in the web process, local memory cache, media on local disk.
The deployed shape sets DATABASE_URL (PostgreSQL) and REDIS_URL (broker and cache).
Every variable is listed in the README.
"""

from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from civicapp.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Templates, static files and translations: beside the code in a checkout; inside the package
# (civicapp/site/, see pyproject.toml) when installed with `pip install .`.
SITE_DIR = (
    BASE_DIR if (BASE_DIR / "templates").is_dir() else Path(__file__).resolve().parent / "site"
)

DEBUG = env_bool("DEBUG", False)


def _embedded_secret_key() -> str:
    """A random key made once for this checkout (the embedded default), kept out of git."""
    from django.core.management.utils import get_random_secret_key

    path = BASE_DIR / "var" / "secret_key"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(get_random_secret_key())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-development-key-only-used-with-debug"  # noqa: S105
    elif not env_str("DATABASE_URL"):
        # The embedded default (SQLite in the project folder) needs no variables at all.
        SECRET_KEY = _embedded_secret_key()
    else:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "districts",
    "issues",
    "reminders",
    "stats",
    "rounds",
]
# The demo loader and the benchmarks (devtools/) exist only where they run: with DEBUG on (as
# ./dev demo sets it) or when asked for; production never has the demo's known-password accounts.
DEVTOOLS = env_bool("CIVICAPP_DEVTOOLS", DEBUG)
if DEVTOOLS:
    INSTALLED_APPS.append("devtools")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "civicapp.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "districts.middleware.ResolvedUserMiddleware",
    "districts.middleware.LoginDeviceCookieMiddleware",
    "districts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "civicapp.middleware.DatabaseBusyMiddleware",
    # Last, so its 413 page has the user and the language; it still runs before any view and
    # before CSRF reads the body.
    "civicapp.middleware.RequestBodyLimitMiddleware",
]

ROOT_URLCONF = "civicapp.urls"
WSGI_APPLICATION = "civicapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [SITE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "issues.context_processors.shell",
            ],
            # `{% field form.x %}`, every form's fields in Python (civicapp/form_fields.py).
            "libraries": {"form_fields": "civicapp.form_fields"},
        },
    },
]

# Inputs, selects and error lists written in Python (civicapp/renderers.py): the same markup.
FORM_RENDERER = "civicapp.renderers.FastTemplates"

# Database: PostgreSQL in the deployed shape, a SQLite file for the embedded default.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default must survive several people sending at once. WAL lets readers work
    # while one writer writes; IMMEDIATE transactions take the write lock at BEGIN, so two
    # transactions never both read and then deadlock upgrading to write (which SQLite answers
    # with "database is locked" at once, whatever the timeout); the busy timeout makes a writer
    # wait its turn instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("SQLITE_BUSY_TIMEOUT_SECONDS", 20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Page queries on SSD storage: PostgreSQL's default random_page_cost (4, for spinning
    # disks) made it walk the zone's newest-first index and skip other districts' rows rather
    # than read the district's own index, whose rows it took for scattered (docs/perf.md).
    _cost = env_str("DATABASE_RANDOM_PAGE_COST", "1.1")
    if _cost:
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _options["options"] = f"{_options.get('options', '')} -c random_page_cost={float(_cost)}"
# The rows read by id (`civicapp.db.Prepared`) are prepared on the PostgreSQL server, planned
# once per connection; false for a pooler that shares server connections between clients.
DATABASE_SERVER_PREPARE = env_bool("DATABASE_SERVER_PREPARE", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: Celery broker and cache when REDIS_URL is set; eager tasks and local memory otherwise.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # Answers as an empty cache while Redis is down: no request depends on Redis.
            "BACKEND": "civicapp.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": 300,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    # Sessions read from Redis (no query per request) with the database behind them; a Redis
    # outage falls back to the database (districts/sessions.py).
    SESSION_ENGINE = "districts.sessions"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A short connect timeout so a request never hangs on a broker that is down.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # With acks_late an unacknowledged task (its worker was killed) is handed out again after
    # this many seconds; it must exceed the longest task's time limit.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
}
CELERY_TIMEZONE = "Asia/Shanghai"
# Reminders (reminders app, docs/domain.md §5): the job, the delivery sweep and the daily digest.
REMINDER_INTERVAL_MINUTES = env_int("REMINDER_INTERVAL_MINUTES", 5)
# A round's visit farther than this from its point is recorded and flagged (metres).
ROUNDS_FAR_VISIT_RADIUS_M = env_int("ROUNDS_FAR_VISIT_RADIUS_M", 200)
# A round of more points than this is drawn and assigned by a Celery task (with a broker).
ROUNDS_INLINE_MAX_POINTS = env_int("ROUNDS_INLINE_MAX_POINTS", 300)
REMINDER_DIGEST_HOUR = env_int("REMINDER_DIGEST_HOUR", 8)
REMINDER_DUE_SOON_PERCENT = env_int("REMINDER_DUE_SOON_PERCENT", 75)
REMINDER_VERIFY_AFTER_WORKING_DAYS = env_int("REMINDER_VERIFY_AFTER_WORKING_DAYS", 1)
REMINDER_BATCH_SIZE = env_int("REMINDER_BATCH_SIZE", 1000)
REMINDER_DIGEST_MAX_ITEMS = env_int("REMINDER_DIGEST_MAX_ITEMS", 20)
REMINDER_MAX_ATTEMPTS = env_int("REMINDER_MAX_ATTEMPTS", 8)
REMINDER_RETRY_BASE_SECONDS = env_int("REMINDER_RETRY_BASE_SECONDS", 60)
REMINDER_RETRY_MAX_SECONDS = env_int("REMINDER_RETRY_MAX_SECONDS", 3600)
REMINDER_SENDING_LEASE_SECONDS = env_int("REMINDER_SENDING_LEASE_SECONDS", 300)
REMINDER_HTTP_TIMEOUT_SECONDS = env_int("REMINDER_HTTP_TIMEOUT_SECONDS", 5)
# Links in e-mails and robot messages point here.
REMINDER_SITE_URL = env_str("REMINDER_SITE_URL", "http://127.0.0.1:8000")
# Webhook hosts that may resolve to loopback, private or otherwise internal addresses (an
# intranet robot gateway); every other webhook must reach a public address.
REMINDER_WEBHOOK_ALLOWED_HOSTS = env_list("REMINDER_WEBHOOK_ALLOWED_HOSTS", [])

CELERY_BEAT_SCHEDULE: dict = {
    "run-reminders": {
        "task": "reminders.tasks.run_reminders_task",
        "schedule": crontab(minute=f"*/{REMINDER_INTERVAL_MINUTES}"),
    },
    "deliver-pending": {
        "task": "reminders.tasks.deliver_pending_task",
        "schedule": crontab(),  # every minute: retries whose backoff has ended, expired leases
    },
    "send-digest": {
        "task": "reminders.tasks.send_digest_task",
        "schedule": crontab(hour=REMINDER_DIGEST_HOUR, minute=0),  # CELERY_TIMEZONE local time
    },
    # The home pages' counters recounted, their mark moved to now: the deadlines passed since
    # the mark are read from the cases (issues.stock), an hour of them at most.
    "rebuild-open-stock": {
        "task": "issues.tasks.rebuild_open_stock_task",
        "schedule": crontab(minute=7),
    },
    # The KPI rollup recomputed from the cases, before anyone reads the dashboards.
    "rebuild-kpi-rollup": {
        "task": "stats.tasks.rebuild_kpi_rollup_task",
        "schedule": crontab(hour=2, minute=40),
    },
    # The 红黑榜 of the week that ended, published before the Monday morning meeting.
    "freeze-weekly-ranking": {
        "task": "stats.tasks.freeze_weekly_ranking_task",
        "schedule": crontab(hour=6, minute=30, day_of_week=1),
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Django's model backend, with the membership joined to the user in the same query.
    "districts.backends.StaffModelBackend",
    "districts.backends.ZoneAdminBackend",
]
# The login throttle (districts/throttle.py): wrong passwords counted in the database, in a window
# from the first failure, per username (from browsers not trusted for it), per address (across
# usernames) and per trusted browser (a device cookie issued at a successful login).
LOGIN_THROTTLE_WINDOW_SECONDS = env_int("LOGIN_THROTTLE_WINDOW_SECONDS", 15 * 60)
LOGIN_THROTTLE_USERNAME_LIMIT = env_int("LOGIN_THROTTLE_USERNAME_LIMIT", 10)
LOGIN_THROTTLE_ADDRESS_LIMIT = env_int("LOGIN_THROTTLE_ADDRESS_LIMIT", 30)
LOGIN_THROTTLE_DEVICE_LIMIT = env_int("LOGIN_THROTTLE_DEVICE_LIMIT", 10)
LOGIN_DEVICE_COOKIE_DAYS = env_int("LOGIN_DEVICE_COOKIE_DAYS", 180)
# The client address is REMOTE_ADDR unless a proxy in front names it in this header (for nginx's
# `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`: X-Forwarded-For, with
# TRUSTED_PROXY_COUNT the number of proxies that append to it). Only set it behind such a proxy:
# clients can send the header themselves.
TRUSTED_PROXY_HEADER = env_str("TRUSTED_PROXY_HEADER")
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Languages and time: Simplified Chinese first, English second; Asia/Shanghai.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [SITE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [SITE_DIR / "static"]
# Media (issue photos) are never served from a public URL: a view checks scope first.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media-not-public/"
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

# Uploads: photos are capped before decoding; requests are capped above that.
PHOTO_MAX_BYTES = env_int("PHOTO_MAX_BYTES", 15 * 1024 * 1024)
# 50 MP admits the 48 MP "HEIF Max" photos of recent iPhones; larger is refused before decoding.
PHOTO_MAX_PIXELS = env_int("PHOTO_MAX_PIXELS", 50_000_000)
PHOTO_MAX_PER_UPLOAD = env_int("PHOTO_MAX_PER_UPLOAD", 9)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = PHOTO_MAX_PER_UPLOAD + 1
# The whole request body (all photos of a report, or an import file): the browser shrinks photos
# to about 1 MB each before sending, so 20 MB is ample; a proxy in front may cap it too.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 20 * 1024 * 1024)

# Mail: without EMAIL_HOST messages are written to the console (the embedded default).
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "civicapp <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Security: secure by default, relaxed only by DEBUG for the local demo.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = False
# Preloading is a one-way decision for the domain's owner, not a default of the app.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_HTTPS_PROXY", False) else None
)
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# The work calendar: working hours of a working day, as "HH:MM-HH:MM" ranges.
WORKING_HOURS = env_list("WORKING_HOURS", ["08:30-12:00", "13:30-17:30"])
# The case number prefix zone, used when a single zone is deployed.
DEFAULT_ZONE_CODE = env_str("DEFAULT_ZONE_CODE", "TLETDZ")
