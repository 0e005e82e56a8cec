"""Settings for OpenCode UI, every value read from the environment.

Defaults suit one person running the app on their own machine: SQLite under var/,
the in-memory channel layer and a managed `opencode serve` on loopback. A team sets
DATABASE_URL, REDIS_URL and DJANGO_SECRET_KEY (see README.md).
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from opencode_ui import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.get_str("OPENCODE_UI_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env.get_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.get_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and env.get_bool("DJANGO_REQUIRE_SECRET_KEY", default=False):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is missing: set it in production")
    # A local install keeps a generated key under var/ so logins survive restarts.
    from opencode_ui.local_secret import read_or_create_secret

    SECRET_KEY = read_or_create_secret(VAR_DIR / "secret-key.txt")

ALLOWED_HOSTS = env.get_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.get_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "sessions.apps.SessionsConfig",
    "interface.apps.InterfaceConfig",
    "providers.apps.ProvidersConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "opencode_ui.security.ContentSecurityPolicyMiddleware",
    "opencode_ui.security.SharedStoreOutageMiddleware",
]
CSRF_FAILURE_VIEW = "opencode_ui.security.csrf_failure"

ROOT_URLCONF = "opencode_ui.urls"
ASGI_APPLICATION = "opencode_ui.asgi.application"

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
                "interface.context_processors.shell",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env.get_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Messages a channel queues before sends to it fail. Each process reads one channel,
# which carries every fragment for all of its viewers, so bursts from many sessions
# need more room than the channel layers' default of 100.
CHANNEL_CAPACITY = 1000

REDIS_URL = env.get_str("REDIS_URL")
if REDIS_URL:
    # channels-redis waits up to 5 s in each blocking receive, and redis-py's default
    # socket timeout is also 5 s, so idle receives would fail at random. A longer
    # timeout still notices a dead connection.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "capacity": CHANNEL_CAPACITY,
            },
        }
    }
    # Shared by every process, so the login limit and the inbox count hold across
    # them. While Redis is down the cache misses instead of failing pages.
    CACHES = {
        "default": {
            "BACKEND": "opencode_ui.cache.ForgivingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "opencode-ui",
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sessions:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.get_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Browser packages are served straight from node_modules: nothing third-party is
# copied into the repository.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/htmx-ext-ws", BASE_DIR / "node_modules" / "htmx-ext-ws" / "dist"),
]
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Set DJANGO_HTTPS=true when users reach the app over HTTPS (usually through a proxy
# that sets X-Forwarded-Proto): cookies are then sent over HTTPS only.
HTTPS = env.get_bool("DJANGO_HTTPS", default=False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 30
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# OpenCode. With OPENCODE_URL unset, `manage.py runui` starts a server on loopback
# and passes its address and generated password down through these variables.
OPENCODE_URL = env.get_str("OPENCODE_URL").rstrip("/")
OPENCODE_SERVER_USERNAME = env.get_str("OPENCODE_SERVER_USERNAME", "opencode")
OPENCODE_SERVER_PASSWORD = env.get_str("OPENCODE_SERVER_PASSWORD")
OPENCODE_WORKSPACES = [
    str(Path(directory).expanduser().resolve())
    for directory in env.get_list("OPENCODE_WORKSPACES", [str(Path.cwd())])
]
# Seconds before a request to OpenCode counts as timed out.
OPENCODE_TIMEOUT = env.get_float("OPENCODE_TIMEOUT", 10.0)
# Seconds between polls of a watched session while the agent works, and the
# longest pause the backoff reaches while it is idle.
OPENCODE_POLL_ACTIVE = env.get_float("OPENCODE_POLL_ACTIVE", 0.5)
OPENCODE_POLL_IDLE_MAX = env.get_float("OPENCODE_POLL_IDLE_MAX", 10.0)
# With REDIS_URL set, one process polls each watched session under a Redis lease
# that expires this many seconds after its holder stops renewing it (on a crash).
POLLER_LEASE_TTL = env.get_float("OPENCODE_UI_LEASE_TTL", 5.0)
# Seconds a working session may show no new output before the page calls it stuck.
OPENCODE_STUCK_AFTER = env.get_float("OPENCODE_STUCK_AFTER", 120.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "sessions": {"level": env.get_str("OPENCODE_UI_LOG_LEVEL", "INFO")},
        "httpx": {"level": "WARNING"},
    },
}
