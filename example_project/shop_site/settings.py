"""Settings for the airlock example shop.

It runs on SQLite with tasks executed in this process. One environment variable switches the
executor: ``SHOP_EXECUTOR=celery`` (Celery on Redis DB 7) or ``SHOP_EXECUTOR=huey`` (huey on
Redis DB 7); start the matching worker as the README shows. ``SHOP_DB`` moves the database file,
``SHOP_REDIS_URL`` the broker, ``SHOP_QUEUE`` names the queue.
"""

from __future__ import annotations

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "airlock-example-shop-not-a-secret"
DEBUG = os.environ.get("SHOP_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

SHOP_EXECUTOR = os.environ.get("SHOP_EXECUTOR", "sync")
SHOP_REDIS_URL = os.environ.get("SHOP_REDIS_URL", "redis://127.0.0.1:6379/7")
SHOP_QUEUE = os.environ.get("SHOP_QUEUE", "airlock-example-shop")  # the queue a worker reads
if SHOP_EXECUTOR not in {"sync", "celery", "huey"}:
    raise ValueError(f"SHOP_EXECUTOR must be sync, celery or huey, not {SHOP_EXECUTOR!r}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "airlock.integrations.django",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Records each request's intents and their fates for the /airlock/ page; it sits outside
    # AirlockMiddleware so it sees the scope's final decision.
    "shop.journal.JournalMiddleware",
    "airlock.integrations.django.AirlockMiddleware",
]

ROOT_URLCONF = "shop_site.urls"
WSGI_APPLICATION = "shop_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHOP_DB", str(BASE_DIR / "db.sqlite3")),
        # A worker process may write to the same file: wait for its lock rather than fail.
        "OPTIONS": {"timeout": 30},
    }
}
if django.VERSION >= (5, 1):
    # BEGIN IMMEDIATE: a transaction that reads then writes cannot deadlock with the worker.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

AIRLOCK = {
    "POLICY": "airlock.AllowAll",
    # with_retry(<the executor SHOP_EXECUTOR names>): see shop/executors.py
    "EXECUTOR": "shop.executors.executor",
}

if SHOP_EXECUTOR == "celery":
    CELERY_BROKER_URL = SHOP_REDIS_URL
    CELERY_TASK_DEFAULT_QUEUE = SHOP_QUEUE
    CELERY_TASK_SERIALIZER = "json"
elif SHOP_EXECUTOR == "huey":
    INSTALLED_APPS.append("huey.contrib.djhuey")
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": SHOP_QUEUE,
        "immediate": False,
        "connection": {"url": SHOP_REDIS_URL},
    }

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"airlock": {"handlers": ["console"], "level": "WARNING"}},
}

# django-debug-toolbar, when installed and DEBUG is on: its "Airlock" panel lists each
# request's intents and their fates (docs/observability.md, "Debug toolbar").
try:
    import debug_toolbar  # noqa: F401
except ImportError:
    DEBUG_TOOLBAR = False
else:
    DEBUG_TOOLBAR = DEBUG
if DEBUG_TOOLBAR:
    from debug_toolbar.settings import PANELS_DEFAULTS

    INSTALLED_APPS.append("debug_toolbar")
    MIDDLEWARE.insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    INTERNAL_IPS = ["127.0.0.1"]
    # The browser test serves the shop from pytest (PYTEST_VERSION is set): show it anyway.
    DEBUG_TOOLBAR_CONFIG = {"IS_RUNNING_TESTS": False}
    DEBUG_TOOLBAR_PANELS = [
        *PANELS_DEFAULTS,
        "airlock.integrations.django.debug_toolbar.AirlockPanel",
    ]
