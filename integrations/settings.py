"""Django settings for the end-to-end suites and their worker processes (PostgreSQL).

pytest-django creates ``test_airlock_e2e<suffix>``; a worker fixture passes that name to its
worker through ``AIRLOCK_E2E_DB_NAME`` so both sides share one database. Set
``AIRLOCK_DB_SUFFIX`` to keep concurrent local runs apart.
"""

from __future__ import annotations

import importlib.util
import os

from tests.services import PG_USER, SERVICES, redis_url

SUFFIX = os.environ.get("AIRLOCK_DB_SUFFIX", "")
_host, _port = SERVICES["postgres"]

SECRET_KEY = "airlock-e2e-not-secret"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "integrations.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("AIRLOCK_E2E_DB_NAME", f"airlock_e2e{SUFFIX}"),
        "USER": PG_USER,
        "HOST": _host,
        "PORT": _port,
        "TEST": {"NAME": f"test_airlock_e2e{SUFFIX}"},
    }
}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "airlock.integrations.django",
]
# Optional apps join when their package is importable (each suite skips cleanly without it).
for _app, _module in [
    ("django_q", "django_q"),
    ("django_tasks", "django_tasks"),
    ("django_tasks_db", "django_tasks_db"),
    ("airlock.integrations.django.outbox", "airlock.integrations.django.outbox"),
    ("airlock.integrations.django.inbox", "airlock.integrations.django.inbox"),
    ("integrations.common", "integrations.common"),
    ("integrations.inbox", "integrations.inbox"),
]:
    try:
        _found = importlib.util.find_spec(_module) is not None
    except ModuleNotFoundError:
        _found = False
    if _found:
        INSTALLED_APPS.append(_app)

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
        "OPTIONS": {"context_processors": []},
    }
]

AIRLOCK: dict[str, object] = {}

# django-q2 (integrations/django_q): the ORM broker unless AIRLOCK_DJANGO_Q_BROKER=redis (DB 5);
# a cluster started with Q_CLUSTER_NAME=airlock_q_other reads only that queue.
Q_CLUSTER = {
    "name": "airlock_q",
    "workers": 1,
    "timeout": 30,
    "retry": 60,
    "max_attempts": 1,
    "ack_failures": True,
    "poll": 0.1,
    "catch_up": False,
    "orm": "default" if os.environ.get("AIRLOCK_DJANGO_Q_BROKER", "orm") == "orm" else None,
    "redis": redis_url(5),
    "ALT_CLUSTERS": {"airlock_q_other": {}},
}

# Django tasks (integrations/django_tasks): django-tasks-db's database backend (for django.tasks on
# Django 6+, for the django-tasks backport on Django 5.2).
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "airlock_tasks_other"],
    }
}
