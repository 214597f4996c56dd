"""Django settings for the fast suites.

``AIRLOCK_TEST_DB=sqlite`` (default), ``postgres`` or ``mariadb`` picks the database behind both
aliases, ``default`` and ``other``; `make test` runs the Django suites on SQLite and PostgreSQL,
and the inbox suite on MariaDB too (through PyMySQL). Set
``AIRLOCK_DB_SUFFIX`` to keep concurrent local runs apart on one PostgreSQL server.
"""

from __future__ import annotations

import os

from tests.services import PG_USER, SERVICES

BACKEND = os.environ.get("AIRLOCK_TEST_DB", "sqlite")
SUFFIX = os.environ.get("AIRLOCK_DB_SUFFIX", "")

SECRET_KEY = "airlock-tests-not-secret"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "tests.django.urls"
STATIC_URL = "/static/"  # the live server's static-files handler needs one

if BACKEND == "postgres":
    host, port = SERVICES["postgres"]

    def _pg(name: str) -> dict[str, object]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": f"{name}{SUFFIX}",
            "USER": PG_USER,
            "HOST": host,
            "PORT": port,
            "TEST": {"NAME": f"test_{name}{SUFFIX}"},
        }

    DATABASES = {"default": _pg("airlock_default"), "other": _pg("airlock_other")}
elif BACKEND == "mariadb":
    import pymysql

    pymysql.install_as_MySQLdb()
    host, port = SERVICES["mariadb"]

    def _maria(name: str) -> dict[str, object]:
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": f"{name}{SUFFIX}",
            "USER": "root",
            "HOST": host,
            "PORT": port,
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"NAME": f"test_{name}{SUFFIX}"},
        }

    DATABASES = {"default": _maria("airlock_default"), "other": _maria("airlock_other")}
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "airlock.integrations.django",
    "airlock.integrations.django.outbox",
    "airlock.integrations.django.inbox",
    "tests.django",
]
# django-q2's models are imported by its task API (tests/queues); join only when installed.
try:
    import django_q  # noqa: F401

    INSTALLED_APPS.append("django_q")
except ImportError:
    pass
# The airlock debug-toolbar panel (tests/django/test_debug_toolbar.py); join only when installed.
try:
    import debug_toolbar  # noqa: F401

    INSTALLED_APPS.append("debug_toolbar")
    # Only the panel's test adds the toolbar's middleware (tests/django/test_debug_toolbar.py).
    SILENCED_SYSTEM_CHECKS = ["debug_toolbar.W001"]
except ImportError:
    pass

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "airlock.integrations.django.AirlockMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.request",
            ]
        },
    }
]

AIRLOCK: dict[str, object] = {}
